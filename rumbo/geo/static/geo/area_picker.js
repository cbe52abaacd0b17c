// Area picker (templates/geo/area_picker.html): copy the chosen result into the hidden id input.
// Loaded once per picker on the page, so it guards against registering its listeners twice.
(function () {
  "use strict";
  if (window.rumboAreaPicker) { return; }
  window.rumboAreaPicker = true;

  function parts(element) {
    const picker = element.closest("[data-area-picker]");
    if (!picker) { return null; }
    return {
      search: picker.querySelector("[data-area-search]"),
      id: picker.querySelector("[data-area-id-input]"),
      results: picker.querySelector("[data-area-results]"),
    };
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest ? event.target.closest("[data-area-id]") : null;
    const p = button ? parts(button) : null;
    if (!p) { return; }
    event.preventDefault();
    p.id.value = button.dataset.areaId;
    p.search.value = button.dataset.areaLabel;
    p.results.replaceChildren();
    p.search.setAttribute("aria-expanded", "false");
    p.search.focus();
  });

  // Typing again means the earlier choice no longer holds: forget it until a result is chosen.
  document.addEventListener("input", function (event) {
    if (!event.target.matches || !event.target.matches("[data-area-search]")) { return; }
    const p = parts(event.target);
    if (p) { p.id.value = ""; }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    const list = event.target;
    if (!list.matches || !list.matches("[data-area-results]")) { return; }
    const p = parts(list);
    if (p) { p.search.setAttribute("aria-expanded", list.querySelector("[data-area-id]") ? "true" : "false"); }
  });
})();
