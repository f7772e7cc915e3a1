// Keeps the server-rendered cluster page current: fetches the changed sections as JSON and
// swaps them in place (no reload), names the slot range or event under the pointer or focus.
(function () {
  "use strict";
  var body = document.body;
  var src = new URL(body.getAttribute("data-src"), location.href);
  var generation = body.getAttribute("data-generation");
  var every = Number(body.getAttribute("data-refresh")) || 2000;
  var live = document.getElementById("live");
  var shown = {};

  function name(e) {
    var g = e.target.closest && e.target.closest("[data-start],.ev");
    if (!g) return;
    var title = g.querySelector("title");
    var where = g.classList.contains("ev") ? "evinfo" : g.closest(".heatmap") ? "heatinfo" : "slotinfo";
    var out = document.getElementById(where);
    if (title && out) out.textContent = title.textContent;
  }
  document.addEventListener("mouseover", name);
  document.addEventListener("focusin", name);

  function keyOf(el) {
    if (!el || !el.getAttribute) return null;
    return el.getAttribute("data-key") || (el.getAttribute("data-start") && "s" + el.getAttribute("data-start"));
  }

  function swap(id, html) {
    var el = document.getElementById(id);
    if (!el || shown[id] === html) return;
    var active = document.activeElement;
    var key = el.contains(active) ? keyOf(active) : null;
    // Parts that scroll sideways on a narrow window keep their place.
    var scrolled = Array.prototype.map.call(el.querySelectorAll(".scroll"), function (n) {
      return n.scrollLeft;
    });
    el.innerHTML = html;
    shown[id] = html;
    Array.prototype.forEach.call(el.querySelectorAll(".scroll"), function (n, i) {
      if (scrolled[i]) n.scrollLeft = scrolled[i];
    });
    if (key) {
      var again = Array.prototype.find.call(el.querySelectorAll("[tabindex]"), function (n) {
        return keyOf(n) === key;
      });
      if (again) again.focus({ preventScroll: true });
    }
  }

  function tick() {
    src.searchParams.set("generation", generation);
    fetch(src, { cache: "no-store", credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (d) {
        if (d.sections) {
          Object.keys(d.sections).forEach(function (id) { swap(id, d.sections[id]); });
        }
        generation = String(d.generation);
        body.setAttribute("data-generation", generation);
        live.textContent = "Live: checked " + new Date().toLocaleTimeString() + ".";
        live.className = "live ok";
      })
      .catch(function (err) {
        live.textContent = "Not updating (" + err.message + "); retrying.";
        live.className = "live bad";
      })
      .finally(function () { setTimeout(tick, every); });
  }
  live.textContent = "Live: refreshes every " + every / 1000 + " s.";
  setTimeout(tick, every);
})();
