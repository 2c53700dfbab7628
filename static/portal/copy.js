// Copy buttons: <button data-copy-target="ID" data-copy-status="ID" data-msg-copied data-msg-copy-failed hidden>.
// The button stays hidden without this script, so nobody sees a button that does nothing.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Older browsers and plain-HTTP hosts: the clipboard API is missing, execCommand still works.
    return new Promise(function (resolve, reject) {
      var buffer = document.createElement("textarea");
      buffer.value = text;
      buffer.setAttribute("readonly", "");
      buffer.className = "copy-buffer";
      document.body.appendChild(buffer);
      buffer.select();
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
      document.body.removeChild(buffer);
      if (copied) {
        resolve();
      } else {
        reject(new Error("copy refused"));
      }
    });
  }

  // A code element's text, or a form field's value (the new token's secret is in a read-only input).
  function textOf(element) {
    return ("value" in element ? element.value : element.textContent).trim();
  }

  function selectContents(element) {
    if (typeof element.select === "function") {
      element.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  document.querySelectorAll("button[data-copy-target]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    var status = document.getElementById(button.dataset.copyStatus || "");
    var timer = null;

    function say(text) {
      if (!status) return;
      status.textContent = text || "";
      clearTimeout(timer);
      timer = setTimeout(function () {
        status.textContent = "";
      }, 4000);
    }

    button.hidden = false;
    button.addEventListener("click", function () {
      copyText(textOf(source)).then(
        function () {
          say(button.dataset.msgCopied);
        },
        function () {
          selectContents(source); // the member can still press Ctrl+C
          say(button.dataset.msgCopyFailed);
        }
      );
    });
  });
})();
