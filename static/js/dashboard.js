/* The main page: renders /api/state in place every 2 s, runs the actions, keeps sort/filter/expanded rows. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var POLL_HIDDEN_MS = 10000;
  var EQUITY_MS = 30000;
  var UI_KEY = "copier-dashboard-ui";
  var SYNC_LABEL = { in_sync: "in sync", not_copied: "not copied", drift: "drift", error: "error", paused: "paused",
    disabled: "disabled", unknown: "unknown" };
  var SYNC_RANK = { error: 0, drift: 1, not_copied: 2, unknown: 3, paused: 4, disabled: 5, in_sync: 6 };
  var SYNC_HEADER = ["in_sync", "not_copied", "drift", "error"];  // always counted in the header, even at 0
  var SYNC_DETAIL_SHOWN = 3;    // drift / not-copied items listed in the row before "+N more"
  var RESULT_RANK = { failed: 0, skipped: 1, ok: 2 };
  var ACTION_LABEL = { replicate: "Replicate", tpsl: "Copy TP/SL", sync: "Sync", "close-all": "Close all",
    "close-symbol": "Close symbol", preview: "Preview" };

  var H, root;
  var state = null;
  var clockOffset = 0;          // server time - local time (seconds)
  var lastFetchOk = Date.now();
  var fetchFailing = false;
  var stopped = false;
  var pollTimer = null;
  var equity = null;
  var busy = false;
  var shownRun = null;          // the run in the results panel
  var rows = new Map();         // client id -> {tr, sig, detail, detailSig}
  var sigs = {};                // section -> last rendered signature
  var openDetails = {};         // client id -> its "+N more" list is open (kept across live refreshes)
  var ui = { sort: "name", dir: 1, filter: "", sync: "", expanded: [], window: "today" };
  var WINDOW_LABEL = { today: "today", "7d": "7 days", all: "since following" };

  /* ----- helpers ----------------------------------------------------------------------------------- */
  function $(id) { return document.getElementById(id); }
  function h() { return H.apply(null, arguments); }
  function nowServer() { return Date.now() / 1000 + clockOffset; }
  function num(v) { return Copier.isNum(v) ? Number(v) : null; }

  function loadUi() {
    try {
      var saved = JSON.parse(sessionStorage.getItem(UI_KEY) || "null");
      if (saved && typeof saved === "object") Object.keys(ui).forEach(function (k) { if (k in saved) ui[k] = saved[k]; });
    } catch (e) { /* ignore */ }
    if (!Array.isArray(ui.expanded)) ui.expanded = [];
  }

  function saveUi() {
    try { sessionStorage.setItem(UI_KEY, JSON.stringify(ui)); } catch (e) { /* ignore */ }
  }

  function isExpanded(id) { return ui.expanded.indexOf(id) >= 0; }

  function changed(section, value) {
    var sig = JSON.stringify(value);
    if (sigs[section] === sig) return false;
    sigs[section] = sig;
    return true;
  }

  function sideChip(side) {
    var s = String(side || "").toLowerCase();
    var cls = s === "long" || s === "buy" ? "chip-long" : s === "short" || s === "sell" ? "chip-short" : "plain";
    return h("span", { class: "chip " + cls, text: s || "—" });
  }

  function statusChip(status, label) {
    return h("span", { class: "chip chip-" + status, text: label || status });
  }

  function marginMode(m) {
    if (!m) return "—";
    return m === "crossed" ? "cross" : m;
  }

  function priceOrDash(v, symbol) {
    return Copier.isNum(v) && Number(v) > 0 ? atPrecision(v, symbol, "price") : "—";
  }

  // A price or size at its contract's precision ("84220.06666667" -> "84,220.1"); never pads a shorter value.
  function atPrecision(v, symbol, what) {
    if (!Copier.isNum(v)) return "—";
    var p = state && state.precision ? state.precision[symbol] : null;
    var places = p ? p[what] : undefined;
    var s = String(v);
    var dot = s.indexOf(".");
    if (places === undefined || dot < 0 || s.length - dot - 1 <= places) return Copier.plain(v);
    return Copier.group(Number(v).toFixed(places));
  }

  function pnlCell(value, pct) {
    var td = h("td", { class: "num " + Copier.pnlClass(value) }, Copier.pnl(value));
    if (pct !== undefined && pct !== null && Copier.isNum(pct)) {
      td.appendChild(h("span", { class: "sub-pct", text: (Number(pct) > 0 ? "+" : "") + pct + "%" }));
    }
    return td;
  }

  // A percentage ("+1.23%"), signed.
  function pctText(v, unit) {
    if (!Copier.isNum(v)) return "—";
    var n = Number(v);
    return (n > 0 ? "+" : n < 0 ? "−" : "") + Math.abs(n).toFixed(2) + (unit || "%");
  }

  // The chosen window's numbers of a client or the master (null before the refresh has measured them).
  function windowOf(row) {
    return row && row.pnl ? row.pnl[ui.window] || null : null;
  }

  function setKpi(id, value, opts) {
    var el = $(id);
    if (!el) return;
    Copier.clear(el);
    if (!Copier.isNum(value)) { el.textContent = "—"; el.className = "value"; return; }
    var text = opts && opts.pnl ? Copier.pnl(value) : Copier.money(value);
    el.className = "value" + (opts && opts.pnl ? " " + Copier.pnlClass(value) : "");
    el.appendChild(document.createTextNode(text));
    el.appendChild(h("span", { class: "unit", text: "USDT" }));
  }

  /* ----- banners and status strip -------------------------------------------------------------- */
  function renderBanners() {
    var list = state.banners || [];
    if (!changed("banners", list)) return;
    var box = $("banners");
    Copier.clear(box);
    list.forEach(function (b) {
      box.appendChild(h("div", { class: "banner banner-" + (b.level || "info"), "data-key": b.key, role: b.level === "error" ? "alert" : null },
        h("span", { class: "banner-level", text: b.level || "info" }),
        h("div", { class: "banner-text", text: b.text })));
    });
  }

  function renderFreshness() {
    var el = $("freshness"), label = $("updated-ago");
    if (!el || !state) return;
    var cls, text;
    var sinceFetch = (Date.now() - lastFetchOk) / 1000;
    var master = state.master;
    if (fetchFailing && sinceFetch > 5) {
      cls = "stale"; text = "connection lost " + Copier.ago(sinceFetch) + " – retrying";
    } else if (!master) {
      cls = ""; text = "no master account";
    } else if (!master.updated_at) {
      cls = "stale"; text = "master not read yet";
    } else {
      var age = Math.max(0, nowServer() - master.updated_at);
      var streaming = state.master_stream && state.master_stream.live;  // any change would have been pushed
      cls = age <= 6 || (streaming && age <= 30) ? "fresh" : age <= 30 ? "aging" : "stale";
      text = "updated " + Copier.ago(age);
    }
    el.className = "freshness " + cls;
    label.textContent = text;
  }

  function renderPoller() {
    var p = state.poller || {};
    var el = $("poller-status");
    var text, title = "";
    if (p.last_error && p.failures) {
      text = "poller failing (" + p.failures + "×)";
      title = p.last_error;
      el.className = "neg";
    } else if (p.pending) {
      text = "master changed – replicating";
      el.className = "";
    } else if (p.last_success_at) {
      text = "polling ok";
      title = "last poll " + Copier.ago(nowServer() - p.last_success_at);
      el.className = "muted";
    } else {
      text = "poller idle";
      el.className = "muted";
    }
    el.textContent = text;
    el.title = title;
    var toggle = $("auto-follow");
    if (toggle && !toggle.dataset.pending) toggle.checked = !!state.auto_follow;
    renderSource();
    renderShards();
    renderBudget();
  }

  function renderShards() {
    var el = $("shards-status");
    var c = state.cluster;
    if (!el) return;
    if (!c) { el.hidden = true; return; }
    el.hidden = false;
    var down = c.shards.filter(function (s) { return !s.alive; });
    el.textContent = c.shards.length + " shards" + (down.length ? ", " + down.length + " down" : ", all alive");
    el.className = down.length ? "neg" : "muted";
    el.title = c.shards.map(function (s) {
      var b = s.budget || {};
      return "shard " + s.shard + ": " + (s.alive ? "alive" : "DOWN") + ", " + s.clients + " clients, " +
        (s.last_heartbeat_age_s === null ? "no heartbeat" : "heartbeat " + s.last_heartbeat_age_s + " s ago") +
        (s.egress ? ", egress " + s.egress : "") +
        (b.requests_last_minute !== undefined ? ", " + b.requests_last_minute + " req/min" : "");
    }).join("\n");
    var rows = $("shards-rows");
    if (!rows) return;
    rows.textContent = "";
    c.shards.forEach(function (s) {
      var b = s.budget || {};
      rows.appendChild(h("tr", { "data-shard": String(s.shard) },
        h("td", { text: String(s.shard) }),
        h("td", { class: s.alive ? "pos" : "neg", text: s.alive ? "alive" : "down" }),
        h("td", { text: s.last_heartbeat_age_s === null ? "never" : s.last_heartbeat_age_s.toFixed(1) + " s ago" }),
        h("td", { class: "num", text: String(s.clients) }),
        h("td", { text: s.egress || "—" }),
        h("td", { class: "num", text: b.requests_last_minute !== undefined ? String(b.requests_last_minute) : "—" }),
        h("td", { class: "num", text: s.client_refresh_interval_s == null ? "—" : "every " + s.client_refresh_interval_s + " s" })));
    });
    var problem = $("shared-state-problem");
    if (problem) { problem.hidden = !c.state_problem; problem.textContent = c.state_problem || ""; }
  }

  function renderSource() {
    var s = state.master_stream || {};
    var el = $("source-status");
    if (!el) return;
    var text = s.text || "polling";
    if (s.live && s.last_push_at) {
      var age = Math.max(0, nowServer() - s.last_push_at);
      text = "live · WebSocket, last push " + (age < 10 ? age.toFixed(1) + " s ago" : Copier.ago(age));
    }
    el.textContent = text;
    el.className = s.live ? "pos" : s.enabled && s.state === "down" ? "warn" : "muted";
    el.title = s.live ? "Pushes from " + s.url + " start a run at once; REST reconciles every few seconds"
      : "Following by REST polling" + (s.reason ? ": " + s.reason : "");
  }

  function renderBudget() {
    var b = state.budget || {};
    var el = $("budget-status");
    if (!el) return;
    if (!b.enabled) {
      el.textContent = "request budget off";
      el.className = "muted";
      return;
    }
    var by = b.by_class || {};
    el.textContent = b.requests_last_minute + " req/min (" + b.pct_of_exchange_limit + "% of 6000)";
    el.className = b.lockout_until ? "neg" : b.pct_of_exchange_limit >= 80 ? "warn" : "muted";
    el.title = "last minute: actions " + (by.action || 0) + ", master " + (by.master || 0) + ", background " +
      (by.background || 0) + " (cap " + b.background_cap_per_minute + "); " +
      (b.client_refresh_interval_s == null ? "clients read by their shards (see the shard table)"
        : "clients refreshed every " + b.client_refresh_interval_s + " s") + "; cap " + b.limit_per_minute + "/min";
  }

  /* ----- master -------------------------------------------------------------------------------------- */
  function positionRow(p, withClose) {
    var tr = h("tr", { "data-symbol": p.symbol, "data-side": p.hold_side },
      h("td", { class: "symbol", text: p.symbol }),
      h("td", null, sideChip(p.hold_side)),
      h("td", { class: "num", text: atPrecision(p.size, p.symbol, "size") }),
      h("td", { class: "num", text: p.leverage ? p.leverage + "×" : "—" }),
      h("td", { class: "muted", text: marginMode(p.margin_mode) }),
      h("td", { class: "num", text: atPrecision(p.entry_price, p.symbol, "price") }),
      h("td", { class: "num", text: atPrecision(p.mark_price, p.symbol, "price") }),
      h("td", { class: "num", text: priceOrDash(p.liquidation_price, p.symbol) }),
      pnlCell(p.unrealized_pl, p.unrealized_pl_pct),
      h("td", { class: "num tp" + (priceOrDash(p.take_profit) === "—" ? " tpsl-none" : ""), text: priceOrDash(p.take_profit, p.symbol) }),
      h("td", { class: "num sl" + (priceOrDash(p.stop_loss) === "—" ? " tpsl-none" : ""), text: priceOrDash(p.stop_loss, p.symbol) }),
      h("td", { class: "nowrap muted", text: Copier.when(p.opened_at), title: p.opened_at ? Copier.toDate(p.opened_at).toString() : null }));
    if (withClose) {
      var btn = h("button", { type: "button", class: "btn btn-danger btn-small js-action close-symbol", "data-symbol": p.symbol,
        title: "Close " + p.symbol + " on the master and every client", text: "Close everywhere" });
      btn.disabled = busy;
      tr.appendChild(h("td", { class: "actions-cell" }, btn));
    }
    return tr;
  }

  function renderMaster() {
    var m = state.master;
    if (!changed("master", m)) return;
    $("master-name").textContent = m && String(m.name).toLowerCase() !== "master" ? m.name : "";
    var chip = $("master-chip");
    Copier.clear(chip);
    var body = $("master-positions").tBodies[0];
    Copier.clear(body);
    if (!m) {
      ["m-equity", "m-available", "m-upnl", "m-margin"].forEach(function (id) { setKpi(id, null); });
      body.appendChild(h("tr", null, h("td", { colspan: 13, class: "empty" },
        "No master account yet. ", h("a", { href: "/accounts/new?role=master", text: "Add the master" }), " to start copying.")));
      return;
    }
    if (m.error) chip.appendChild(h("span", { class: "chip chip-error", title: m.error, text: "read failed" }));
    else if (!m.enabled) chip.appendChild(statusChip("disabled"));
    else if (m.position_mode) chip.appendChild(h("span", { class: "chip plain", text: m.position_mode.replace("_mode", "").replace("_", "-") }));
    $("master-updated").textContent = m.updated_at ? "read at " + Copier.when(m.updated_at) : "";
    setKpi("m-equity", m.equity);
    setKpi("m-available", m.available);
    setKpi("m-upnl", m.unrealized_pl, { pnl: true });
    setKpi("m-margin", m.margin_used);
    if (m.error) {
      body.appendChild(h("tr", null, h("td", { colspan: 13, class: "empty neg", text: "Cannot read the master: " + m.error })));
    }
    if (!m.positions.length) {
      if (!m.error) body.appendChild(h("tr", null, h("td", { colspan: 13, class: "empty" },
        m.updated_at ? "The master has no open positions." : "Not read yet – press Refresh.")));
      return;
    }
    m.positions.forEach(function (p) { body.appendChild(positionRow(p, true)); });
  }

  function renderMasterReturn() {
    var m = state.master;
    var w = windowOf(m);
    if (!changed("masterReturn", [w, ui.window])) return;
    document.querySelectorAll(".pnl-window-label").forEach(function (el) { el.textContent = WINDOW_LABEL[ui.window]; });
    var el = $("m-return"), sub = $("m-return-sub");
    if (!el) return;
    Copier.clear(el);
    el.className = "value " + (w ? Copier.pnlClass(w.return_pct) : "");
    el.textContent = w ? pctText(w.return_pct) : "—";
    sub.textContent = w ? Copier.pnl(w.pnl) + " USDT (realized " + Copier.pnl(w.realized) + ")" : "not measured yet";
  }

  /* ----- totals ----------------------------------------------------------------------------------- */
  function renderTotals(visibleCount) {
    var t = state.totals || {};
    $("tot-equity").textContent = Copier.money(t.equity);
    $("tot-available").textContent = Copier.money(t.available);
    var up = $("tot-upnl");
    up.textContent = Copier.pnl(t.unrealized_pl);
    up.className = "num " + Copier.pnlClass(t.unrealized_pl);
    $("tot-positions").textContent = t.positions === undefined ? "—" : t.positions;
    var n = t.clients || 0;
    $("tot-note").textContent = n + " client" + (n === 1 ? "" : "s") + (visibleCount !== n ? " · " + visibleCount + " shown" : "");
    var tp = t.pnl ? t.pnl[ui.window] : null;
    var tr = $("tot-realized"), tret = $("tot-return");
    if (tr) { tr.textContent = tp ? Copier.pnl(tp.realized) : "—"; tr.className = "num " + (tp ? Copier.pnlClass(tp.realized) : ""); }
    if (tret) { tret.textContent = tp ? pctText(tp.return_pct) : "—"; tret.className = "num " + (tp ? Copier.pnlClass(tp.return_pct) : ""); }
    setKpi("t-equity", t.equity);
    setKpi("t-upnl", t.unrealized_pl, { pnl: true });
  }

  /* ----- results panel ------------------------------------------------------------------------- */
  function actionLabel(run) {
    if (run.action === "close-symbol" && run.detail) return "Close " + run.detail;
    return ACTION_LABEL[run.action] || run.action;
  }

  function orderTokens(orders) {
    var box = h("div", { class: "order-ids" });
    (orders || []).forEach(function (o) {
      var id = o.order_id || o.client_oid;
      if (!id) return;
      var title = [o.kind, o.symbol, o.hold_side, o.size, o.plan_type].filter(Boolean).join(" ");
      if (o.client_oid) title += " · clientOid " + o.client_oid;
      if (o.submit_to_ack_ms !== undefined) title += " · ack " + o.submit_to_ack_ms + " ms";
      box.appendChild(h("span", { class: "order-id mono", title: title },
        o.kind ? h("span", { class: "kind", text: o.kind }) : null, String(id)));
    });
    if (!box.children.length) box.appendChild(h("span", { class: "faint", text: "—" }));
    return box;
  }

  function sortedResults(results) {
    return (results || []).slice().sort(function (a, b) {
      var ra = RESULT_RANK[a.status] === undefined ? 3 : RESULT_RANK[a.status];
      var rb = RESULT_RANK[b.status] === undefined ? 3 : RESULT_RANK[b.status];
      return ra - rb || String(a.account_name).localeCompare(String(b.account_name));
    });
  }

  function renderResults() {
    var run = state.last_run;
    if (shownRun && (!run || shownRun.run_id > run.run_id)) run = shownRun;
    if (!changed("results", run)) return;
    var meta = $("results-meta");
    Copier.clear(meta);
    var body = $("results-table").tBodies[0];
    Copier.clear(body);
    if (!run) {
      meta.appendChild(h("span", { class: "muted", text: "No run yet." }));
      body.appendChild(h("tr", null, h("td", { colspan: 5, class: "empty",
        text: "Results of Replicate, Copy TP/SL, Sync and Close appear here, failures first." })));
      return;
    }
    var c = run.counts || {};
    meta.appendChild(h("span", { class: "action-name", text: actionLabel(run) }));
    meta.appendChild(statusChip(run.status));
    if (run.summary) meta.appendChild(h("span", { class: "run-summary", text: run.summary }));
    meta.appendChild(h("span", null,
      h("span", { class: "pos", text: (c.ok || 0) + " ok" }), " · ",
      h("span", { class: c.skipped ? "" : "muted", text: (c.skipped || 0) + " skipped" }), " · ",
      h("span", { class: c.failed ? "neg" : "muted", text: (c.failed || 0) + " failed" })));
    meta.appendChild(h("span", { class: "muted", text: (run.trigger || "") + " · " + Copier.when(run.started_at) +
      (run.duration_ms !== null && run.duration_ms !== undefined ? " · " + run.duration_ms + " ms" : "") }));
    var runUrl = root.dataset.runUrl.replace(/0$/, String(run.run_id));
    meta.appendChild(h("a", { href: runUrl, text: "details" }));
    var results = sortedResults(run.results);
    if (!results.length) {
      body.appendChild(h("tr", null, h("td", { colspan: 5, class: "empty",
        text: run.status === "running" ? "Running…" : "No account was involved." })));
      return;
    }
    results.forEach(function (r) {
      body.appendChild(h("tr", { class: "result-" + r.status, "data-account-id": r.account_id },
        h("td", { class: "symbol", text: r.account_name }),
        h("td", null, statusChip(r.status)),
        h("td", { class: "msg", text: r.message || "" }),
        h("td", null, orderTokens(r.orders)),
        h("td", { class: "num", text: r.latency_ms === null || r.latency_ms === undefined ? "—" : r.latency_ms + " ms" })));
    });
  }

  /* ----- clients table ----------------------------------------------------------------------------- */
  function sortValue(c, key) {
    switch (key) {
      case "equity": return num(c.equity);
      case "available": return num(c.available);
      case "upnl": return num(c.unrealized_pl);
      case "positions": return c.positions_count;
      case "realized": return windowOf(c) ? num(windowOf(c).realized) : null;
      case "return": return windowOf(c) ? num(windowOf(c).return_pct) : null;
      case "gap": return windowOf(c) ? num(windowOf(c).tracking_error_pp) : null;
      case "sync": return SYNC_RANK[c.sync] === undefined ? 9 : SYNC_RANK[c.sync];
      case "result": return c.last_result ? (RESULT_RANK[c.last_result.status] === undefined ? 3 : RESULT_RANK[c.last_result.status]) : 4;
      default: return String(c.name || "").toLowerCase();
    }
  }

  function visibleClients() {
    var text = ui.filter.trim().toLowerCase();
    var list = (state.clients || []).filter(function (c) {
      if (ui.sync === "problems" && !(c.sync === "drift" || c.sync === "error" || c.sync === "not_copied")) return false;
      if (ui.sync && ui.sync !== "problems" && c.sync !== ui.sync) return false;
      if (!text) return true;
      var hay = [c.name, SYNC_LABEL[c.sync] || c.sync, c.sync_detail, c.error, c.last_result && c.last_result.message,
        (c.positions || []).map(function (p) { return p.symbol; }).join(" ")].join(" ").toLowerCase();
      return hay.indexOf(text) >= 0;
    });
    list.sort(function (a, b) {
      var va = sortValue(a, ui.sort), vb = sortValue(b, ui.sort);
      if (va === null && vb !== null) return 1;
      if (vb === null && va !== null) return -1;
      var cmp = va < vb ? -1 : va > vb ? 1 : 0;
      if (cmp === 0) cmp = String(a.name).localeCompare(String(b.name));
      else cmp *= ui.dir;
      return cmp;
    });
    return list;
  }

  function sparkValues(id) {
    var series = equity && equity.accounts ? equity.accounts[String(id)] : null;
    return series ? series.map(function (p) { return Number(p[1]); }) : [];
  }

  function fillClientRow(tr, c) {
    Copier.clear(tr);
    tr.className = "client-row" + (isExpanded(c.id) ? " expanded" : "");
    var expander = h("button", { type: "button", class: "caret-btn", "aria-expanded": isExpanded(c.id) ? "true" : "false",
      "aria-label": "Show " + c.name + " positions" }, h("span", { class: "caret", text: "▶" }));
    tr.appendChild(h("td", { class: "name-cell" }, expander, h("span", { class: "client-name", text: c.name }),
      sizingNode(c)));
    tr.appendChild(h("td", { class: "num", text: Copier.money(c.equity) }));
    tr.appendChild(h("td", { class: "num", text: Copier.money(c.available) }));
    tr.appendChild(pnlCell(c.unrealized_pl));
    var w = windowOf(c);
    var since = w ? "since " + Copier.when(w.start) : "not measured yet (the next refresh reads the fills)";
    tr.appendChild(h("td", { class: "num realized-cell " + (w ? Copier.pnlClass(w.realized) : ""), title: since,
      text: w ? Copier.pnl(w.realized) : "—" }));
    var ret = h("td", { class: "num return-cell " + (w ? Copier.pnlClass(w.return_pct) : ""), title: w ?
      since + " · PnL " + Copier.pnl(w.pnl) + " USDT on " + Copier.money(w.base_equity) + " USDT" : since }, w ? pctText(w.return_pct) : "—");
    if (w) ret.appendChild(h("span", { class: "sub-pct", text: Copier.pnl(w.pnl) }));
    tr.appendChild(ret);
    var gapCell = h("td", { class: "num gap-cell", title: w ? "master " + pctText(w.master_return_pct) + " over the same window" : since },
      w ? pctText(w.tracking_error_pp, " pp") : "—");
    if (w) gapCell.appendChild(h("span", { class: "sub-pct master-pct", text: "master " + pctText(w.master_return_pct) }));
    tr.appendChild(gapCell);
    tr.appendChild(h("td", { class: "num positions-count", text: c.positions_count }));
    var syncCell = h("td", { class: "sync-cell" }, h("span", { class: "chip chip-" + c.sync + " sync-chip", text: SYNC_LABEL[c.sync] || c.sync }));
    var detail = syncDetailNode(c);
    if (detail) syncCell.appendChild(detail);
    tr.appendChild(syncCell);
    var res = c.last_result;
    var resCell = h("td", { class: "result-cell" });
    if (res) {
      resCell.appendChild(statusChip(res.status));
      resCell.appendChild(h("span", { class: "faint", text: " " + (ACTION_LABEL[res.action] || res.action) + " " + Copier.when(res.at) }));
      var msg = res.message || "";
      resCell.appendChild(h("span", { class: "detail", title: msg, text: msg.length > 160 ? msg.slice(0, 157) + "…" : msg }));
    } else {
      resCell.appendChild(h("span", { class: "faint", text: "—" }));
    }
    tr.appendChild(resCell);
    tr.appendChild(h("td", { class: "hide-sm" }, CopierCharts.sparkline(sparkValues(c.id))));
    var sync = h("button", { type: "button", class: "btn btn-small js-action sync-btn", "data-id": c.id,
      title: c.enabled ? "Replicate the master to " + c.name + " only" : c.name + " is disabled", text: "Sync" });
    sync.disabled = busy || !c.enabled;
    if (!c.enabled) sync.dataset.never = "1";
    tr.appendChild(h("td", { class: "actions-cell" }, sync));
  }

  // The sizing in use under the client's name: the live factor for new copies, the frozen factors of open ones.
  function sizingNode(c) {
    var s = c.sizing_now;
    if (!s) return h("span", { class: "sizing", text: c.sizing });
    return h("span", { class: "sizing", title: "Set: " + c.sizing + ". " + s.explain, text: s.text });
  }

  // The sync cell's explanation: every operation (drift) or every reason (not copied), "+N more" on expand.
  function syncDetailNode(c) {
    var items = c.sync === "drift" || c.sync === "not_copied" ? (c.sync_items || []) : [];
    if (!items.length) {
      var text = c.sync_detail && c.sync_detail !== "in sync" ? c.sync_detail : "";
      return text ? h("span", { class: "detail", text: text }) : null;
    }
    var box = h("div", { class: "detail sync-items" });
    var list = h("ul", { class: "sync-list" });
    items.slice(0, SYNC_DETAIL_SHOWN).forEach(function (t) { list.appendChild(h("li", { text: t })); });
    box.appendChild(list);
    if (items.length > SYNC_DETAIL_SHOWN) {
      var rest = h("ul", { class: "sync-list" });
      items.slice(SYNC_DETAIL_SHOWN).forEach(function (t) { rest.appendChild(h("li", { text: t })); });
      var more = h("details", { class: "sync-more" }, h("summary", { text: "+" + (items.length - SYNC_DETAIL_SHOWN) + " more" }), rest);
      if (openDetails[c.id]) more.open = true;
      more.addEventListener("toggle", function () { openDetails[c.id] = more.open; });
      box.appendChild(more);
    }
    return box;
  }

  function fillDetailRow(tr, c) {
    Copier.clear(tr);
    var meta = h("div", { class: "detail-meta" },
      h("span", null, "Sizing ", h("b", { text: c.sizing }), c.sizing_now ? h("span", { class: "sizing-explain", text: " · " + c.sizing_now.explain }) : null),
      h("span", null, "Mode ", h("b", { text: c.position_mode ? c.position_mode.replace("_mode", "").replace("_", "-") : "—" })),
      h("span", null, "Margin used ", h("b", { text: Copier.money(c.margin_used) })),
      h("span", null, "Read ", h("b", { text: c.updated_at ? Copier.when(c.updated_at) : "never" })));
    var loss = c.loss || {};
    if (loss.daily_limit || loss.drawdown_limit_pct) {
      meta.appendChild(h("span", null, "Loss limits ", h("b", { text:
        [loss.daily_limit ? "daily " + loss.daily_limit + " USDT" : null,
          loss.drawdown_limit_pct ? "drawdown " + loss.drawdown_limit_pct + "%" : null].filter(Boolean).join(", ") +
          (loss.action === "close_all_pause" ? " → close all and pause" : " → stop opening (close only)") })));
    }
    if (loss.fired_at) meta.appendChild(h("span", { class: "neg", text: "Loss protection fired " + Copier.when(loss.fired_at) + ": " + (loss.reason || "") }));
    var box = h("div", { class: "detail-box" }, meta);
    if (c.error) box.appendChild(h("div", { class: "detail-meta error-text", text: "Last read failed: " + c.error }));
    if (c.sync_detail && c.sync !== "in_sync") box.appendChild(h("div", { class: "detail-meta", text: "Sync: " + c.sync_detail }));
    if (c.last_result) {
      box.appendChild(h("div", { class: "detail-meta" }, statusChip(c.last_result.status),
        h("span", { text: (ACTION_LABEL[c.last_result.action] || c.last_result.action) + " " + Copier.when(c.last_result.at) + ": " + (c.last_result.message || "") }),
        h("a", { href: root.dataset.runUrl.replace(/0$/, String(c.last_result.run_id)), text: "run #" + c.last_result.run_id })));
    }
    var table = h("table", { class: "table client-positions" },
      h("thead", null, h("tr", null, ["Symbol", "Side", "Size", "Lev.", "Margin", "Entry", "Mark", "Liq.", "uPnL", "TP", "SL", "Opened"]
        .map(function (t, i) { return h("th", { class: [2, 3, 5, 6, 7, 8, 9, 10].indexOf(i) >= 0 ? "num" : null, text: t }); }))));
    var tbody = h("tbody");
    if (!c.positions || !c.positions.length) {
      tbody.appendChild(h("tr", null, h("td", { colspan: 12, class: "empty", text: "No open positions." })));
    } else {
      c.positions.forEach(function (p) { tbody.appendChild(positionRow(p, false)); });
    }
    table.appendChild(tbody);
    box.appendChild(h("div", { class: "table-wrap" }, table));
    tr.appendChild(h("td", { colspan: 12 }, box));
  }

  function renderClients() {
    var list = visibleClients();
    var body = $("clients-table").tBodies[0];
    var seen = new Set();
    var wanted = [];
    list.forEach(function (c) {
      seen.add(c.id);
      var entry = rows.get(c.id);
      if (!entry) {
        entry = { tr: h("tr", { "data-id": c.id }), sig: null, detail: null, detailSig: null };
        rows.set(c.id, entry);
      }
      var open = isExpanded(c.id);
      var sig = JSON.stringify([c, open, sparkValues(c.id).slice(-40), ui.window]);
      if (entry.sig !== sig) { fillClientRow(entry.tr, c); entry.sig = sig; }
      wanted.push(entry.tr);
      if (open) {
        if (!entry.detail) entry.detail = h("tr", { class: "detail-row", "data-detail-for": c.id });
        var dsig = JSON.stringify(c);
        if (entry.detailSig !== dsig) { fillDetailRow(entry.detail, c); entry.detailSig = dsig; }
        wanted.push(entry.detail);
      }
    });
    rows.forEach(function (entry, id) { if (!seen.has(id) && !(state.clients || []).some(function (c) { return c.id === id; })) rows.delete(id); });
    if (!list.length) {
      var msg = (state.clients || []).length ? "No client matches the filter." : "No clients yet. Add them on the Accounts page.";
      wanted = [h("tr", { class: "empty-row" }, h("td", { colspan: 12, class: "empty", text: msg }))];
    }
    // put the wanted nodes in order, moving only what is out of place
    for (var i = 0; i < wanted.length; i++) {
      if (body.children[i] !== wanted[i]) body.insertBefore(wanted[i], body.children[i] || null);
    }
    while (body.children.length > wanted.length) body.removeChild(body.lastChild);

    $("clients-count").textContent = "(" + (state.clients || []).length + ")";
    renderSyncSummary();
    renderTotals(list.length);
    document.querySelectorAll("#clients-table th[data-sort]").forEach(function (th) {
      th.setAttribute("aria-sort", th.dataset.sort === ui.sort ? (ui.dir > 0 ? "ascending" : "descending") : "none");
    });
  }

  function renderSyncSummary() {
    var counts = state.sync_counts;
    if (!counts) {
      counts = {};
      (state.clients || []).forEach(function (c) { counts[c.sync] = (counts[c.sync] || 0) + 1; });
    }
    if (!changed("syncSummary", [counts, ui.sync])) return;
    var box = $("sync-summary");
    Copier.clear(box);
    ["in_sync", "not_copied", "drift", "error", "paused", "disabled", "unknown"].forEach(function (k) {
      var n = counts[k] || 0;
      if (!n && SYNC_HEADER.indexOf(k) < 0) return;
      var b = h("button", { type: "button", class: "chip chip-" + k + (n ? "" : " chip-zero"), "data-sync": k,
        "aria-pressed": ui.sync === k ? "true" : "false", title: "Show only " + SYNC_LABEL[k], text: n + " " + SYNC_LABEL[k] });
      box.appendChild(b);
    });
  }

  function toggleExpanded(id) {
    var i = ui.expanded.indexOf(id);
    if (i >= 0) ui.expanded.splice(i, 1); else ui.expanded.push(id);
    saveUi();
    renderClients();
    markScrollables();
  }

  /* ----- chart ---------------------------------------------------------------------------------------- */
  function renderChart() {
    var container = $("equity-chart");
    if (!container) return;
    // returns in %, not sums of equity: a client added or removed does not make the lines jump
    var pts = (equity && equity.lines ? equity.lines : []).map(function (p) {
      return { t: new Date(p.t + (/[zZ]|[+-]\d\d:?\d\d$/.test(p.t) ? "" : "Z")),
        values: { master: num(p.master), clients: num(p.clients) } };
    });
    CopierCharts.lineChart(container, pts, [
      { key: "master", label: "Master", cls: "master" },
      { key: "clients", label: "Clients (time-weighted)", cls: "clients" },
    ], { format: function (v) { return pctText(v); }, axis: function (v) { return Number(v.toFixed(4)) + "%"; } });
  }

  function fetchEquity() {
    return Copier.api("GET", root.dataset.equityUrl).then(function (res) {
      if (!res.ok) return;
      equity = res.data;
      renderChart();
      if (state) renderClients();
    });
  }

  /* ----- state polling ---------------------------------------------------------------------------- */
  // Tables wider than their box fade at the edge that has more columns (and say so to the touch of a finger).
  function markScrollables() {
    document.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var more = wrap.scrollWidth - wrap.clientWidth;
      wrap.classList.toggle("can-scroll-right", more > 1 && wrap.scrollLeft < more - 1);
      wrap.classList.toggle("can-scroll-left", more > 1 && wrap.scrollLeft > 1);
      if (!wrap.dataset.scrollWatch) {
        wrap.dataset.scrollWatch = "1";
        wrap.addEventListener("scroll", function () { markScrollables(); }, { passive: true });
      }
    });
  }

  function apply(newState, fetchedAt) {
    state = newState;
    if (typeof state.now === "number") clockOffset = state.now - fetchedAt / 1000;
    renderBanners();
    renderPoller();
    renderMaster();
    renderMasterReturn();
    renderResults();
    renderClients();
    renderFreshness();
    markScrollables();
  }

  function fetchState() {
    var started = Date.now();
    return Copier.api("GET", root.dataset.stateUrl).then(function (res) {
      if (res.ok) {
        lastFetchOk = Date.now();
        fetchFailing = false;
        apply(res.data, (started + lastFetchOk) / 2);
        return;
      }
      fetchFailing = true;
      if (res.status === 401 || res.code === "bad_answer") {
        stopped = true;
        Copier.notify(res.status === 401 ? res.message : "Your session has ended. Reload the page and log in again.", "error");
      }
      renderFreshness();
    });
  }

  function schedule(ms) {
    if (stopped) return;
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      fetchState().then(function () { schedule(document.hidden ? POLL_HIDDEN_MS : POLL_MS); });
    }, ms);
  }

  /* ----- actions -------------------------------------------------------------------------------------- */
  function setAllBusy(on) {
    busy = on;
    document.querySelectorAll(".js-action").forEach(function (b) {
      if (b.classList.contains("is-busy")) return;
      b.disabled = on || b.dataset.never === "1";
    });
  }

  function summary(report) {
    var c = report.counts || {};
    return actionLabel(report) + ": " + (c.ok || 0) + " ok, " + (c.skipped || 0) + " skipped, " + (c.failed || 0) +
      " failed" + (report.duration_ms !== null && report.duration_ms !== undefined ? " (" + report.duration_ms + " ms)." : ".");
  }

  // Runs one action: progress on the button, every action button disabled, readable result or error.
  function runAction(btn, busyLabel, url, body) {
    if (busy) return Promise.resolve(null);
    setAllBusy(true);
    Copier.setBusy(btn, busyLabel);
    return Copier.api("POST", url, body).then(function (res) {
      if (!res.ok) {
        Copier.notify(res.message, res.code === "already_running" ? "warn" : "error");
        return null;
      }
      var report = res.data;
      if (report && report.run_id !== undefined) {
        shownRun = report;
        if (state) renderResults();
        var level = report.status === "failed" ? "error" : report.status === "partial" ? "warn" : "ok";
        Copier.notify(summary(report), level, { sticky: false });
        var panel = $("results");
        if (panel && panel.getBoundingClientRect().top > window.innerHeight) panel.scrollIntoView({ behavior: "smooth", block: "start" });
      }
      return report;
    }).then(function (report) {
      Copier.clearBusy(btn);
      setAllBusy(false);
      fetchState();
      setTimeout(fetchState, 1200);  // the service refreshes the accounts in the background after a run
      setTimeout(fetchEquity, 1500);
      return report;
    });
  }

  function interceptForm(buttonId, handler) {
    var btn = $(buttonId);
    if (!btn) return;
    var form = btn.form;
    var go = function (ev) { if (ev) ev.preventDefault(); handler(btn); };
    if (form) form.addEventListener("submit", go); else btn.addEventListener("click", go);
  }

  function doRefresh(btn) {
    if (busy) return;
    setAllBusy(true);
    Copier.setBusy(btn, "Refreshing…");
    Copier.api("POST", "/api/refresh", {}).then(function (res) {
      if (!res.ok) Copier.notify(res.message, "error");
      else if (res.data.failed) Copier.notify("Refreshed. " + res.data.failed + " account(s) could not be read – see the clients table.", "warn");
      else Copier.notify("Refreshed every account.", "ok");
      Copier.clearBusy(btn);
      setAllBusy(false);
      fetchState();
      fetchEquity();
    });
  }

  function openDialog(dlg) {
    if (typeof dlg.showModal === "function") dlg.showModal(); else dlg.setAttribute("open", "");
  }

  function closeDialog(dlg) {
    if (typeof dlg.close === "function") dlg.close(); else dlg.removeAttribute("open");
  }

  function dialogError(id, text) {
    var el = $(id);
    el.textContent = text || "";
    el.classList.toggle("hidden", !text);
  }

  function positionSummary() {
    var accounts = 0, positions = 0;
    if (state && state.master && state.master.positions.length) { accounts++; positions += state.master.positions.length; }
    (state && state.clients || []).forEach(function (c) { if (c.positions_count) { accounts++; positions += c.positions_count; } });
    return positions + " position" + (positions === 1 ? "" : "s") + " known on " + accounts + " account" + (accounts === 1 ? "" : "s");
  }

  function setupCloseAll() {
    var dlg = $("dlg-close-all"), input = $("close-all-confirm"), go = $("close-all-go");
    $("btn-close-all").addEventListener("click", function () {
      if (busy) return;
      input.value = "";
      go.disabled = true;
      dialogError("close-all-error", "");
      $("close-all-summary").textContent = positionSummary();
      openDialog(dlg);
      input.focus();
    });
    input.addEventListener("input", function () { go.disabled = input.value.trim() !== "CLOSE" || busy; });
    $("close-all-cancel").addEventListener("click", function () { closeDialog(dlg); });
    $("form-close-all").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (input.value.trim() !== "CLOSE") { dialogError("close-all-error", "Type CLOSE in capitals to confirm."); return; }
      if (busy) return;
      runAction(go, "Closing…", "/api/close-all", { confirm: true }).then(function (report) {
        if (report) closeDialog(dlg);
        else dialogError("close-all-error", "Nothing was closed – see the message above.");
      });
    });
  }

  function setupCloseSymbol() {
    var dlg = $("dlg-close-symbol"), go = $("close-symbol-go");
    $("master-positions").addEventListener("click", function (ev) {
      var btn = ev.target.closest("button.close-symbol");
      if (!btn || busy) return;
      var symbol = btn.dataset.symbol;
      dlg.dataset.symbol = symbol;
      $("close-symbol-name").textContent = symbol;
      $("close-symbol-name-2").textContent = symbol;
      dialogError("close-symbol-error", "");
      openDialog(dlg);
      go.focus();
    });
    $("close-symbol-cancel").addEventListener("click", function () { closeDialog(dlg); });
    $("form-close-symbol").addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (busy) return;
      runAction(go, "Closing…", "/api/close-symbol", { symbol: dlg.dataset.symbol, confirm: true }).then(function (report) {
        if (report) closeDialog(dlg);
        else dialogError("close-symbol-error", "Nothing was closed – see the message above.");
      });
    });
  }

  function renderPreview(report) {
    var body = $("preview-table").tBodies[0];
    Copier.clear(body);
    var ops = 0;
    sortedResults(report.results).forEach(function (r) {
      var cell = h("td", { class: "msg" });
      if (r.operations && r.operations.length) {
        ops += r.operations.length;
        var list = h("ul", { class: "plan-ops" });
        r.operations.forEach(function (o) {
          list.appendChild(h("li", null, h("span", { class: "kind", text: o.kind.replace(/_/g, " ") }), " · ",
            h("span", { class: "mono", text: [o.symbol, o.hold_side, o.size].filter(Boolean).join(" ") }),
            o.reason ? h("span", { class: "muted", text: " – " + o.reason }) : null,
            o.setting ? h("div", { class: "muted plan-setting", text: "from: " + o.setting }) : null));
        });
        cell.appendChild(list);
        var skipped = (r.message || "").split(" | skipped: ")[1];
        if (skipped) cell.appendChild(h("div", { class: "muted", text: "skipped: " + skipped }));
      } else {
        cell.textContent = r.message || "nothing to do";
      }
      if (r.settings) {
        cell.appendChild(h("div", { class: "muted plan-settings", text: "Settings for new copies: sizing " +
          r.settings.sizing + " · leverage " + r.settings.leverage + " · margin mode " + r.settings.margin_mode +
          " · TP/SL " + r.settings.tpsl + " · caps " + r.settings.caps }));
      }
      body.appendChild(h("tr", { class: "result-" + r.status }, h("td", { class: "symbol", text: r.account_name }),
        h("td", null, statusChip(r.status === "ok" && !(r.operations || []).length ? "in_sync" : r.status,
          r.status === "ok" ? ((r.operations || []).length ? "will change" : "in sync") : r.status)), cell));
    });
    if (!body.children.length) body.appendChild(h("tr", null, h("td", { colspan: 3, class: "empty", text: "No enabled client." })));
    $("preview-meta").textContent = (report.results || []).length + " account(s) · " + ops + " operation(s)";
  }

  function setupPreview() {
    var dlg = $("dlg-preview");
    $("btn-preview").addEventListener("click", function () {
      var btn = this;
      if (busy) return;
      setAllBusy(true);
      Copier.setBusy(btn, "Planning…");
      Copier.api("POST", "/api/replicate/preview", {}).then(function (res) {
        Copier.clearBusy(btn);
        setAllBusy(false);
        if (!res.ok) { Copier.notify(res.message, "error"); return; }
        renderPreview(res.data);
        openDialog(dlg);
      });
    });
    $("preview-cancel").addEventListener("click", function () { closeDialog(dlg); });
    $("preview-run").addEventListener("click", function () {
      var btn = this;
      runAction(btn, "Replicating…", "/api/replicate", {}).then(function (report) { if (report) closeDialog(dlg); });
    });
  }

  function setupAutoFollow() {
    var toggle = $("auto-follow");
    if (!toggle) return;
    toggle.addEventListener("change", function () {
      var want = toggle.checked;
      toggle.dataset.pending = "1";
      toggle.disabled = true;
      Copier.api("POST", "/api/auto-follow", { on: want }).then(function (res) {
        delete toggle.dataset.pending;
        toggle.disabled = false;
        if (!res.ok) { toggle.checked = !want; Copier.notify(res.message, "error"); return; }
        toggle.checked = !!res.data.on;
        if (state) state.auto_follow = !!res.data.on;
        fetchState();  // turning it on clears the emergency-close banner
        Copier.notify("Auto-follow is " + (res.data.on ? "on: the copier replicates as soon as the master changes." : "off."), "ok");
      });
    });
  }

  function setupClientsTable() {
    var table = $("clients-table");
    table.tBodies[0].addEventListener("click", function (ev) {
      var sync = ev.target.closest("button.sync-btn");
      if (sync) {
        ev.stopPropagation();
        var id = Number(sync.dataset.id);
        runAction(sync, "Syncing…", "/api/sync/" + id, {});
        return;
      }
      if (ev.target.closest("tr.detail-row") || ev.target.closest("a") || ev.target.closest("details")) return;
      var tr = ev.target.closest("tr.client-row");
      if (tr) toggleExpanded(Number(tr.dataset.id));
    });
    table.tHead.addEventListener("click", function (ev) {
      var th = ev.target.closest("th[data-sort]");
      if (!th) return;
      var key = th.dataset.sort;
      if (ui.sort === key) ui.dir = -ui.dir;
      else { ui.sort = key; ui.dir = key === "name" ? 1 : key === "sync" || key === "result" ? 1 : -1; }
      saveUi();
      renderClients();
    });
    var filter = $("client-filter");
    filter.value = ui.filter;
    filter.addEventListener("input", function () { ui.filter = filter.value; saveUi(); renderClients(); });
    var win = $("pnl-window");
    if (!WINDOW_LABEL[ui.window]) ui.window = "today";
    win.value = ui.window;
    win.addEventListener("change", function () {
      ui.window = WINDOW_LABEL[win.value] ? win.value : "today";
      saveUi();
      renderMasterReturn();
      renderClients();
    });
    var sel = $("sync-filter");
    sel.value = ui.sync;
    sel.addEventListener("change", function () { ui.sync = sel.value; saveUi(); renderClients(); });
    $("sync-summary").addEventListener("click", function (ev) {
      var chip = ev.target.closest("[data-sync]");
      if (!chip) return;
      ui.sync = ui.sync === chip.dataset.sync ? "" : chip.dataset.sync;
      sel.value = ui.sync;
      saveUi();
      renderClients();
    });
  }

  function init() {
    H = Copier.h;
    root = $("dashboard");
    if (!root) return;
    loadUi();
    var initial = null;
    try { initial = JSON.parse(root.dataset.state); } catch (e) { initial = null; }
    setupClientsTable();
    interceptForm("btn-replicate", function (btn) { runAction(btn, "Replicating…", "/api/replicate", {}); });
    interceptForm("btn-tpsl", function (btn) { runAction(btn, "Copying TP/SL…", "/api/tpsl", {}); });
    interceptForm("btn-refresh", doRefresh);
    setupPreview();
    setupCloseAll();
    setupCloseSymbol();
    setupAutoFollow();
    if (initial) apply(initial, Date.now());
    setInterval(renderFreshness, 1000);
    schedule(POLL_MS);
    fetchEquity();
    setInterval(fetchEquity, EQUITY_MS);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) schedule(0); });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { renderChart(); markScrollables(); }, 150);
    });
    document.addEventListener("themechange", renderChart);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
