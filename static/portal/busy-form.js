// One POST per form marked data-busy-form (add, rotate, revoke, confirm the password, create a token): the button is
// disabled while the request runs. A form another script refused (preventDefault) is not sent, so not busy.
(function () {
  "use strict";
  document.querySelectorAll("form[data-busy-form]").forEach(function (form) {
    var button = form.querySelector("button[type=submit]");
    var label = button ? button.textContent : "";
    var sending = false;
    form.addEventListener("submit", function (event) {
      if (sending) {
        event.preventDefault(); // one request per submission, however often the button is pressed
        return;
      }
      if (event.defaultPrevented) return;
      sending = true;
      form.setAttribute("aria-busy", "true");
      if (button) {
        button.disabled = true;
        button.textContent = form.dataset.msgSending || label;
      }
    });
    // Back to a page left while sending: make it usable again.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) return;
      sending = false;
      form.removeAttribute("aria-busy");
      if (button) {
        button.disabled = false;
        button.textContent = label;
      }
    });
  });
})();
