/* The home page's portfolio chart: systems per stage and day, as stacked bars.
 *
 * The page describes the chart in a json_script block (#portfolio-chart-config):
 * days (ISO dates), one series per stage (label and counts) and the messages.
 * All chart logic is here, so the page needs no inline script. The table next
 * to the chart lists the same values: when plotly.js or the chart fails, the
 * page says so and opens the table.
 */
(function () {
  "use strict";

  var charts = window.PortalCharts;
  // One colour and one pattern per stage, so the stages differ without colour too.
  var COLOURS = ["#9fb3c8", "#627d98", "#0b5cad", "#8a5300", "#146c2e"];
  var PATTERNS = ["", "/", "\\", "x", "."];

  function drawPortfolio(area, config) {
    var labels = config.labels || {};
    var plot = area.querySelector("[data-chart-plot]");
    if (!plot) {
      return;
    }
    if (!window.Plotly) {
      charts.setStatus(area, labels.no_library, true);
      charts.openTable(area);
      return;
    }
    var days = (config.days || []).map(function (day) {
      return charts.plotlyDate(day + "T00:00:00Z");
    });
    var traces = (config.series || []).map(function (series, index) {
      return {
        type: "bar",
        name: series.label,
        x: days,
        y: series.counts,
        marker: {
          color: COLOURS[index % COLOURS.length],
          pattern: {shape: PATTERNS[index % PATTERNS.length]}
        },
        hovertemplate: "%{y} · " + series.label + "<extra></extra>"
      };
    });
    var layout = {
      barmode: "stack",
      height: 320,
      margin: {l: 56, r: 16, t: 16, b: 64},
      font: {family: "system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12, color: "#1f2933"},
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      legend: {orientation: "h", x: 0, y: -0.25},
      xaxis: {title: {text: labels.x || ""}, type: "date", gridcolor: "#d9e2ec"},
      yaxis: {title: {text: labels.y || ""}, rangemode: "tozero", gridcolor: "#d9e2ec",
              tickformat: "d"}
    };
    try {
      charts.labelPlot(plot);
      window.Plotly.newPlot(plot, traces, layout, charts.PLOT_CONFIG);
      charts.setStatus(area, "", false);
    } catch (error) {
      plot.removeAttribute("role");
      plot.textContent = "";
      charts.setStatus(area, labels.unavailable, true);
      charts.openTable(area);
    }
  }

  function start() {
    var area = document.querySelector("[data-portfolio-chart]");
    var config = charts && charts.readConfig("portfolio-chart-config");
    if (area && config) {
      drawPortfolio(area, config);
    }
  }

  window.PortalCharts.onReady(start);
})();
