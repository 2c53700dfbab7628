// Django's two-box chooser (SelectFilter2.js, a group's permissions) puts an aria-label on the plain <span> of each
// box's search icon, where ARIA forbids one (axe: aria-prohibited-attr). As an image the icon may carry it, and it
// still names the search box its <label> holds. Django builds the boxes on load: this runs after its handlers.
"use strict";
window.addEventListener("load", function () {
  setTimeout(function () {
    for (const icon of document.querySelectorAll(".selector .search-label-icon[aria-label]")) {
      icon.setAttribute("role", "img");
    }
  });
});
