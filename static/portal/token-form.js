// The new-token form across the header's language switch, as key-form.js does for the add-key form: what was typed
// comes back on the page in the other language, kept for this tab only (sessionStorage) and only until this page
// is shown again. A token's secret or a private key typed as the name is never kept; the server checks it all.
(function () {
  "use strict";

  var form = document.querySelector("form[data-token-form]");
  var languageForm = document.querySelector("header form.lang");
  if (!form || !languageForm || !window.sessionStorage) return;

  // portal/logs.py's TOKEN_SECRET (any part of one), and key-form.js's private-key markers.
  var SECRET = /nsmlk_|(?:BEGIN|END) [A-Z0-9 ]{0,40}PRIVATE KEY|PuTTY-User-Key-File-|Private-Lines:|b3BlbnNzaC1rZXktdjE/i;
  var name = form.elements.namedItem("name");
  var days = form.elements.namedItem("days");
  var draftName = "portal:token-form:" + location.pathname;

  languageForm.addEventListener("submit", function () {
    var draft = {};
    if (name && name.value && !SECRET.test(name.value)) draft.name = name.value;
    if (days && days.value && /^\d{1,6}$/.test(days.value)) draft.days = days.value;
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
  if (kept) {
    if (name && typeof kept.name === "string") name.value = kept.name;
    if (days && typeof kept.days === "string") days.value = kept.days;
  }
})();
