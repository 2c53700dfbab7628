// After the server refuses a form, put the cursor where the member must act: the field a form names in
// data-focus-on-error (the log-in's password), else the first field in error.
(function () {
  "use strict";
  var named = document.querySelector("form[data-focus-on-error]");
  var target = named ? document.getElementById(named.dataset.focusOnError) : null;
  if (!target) {
    target = document.querySelector(".field.invalid input, .field.invalid textarea, .field.invalid select");
  }
  if (target) {
    target.focus();
  }
})();
