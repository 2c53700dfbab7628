// The admin's autocomplete boxes (Django's select2 4.0): select2 names its box only by the text it shows and
// marks that text as a read-only textbox with no name of its own, which axe reports as unnamed inputs. Name the
// box by its field's label and that text, and drop the textbox role (select2 4.1 dropped it too).
// select2 may build its box, or set its name again, after the page's load (a busy machine runs Django's start-up
// of select2 late): the box is named again whenever select2 changes it.
"use strict";
(function () {
  function nameBox(select) {
    const shown = document.getElementById("select2-" + select.id + "-container");
    const label = document.querySelector('label[for="' + select.id + '"]');
    if (!shown) {
      return;
    }
    shown.removeAttribute("role");
    shown.removeAttribute("aria-readonly");
    const box = shown.closest("[role=combobox]");
    if (label && box) {
      label.id = label.id || select.id + "-label";
      const name = label.id + " " + shown.id;
      if (box.getAttribute("aria-labelledby") !== name) {
        box.setAttribute("aria-labelledby", name);
      }
    }
  }

  window.addEventListener("load", function () {
    for (const select of document.querySelectorAll("select.admin-autocomplete")) {
      nameBox(select);
      new MutationObserver(function () {
        nameBox(select);
      }).observe(select.parentNode, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: ["aria-labelledby", "role"],
      });
    }
  });
})();
