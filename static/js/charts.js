/* Small SVG charts drawn by hand: the equity line chart and per-account sparklines. No libraries. */
(function () {
  "use strict";

  var NS = "http://www.w3.org/2000/svg";
  var SPARK_MIN_RANGE = 0.01;  // a sparkline's height covers at least 1 % of the values' level

  function svg(tag, attrs) {
    var el = document.createElementNS(NS, tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    return el;
  }

  // Round axis steps: 1, 2, 2.5, 5 x 10^n.
  function niceStep(range, count) {
    var raw = range / Math.max(1, count);
    var mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (raw <= steps[i] * mag) return steps[i] * mag;
    return 10 * mag;
  }

  function compact(n) {
    var a = Math.abs(n);
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + "M";
    if (a >= 1e4) return (n / 1e3).toFixed(a >= 1e5 ? 0 : 1) + "k";
    return n.toLocaleString(undefined, { maximumFractionDigits: a < 10 ? 2 : 0 });
  }

  function timeLabel(d, spanMs) {
    var p = Copier.pad;
    if (spanMs > 36 * 3600 * 1000) return (d.getMonth() + 1) + "/" + d.getDate() + " " + p(d.getHours()) + "h";
    return p(d.getHours()) + ":" + p(d.getMinutes());
  }

  /*
   * lineChart(container, points, series)
   *   points: [{t: Date, values: {key: number}}] oldest first
   *   series: [{key, label, cls}]
   *   opts: {format(v) for the tooltip, axis(v) for the y labels} (default: money, compact)
   * Redraws at the container's pixel size; a pointer cursor shows the values at the nearest time.
   */
  function lineChart(container, points, series, opts) {
    var fmt = opts && opts.format ? opts.format : function (v) { return Copier.money(v); };
    var axisFmt = opts && opts.axis ? opts.axis : compact;
    Copier.clear(container);
    var width = Math.max(240, container.clientWidth || 600);
    var height = Math.max(180, container.clientHeight || 220);
    if (!points.length) {
      container.appendChild(Copier.h("div", { class: "chart-empty" },
        "No equity history yet. The poller stores a snapshot of every account each minute."));
      return;
    }
    var pad = { l: 52, r: 12, t: 10, b: 24 };
    var iw = width - pad.l - pad.r;
    var ih = height - pad.t - pad.b;
    var t0 = points[0].t.getTime();
    var t1 = points[points.length - 1].t.getTime();
    var span = Math.max(1, t1 - t0);
    var lo = Infinity, hi = -Infinity;
    points.forEach(function (p) {
      series.forEach(function (s) {
        var v = p.values[s.key];
        if (v === null || v === undefined || isNaN(v)) return;
        lo = Math.min(lo, v); hi = Math.max(hi, v);
      });
    });
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (hi - lo < 1e-9) { var padv = Math.max(1, Math.abs(hi) * 0.01); lo -= padv; hi += padv; }
    var step = niceStep(hi - lo, 4);
    var ylo = Math.floor(lo / step) * step;
    var yhi = Math.ceil(hi / step) * step;
    if (yhi === ylo) yhi = ylo + step;

    function x(t) { return pad.l + (points.length === 1 ? iw / 2 : ((t - t0) / span) * iw); }
    function y(v) { return pad.t + ih - ((v - ylo) / (yhi - ylo)) * ih; }

    var root = svg("svg", { width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img",
      "aria-label": "Equity over time: " + series.map(function (s) { return s.label; }).join(", ") });
    var grid = svg("g", { class: "grid" });
    var axis = svg("g", { class: "axis" });
    for (var v = ylo; v <= yhi + step / 2; v += step) {
      var yy = Math.round(y(v)) + 0.5;
      grid.appendChild(svg("line", { x1: pad.l, x2: width - pad.r, y1: yy, y2: yy }));
      var label = svg("text", { x: pad.l - 8, y: yy + 3.5, "text-anchor": "end" });
      label.textContent = axisFmt(v);
      axis.appendChild(label);
    }
    var ticks = Math.max(2, Math.min(6, Math.floor(iw / 90)));
    for (var i = 0; i <= ticks; i++) {
      var t = t0 + (span * i) / ticks;
      if (points.length === 1 && i > 0) break;
      var tx = points.length === 1 ? x(t0) : x(t);
      var tl = svg("text", { x: tx, y: height - 6, "text-anchor": i === 0 ? "start" : i === ticks ? "end" : "middle" });
      tl.textContent = timeLabel(new Date(t), span);
      axis.appendChild(tl);
    }
    root.appendChild(grid);
    root.appendChild(axis);

    series.forEach(function (s) {
      var d = "", first = null, last = null;
      points.forEach(function (p) {
        var val = p.values[s.key];
        if (val === null || val === undefined || isNaN(val)) return;
        var px = x(p.t.getTime()).toFixed(1), py = y(val).toFixed(1);
        d += (d ? "L" : "M") + px + "," + py;
        if (first === null) first = px;
        last = px;
      });
      if (!d) return;
      if (points.length > 1) {
        var base = (pad.t + ih).toFixed(1);
        root.appendChild(svg("path", { class: "area area-" + s.cls, d: d + "L" + last + "," + base + "L" + first + "," + base + "Z" }));
      }
      root.appendChild(svg("path", { class: "line line-" + s.cls, d: d }));
      if (points.length === 1) {
        var only = points[0];
        root.appendChild(svg("circle", { class: "dot-" + s.cls, cx: x(t0), cy: y(only.values[s.key]), r: 3.5 }));
      }
    });

    // hover cursor + tooltip
    var cursor = svg("line", { class: "cursor", x1: 0, x2: 0, y1: pad.t, y2: pad.t + ih, visibility: "hidden" });
    var dots = series.map(function (s) {
      return svg("circle", { class: "dot-" + s.cls, r: 3.5, cx: 0, cy: 0, visibility: "hidden" });
    });
    root.appendChild(cursor);
    dots.forEach(function (d) { root.appendChild(d); });
    var overlay = svg("rect", { x: pad.l, y: pad.t, width: iw, height: ih, fill: "transparent" });
    root.appendChild(overlay);
    container.appendChild(root);
    var tip = Copier.h("div", { class: "chart-tip hidden" });
    container.appendChild(tip);

    function hide() {
      cursor.setAttribute("visibility", "hidden");
      dots.forEach(function (d) { d.setAttribute("visibility", "hidden"); });
      tip.classList.add("hidden");
    }

    overlay.addEventListener("pointerleave", hide);
    overlay.addEventListener("pointermove", function (ev) {
      var rect = root.getBoundingClientRect();
      var px = ev.clientX - rect.left;
      var target = t0 + ((px - pad.l) / iw) * span;
      var best = 0, bestDist = Infinity;
      for (var k = 0; k < points.length; k++) {
        var dist = Math.abs(points[k].t.getTime() - target);
        if (dist < bestDist) { bestDist = dist; best = k; }
      }
      var p = points[best];
      var cx = x(p.t.getTime());
      cursor.setAttribute("x1", cx); cursor.setAttribute("x2", cx);
      cursor.setAttribute("visibility", "visible");
      Copier.clear(tip);
      tip.appendChild(Copier.h("div", { class: "t", text: Copier.when(p.t.toISOString()) }));
      series.forEach(function (s, idx) {
        var val = p.values[s.key];
        if (val === null || val === undefined || isNaN(val)) { dots[idx].setAttribute("visibility", "hidden"); return; }
        dots[idx].setAttribute("cx", cx); dots[idx].setAttribute("cy", y(val));
        dots[idx].setAttribute("visibility", "visible");
        tip.appendChild(Copier.h("div", null, Copier.h("span", { class: "swatch swatch-" + s.cls }),
          s.label + "  ", Copier.h("b", { text: fmt(val) })));
      });
      tip.classList.remove("hidden");
      var left = cx + 12;
      if (left + tip.offsetWidth > width) left = cx - 12 - tip.offsetWidth;
      tip.style.left = left + "px";
      tip.style.top = pad.t + 4 + "px";
    });
  }

  // sparkline(values, w, h): a tiny trend line; green when the last value >= the first.
  function sparkline(values, w, hgt) {
    var width = w || 84, height = hgt || 22;
    var nums = values.filter(function (v) { return !isNaN(v); });
    if (nums.length < 2) return Copier.h("span", { class: "spark-empty", text: nums.length ? "1 point" : "—" });
    var lo = Math.min.apply(null, nums), hi = Math.max.apply(null, nums);
    // the scale spans at least 1 % of the level, so a few cents on thousands stay a flat line, not a cliff
    var least = Math.max(Math.abs((lo + hi) / 2) * SPARK_MIN_RANGE, 1e-9);
    if (hi - lo < least) { var mid = (lo + hi) / 2; lo = mid - least / 2; hi = mid + least / 2; }
    var range = hi - lo;
    var pts = nums.map(function (v, i) {
      var px = 1 + (i / (nums.length - 1)) * (width - 2);
      var py = 1 + (1 - (v - lo) / range) * (height - 2);
      return px.toFixed(1) + "," + py.toFixed(1);
    });
    var first = nums[0], last = nums[nums.length - 1];
    var moved = Math.abs(last - first) >= least * 0.05;
    var trend = !moved ? "flat" : last > first ? "up" : "down";
    var el = svg("svg", { class: "spark " + trend, width: width, height: height, viewBox: "0 0 " + width + " " + height,
      role: "img", "aria-label": "equity trend " + trend });
    el.appendChild(svg("polyline", { points: pts.join(" ") }));
    return el;
  }

  window.CopierCharts = { lineChart: lineChart, sparkline: sparkline };
})();
