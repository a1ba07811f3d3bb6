// rolegate's own script: small enhancements of pages that are complete
// without it (served from the portal's origin; the CSP allows no other).
//
// - Times: every <time data-local datetime="…"> is written in the viewer's
//   time zone; the UTC time the server wrote stays on hover (title).
// - The permission search on the New request form: typing filters the
//   list, a live region counts the matches; the box is hidden without
//   this script, and never submits the form.
(function () {
  "use strict";

  function pad(n, width) {
    return String(n).padStart(width || 2, "0");
  }

  // zoneName is the viewer's short time zone name at d ("CET", "GMT+1").
  function zoneName(d) {
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") return parts[i].value;
      }
    } catch (e) { /* an old browser: the offset below */ }
    var off = -d.getTimezoneOffset();
    return "UTC" + (off >= 0 ? "+" : "-") + pad(Math.floor(Math.abs(off) / 60)) + ":" + pad(Math.abs(off) % 60);
  }

  function localTimes(root) {
    var times = root.querySelectorAll("time[data-local]:not([data-localized])");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) continue;
      var s = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
      if (el.getAttribute("data-local") === "precise") {
        s += ":" + pad(d.getSeconds()) + "." + pad(d.getMilliseconds(), 3);
      }
      if (!el.title) el.title = el.textContent.trim();
      el.textContent = s + " " + zoneName(d);
      el.setAttribute("data-localized", "");
    }
  }

  function permissionSearch() {
    var box = document.getElementById("perm-search");
    if (!box) return;
    var count = document.getElementById("perm-search-count");
    var perms = document.querySelectorAll("fieldset.perms label.perm");
    var areas = document.querySelectorAll("fieldset.perms fieldset.area");
    function filter() {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      for (var i = 0; i < perms.length; i++) {
        var text = perms[i].textContent.toLowerCase();
        var match = words.every(function (w) { return text.indexOf(w) >= 0; });
        // A picked permission stays in sight: hiding it would hide what is sent.
        var picked = perms[i].querySelector("input:checked") !== null;
        perms[i].hidden = !match && !picked;
        if (match) shown++;
      }
      for (var j = 0; j < areas.length; j++) {
        areas[j].hidden = areas[j].querySelector("label.perm:not([hidden])") === null;
      }
      count.textContent = words.length === 0
        ? perms.length + " permissions"
        : shown + " of " + perms.length + " permissions match";
    }
    // The search is not part of the request: its typing must not start the
    // form's live checks (htmx listens on the form), and Enter must not submit.
    box.addEventListener("input", function (e) { e.stopPropagation(); filter(); });
    box.addEventListener("change", function (e) { e.stopPropagation(); });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Enter") e.preventDefault();
    });
    box.closest(".perm-search").hidden = false;
    filter();
  }

  function start() {
    localTimes(document);
    permissionSearch();
    // Content htmx swaps in (the live request, older audit rows) has times too.
    document.body.addEventListener("htmx:afterSettle", function () { localTimes(document); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
