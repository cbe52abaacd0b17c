// The queue's "select every pair on this page" box. The page works without it.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input.select-all").forEach(function (all) {
    const form = all.closest("form");
    all.addEventListener("change", function () {
      form.querySelectorAll("input[name=pair]").forEach(function (box) { box.checked = all.checked; });
    });
  });
});
