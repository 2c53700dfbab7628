// The admin's autocomplete boxes (Django's select2 4.0): select2 names its box only by the text it shows and
// marks that text as a read-only textbox with no name of its own, which axe reports as unnamed inputs. Name the
// box by its field's label and that text, and drop the textbox role (select2 4.1 dropped it too).
"use strict";
window.addEventListener("load", function () {
  for (const select of document.querySelectorAll("select.admin-autocomplete")) {
    const shown = document.getElementById("select2-" + select.id + "-container");
    const label = document.querySelector('label[for="' + select.id + '"]');
    if (!shown) {
      continue;
    }
    shown.removeAttribute("role");
    shown.removeAttribute("aria-readonly");
    const box = shown.closest("[role=combobox]");
    if (label && box) {
      label.id = label.id || select.id + "-label";
      box.setAttribute("aria-labelledby", label.id + " " + shown.id);
    }
  }
});
