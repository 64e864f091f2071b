/* The data-quality pages' charts, drawn with the plotly.js that ships in the plotly package.
 *
 * The page describes its charts in a json_script block (#quality-config); all
 * chart logic is here, so the pages need no inline script. Every chart repeats
 * what a table or a text on the page already says: when plotly.js or a chart
 * fails, the page says so and the tables stay.
 *
 * kind "dashboard": two sparklines per source (daily rows, largest PSI per day).
 * A page holds up to 200 sources, so each is drawn only when its row scrolls
 * into view, as a static plot (no hover, no toolbar).
 * kind "source": history charts (rows per delivery; PSI and missing share per
 * field, with the source's levels) and, per field, the reference and the
 * current distribution side by side, as shares of their rows so that samples
 * of different sizes compare.
 */
(function () {
  "use strict";

  var charts = window.PortalCharts;
  var readConfig = function () {
    return charts.readConfig("quality-config");
  };
  var setStatus = charts.setStatus;
  var labelPlot = charts.labelPlot;
  var plotlyDate = charts.plotlyDate;
  var formatNumber = charts.formatNumber;
  var PLOT_CONFIG = charts.PLOT_CONFIG;

  var COLOURS = {
    line: "#0b5cad",
    reference: "#52606d",
    current: "#0b5cad",
    warn: "#8a5300",
    fail: "#b42318",
    grid: "#d9e2ec"
  };
  // Distinct colours and dashes, so fields differ by more than colour.
  var PALETTE = ["#0b5cad", "#6b3fa0", "#146c2e", "#8a5300", "#b42318", "#00707a", "#a0336b", "#52606d"];
  var DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"];
  var SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "cross", "star", "hexagon"];

  function hasValue(values) {
    return (values || []).some(function (value) {
      return value !== null && value !== undefined;
    });
  }

  function levelMarks(levels, labels) {
    var shapes = [];
    var annotations = [];
    [["warn", "dash"], ["fail", "dot"]].forEach(function (pair) {
      var value = levels[pair[0]];
      if (value === null || value === undefined) {
        return;
      }
      shapes.push({
        type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: value, y1: value,
        line: {color: COLOURS[pair[0]], width: 1.5, dash: pair[1]}
      });
      annotations.push({
        xref: "paper", x: 1, xanchor: "right", yref: "y", y: value, yanchor: "bottom",
        text: labels[pair[0]] + " " + formatNumber(value), showarrow: false,
        bgcolor: "rgba(255, 255, 255, 0.85)", font: {color: COLOURS[pair[0]], size: 11}
      });
    });
    return {shapes: shapes, annotations: annotations};
  }

  function baseLayout(yTitle, xTitle) {
    return {
      height: 300,
      margin: {l: 64, r: 16, t: 16, b: 48},
      font: {family: "system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12, color: "#1f2933"},
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      showlegend: true,
      legend: {orientation: "h", x: 0, y: -0.25},
      xaxis: {title: {text: xTitle || ""}, gridcolor: COLOURS.grid},
      yaxis: {title: {text: yTitle || ""}, gridcolor: COLOURS.grid, zeroline: false, rangemode: "tozero"}
    };
  }

  function draw(area, traces, layout, config) {
    var plot = area.querySelector("[data-chart-plot]");
    if (!plot) {
      return;
    }
    try {
      labelPlot(plot);
      window.Plotly.newPlot(plot, traces, layout, config || PLOT_CONFIG);
    } catch (error) {
      plot.removeAttribute("role");
      plot.textContent = "";
      throw error;
    }
  }

  /* --- Dashboard sparklines ------------------------------------------------------------ */

  function sparkline(node, days, series) {
    var kind = node.getAttribute("data-series");
    var values = series[kind] || [];
    if (!hasValue(values)) {
      return; // the cell's text already says there is nothing to draw
    }
    var shapes = [];
    if (kind === "drift") {
      [["psi_warn", COLOURS.warn, "dash"], ["psi_fail", COLOURS.fail, "dot"]].forEach(function (level) {
        var value = series[level[0]];
        if (value !== null && value !== undefined) {
          shapes.push({
            type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: value, y1: value,
            line: {color: level[1], width: 1, dash: level[2]}
          });
        }
      });
    }
    var trace = {
      x: days, y: values, type: "scatter", mode: "lines+markers", connectgaps: false,
      line: {color: COLOURS.line, width: 1.5}, marker: {size: 2, color: COLOURS.line}
    };
    var layout = {
      width: 120, height: 32, margin: {l: 1, r: 1, t: 2, b: 2}, showlegend: false,
      paper_bgcolor: "rgba(0, 0, 0, 0)", plot_bgcolor: "rgba(0, 0, 0, 0)",
      xaxis: {visible: false, fixedrange: true},
      yaxis: {visible: false, fixedrange: true, rangemode: "tozero"},
      shapes: shapes
    };
    window.Plotly.newPlot(node, [trace], layout, {staticPlot: true, displayModeBar: false});
  }

  function dashboard(config) {
    var nodes = Array.prototype.slice.call(document.querySelectorAll("[data-sparkline]"));
    var sources = config.sources || {};
    var days = config.days || [];

    function drawNode(node) {
      var series = sources[node.getAttribute("data-sparkline")];
      if (!series || node.getAttribute("data-drawn")) {
        return;
      }
      node.setAttribute("data-drawn", "1");
      try {
        sparkline(node, days, series);
      } catch (error) {
        node.textContent = ""; // the text beside it stays
      }
    }

    if (!window.Plotly) {
      return; // each sparkline has its text alternative beside it
    }
    if (typeof window.IntersectionObserver !== "function") {
      nodes.forEach(drawNode);
      return;
    }
    // Rows, not the plots, are watched: a wide grid scrolls sideways, and a plot out of
    // horizontal view must still be drawn when its row comes into view.
    var observer = new window.IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (entry.isIntersecting) {
          observer.unobserve(entry.target);
          entry.target.querySelectorAll("[data-sparkline]").forEach(drawNode);
        }
      });
    }, {rootMargin: "200px 0px"});
    var rows = [];
    nodes.forEach(function (node) {
      var row = node.closest("tr") || node;
      if (rows.indexOf(row) === -1) {
        rows.push(row);
        observer.observe(row);
      }
    });
  }

  /* --- A source's history and distributions --------------------------------------------- */

  function volumeChart(area, history, labels) {
    var volume = history.volume || {at: [], rows: []};
    var trace = {
      x: volume.at.map(plotlyDate), y: volume.rows, name: labels.volume, type: "scatter",
      mode: volume.at.length > 80 ? "lines" : "lines+markers",
      line: {color: COLOURS.line, width: 2}, hovertemplate: "%{y:,} " + labels.rows + "<extra></extra>"
    };
    var layout = baseLayout(labels.volume, labels.time);
    layout.xaxis.type = "date";
    layout.showlegend = false;
    draw(area, [trace], layout);
  }

  function fieldChart(area, history, key, levels, labels) {
    var fields = history.fields || {};
    // A field with no value yet (e.g. no reference, so no PSI) has nothing to draw.
    var names = Object.keys(fields).sort().filter(function (name) {
      return hasValue(fields[name][key]);
    });
    var traces = names.map(function (name, index) {
      var series = fields[name];
      return {
        x: series.at.map(plotlyDate), y: series[key], name: name, type: "scatter",
        mode: series.at.length > 80 ? "lines" : "lines+markers", connectgaps: false,
        line: {color: PALETTE[index % PALETTE.length], dash: DASHES[index % DASHES.length], width: 2},
        marker: {symbol: SYMBOLS[index % SYMBOLS.length], size: 6},
        hovertemplate: name + ": %{y:.4~g}<extra></extra>"
      };
    });
    if (!traces.length) {
      setStatus(area, labels.no_points, false);
      return;
    }
    var marks = levelMarks(levels, labels);
    var layout = baseLayout(labels[key], labels.time);
    layout.xaxis.type = "date";
    layout.hovermode = "x unified";
    layout.shapes = marks.shapes;
    layout.annotations = marks.annotations;
    draw(area, traces, layout);
  }

  function shares(counts) {
    var total = (counts || []).reduce(function (sum, count) {
      return sum + (count || 0);
    }, 0);
    return (counts || []).map(function (count) {
      return total ? (count || 0) / total : 0;
    });
  }

  function distributionChart(area, entry, labels) {
    var categories = entry.kind === "numeric"
      ? entry.edges.slice(0, -1).map(function (low, index) {
        return formatNumber(low) + " – " + formatNumber(entry.edges[index + 1]);
      })
      : entry.categories.map(String);
    var traces = [];
    if (entry.reference) {
      traces.push({
        x: categories, y: shares(entry.reference), customdata: entry.reference, type: "bar",
        name: labels.reference + (entry.reference_version ? " v" + entry.reference_version : ""),
        marker: {color: COLOURS.reference, pattern: {shape: "/"}},
        hovertemplate: "%{y:.1%} (%{customdata:,} " + labels.rows + ")<extra></extra>"
      });
    }
    traces.push({
      x: categories, y: shares(entry.current), customdata: entry.current, type: "bar",
      name: labels.current, marker: {color: COLOURS.current},
      hovertemplate: "%{y:.1%} (%{customdata:,} " + labels.rows + ")<extra></extra>"
    });
    var layout = baseLayout(labels.share, "");
    layout.barmode = "group";
    layout.yaxis.tickformat = ".0%";
    layout.xaxis.type = "category";
    draw(area, traces, layout);
  }

  function source(config) {
    var labels = config.labels || {};
    var history = config.history || {};
    var levels = history.levels || {};
    var jobs = [];
    document.querySelectorAll("[data-quality-chart]").forEach(function (area) {
      var kind = area.getAttribute("data-quality-chart");
      jobs.push([area, function () {
        if (kind === "volume") {
          volumeChart(area, history, labels);
        } else if (kind === "psi") {
          fieldChart(area, history, "psi", {warn: levels.psi_warn, fail: levels.psi_fail}, labels);
        } else if (kind === "missing") {
          fieldChart(area, history, "missing",
            {warn: levels.completeness_warn, fail: levels.completeness_fail}, labels);
        }
      }]);
    });
    document.querySelectorAll("[data-quality-distribution]").forEach(function (area) {
      var entry = (config.distributions || [])[Number(area.getAttribute("data-quality-distribution"))];
      if (entry) {
        jobs.push([area, function () {
          distributionChart(area, entry, labels);
        }]);
      }
    });
    jobs.forEach(function (job) {
      charts.drawOrFallback(job[0], labels, job[1]);
    });
  }

  function start() {
    var config = readConfig();
    if (!config) {
      return;
    }
    if (config.kind === "dashboard") {
      dashboard(config);
    } else if (config.kind === "source") {
      source(config);
    }
  }

  window.PortalCharts.onReady(start);
})();
