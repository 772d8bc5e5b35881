// The portal's one script (loaded by every signed-in page, base.html). Nothing is sent anywhere; it only writes
// text into the page (no markup from anywhere), and the pages work without it.
//
// 1. Live totals (web/entry.py): recompute the greyed totals as the ward types (the server computes them when a
//    Biểu is saved; this only shows them sooner). A total is the sum of the whole numbers typed in its parts
//    (data-parts: the parts' ids, totals among them); blank when none is typed, as the server shows it.
// 2. Unsaved figures kept in the tab: what is typed in a form marked data-keep (a Biểu, the cover) is copied to
//    the tab's sessionStorage (never localStorage: it would outlive the tab on a shared office PC), keyed by the
//    signed-in ward, the period and the form. A save that lands on the sign-in page (the session ended) loses
//    nothing: when the same ward opens the same page again, the figures go back into their cells, marked, with a
//    way to discard them. The copy goes when a save of that form succeeds (the next page says so: data-saved),
//    when the draft is sent or started again (forms marked data-done), on signing out, and when another unit
//    signs in in the tab.
"use strict";
(function () {
  var PREFIX = "ctstat:unsaved:";
  var PENDING = "ctstat:pending";
  var body = document.body;
  var unit = body.getAttribute("data-unit") || "";
  var period = body.getAttribute("data-period") || "";
  var store = null;
  try {
    store = window.sessionStorage;
    store.getItem(PENDING);
  } catch (e) {
    store = null; // storage off: the page works as before, only nothing is kept
  }

  // --- live totals ----------------------------------------------------------------------------------------------
  var entry = document.querySelector("form.entry");
  var outputs = entry ? entry.querySelectorAll("output[data-parts]") : [];
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
    Array.prototype.forEach.call(outputs, function (out) {
      out.textContent = shown(total(out, {}));
    });
  }
  if (entry) entry.addEventListener("input", update);

  if (!store || !unit || !period) return;

  // --- unsaved figures kept in the tab --------------------------------------------------------------------------
  var mine = PREFIX + unit + ":" + period + ":";
  function read(key) {
    try {
      var kept = JSON.parse(store.getItem(key) || "null");
      return kept && typeof kept.values === "object" && kept.values ? kept : null;
    } catch (e) {
      return null;
    }
  }
  function write(key, kept) {
    try {
      store.setItem(key, JSON.stringify(kept));
    } catch (e) {
      /* full or refused: nothing kept, the page works as before */
    }
  }
  function markPending(what) {
    try {
      store.setItem(PENDING, what);
    } catch (e) {
      /* refused: the copy stays until the page is opened again, saved or discarded */
    }
  }
  function drop(test) {
    var keys = [];
    for (var i = 0; i < store.length; i++) keys.push(store.key(i));
    keys.forEach(function (key) {
      if (key && key.indexOf(PREFIX) === 0 && test(key)) store.removeItem(key);
    });
  }

  // another unit signed in in this tab: nothing of the one before stays; then what the last post asked to clear
  // goes, if the page says that post succeeded
  drop(function (key) {
    return key.indexOf(PREFIX + unit + ":") !== 0;
  });
  var pending = store.getItem(PENDING);
  store.removeItem(PENDING);
  if (pending && pending.indexOf(mine) === 0 && document.querySelector("[data-saved]")) {
    drop(function (key) {
      return pending === mine + "*" ? key.indexOf(mine) === 0 : key === pending;
    });
  }

  function fields(form) {
    return Array.prototype.filter.call(form.elements, function (el) {
      return el.name && (el.tagName === "SELECT" || (el.tagName === "INPUT" && el.type === "text")) && !el.disabled;
    });
  }
  function changed(el) {
    if (el.tagName !== "SELECT") return el.value !== el.defaultValue;
    return Array.prototype.some.call(el.options, function (o) {
      return o.selected !== o.defaultSelected;
    });
  }
  function keep(form, key) {
    var kept = read(key) || { base: (form.elements.version || {}).value || "", values: {} };
    fields(form).forEach(function (el) {
      // a field typed stays kept (its latest text) until a save succeeds: the page may show a refused save's
      // text as if it were stored
      if (changed(el) || Object.prototype.hasOwnProperty.call(kept.values, el.name)) kept.values[el.name] = el.value;
    });
    if (Object.keys(kept.values).length) write(key, kept);
  }
  function mark(el) {
    var holder = el.closest("td") || el.parentNode;
    var note = document.createElement("span");
    note.className = "fnote unsaved-note";
    note.textContent = "Số khôi phục, chưa lưu";
    holder.classList.add("unsaved");
    el.classList.add("unsaved");
    el.insertAdjacentElement("afterend", note);
    return function () {
      holder.classList.remove("unsaved");
      el.classList.remove("unsaved");
      note.remove();
    };
  }
  function notice(form, key, restored, base) {
    var p = document.createElement("p");
    p.className = "note warn unsaved-notice";
    p.setAttribute("role", "status");
    p.textContent =
      "Đã khôi phục " + restored.length + " ô chưa lưu: số đã gõ trên trang này nhưng chưa được lưu (phiên đăng " +
      "nhập đã hết, hoặc đã rời trang trước khi lưu), ghi “Số khôi phục, chưa lưu” dưới ô. Xem lại rồi bấm Lưu để lưu. ";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "secondary";
    button.textContent = "Bỏ các số này";
    button.addEventListener("click", function () {
      restored.forEach(function (r) {
        r.el.value = r.was;
        r.unmark();
      });
      if (form.elements.version) form.elements.version.value = base;
      store.removeItem(key);
      p.textContent = "Đã bỏ các số chưa lưu: các ô hiện số đã lưu.";
      p.className = "note ok unsaved-notice";
      update();
    });
    p.appendChild(button);
    form.parentNode.insertBefore(p, form);
  }
  function restore(form, key) {
    var kept = read(key);
    if (!kept) return;
    var restored = [];
    fields(form).forEach(function (el) {
      if (!Object.prototype.hasOwnProperty.call(kept.values, el.name)) return;
      var typed = String(kept.values[el.name]);
      if (el.value === typed) return;
      var was = el.value;
      el.value = typed;
      if (el.value !== typed) {
        el.value = was; // not one of the select's choices
        return;
      }
      restored.push({ el: el, was: was, unmark: mark(el) });
    });
    if (!restored.length) {
      // all of it is what the page shows: stale (typed back as it was), unless the page is a refused save's
      // (what it shows is not stored)
      if (!document.querySelector(".note.bad[role=alert]")) store.removeItem(key);
      return;
    }
    var version = form.elements.version;
    var base = version ? version.value : "";
    // the save is judged against the version the figures were typed on: a cell saved since from another device
    // is shown as a conflict rather than overwritten
    if (version && /^[0-9]+$/.test(String(kept.base)) && Number(kept.base) < Number(base)) version.value = kept.base;
    notice(form, key, restored, base);
    update();
  }

  document.querySelectorAll("form[data-keep]").forEach(function (form) {
    var key = mine + form.getAttribute("data-keep");
    restore(form, key);
    var typed = function () {
      keep(form, key);
    };
    form.addEventListener("input", typed);
    form.addEventListener("change", typed);
    form.addEventListener("submit", function () {
      keep(form, key);
      markPending(key);
    });
  });
  // the overview: each Biểu with figures kept says so beside its name
  document.querySelectorAll("table.sheets td:first-child a[href^='/xa/nhap/']").forEach(function (a) {
    var kept = read(mine + "bieu-" + a.getAttribute("href").split("/").pop());
    if (!kept || !Object.keys(kept.values).length) return;
    var mark = document.createElement("span");
    mark.className = "unsaved-mark";
    mark.textContent = " · có số đã gõ chưa lưu";
    a.insertAdjacentElement("afterend", mark);
  });
  document.querySelectorAll("form[data-done]").forEach(function (form) {
    form.addEventListener("submit", function () {
      markPending(mine + "*");
    });
  });
  var signout = document.querySelector("form.signout");
  if (signout) {
    signout.addEventListener("submit", function () {
      drop(function () {
        return true;
      });
      store.removeItem(PENDING);
    });
  }
})();
