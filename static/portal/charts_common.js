/* What every chart script of the portal shares: registry/charts.js, registry/quality.js
 * and rollout/rollout.js each load this first (the pages include it before them).
 *
 * The page's json_script config, the chart's status line, the table that stands in for a
 * chart that cannot be drawn, the accessible label of a drawn plot, UTC dates for Plotly's
 * axes (which carry no time zone), numbers in the page's language, and the plot options.
 */
(function () {
  "use strict";

  window.PortalCharts = {
    /* No mode bar: a drawn plot is an image (role="img") and may hold no buttons, and the
     * bar's buttons were invisible when focused. Drag to zoom, double-click to reset. */
    PLOT_CONFIG: {
      responsive: true,
      displaylogo: false,
      displayModeBar: false
    },

    readConfig: function (id) {
      var node = document.getElementById(id);
      if (!node) {
        return null;
      }
      try {
        return JSON.parse(node.textContent);
      } catch (error) {
        return null;
      }
    },

    setStatus: function (area, text, isError) {
      var status = area.querySelector("[data-chart-status]");
      if (!status) {
        return;
      }
      status.textContent = text || "";
      status.classList.toggle("is-error", Boolean(isError));
    },

    openTable: function (area) {
      var section = area.closest("section");
      var details = section && section.querySelector("details[data-chart-table]");
      if (details) {
        details.open = true;
      }
    },

    /* A drawn plot is an image described by the table or text next to it. */
    labelPlot: function (plot) {
      plot.setAttribute("role", "img");
      plot.setAttribute("aria-label", plot.getAttribute("data-label") || "");
    },

    /* A Date or anything Date() reads, as Plotly's zone-less UTC text; unreadable: as given. */
    plotlyDate: function (value) {
      var date = value instanceof Date ? value : new Date(value);
      if (isNaN(date.getTime())) {
        return value;
      }
      return date.toISOString().replace("T", " ").replace("Z", "");
    },

    /* Draw with `job`; when plotly.js is missing or the drawing fails, say so and open the table. */
    drawOrFallback: function (area, labels, job) {
      var charts = window.PortalCharts;
      labels = labels || {};
      if (!window.Plotly) {
        charts.setStatus(area, labels.no_library, true);
        charts.openTable(area);
        return;
      }
      try {
        job();
      } catch (error) {
        charts.setStatus(area, labels.unavailable, true);
        charts.openTable(area);
      }
    },

    /* Run `start` once the page is parsed (the scripts are deferred, but may load late),
     * and again when htmx swaps in a list that brings charts of its own. */
    onReady: function (start) {
      if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
      } else {
        start();
      }
      document.addEventListener("htmx:afterSettle", function (event) {
        var target = event.detail && event.detail.target;
        if (target && target.querySelector("[data-chart-plot], [data-sparkline]")) {
          start();
        }
      });
    },

    formatNumber: function (value) {
      return Number(value).toLocaleString(document.documentElement.lang || undefined, {
        maximumSignificantDigits: 4
      });
    }
  };
})();
