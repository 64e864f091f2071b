/* The rollout pages' charts, drawn with the plotly.js that ships in the plotly package.
 *
 * The page describes its charts in a json_script block (#rollout-chart-config);
 * all chart logic is here, so the pages need no inline script. Every chart
 * repeats a table on the page: when plotly.js or a chart fails, the page says
 * so and opens the table.
 *
 * kind "readiness": indicators met per day (0 to 7), one bar trace per verdict
 * (ready, conditional, defer: colour, pattern and legend name differ), with the
 * lines where the verdict changes (7 met: ready; 5 met: conditional).
 * kind "rollout": per checkpoint metric, the candidate's mean per bucket with
 * its min-max band, the threshold, the start of each cohort and each pause.
 */
(function () {
  "use strict";

  var charts = window.PortalCharts;
  var readConfig = function () {
    return charts.readConfig("rollout-chart-config");
  };
  var setStatus = charts.setStatus;
  var plotlyDate = charts.plotlyDate;
  var formatNumber = charts.formatNumber;
  var PLOT_CONFIG = charts.PLOT_CONFIG;

  var COLOURS = {
    line: "#0b5cad",
    band: "rgba(11, 92, 173, 0.15)",
    threshold: "#b42318",
    cohort: "#52606d",
    pause: "#8a5300",
    ready: "#146c2e",
    conditional: "#8a5300",
    defer: "#b42318",
    grid: "#d9e2ec"
  };
  var PATTERNS = {ready: "", conditional: "/", defer: "x"};

  function baseLayout(yTitle, xTitle) {
    return {
      height: 300,
      margin: {l: 64, r: 16, t: 28, b: 48},
      font: {family: "system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12, color: "#1f2933"},
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      showlegend: true,
      legend: {orientation: "h", x: 0, y: -0.25},
      xaxis: {title: {text: xTitle || ""}, gridcolor: COLOURS.grid},
      yaxis: {title: {text: yTitle || ""}, gridcolor: COLOURS.grid, zeroline: false},
      shapes: [],
      annotations: []
    };
  }

  function draw(area, traces, layout) {
    var plot = area.querySelector("[data-chart-plot]");
    if (!plot) {
      return;
    }
    try {
      plot.setAttribute("role", "img");
      plot.setAttribute("aria-label", plot.getAttribute("data-label") || "");
      window.Plotly.newPlot(plot, traces, layout, PLOT_CONFIG);
    } catch (error) {
      plot.removeAttribute("role");
      plot.textContent = "";
      throw error;
    }
  }

  function horizontal(layout, value, colour, dash, text) {
    layout.shapes.push({
      type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: value, y1: value,
      line: {color: colour, width: 1.5, dash: dash}
    });
    layout.annotations.push({
      xref: "paper", x: 1, xanchor: "right", yref: "y", y: value, yanchor: "bottom",
      text: text, showarrow: false, bgcolor: "rgba(255, 255, 255, 0.85)",
      font: {color: colour, size: 11}
    });
  }

  function vertical(layout, at, colour, dash, text) {
    var x = plotlyDate(at);
    layout.shapes.push({
      type: "line", xref: "x", x0: x, x1: x, yref: "paper", y0: 0, y1: 1,
      line: {color: colour, width: 1, dash: dash}
    });
    if (text) {
      layout.annotations.push({
        xref: "x", x: x, xanchor: "left", yref: "paper", y: 1, yanchor: "bottom",
        text: text, showarrow: false, font: {color: colour, size: 11}
      });
    }
  }

  /* --- Readiness history ------------------------------------------------------------- */

  function readiness(config) {
    var area = document.querySelector("[data-rollout-chart='readiness']");
    if (!area) {
      return;
    }
    run(area, config.labels, function () {
      var labels = config.labels || {};
      var days = config.days || [];
      var traces = ["ready", "conditional", "defer"].map(function (verdict) {
        return {
          x: days, type: "bar", name: labels[verdict],
          y: (config.met || []).map(function (met, index) {
            return config.verdicts[index] === verdict ? met : null;
          }),
          marker: {color: COLOURS[verdict], pattern: {shape: PATTERNS[verdict], fgcolor: "#ffffff"}},
          hovertemplate: "%{x}: %{y} / 7 · " + labels[verdict] + "<extra></extra>"
        };
      });
      var layout = baseLayout(labels.met, labels.day);
      layout.barmode = "overlay";
      layout.xaxis.type = "date";
      layout.yaxis.range = [0, 7.5];
      layout.yaxis.dtick = 1;
      horizontal(layout, 7, COLOURS.ready, "dot", labels.all_met);
      horizontal(layout, 5, COLOURS.conditional, "dash", labels.conditional_from);
      draw(area, traces, layout);
    });
  }

  /* --- A rollout's checkpoint metrics ------------------------------------------------ */

  function metricChart(area, chart, config) {
    var labels = config.labels || {};
    var x = (chart.x || []).map(plotlyDate);
    var unit = chart.unit ? " " + chart.unit : "";
    var traces = [
      {
        x: x, y: chart.max, type: "scatter", mode: "lines", line: {width: 0},
        hoverinfo: "skip", showlegend: false
      },
      {
        x: x, y: chart.min, type: "scatter", mode: "lines", line: {width: 0},
        fill: "tonexty", fillcolor: COLOURS.band, name: labels.range, hoverinfo: "skip"
      },
      {
        x: x, y: chart.mean, type: "scatter", mode: x.length > 80 ? "lines" : "lines+markers",
        name: labels.mean, line: {color: COLOURS.line, width: 2},
        hovertemplate: "%{y:.4~g}" + unit + "<extra></extra>"
      }
    ];
    var layout = baseLayout(chart.name + (chart.unit ? " (" + chart.unit + ")" : ""), labels.time);
    layout.xaxis.type = "date";
    if (config.start && config.end) {
      layout.xaxis.range = [plotlyDate(config.start), plotlyDate(config.end)];
    }
    horizontal(layout, chart.threshold, COLOURS.threshold, "dash",
      labels.threshold + " " + (chart.higher_is_better ? "≥ " : "≤ ") + formatNumber(chart.threshold));
    (config.cohorts || []).forEach(function (cohort) {
      vertical(layout, cohort.at, COLOURS.cohort, "solid", cohort.label);
    });
    (config.pauses || []).forEach(function (pause) {
      vertical(layout, pause.at, COLOURS.pause, "dot", labels.pause);
    });
    draw(area, traces, layout);
    if (!x.length) {
      setStatus(area, labels.no_points, false);
    }
  }

  function rollout(config) {
    (config.charts || []).forEach(function (chart) {
      var area = document.querySelector("[data-rollout-chart='" + chart.key + "']");
      if (area) {
        run(area, config.labels, function () {
          metricChart(area, chart, config);
        });
      }
    });
  }

  var run = charts.drawOrFallback;

  function start() {
    var config = readConfig();
    if (!config) {
      return;
    }
    if (config.kind === "readiness") {
      readiness(config);
    } else if (config.kind === "rollout") {
      rollout(config);
    }
  }

  window.PortalCharts.onReady(start);
})();
