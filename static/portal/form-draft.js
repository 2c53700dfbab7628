// What was typed into a form, across the header's language switch, which loads the page again in the other
// language: kept for this tab only (sessionStorage) and only until this page is shown again. The add-key and
// rotate forms (key-form.js) and the new-token form (token-form.js) use it; the server checks everything again.
//
// keepAcrossLanguageSwitch(form, name, keepable): `name` tells this form's draft from another's; `keepable` maps a field's name to a function that says whether its
// value may be kept (a private key or a token's secret never is).
(function () {
  "use strict";

  window.keepAcrossLanguageSwitch = function (form, name, keepable) {
    var languageForm = document.querySelector("header form.lang");
    if (!form || !languageForm || !window.sessionStorage) return;
    var draftName = "portal:" + name + ":" + location.pathname;

    languageForm.addEventListener("submit", function () {
      var draft = {};
      Object.keys(keepable).forEach(function (fieldName) {
        var field = form.elements.namedItem(fieldName);
        if (field && field.value && keepable[fieldName](field.value)) draft[fieldName] = field.value;
      });
      try {
        sessionStorage.setItem(draftName, JSON.stringify(draft));
      } catch (error) {
        // storage full or refused: the switch goes ahead, with an empty form as before
      }
    });

    var kept = null;
    try {
      kept = JSON.parse(sessionStorage.getItem(draftName) || "null");
      sessionStorage.removeItem(draftName);
    } catch (error) {
      kept = null;
    }
    if (!kept) return;
    Object.keys(keepable).forEach(function (fieldName) {
      var field = form.elements.namedItem(fieldName);
      if (field && typeof kept[fieldName] === "string") field.value = kept[fieldName];
    });
  };
})();
