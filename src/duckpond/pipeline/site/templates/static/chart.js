/* DuckPond charts: Vega views over data chunks that load as <script> tags.
 *
 * Each chart's manifest lists its resolutions (finest first), each cut into chunks of
 * a fixed number of buckets aligned to the epoch. A view shows the finest resolution
 * that draws the visible range in at most maxPoints points, and loads only the chunks
 * that overlap it. Script tags (not fetch) so that the site also works from file://.
 * Times are UTC epoch milliseconds; the x axis shows them as wall-clock time in the
 * site's time zone by shifting each point by that zone's offset at its instant.
 */
(function () {
  "use strict";
  var DP = (window.DuckPond = window.DuckPond || {});
  var chunks = new Map();
  var waiting = new Map();
  var HOUR = 3600000;
  var DAY = 24 * HOUR;
  var RANGES = { "1d": DAY, "1w": 7 * DAY, "1m": 30 * DAY, "1y": 365 * DAY };
  var LINE = "#1f4e79";
  var BAND = "#8fb8de";

  /* Called by every data file: DuckPond.data(chart, resolution, chunk, payload). */
  DP.data = function (id, res, k, payload) {
    var key = id + "/" + res + "/" + k;
    chunks.set(key, payload);
    var w = waiting.get(key);
    if (w) {
      waiting.delete(key);
      w.resolve(payload);
    }
  };

  function loadChunk(root, id, res, k) {
    var key = id + "/" + res + "/" + k;
    if (chunks.has(key)) return Promise.resolve(chunks.get(key));
    var w = waiting.get(key);
    if (w) return w.promise;
    w = {};
    w.promise = new Promise(function (resolve, reject) {
      w.resolve = resolve;
      w.reject = reject;
    });
    waiting.set(key, w);
    var s = document.createElement("script");
    s.src = root + "data/" + encodeURIComponent(id) + "/" + encodeURIComponent(res) + "/" + k + ".js";
    s.async = true;
    s.onload = function () {
      if (waiting.get(key) === w) {
        waiting.delete(key);
        w.reject(new Error("data file did not register: " + s.src));
      }
    };
    s.onerror = function () {
      waiting.delete(key);
      w.reject(new Error("cannot load " + s.src));
    };
    document.head.appendChild(s);
    return w.promise;
  }

  /* The zone's offset (ms) at an instant, cached per hour: zones change on the hour. */
  function offsetFn(tz) {
    if (tz === "UTC" || tz === "Etc/UTC") return function () { return 0; };
    var f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    var cache = new Map();
    return function (t) {
      var h = Math.floor(t / HOUR);
      var o = cache.get(h);
      if (o === undefined) {
        var p = {};
        f.formatToParts(h * HOUR).forEach(function (x) { p[x.type] = x.value; });
        o = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - h * HOUR;
        cache.set(h, o);
      }
      return o;
    };
  }

  function timeFormatter(tz) {
    var f = new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    });
    return function (t) { return f.format(new Date(t)).replace(",", ""); };
  }

  function fmtNum(v) {
    return v === null || v === undefined ? "–" : String(v);
  }

  /* The y axis title: the column's label and unit, "Rain (mm)". */
  function axisTitle(m) {
    var label = m.label || m.param;
    if (m.kind === "count") return "readings per bucket";
    return m.unit ? label + " (" + m.unit + ")" : label;
  }

  function spec(m, dom, width) {
    var bars = m.kind === "sum" || m.kind === "count";
    var yTitle = axisTitle(m);
    var zoomFactor = "pow(1.001, event.deltaY * pow(16, event.deltaMode))";
    var anchor = "invert('x', x())";
    return {
      // The whole view fits the container's width; chart.js resizes it with the window.
      // resize: lay out again on each update, as the y labels' width changes with the data.
      autosize: { type: "fit-x", contains: "padding", resize: true },
      width: width,
      height: 240,
      padding: { top: 10, left: 4, right: 8, bottom: 4 },
      signals: [
        { name: "down", value: null, on: [
          { events: "mousedown", update: "[x(), xdom[0], xdom[1]]" },
          { events: "window:mouseup", update: "null" },
        ] },
        { name: "xdom", value: dom, on: [
          {
            events: { source: "window", type: "mousemove", consume: true,
              between: [{ type: "mousedown" }, { source: "window", type: "mouseup" }] },
            update: "down ? [down[1] + (down[0] - x()) * (down[2] - down[1]) / width," +
              " down[2] + (down[0] - x()) * (down[2] - down[1]) / width] : xdom",
          },
          {
            // Ctrl + wheel (and a trackpad's pinch) zooms; a plain wheel scrolls the page.
            events: { type: "wheel", consume: true, filter: "event.ctrlKey" },
            update: "[" + anchor + " + (xdom[0] - " + anchor + ") * " + zoomFactor + ", " +
              anchor + " + (xdom[1] - " + anchor + ") * " + zoomFactor + "]",
          },
        ] },
        { name: "hx", value: null, on: [
          { events: "mousemove", update: "down ? null : invert('x', clamp(x(), 0, width))" },
          { events: "mouseout", update: "null" },
        ] },
      ],
      data: [{ name: "pts", values: [] }, { name: "mark", values: [] }],
      scales: [
        { name: "x", type: "utc", domain: { signal: "xdom" }, range: "width" },
        { name: "y", type: "linear", domain: { data: "pts", fields: bars ? ["a"] : ["lo", "hi", "a"] },
          range: "height", nice: true, zero: bars },
      ],
      axes: [
        { orient: "bottom", scale: "x", grid: true, gridOpacity: 0.12, labelOverlap: true,
          tickCount: { signal: "ceil(width / 110)" } },
        { orient: "left", scale: "y", grid: true, gridOpacity: 0.12, title: yTitle,
          titleFontWeight: "normal" },
      ],
      marks: (bars ? [
        // A total (or a count) belongs to its whole bucket: a bar from its start to its end.
        { type: "rect", from: { data: "pts" }, clip: true, encode: { update: {
          x: { scale: "x", field: "x" }, x2: { scale: "x", field: "x2", offset: -1 },
          y: { scale: "y", field: "a" }, y2: { scale: "y", value: 0 },
          fill: { value: m.kind === "sum" ? "#2f6fa7" : "#8a8f98" },
          opacity: { signal: "datum.a === null ? 0 : 1" },
        } } },
      ] : [
        { type: "area", from: { data: "pts" }, clip: true, encode: { update: {
          x: { scale: "x", field: "x" }, y: { scale: "y", field: "lo" }, y2: { scale: "y", field: "hi" },
          defined: { signal: "datum.lo !== null && datum.hi !== null" },
          fill: { value: BAND }, fillOpacity: { value: 0.55 },
        } } },
        { type: "line", from: { data: "pts" }, clip: true, encode: { update: {
          x: { scale: "x", field: "x" }, y: { scale: "y", field: "a" },
          defined: { signal: "datum.a !== null" },
          stroke: { value: LINE }, strokeWidth: { value: 1.5 },
        } } },
      ]).concat([
        // Off the plot the rule would widen the view's bounds, and fit-x would shrink the plot.
        { type: "rule", clip: true, encode: { update: {
          x: { signal: "hx === null ? 0 : scale('x', hx)" }, y: { value: 0 }, y2: { signal: "height" },
          stroke: { value: "#666" }, strokeDash: { value: [3, 3] },
          opacity: { signal: "hx === null ? 0 : 1" },
        } } },
        { type: "symbol", from: { data: "mark" }, clip: true, encode: { update: {
          x: { scale: "x", field: "x" }, y: { scale: "y", field: "a" },
          size: { value: 40 }, fill: { value: LINE },
        } } },
      ]),
    };
  }

  /* What the marks mean, at the resolution shown. */
  function legendHtml(m, res) {
    var per = " per " + res;
    if (m.kind === "sum") {
      return '<span class="key bar"></span> total' + per;
    }
    if (m.kind === "count") {
      return '<span class="key bar count"></span> readings' + per + " (data coverage)";
    }
    return '<span class="key line"></span> average' + per +
      ' <span class="key band"></span> minimum to maximum' + per;
  }

  function Chart(root, el, m, opts) {
    this.root = root;
    this.el = el;
    this.m = m;
    this.tz = opts.tz;
    this.maxPoints = opts.maxPoints;
    this.off = offsetFn(opts.tz);
    this.fmtTime = timeFormatter(opts.tz);
    this.rows = [];
    this.visible = [];
    this.token = 0;
    this.timer = null;
    this.res = null;
    this.range = "all";
  }

  Chart.prototype.disp = function (t) { return t + this.off(t); };
  Chart.prototype.real = function (d) {
    var t = d - this.off(d);
    return d - this.off(t);
  };

  Chart.prototype.start = function () {
    var self = this;
    var m = this.m;
    var dom = [this.disp(m.start), this.disp(m.end)];
    var vis = this.el.querySelector(".vis");
    this.view = new vega.View(vega.parse(spec(m, dom, vis.clientWidth || 600)), {
      renderer: "canvas", container: vis, hover: false,
    });
    var resizing = null;
    window.addEventListener("resize", function () {
      if (resizing) clearTimeout(resizing);
      resizing = setTimeout(function () {
        resizing = null;
        if (vis.clientWidth) self.view.width(vis.clientWidth).runAsync();
      }, 100);
    });
    this.view.addSignalListener("xdom", function () { self.schedule(150); });
    this.view.addSignalListener("hx", function (_, v) { self.readout(v); });
    this.el.querySelectorAll("[data-range]").forEach(function (b) {
      b.addEventListener("click", function () { self.setRange(b.getAttribute("data-range")); });
    });
    this.el.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () { self.zoom(b.getAttribute("data-zoom") === "in" ? 0.5 : 2); });
    });
    this.el.querySelector("[data-csv]").addEventListener("click", function () { self.download(); });
    this.markRange("all");
    return this.view.runAsync().then(function () { return self.update(); });
  };

  Chart.prototype.markRange = function (name) {
    this.range = name;
    this.el.querySelectorAll("[data-range]").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-range") === name);
    });
  };

  Chart.prototype.setRange = function (name) {
    var end = this.disp(this.m.end);
    var start = name === "all" ? this.disp(this.m.start) : end - RANGES[name];
    this.markRange(name);
    return this.setDomain([start, end]);
  };

  Chart.prototype.zoom = function (factor) {
    var d = this.view.signal("xdom");
    var mid = (d[0] + d[1]) / 2;
    var half = ((d[1] - d[0]) * factor) / 2;
    this.markRange(null);
    return this.setDomain([mid - half, mid + half]);
  };

  Chart.prototype.setDomain = function (dom) {
    var self = this;
    this.view.signal("xdom", dom);
    return this.view.runAsync().then(function () {
      // The signal listener scheduled an update too; this one makes it at once.
      if (self.timer) clearTimeout(self.timer);
      self.timer = null;
      return self.update();
    });
  };

  Chart.prototype.schedule = function (delay) {
    var self = this;
    if (this.timer) clearTimeout(this.timer);
    this.el.setAttribute("data-state", "loading");
    this.timer = setTimeout(function () {
      self.timer = null;
      self.update().catch(function (e) { self.fail(e); });
    }, delay);
  };

  Chart.prototype.chooseRes = function (spanMs) {
    var list = this.m.res;
    // At most maxPoints, and no more than one per pixel: more paints a daily cycle as a
    // solid block (a year of 6-hourly buckets), and a phone gets a coarser series.
    var limit = Math.min(this.maxPoints, Math.max(this.view.width(), 100));
    // A bar needs a few pixels to be seen at all.
    if (this.m.kind !== "line") limit = Math.max(Math.floor(limit / 4), 25);
    for (var i = 0; i < list.length; i++) {
      if (spanMs / list[i].ms <= limit) return list[i];
    }
    return list[list.length - 1];
  };

  /* Load what the visible range needs at its resolution, then draw it. */
  Chart.prototype.update = function () {
    var self = this;
    var token = ++this.token;
    var dom = this.view.signal("xdom");
    var r0 = this.real(dom[0]);
    var r1 = this.real(dom[1]);
    var res = this.chooseRes(r1 - r0);
    var lo = Math.floor((r0 - res.ms) / res.span);
    var hi = Math.floor((r1 + res.ms) / res.span);
    var ks = res.chunks.filter(function (k) { return k >= lo && k <= hi; });
    this.el.setAttribute("data-state", "loading");
    return Promise.all(ks.map(function (k) { return loadChunk(self.root, self.m.id, res.label, k); }))
      .then(function (parts) {
        if (token !== self.token) return null;
        self.draw(res, parts, r0, r1);
        return self.view.runAsync().then(function () {
          if (token !== self.token) return;
          self.el.setAttribute("data-resolution", res.label);
          self.el.setAttribute("data-points", String(self.visible.length));
          self.el.setAttribute("data-x0", String(Math.round(r0)));
          self.el.setAttribute("data-x1", String(Math.round(r1)));
          self.el.querySelector(".status").textContent =
            self.visible.length + " points at " + res.label + " resolution";
          if (!self.el.hasAttribute("data-drawn-at")) {
            // When the first view was drawn (ms since navigation): the benchmark reads it.
            self.el.setAttribute("data-drawn-at", String(Math.round(performance.now())));
          }
          self.el.setAttribute("data-state", "ready");
        });
      })
      .catch(function (e) { self.fail(e); });
  };

  Chart.prototype.draw = function (res, parts, r0, r1) {
    var rows = [];
    var visible = [];
    var prev = null;
    var gap = res.ms * 1.5;
    for (var p = 0; p < parts.length; p++) {
      var d = parts[p];
      for (var i = 0; i < d.s.length; i++) {
        var t = d.t0 + d.s[i] * d.u;
        if (t < r0 - res.ms || t > r1 + res.ms) continue;
        if (prev !== null && t - prev > gap) {
          // A missing bucket: a row without values breaks the line and the band.
          rows.push({ t: prev + res.ms, x: this.disp(prev + res.ms), x2: this.disp(prev + res.ms),
            a: null, lo: null, hi: null });
        }
        var row = {
          t: t, x: this.disp(t), x2: this.disp(t + res.ms),
          a: d.a ? d.a[i] : null, lo: d.lo ? d.lo[i] : null, hi: d.hi ? d.hi[i] : null,
        };
        rows.push(row);
        if (t >= r0 && t <= r1) visible.push(row);
        prev = t;
      }
    }
    this.rows = rows;
    this.visible = visible;
    this.res = res;
    var legend = this.el.querySelector(".legend");
    if (legend) legend.innerHTML = legendHtml(this.m, res.label);
    this.view.data("pts", rows);
  };

  Chart.prototype.readout = function (x) {
    var out = this.el.querySelector(".readout");
    var row = null;
    if (x !== null && x !== undefined && this.rows.length) {
      var rows = this.rows;
      var a = 0;
      var b = rows.length - 1;
      while (b - a > 1) {
        var mid = (a + b) >> 1;
        if (rows[mid].x < x) a = mid; else b = mid;
      }
      row = Math.abs(rows[a].x - x) <= Math.abs(rows[b].x - x) ? rows[a] : rows[b];
    }
    if (row === null) {
      out.textContent = "\u00a0";
    } else if (row.a === null && row.lo === null) {
      out.textContent = this.fmtTime(row.t) + ": no data";
    } else if (this.m.kind !== "line") {
      out.textContent = this.fmtTime(row.t) + "  " + (this.m.kind === "sum" ? "total " : "readings ") +
        fmtNum(row.a) + (this.m.kind === "sum" && this.m.unit ? " " + this.m.unit : "") +
        "  [" + this.res.label + "]";
    } else {
      out.textContent = this.fmtTime(row.t) + "  " + (this.m.label || this.m.param) + " " +
        fmtNum(row.a) + (this.m.unit ? " " + this.m.unit : "") +
        " (min " + fmtNum(row.lo) + ", max " + fmtNum(row.hi) + ")  [" + this.res.label + "]";
    }
    var marked = row !== null && row.a !== null ? [row] : [];
    var view = this.view;
    // Called from a signal listener while Vega's dataflow runs: change data after it.
    setTimeout(function () { view.data("mark", marked).runAsync(); }, 0);
  };

  /* The rows the view shows, as CSV: UTC time, local time, the three aggregates. */
  Chart.prototype.csv = function () {
    var p = this.m.param;
    var line = this.m.kind === "line";
    var names = line ? [p + ".avg", p + ".min", p + ".max"] : [p + "." + this.m.kind];
    var lines = ["timestamp,local_time," + names.map(csvField).join(",")];
    var fmt = this.fmtTime;
    this.visible.forEach(function (r) {
      var values = line ? [cell(r.a), cell(r.lo), cell(r.hi)] : [cell(r.a)];
      lines.push([new Date(r.t).toISOString(), fmt(r.t)].concat(values).join(","));
    });
    return lines.join("\n") + "\n";
  };

  function cell(v) { return v === null || v === undefined ? "" : String(v); }
  function csvField(s) { return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s; }

  Chart.prototype.download = function () {
    var blob = new Blob([this.csv()], { type: "text/csv" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = this.m.id + "-" + (this.res ? this.res.label : "") + ".csv";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  };

  Chart.prototype.fail = function (e) {
    this.el.setAttribute("data-state", "error");
    this.el.querySelector(".status").textContent = "Cannot draw this chart: " + e.message;
    console.error(e);
  };

  DP.charts = [];
  DP.init = function (root, config) {
    config.charts.forEach(function (m) {
      var el = document.querySelector('[data-chart="' + m.id + '"]');
      var chart = new Chart(root, el, m, config);
      DP.charts.push(chart);
      chart.start().catch(function (e) { chart.fail(e); });
    });
  };
})();
