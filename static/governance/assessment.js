/* The root-cause heat map of the portfolio, drawn with the plotly.js of the plotly package.
 *
 * The page describes it in a json_script block (#assessment-chart-config): the causes
 * (columns), the systems (rows), each cell's score (null: not assessed), its text
 * ("72 · high") and the URL of the system's assessment. Each cell shows its text, so
 * the band never rests on colour alone; clicking a cell opens the system's page. The
 * table below the chart has the same scores as links, for keyboards and screen readers,
 * and stands in when plotly.js or the chart fails.
 */
(function () {
  "use strict";

  var charts = window.PortalCharts;

  // Light fills, so the dark cell text stays readable on every band.
  var FILLS = {low: "#d8f0df", medium: "#fbe7c6", high: "#f8d0cc"};

  /* Three flat bands on 0..100; scores are whole numbers, so the edges sit half a point below. */
  function colourscale(levels) {
    var medium = (levels.medium - 0.5) / 100;
    var high = (levels.high - 0.5) / 100;
    return [
      [0, FILLS.low], [medium, FILLS.low],
      [medium, FILLS.medium], [high, FILLS.medium],
      [high, FILLS.high], [1, FILLS.high]
    ];
  }

  function draw(area, config) {
    var plot = area.querySelector("[data-chart-plot]");
    if (!plot) {
      return;
    }
    var labels = config.labels || {};
    var systems = config.systems || [];
    var levels = config.levels || {medium: 30, high: 60};
    // Rows by index, named by tick text: two systems with one name stay two rows.
    var rows = systems.map(function (name, index) {
      return index;
    });
    var trace = {
      type: "heatmap",
      x: config.causes,
      y: rows,
      z: config.z,
      text: config.text,
      customdata: config.urls,
      texttemplate: "%{text}",
      textfont: {color: "#1f2933", size: 13},
      hovertemplate: "%{x}: %{text}<extra></extra>",
      zmin: 0,
      zmax: 100,
      colorscale: colourscale(levels),
      xgap: 2,
      ygap: 2,
      colorbar: {
        title: {text: labels.score || ""},
        tickvals: [0, levels.medium, levels.high, 100]
      }
    };
    var layout = {
      height: Math.max(260, 110 + 40 * systems.length),
      margin: {l: 200, r: 16, t: 64, b: 16},
      font: {family: "system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12, color: "#1f2933"},
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      xaxis: {side: "top", fixedrange: true},
      yaxis: {
        tickvals: rows, ticktext: systems, autorange: "reversed", fixedrange: true,
        automargin: true
      }
    };
    try {
      charts.labelPlot(plot);
      window.Plotly.newPlot(plot, [trace], layout, charts.PLOT_CONFIG);
    } catch (error) {
      plot.removeAttribute("role");
      plot.textContent = "";
      throw error;
    }
    plot.on("plotly_click", function (event) {
      var point = event && event.points && event.points[0];
      if (!point) {
        return;
      }
      var url = point.customdata;
      if (typeof url !== "string" && point.pointIndex) {
        url = (config.urls[point.pointIndex[0]] || [])[point.pointIndex[1]];
      }
      if (typeof url === "string") {
        window.location.assign(url);
      }
    });
  }

  function start() {
    var config = charts.readConfig("assessment-chart-config");
    var area = document.querySelector("[data-assessment-chart]");
    if (!config || !area) {
      return;
    }
    var labels = config.labels || {};
    if (!window.Plotly) {
      charts.setStatus(area, labels.no_library, true);
      charts.openTable(area);
      return;
    }
    try {
      draw(area, config);
    } catch (error) {
      charts.setStatus(area, labels.unavailable, true);
      charts.openTable(area);
    }
  }

  window.PortalCharts.onReady(start);
})();
