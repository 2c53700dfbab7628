// The admin key list's owner filter: suggest user names from the admin's autocomplete endpoint as the
// admin types (at most 20, the endpoint's page), instead of listing every owner in the sidebar.
"use strict";
(function () {
  const input = document.getElementById("owner-filter-input");
  const list = document.getElementById("owner-filter-choices");
  if (!input || !list) {
    return;
  }
  let timer = null;
  let asked = "";
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(suggest, 200);
  });

  function suggest() {
    const term = input.value.trim();
    if (term === asked || term.length < 2) {
      return;
    }
    asked = term;
    const url = input.dataset.autocompleteUrl + "&term=" + encodeURIComponent(term);
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : { results: [] };
      })
      .then(function (data) {
        list.replaceChildren();
        for (const result of data.results || []) {
          const option = document.createElement("option");
          option.value = result.text;
          list.appendChild(option);
        }
      })
      .catch(function () {
        list.replaceChildren();
      });
  }
})();
