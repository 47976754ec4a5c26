// Backup codes: the "Copy the codes" button (the page's own text says how to copy by hand).
// A static file because the content security policy allows no inline script.
(function () {
  "use strict";
  var button = document.querySelector("[data-copy-codes]");
  if (!button) { return; }
  var list = document.getElementById(button.getAttribute("data-copy-codes"));
  var status = document.getElementById("backup-codes-copy-status");

  function text() {
    return Array.prototype.map.call(list.querySelectorAll("code"), function (code) {
      return code.textContent.trim();
    }).join("\n") + "\n";
  }

  function selectByHand() {
    var range = document.createRange();
    range.selectNodeContents(list);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    status.textContent = "This browser did not let Keystead copy. The codes are selected: " +
      "press Ctrl+C (⌘C on a Mac) to copy them, or download them as a file.";
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    if (!navigator.clipboard || !window.isSecureContext) { selectByHand(); return; }
    navigator.clipboard.writeText(text()).then(function () {
      status.textContent = "Copied " + list.querySelectorAll("code").length +
        " codes. Paste them into your password manager now.";
    }, selectByHand);
  });
}());
