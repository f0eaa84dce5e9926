/* Shared helpers for every page: theme toggle, JSON API calls with CSRF, DOM building, number formatting. */
(function () {
  "use strict";

  var THEME_KEY = "copier-theme";

  function currentTheme() {
    return document.documentElement.getAttribute("data-theme") === "light" ? "light" : "dark";
  }

  function setTheme(theme) {
    document.documentElement.setAttribute("data-theme", theme);
    try { localStorage.setItem(THEME_KEY, theme); } catch (e) { /* ignore */ }
    document.dispatchEvent(new CustomEvent("themechange", { detail: theme }));
  }

  /* ----- DOM ------------------------------------------------------------------------------------ */
  // h("td", {class: "num", title: "x"}, "text", childNode, ...): builds elements without innerHTML.
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k === "dataset") Object.keys(v).forEach(function (d) { el.dataset[d] = v[d]; });
        else if (k.slice(0, 2) === "on" && typeof v === "function") el.addEventListener(k.slice(2), v);
        else if (v === true) el.setAttribute(k, "");
        else el.setAttribute(k, String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  /* ----- numbers ---------------------------------------------------------------------------------- */
  function isNum(v) { return v !== null && v !== undefined && v !== "" && !isNaN(Number(v)); }

  // Group the integer part of a decimal string without going through floats ("64123.5" -> "64,123.5").
  function group(str) {
    var s = String(str);
    var neg = s.charAt(0) === "-";
    if (neg) s = s.slice(1);
    var parts = s.split(".");
    parts[0] = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (neg ? "-" : "") + parts.join(".");
  }

  // A money amount with fixed decimals ("1234.5678" -> "1,234.57").
  function money(v, decimals) {
    if (!isNum(v)) return "—";
    var d = decimals === undefined ? 2 : decimals;
    return group(Number(v).toFixed(d));
  }

  // A signed PnL amount ("+12.30" / "-4.10").
  function pnl(v, decimals) {
    if (!isNum(v)) return "—";
    var n = Number(v);
    var s = money(Math.abs(n), decimals);
    return (n > 0 ? "+" : n < 0 ? "−" : "") + s;
  }

  function pnlClass(v) {
    if (!isNum(v)) return "";
    var n = Number(v);
    return n > 0 ? "pos" : n < 0 ? "neg" : "";
  }

  // Prices and sizes: keep the exchange's precision, only group digits.
  function plain(v) {
    if (!isNum(v)) return "—";
    return group(String(v));
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // Epoch (ms or s) or ISO string -> short local time; today shows the time only.
  function when(v) {
    if (v === null || v === undefined || v === "") return "—";
    var d = toDate(v);
    if (!d) return "—";
    var now = new Date();
    var time = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    if (d.toDateString() === now.toDateString()) return time;
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + time.slice(0, 5);
  }

  function toDate(v) {
    if (typeof v === "number" || /^\d+$/.test(String(v))) {
      var n = Number(v);
      return new Date(n < 1e12 ? n * 1000 : n);
    }
    var d = new Date(String(v));
    return isNaN(d.getTime()) ? null : d;
  }

  function ago(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "never";
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) return s + "s ago";
    if (s < 3600) return Math.floor(s / 60) + "m " + pad(s % 60) + "s ago";
    if (s < 86400) return Math.floor(s / 3600) + "h " + pad(Math.floor((s % 3600) / 60)) + "m ago";
    return Math.floor(s / 86400) + "d ago";
  }

  /* ----- API ------------------------------------------------------------------------------------- */
  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Resolves to {ok, status, data, message, code}; never rejects and never exposes raw bodies.
  function api(method, url, body) {
    var opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRFToken"] = csrfToken();
      opts.body = JSON.stringify(body === undefined ? {} : body);
    }
    return fetch(url, opts).then(function (resp) {
      var type = resp.headers.get("Content-Type") || "";
      var parse = type.indexOf("application/json") >= 0 ? resp.json().catch(function () { return null; }) : Promise.resolve(null);
      return parse.then(function (data) {
        if (resp.ok && data !== null) return { ok: true, status: resp.status, data: data };
        if (resp.ok) return { ok: false, status: resp.status, data: null, code: "bad_answer",
          message: resp.redirected ? "Your session has ended. Reload the page and log in again." : "The server sent an unexpected answer." };
        return { ok: false, status: resp.status, data: data, code: errorCode(data), message: errorMessage(resp.status, data) };
      });
    }).catch(function (err) {
      return { ok: false, status: 0, data: null, code: "network",
        message: "Cannot reach the copier server (" + (err && err.message ? err.message : "network error") + ")." };
    });
  }

  function errorCode(data) {
    return data && data.error && data.error.code ? data.error.code : null;
  }

  function errorMessage(status, data) {
    var err = data && data.error;
    var text = err && typeof err.message === "string" ? err.message : null;
    if (err && err.code === "already_running") {
      return "Another run is in progress" + (text ? ": " + text : ".") + " Wait for it to finish, then try again.";
    }
    if (status === 401) return "Your session has ended. Reload the page and log in again.";
    if (text) return text;
    if (status === 403) return "The request was refused (security token). Reload the page and try again.";
    if (status === 404) return "Not found.";
    if (status >= 500) return "The server hit an error (HTTP " + status + "). See the server log for details.";
    return "The request failed (HTTP " + status + ").";
  }

  /* ----- notices ---------------------------------------------------------------------------------- */
  // notify("text", "ok"|"error"|"warn"|"info", {sticky}) shows a dismissible message in #notices.
  function notify(text, level, opts) {
    var box = document.getElementById("notices");
    if (!box) { box = h("div", { id: "notices" }); var main = document.querySelector("main"); main.insertBefore(box, main.firstChild); }
    var lvl = level || "info";
    var close = h("button", { type: "button", class: "close-x", "aria-label": "Dismiss", text: "×" });
    var item = h("div", { class: "notice notice-" + lvl, role: lvl === "error" ? "alert" : "status" },
      h("div", { class: "notice-text", text: text, title: text, tabindex: "0" }), close);
    close.addEventListener("click", function () { item.remove(); });
    box.insertBefore(item, box.firstChild);
    while (box.children.length > 4) box.removeChild(box.lastChild);
    var sticky = (opts && opts.sticky) || lvl === "error";
    if (!sticky) setTimeout(function () { item.remove(); }, 9000);
    return item;
  }

  /* ----- busy buttons ------------------------------------------------------------------------------ */
  function setBusy(btn, label) {
    if (!btn) return;
    if (!btn.dataset.label) btn.dataset.label = btn.textContent;
    btn.classList.add("is-busy");
    btn.setAttribute("aria-busy", "true");
    btn.disabled = true;
    if (label) btn.textContent = label;
  }

  function clearBusy(btn) {
    if (!btn) return;
    btn.classList.remove("is-busy");
    btn.removeAttribute("aria-busy");
    if (btn.dataset.label) { btn.textContent = btn.dataset.label; delete btn.dataset.label; }
    btn.disabled = false;
  }

  /* ----- page wiring -------------------------------------------------------------------------------- */
  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () { setTheme(currentTheme() === "dark" ? "light" : "dark"); });
    }
    // Account form: sizing and risk limits only apply to clients.
    var role = document.getElementById("role");
    if (role) {
      var sync = function () {
        document.querySelectorAll("[data-client-only]").forEach(function (el) { el.hidden = role.value === "master"; });
      };
      role.addEventListener("change", sync);
      sync();
    }
    // Forms that must not be sent twice: disable the submit button and show progress.
    document.querySelectorAll("form[data-busy]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (form.dataset.sent) { ev.preventDefault(); return; }
        form.dataset.sent = "1";
        var btn = ev.submitter || form.querySelector("button[type=submit]");
        setTimeout(function () { setBusy(btn, form.getAttribute("data-busy") || null); }, 0);
      });
    });
  });

  window.Copier = {
    h: h, append: append, clear: clear, api: api, notify: notify, setBusy: setBusy, clearBusy: clearBusy,
    money: money, pnl: pnl, pnlClass: pnlClass, plain: plain, group: group, when: when, ago: ago,
    toDate: toDate, isNum: isNum, pad: pad, theme: currentTheme,
  };
})();
