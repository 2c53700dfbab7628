// The new-token form across the header's language switch, as the add-key form does (form-draft.js). A token's
// secret or a private key typed as the name is never kept; the server checks it all.
(function () {
  "use strict";

  // portal/logs.py's TOKEN_SECRET (any part of one), and key-form.js's private-key markers.
  var SECRET = /nsmlk_|(?:BEGIN|END) [A-Z0-9 ]{0,40}PRIVATE KEY|PuTTY-User-Key-File-|Private-Lines:|b3BlbnNzaC1rZXktdjE/i;

  window.keepAcrossLanguageSwitch(document.querySelector("form[data-token-form]"), "token-form", {
    name: function (value) { return !SECRET.test(value); },
    days: function (value) { return /^\d{1,6}$/.test(value); },
  });
})();
