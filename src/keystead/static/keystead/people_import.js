/* The people import's preview: while "Import" runs (one transaction, which can take a
   few seconds for a large file), show a progress line and stop a second click.
   A file of its own because the Content-Security-Policy forbids inline scripts. */
(function () {
  "use strict";
  var form = document.getElementById("import-form");
  if (!form) { return; }
  form.addEventListener("submit", function (event) {
    if (event.submitter && event.submitter.name === "_cancel") { return; }
    var progress = document.getElementById("import-progress");
    if (progress) { progress.hidden = false; }
    /* Disabled after the form data is gathered, so the request is unchanged. */
    window.setTimeout(function () {
      form.querySelectorAll("input[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    }, 0);
  });
}());
