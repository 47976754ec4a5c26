/* Copy buttons for the console: <button class="ks-copy" data-copy-from="ID" hidden>Copy</button>.
   The buttons are hidden in the HTML and shown here, so a page without scripts shows none
   that would not work; the text itself stays selectable. A static file because the content
   security policy allows no inline script. */
(function () {
  "use strict";

  function selectText(element) {
    const range = document.createRange();
    range.selectNodeContents(element);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function report(button, text) {
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2500);
  }

  function copy(button) {
    const source = document.getElementById(button.dataset.copyFrom);
    if (!source) {
      return;
    }
    const text = source.textContent.trim();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () { report(button, "Copied"); },
        function () { selectText(source); report(button, "Selected: press Ctrl+C"); }
      );
      return;
    }
    selectText(source);
    report(button, "Selected: press Ctrl+C");
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button.ks-copy[data-copy-from]").forEach(function (button) {
      button.hidden = false;
      button.setAttribute("aria-live", "polite");
      button.addEventListener("click", function () { copy(button); });
    });
  });
})();
