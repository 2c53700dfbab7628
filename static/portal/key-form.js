// Progressive help on the add-key form. The server stays the authority: it checks everything again.
// Messages come from the form's data-msg-* attributes, which the template translates.
(function () {
  "use strict";

  var form = document.querySelector("form[data-key-form]");
  if (!form) return;

  var title = form.elements.namedItem("title");
  var key = form.elements.namedItem("key");
  var maxLength = parseInt(form.dataset.titleMaxLength, 10) || 64;
  var maxKeyBytes = parseInt(form.dataset.keyMaxBytes, 10) || 0;

  // keys/sshkeys.py's _PRIVATE_KEY_MARKER: private-key armour, PuTTY .ppk fields, the openssh-key-v1 magic.
  var PRIVATE_ARMOUR = /(?:BEGIN|END) [A-Z0-9 ]{0,40}PRIVATE KEY|PuTTY-User-Key-File-|Private-Lines:/i;
  var OPENSSH_MAGIC = /b3BlbnNzaC1rZXktdjE/;
  var PUTTY_KEY_FILE = /PuTTY-User-Key-File-/i;

  function holdsPrivateKey(value) {
    return PRIVATE_ARMOUR.test(value) || OPENSSH_MAGIC.test(value);
  }

  // nsml/titles.py's trimmed_title: the spaces and invisible characters (zero-width space, byte order mark,
  // direction marks) that a chat leaves around a copied word are no part of the title.
  var BLANK = /[\s\p{Cf}]/u;

  function trimmedTitle(value) {
    var start = 0;
    var end = value.length;
    while (start < end && BLANK.test(value[start])) start++;
    while (end > start && BLANK.test(value[end - 1])) end--;
    return value.slice(start, end);
  }

  // nsml/titles.py's title_problem, in the same order; the server trims the title before it applies. As on the
  // server, private-key material in the title is refused as a private key first, whatever else is wrong.
  function titleProblem(value) {
    if (holdsPrivateKey(value)) return "private-key";
    value = trimmedTitle(value);
    if (!value) return "required";
    if (Array.from(value).length > maxLength) return "too-long";
    if (!/^[A-Za-z0-9-]*$/.test(value)) return "characters";
    if (!/^[A-Za-z]/.test(value)) return "first-letter";
    if (value.indexOf("--") !== -1) return "double-hyphen";
    return null;
  }

  // keys/sshkeys.py's parse_public_key, in the same order: a private key, too long, empty. A paste past the
  // server's request size limit would otherwise come back as a bare "could not read this request" page.
  function keyProblem(value) {
    // A PuTTY user has no .pub file: the message says where PuTTYgen shows the public key.
    if (PUTTY_KEY_FILE.test(value)) return "private-key-putty";
    if (holdsPrivateKey(value)) return "private-key";
    if (maxKeyBytes && utf8Length(value) > maxKeyBytes) return "key-too-long";
    if (!value.trim()) return "key-required";
    return null;
  }

  function utf8Length(value) {
    // At most 3 bytes per UTF-16 unit: a short text needs no encoding.
    return value.length * 3 <= maxKeyBytes ? value.length : new TextEncoder().encode(value).length;
  }

  function message(code) {
    // data-msg-title-too-long -> dataset.msgTitleTooLong
    var name = ("msg-" + code).replace(/-([a-z])/g, function (_, letter) {
      return letter.toUpperCase();
    });
    return form.dataset[name] || "";
  }

  // Shows (or clears) the client-side message under a field and ties it to the field for screen readers.
  function report(field, text) {
    var box = form.querySelector('[data-check-for="' + field.name + '"]');
    if (!box) return;
    var ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
      return id && id !== box.id;
    });
    var wrapper = field.closest(".field");
    box.textContent = text || "";
    box.hidden = !text;
    if (text) ids.push(box.id);
    if (ids.length) {
      field.setAttribute("aria-describedby", ids.join(" "));
    } else {
      field.removeAttribute("aria-describedby");
    }
    if (wrapper) wrapper.classList.toggle("check-failed", Boolean(text));
    if (text) {
      field.setAttribute("aria-invalid", "true");
    } else if (!wrapper || !wrapper.classList.contains("invalid")) {
      field.removeAttribute("aria-invalid"); // a server refusal keeps its own mark until the next submit
    }
  }

  // A private key is taken out of its box as soon as it is seen, so that it is not left on screen (a shared
  // screen, someone looking on); setting the value also drops the box's undo history, so Ctrl+Z cannot bring it back.
  // The message saying so stays while the box is empty: an empty box is what the member was told to expect.
  var emptied = {};

  function removePrivateKey(field, code) {
    field.value = "";
    emptied[field.name] = true;
    report(field, message(code));
    return false;
  }

  function stillEmptied(field) {
    if (field.value) delete emptied[field.name];
    return Boolean(emptied[field.name]);
  }

  // While typing, an empty field is not yet a mistake; on submit it is.
  function checkTitle(onSubmit) {
    var code = titleProblem(title.value);
    if (code === "private-key") return removePrivateKey(title, code);
    if (stillEmptied(title)) return false;
    if (code === "required" && !onSubmit) code = null;
    report(title, code ? message("title-" + code) : "");
    return !code;
  }

  function checkKey(onSubmit) {
    var code = keyProblem(key.value);
    if (code === "private-key" || code === "private-key-putty") return removePrivateKey(key, code);
    if (stillEmptied(key)) return false;
    if (code === "key-required" && !onSubmit) code = null;
    report(key, code ? message(code) : "");
    return !code;
  }

  if (title) {
    title.addEventListener("input", function () {
      checkTitle(false);
    });
  }
  if (key) {
    key.addEventListener("input", function () {
      checkKey(false);
    });
  }

  // The header's language switch loads this page again in the other language: what was typed comes back
  // (form-draft.js). A private key is never kept, nor a key this page would refuse.
  window.keepAcrossLanguageSwitch(form, "key-form", {
    title: function (value) { return !holdsPrivateKey(value); },
    key: function (value) { return keyProblem(value) === null; },
    expires_at: function () { return true; },
  });

  // Refused here, the form is not sent; sent, busy-form.js (loaded after this file) sends it only once.
  // A wrong title next to a key this page cannot judge (only an empty or private key, or a private key as the
  // title, is refused here) is sent all the same: the server checks both and names every mistake at once.
  form.addEventListener("submit", function (event) {
    // Read before the check takes it out of the box; a title box a private key was taken out of is not sent empty.
    var titleSecret = title ? holdsPrivateKey(title.value) || stillEmptied(title) : false;
    var keyOk = key ? checkKey(true) : true;
    var titleOk = title ? checkTitle(true) : true;
    if (!keyOk || titleSecret) {
      // A private key is not sent, whichever box it was pasted into.
      event.preventDefault();
      (!titleOk ? title : key).focus();
    }
  });
})();
