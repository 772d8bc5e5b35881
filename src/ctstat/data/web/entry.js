// The report typed on the page (web/entry.py): recompute the greyed totals as the ward types. The page works
// without this script (the server computes the totals when a Biểu is saved); it only shows them sooner. A total
// is the sum of the whole numbers typed in its parts (data-parts: the parts' ids, totals among them); blank when
// none is typed, as the server shows it. Nothing is sent anywhere.
"use strict";
(function () {
  var form = document.querySelector("form.entry");
  if (!form) return;
  var outputs = form.querySelectorAll("output[data-parts]");
  function value(id, seen) {
    var el = document.getElementById(id);
    if (!el) return null;
    if (el.tagName === "OUTPUT") return total(el, seen);
    var text = (el.value || "").trim();
    return /^[0-9]{1,15}$/.test(text) ? parseInt(text, 10) : null;
  }
  function total(out, seen) {
    if (seen[out.id]) return null;
    seen[out.id] = true;
    var sum = null;
    out.getAttribute("data-parts").split(" ").forEach(function (id) {
      var v = value(id, seen);
      if (v !== null) sum = (sum || 0) + v;
    });
    seen[out.id] = false;
    return sum;
  }
  function shown(n) {
    return n === null ? "–" : String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  }
  function update() {
    outputs.forEach(function (out) {
      out.textContent = shown(total(out, {}));
    });
  }
  form.addEventListener("input", update);
})();
