/* The registry's charts, drawn with the plotly.js that ships in the plotly package.
 *
 * The page describes its charts in a json_script block (#registry-chart-config);
 * this file holds all chart logic, so the pages need no inline script (a
 * Content-Security-Policy can forbid them). Every chart is an enhancement over
 * a table that already shows the numbers: when plotly.js or the data fails to
 * load, the chart says so and the table stays.
 *
 * kind "series": one live chart per metric. Data comes from the series endpoint
 * (min/mean/max per bucket); zooming asks again for the visible range, so the
 * server answers with finer rollups (daily, hourly, raw) and no more than
 * `buckets` points, whatever the length of the history.
 * kind "comparison": two versions' daily values per metric, data in the config.
 */
(function () {
  "use strict";

  var charts = window.PortalCharts;
  var readConfig = function () {
    return charts.readConfig("registry-chart-config");
  };
  var setStatus = charts.setStatus;
  var openTable = charts.openTable;
  var labelPlot = charts.labelPlot;
  var plotlyDate = charts.plotlyDate;
  var formatNumber = charts.formatNumber;
  var PLOT_CONFIG = charts.PLOT_CONFIG;

  var COLOURS = {
    line: "#0b5cad",
    band: "rgba(11, 92, 173, 0.15)",
    other: "#6b3fa0",
    warning: "#8a5300",
    critical: "#b42318",
    deploy: "#52606d",
    grid: "#d9e2ec"
  };
  var DAY_MS = 86400000;
  var ZOOM_DELAY_MS = 250;

  function areaFor(key) {
    var areas = document.querySelectorAll("[data-chart]");
    for (var i = 0; i < areas.length; i += 1) {
      if (areas[i].getAttribute("data-chart") === key) {
        return areas[i];
      }
    }
    return null;
  }

  function clearPlot(area) {
    var plot = area.querySelector("[data-chart-plot]");
    if (!plot) {
      return;
    }
    if (window.Plotly) {
      window.Plotly.purge(plot);
    }
    plot.textContent = "";
    plot.removeAttribute("role");
    plot.removeAttribute("aria-label");
  }

  function parsePlotlyDate(value) {
    if (typeof value === "number") {
      return new Date(value);
    }
    var text = String(value).trim().replace(" ", "T");
    if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
      text += "T00:00:00";
    }
    if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(text)) {
      text += "Z";
    }
    var date = new Date(text);
    return isNaN(date.getTime()) ? null : date;
  }

  function thresholdMarks(chart, labels) {
    var shapes = [];
    var annotations = [];
    [["warning", "dash"], ["critical", "dot"]].forEach(function (pair) {
      var level = pair[0];
      var value = chart[level];
      if (value === null || value === undefined) {
        return;
      }
      shapes.push({
        type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: value, y1: value,
        line: {color: COLOURS[level], width: 1.5, dash: pair[1]}
      });
      annotations.push({
        xref: "paper", x: 1, xanchor: "right", yref: "y", y: value, yanchor: "bottom",
        text: labels[level] + " " + formatNumber(value), showarrow: false,
        bgcolor: "rgba(255, 255, 255, 0.85)", font: {color: COLOURS[level], size: 11}
      });
    });
    return {shapes: shapes, annotations: annotations};
  }

  function deploymentMarks(chart, labels, start, end) {
    var shapes = [];
    var annotations = [];
    (chart.deployments || []).forEach(function (deployment) {
      var at = new Date(deployment.at);
      if (isNaN(at.getTime()) || at < start || at > end) {
        return;
      }
      var x = plotlyDate(at);
      shapes.push({
        type: "line", xref: "x", x0: x, x1: x, yref: "paper", y0: 0, y1: 1,
        line: {color: COLOURS.deploy, width: 1, dash: "dashdot"}
      });
      annotations.push({
        xref: "x", x: x, yref: "paper", y: 1, yanchor: "bottom", showarrow: false,
        text: "▼ " + deployment.version, hovertext: labels.deployed + " " + deployment.version + " · " + x.slice(0, 16),
        font: {color: COLOURS.deploy, size: 11}
      });
    });
    return {shapes: shapes, annotations: annotations};
  }

  function baseLayout(chart, xTitle) {
    return {
      height: 300,
      margin: {l: 64, r: 16, t: 28, b: 48},
      font: {family: "system-ui, -apple-system, 'Segoe UI', sans-serif", size: 12, color: "#1f2933"},
      paper_bgcolor: "#ffffff",
      plot_bgcolor: "#ffffff",
      hovermode: "x unified",
      showlegend: true,
      legend: {orientation: "h", x: 0, y: -0.22},
      xaxis: {type: "date", title: {text: xTitle}, gridcolor: COLOURS.grid},
      yaxis: {title: {text: chart.unit || ""}, gridcolor: COLOURS.grid, zeroline: false},
      uirevision: chart.key
    };
  }

  /* --- Live series charts ------------------------------------------------------------- */

  function seriesChart(area, chart, config) {
    var labels = config.labels;
    var plot = area.querySelector("[data-chart-plot]");
    var state = {controller: null, timer: null, start: null, end: null, drawn: false};

    function defaultWindow() {
      var end = new Date();
      return [new Date(end.getTime() - config.window_days * DAY_MS), end];
    }

    function draw(data, start, end) {
      var x = [];
      var mean = [];
      var low = [];
      var high = [];
      var counts = [];
      data.buckets.forEach(function (bucket) {
        var at = new Date(bucket.start);
        x.push(isNaN(at.getTime()) ? bucket.start : plotlyDate(at));
        mean.push(bucket.mean);
        low.push(bucket.min);
        high.push(bucket.max);
        counts.push(bucket.count);
      });
      var traces = [
        {x: x, y: high, type: "scatter", mode: "lines", line: {width: 0}, hoverinfo: "skip",
          showlegend: false},
        {x: x, y: low, type: "scatter", mode: "lines", line: {width: 0}, fill: "tonexty",
          fillcolor: COLOURS.band, name: labels.range, hoverinfo: "skip"},
        {x: x, y: mean, customdata: counts, type: "scatter",
          mode: x.length > 80 ? "lines" : "lines+markers", line: {color: COLOURS.line, width: 2},
          name: labels.mean, hovertemplate: "%{y:.4~g} (n=%{customdata})<extra></extra>"}
      ];
      var thresholds = thresholdMarks(chart, labels);
      var deployments = deploymentMarks(chart, labels, start, end);
      var layout = baseLayout(chart, labels.time);
      layout.xaxis.range = [plotlyDate(start), plotlyDate(end)];
      layout.shapes = thresholds.shapes.concat(deployments.shapes);
      layout.annotations = thresholds.annotations.concat(deployments.annotations);
      labelPlot(plot);
      var drawing = state.drawn
        ? window.Plotly.react(plot, traces, layout, PLOT_CONFIG)
        : window.Plotly.newPlot(plot, traces, layout, PLOT_CONFIG);
      var resolution = (labels.resolutions || {})[data.resolution] || data.resolution;
      var summary = data.buckets.length
        ? labels.resolution + ": " + resolution + " · " + data.buckets.length + " " + labels.buckets
        : labels.no_points;
      setStatus(area, summary, false);
      if (!state.drawn) {
        state.drawn = true;
        Promise.resolve(drawing).then(function () {
          plot.on("plotly_relayout", onRelayout);
        });
      }
    }

    function load(start, end) {
      if (state.controller) {
        state.controller.abort();
      }
      var controller = typeof AbortController === "function" ? new AbortController() : null;
      state.controller = controller;
      state.start = start;
      state.end = end;
      var params = new URLSearchParams({
        start: start.toISOString(),
        end: end.toISOString(),
        buckets: String(config.buckets)
      });
      setStatus(area, labels.loading, false);
      fetch(chart.url + "?" + params.toString(), {
        credentials: "same-origin",
        headers: {Accept: "application/json"},
        signal: controller ? controller.signal : undefined
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (data) {
          if (!data || !Array.isArray(data.buckets)) {
            throw new Error("unexpected answer");
          }
          draw(data, start, end);
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") {
            return;
          }
          if (!state.drawn) {
            clearPlot(area);
          }
          setStatus(area, labels.unavailable, true);
          openTable(area);
        });
    }

    function schedule(start, end) {
      if (!start || !end || start >= end) {
        return;
      }
      if (state.start && state.end && +start === +state.start && +end === +state.end) {
        return;
      }
      window.clearTimeout(state.timer);
      state.timer = window.setTimeout(function () {
        load(start, end);
      }, ZOOM_DELAY_MS);
    }

    function onRelayout(event) {
      if (!event) {
        return;
      }
      var from = event["xaxis.range[0]"];
      var to = event["xaxis.range[1]"];
      if (from === undefined && Array.isArray(event["xaxis.range"])) {
        from = event["xaxis.range"][0];
        to = event["xaxis.range"][1];
      }
      if (from !== undefined && to !== undefined) {
        schedule(parsePlotlyDate(from), parsePlotlyDate(to));
      } else if (event["xaxis.autorange"]) {
        var window_ = defaultWindow();
        state.start = null;
        schedule(window_[0], window_[1]);
      }
    }

    var initial = defaultWindow();
    load(initial[0], initial[1]);
  }

  /* --- Version comparison charts ---------------------------------------------------- */

  function comparisonChart(area, chart, config) {
    var labels = config.labels;
    var plot = area.querySelector("[data-chart-plot]");
    var styles = [
      {colour: COLOURS.line, dash: "solid", symbol: "circle"},
      {colour: COLOURS.other, dash: "dash", symbol: "square"}
    ];
    var traces = chart.traces.map(function (trace, index) {
      var style = styles[index % styles.length];
      return {
        x: chart.days, y: trace.values, name: trace.version, type: "scatter",
        mode: "lines+markers", connectgaps: false,
        line: {color: style.colour, dash: style.dash, width: 2},
        marker: {symbol: style.symbol, size: 7, color: style.colour},
        hovertemplate: trace.version + ": %{y:.4~g}<extra></extra>"
      };
    });
    var thresholds = thresholdMarks(chart, labels);
    var layout = baseLayout(chart, labels.day);
    layout.xaxis.tickformat = "%Y-%m-%d";
    layout.shapes = thresholds.shapes;
    layout.annotations = thresholds.annotations;
    labelPlot(plot);
    window.Plotly.newPlot(plot, traces, layout, PLOT_CONFIG);
  }

  function start() {
    var config = readConfig();
    if (!config || !Array.isArray(config.charts)) {
      return;
    }
    config.labels = config.labels || {};
    config.charts.forEach(function (chart) {
      var area = areaFor(chart.key);
      if (!area) {
        return;
      }
      if (!window.Plotly) {
        setStatus(area, config.labels.no_library, true);
        openTable(area);
        return;
      }
      try {
        if (config.kind === "comparison") {
          comparisonChart(area, chart, config);
        } else if (typeof window.fetch === "function") {
          seriesChart(area, chart, config);
        } else {
          setStatus(area, config.labels.unavailable, true);
          openTable(area);
        }
      } catch (error) {
        clearPlot(area);
        setStatus(area, config.labels.unavailable, true);
        openTable(area);
      }
    });
  }

  window.PortalCharts.onReady(start);
})();
