/* Enhancements every page shares (base.html loads this file; the pages work without it).
 *
 * - A table too wide for its box scrolls sideways: its box becomes a named, focusable
 *   region, so that a keyboard can scroll it too (WCAG 2.1.1).
 * - A list swapped in by htmx: the list is marked busy while it loads, its new caption (or
 *   empty state) is announced in a polite live region, and focus that was on a link the swap
 *   removed (a pager's) moves to the list instead of falling back to the top of the page.
 */
(function () {
  "use strict";

  var live = null;

  function liveRegion() {
    if (!live) {
      live = document.createElement("div");
      live.className = "visually-hidden";
      live.setAttribute("role", "status");
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    return live;
  }

  function scrollers(root) {
    (root || document).querySelectorAll(".table-scroll").forEach(function (box) {
      var scrolls = box.scrollWidth > box.clientWidth + 1;
      if (scrolls && !box.hasAttribute("tabindex")) {
        var caption = box.querySelector("caption");
        box.setAttribute("tabindex", "0");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", caption ? caption.textContent.trim().replace(/\s+/g, " ") : document.title);
        box.setAttribute("data-scroll-region", "");
      } else if (!scrolls && box.hasAttribute("data-scroll-region")) {
        ["tabindex", "role", "aria-label", "data-scroll-region"].forEach(function (name) {
          box.removeAttribute(name);
        });
      }
    });
  }

  function summary(target) {
    var node = target.querySelector("caption, .empty-state h2, .empty, [role='alert']");
    return node ? node.textContent.trim().replace(/\s+/g, " ") : "";
  }

  function start() {
    liveRegion(); // before any change, or the first one would not be announced
    scrollers();
    var pending = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(pending);
      pending = window.setTimeout(scrollers, 200);
    });
    // A table in a closed <details> has no width until it opens ("toggle" does not bubble).
    document.addEventListener("toggle", function (event) {
      scrollers(event.target);
    }, true);

    document.addEventListener("htmx:beforeRequest", function (event) {
      var target = event.detail.target;
      if (target) {
        target.setAttribute("aria-busy", "true");
      }
    });
    document.addEventListener("htmx:afterRequest", function (event) {
      var target = event.detail.target;
      if (target) {
        target.removeAttribute("aria-busy");
      }
    });
    document.addEventListener("htmx:afterSettle", function (event) {
      var target = event.detail.target;
      if (!target || !target.classList.contains("list-results")) {
        return;
      }
      scrollers(target);
      liveRegion().textContent = summary(target);
      var focused = document.activeElement;
      if (!focused || focused === document.body || !document.body.contains(focused)) {
        target.setAttribute("tabindex", "-1");
        target.focus();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
