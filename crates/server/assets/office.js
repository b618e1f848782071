// The club office's one script: a chosen seat-map file is read into the import
// form's text field, so the server receives plain text and the page also works
// by pasting without any script.
(function () {
  "use strict";
  document.querySelectorAll("input[type=file][data-into]").forEach(function (input) {
    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      if (!file) return;
      file.text().then(function (text) {
        document.getElementById(input.getAttribute("data-into")).value = text;
      });
    });
  });
})();
