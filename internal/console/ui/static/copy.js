// Copy buttons: a button with data-copy-from="prev" copies the text of the element before it
// (the PolicyException manifest's <pre>) to the clipboard. Delegated from the document, so
// buttons of content the live updates swap in work too.
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var button = e.target.closest ? e.target.closest("button[data-copy-from]") : null;
    if (!button) { return; }
    var source = button.previousElementSibling;
    if (!source || !navigator.clipboard) {
      button.textContent = "Select the text to copy it";
      return;
    }
    navigator.clipboard.writeText(source.textContent).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    }, function () {
      button.textContent = "Copy failed: select the text";
    });
  });
}());
