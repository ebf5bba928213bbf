/* The report page (/manager/reports): log in, read GET /api/v1/reports/tables for the range,
 * draw the tables as the exports print them and four charts (Chart.js, vendored), download the
 * exports with the bearer token (fetch → Blob), print on A4.
 *
 * Plain browser JS, no build step, no inline script (the page's CSP forbids it).
 */
(function () {
  "use strict";

  // The manager's page (/manager, queue_server/static/manager/manager.js) keeps the same login
  // under the same key and shape {token, username, role}: its link here needs no second login.
  var SESSION_KEY = "qs.manager.session";
  var page = JSON.parse(document.getElementById("page-data").textContent);
  var s = page.strings;
  var lang = page.lang;
  var locale = lang === "vi" ? "vi-VN" : "en-GB";
  var charts = [];
  // Strong, distinct colours that survive a washed-out projector and a grey-scale print.
  var COLOURS = ["#0b4ea2", "#11703a", "#b3261e", "#8a5a00", "#5b2a86"];
  // Rating levels, best first: green, blue, red, then amber and purple for 4- and 5-level scales.
  var LEVEL_COLOURS = ["#11703a", "#0b4ea2", "#b3261e", "#8a5a00", "#5b2a86"];

  function $(id) { return document.getElementById(id); }

  function session() {
    try { return JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || "null"); } catch (e) { return null; }
  }
  function saveSession(value) {
    try {
      if (value) window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
      else window.sessionStorage.removeItem(SESSION_KEY);
    } catch (e) { /* private mode: the login lasts this page only */ }
  }

  function show(el, on) { el.hidden = !on; }
  function message(text) { $("message").textContent = text || ""; show($("message"), !!text); }

  function errorText(body, fallback) {
    var err = body && body.error;
    if (!err) return fallback;
    return lang === "en" && err.message_en ? err.message_en : err.message;
  }

  function query() {
    var q = new URLSearchParams();
    if ($("from").value) q.set("from", $("from").value);
    if ($("to").value) q.set("to", $("to").value);
    q.set("lang", lang);
    return q;
  }

  function request(path) {
    var token = (session() || {}).token;
    return window.fetch(path, {
      headers: token ? { "Authorization": "Bearer " + token } : {},
      cache: "no-store", credentials: "omit"
    });
  }

  function load() {
    message("");
    show($("loading"), true);
    request("/api/v1/reports/tables?" + query().toString()).then(function (response) {
      return response.json().then(function (body) { return { status: response.status, body: body }; },
                                   function () { return { status: response.status, body: null }; });
    }).then(function (r) {
      show($("loading"), false);
      if (r.status === 401) {
        saveSession(null);
        show($("report"), false);
        show($("login"), true);
        show($("logout"), false);
        return;
      }
      show($("logout"), true);
      if (r.status === 403) {
        show($("report"), false);
        message(s.forbidden);
        return;
      }
      if (r.status !== 200) {
        show($("report"), false);
        message(errorText(r.body, s.no_data));
        return;
      }
      show($("login"), false);
      render(r.body);
    }, function () {
      show($("loading"), false);
      message(lang === "vi" ? "Không kết nối được với máy chủ." : "Cannot reach the server.");
    });
  }

  // ------------------------------------------------------------------ tables
  var NUMERIC = /^-?[\d.,]+$/;

  function cell(tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (cls) el.className = cls;
    return el;
  }

  function renderTable(t) {
    var wrap = document.createElement("section");
    wrap.className = "report-table-wrap";
    var table = document.createElement("table");
    table.className = "report-table";
    table.setAttribute("data-table", t.key);
    table.appendChild(cell("caption", t.title));
    var head = document.createElement("thead");
    if (t.groups.length) {
      var groupRow = document.createElement("tr");
      t.groups.forEach(function (g) {
        var th = cell("th", g.text);
        th.colSpan = g.span;
        groupRow.appendChild(th);
      });
      head.appendChild(groupRow);
    }
    var headerRow = document.createElement("tr");
    t.headers.forEach(function (h) { headerRow.appendChild(cell("th", h)); });
    head.appendChild(headerRow);
    table.appendChild(head);
    var bodyEl = document.createElement("tbody");
    t.rows.forEach(function (r, i) {
      var tr = document.createElement("tr");
      if (i >= t.rows.length - (t.summary_rows || 0)) tr.className = "summary";
      r.forEach(function (v) { tr.appendChild(cell("td", v, NUMERIC.test(v) ? "num" : "")); });
      bodyEl.appendChild(tr);
    });
    table.appendChild(bodyEl);
    wrap.appendChild(table);
    if (t.note) wrap.appendChild(cell("p", t.note, "note"));
    var links = document.createElement("p");
    links.className = "downloads no-print";
    ["xlsx", "csv"].forEach(function (fmt) {
      var b = cell("button", s[fmt]);
      b.type = "button";
      b.setAttribute("data-file", t.key + "." + fmt);
      links.appendChild(b);
    });
    wrap.appendChild(links);
    return wrap;
  }

  // ------------------------------------------------------------------ charts
  function fmt(n) { return new Intl.NumberFormat(locale).format(n); }

  function chart(id, config) {
    // every number on an axis or in a tooltip in the page's format (vi: 0,5 and 1.234)
    config.options = Object.assign({
      locale: locale,
      animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { labels: { font: { size: 16 } } } },
      scales: {
        x: { ticks: { font: { size: 15 } } },
        y: { beginAtZero: true, ticks: { font: { size: 15 }, callback: function (v) { return fmt(v); } } }
      }
    }, config.options || {});
    charts.push(new window.Chart($(id), config));
  }

  function day(iso) { return lang === "vi" ? iso.slice(8, 10) + "/" + iso.slice(5, 7) : iso.slice(5); }

  function renderCharts(data, names) {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    window.Chart.defaults.font.family = "'DejaVu Sans', 'Noto Sans', Arial, sans-serif";
    window.Chart.defaults.color = "#10213a";
    window.Chart.defaults.locale = locale;
    chart("chart-hours", {
      type: "bar",
      data: {
        labels: data.by_hour.map(function (h) { return String(h.hour).padStart(2, "0") + ":00"; }),
        datasets: [{ label: s.per_day, data: data.by_hour.map(function (h) { return h.issued_per_day || 0; }),
                     backgroundColor: COLOURS[0] }]
      }
    });
    chart("chart-waits", {
      type: "bar",
      data: {
        labels: data.wait_histogram.map(function (b) {
          return b.to_min === null ? "> " + b.from_min + " " + s.minutes
                                   : b.from_min + "–" + b.to_min + " " + s.minutes;
        }),
        datasets: [{ label: s.visits, data: data.wait_histogram.map(function (b) { return b.visits; }),
                     backgroundColor: COLOURS[3] }]
      }
    });
    chart("chart-days", {
      type: "line",
      data: {
        labels: data.by_day.map(function (d) { return day(d.day); }),
        datasets: [
          { label: s.issued, data: data.by_day.map(function (d) { return d.issued; }),
            borderColor: COLOURS[0], backgroundColor: COLOURS[0], borderWidth: 4, pointRadius: 4 },
          { label: s.served, data: data.by_day.map(function (d) { return d.served; }),
            borderColor: COLOURS[1], backgroundColor: COLOURS[1], borderWidth: 4, pointRadius: 4 }
        ]
      }
    });
    var rated = data.by_staff.filter(function (r) { return r.satisfaction.total > 0; });
    chart("chart-staff", {
      type: "bar",
      data: {
        labels: rated.map(function (r) { return names[r.staff] || r.staff; }),
        datasets: page.levels.map(function (label, i) {
          return { label: label, backgroundColor: LEVEL_COLOURS[i % LEVEL_COLOURS.length],
                   data: rated.map(function (r) { return r.satisfaction.levels[i].count; }) };
        })
      },
      options: { indexAxis: "y", scales: {
        x: { stacked: true, beginAtZero: true, ticks: { font: { size: 15 }, callback: function (v) { return fmt(v); } } },
        y: { stacked: true, ticks: { font: { size: 15 } } } } }
    });
  }

  function render(body) {
    $("range-text").textContent = body.tables.length ? body.tables[0].title.replace(/^[^]*?(từ ngày|from )/, "$1") : "";
    if (!$("from").value) $("from").value = body.from;
    if (!$("to").value) $("to").value = body.to;
    var holder = $("tables");
    holder.textContent = "";
    body.tables.forEach(function (t) { holder.appendChild(renderTable(t)); });
    show($("report"), true);
    renderCharts(body.stats, body.staff_names || {});
  }

  // ------------------------------------------------------------------ downloads
  function download(file) {
    request("/api/v1/reports/" + file + "?" + query().toString()).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (b) { message(errorText(b, s.no_data)); },
                                    function () { message(s.no_data); });
      }
      var disposition = response.headers.get("Content-Disposition") || "";
      var match = /filename="([^"]+)"/.exec(disposition);
      return response.blob().then(function (blob) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(blob);
        a.download = match ? match[1] : file;
        document.body.appendChild(a);
        a.click();
        window.setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      });
    });
  }

  document.addEventListener("click", function (e) {
    var target = e.target.closest("[data-file]");
    if (target) download(target.getAttribute("data-file"));
  });

  // ------------------------------------------------------------------ wiring
  $("from").value = page.from || "";
  $("to").value = page.to || "";
  $("range-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var q = query();
    window.history.replaceState(null, "", "?" + q.toString());
    load();
  });
  $("print").addEventListener("click", function () { window.print(); });
  $("other-lang").addEventListener("click", function (e) {
    e.preventDefault();
    var q = query();
    q.set("lang", lang === "vi" ? "en" : "vi");
    window.location.search = "?" + q.toString();
  });
  $("logout").addEventListener("click", function () {
    var token = (session() || {}).token;
    saveSession(null);
    if (token) {
      window.fetch("/api/v1/auth/logout", { method: "POST", headers: { "Authorization": "Bearer " + token },
                                            credentials: "omit" });
    }
    show($("report"), false);
    show($("logout"), false);
    message("");
    show($("login"), true);
  });
  $("login-form").addEventListener("submit", function (e) {
    e.preventDefault();
    message("");
    window.fetch("/api/v1/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" }, credentials: "omit",
      body: JSON.stringify({ username: $("username").value, password: $("password").value })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { message(errorText(body, s.no_data)); return; }
        saveSession({ token: body.token, username: body.username || $("username").value, role: body.role });
        $("password").value = "";
        show($("login"), false);
        load();
      });
    }, function () { message(lang === "vi" ? "Không kết nối được với máy chủ." : "Cannot reach the server."); });
  });
  window.addEventListener("beforeprint", function () { charts.forEach(function (c) { c.resize(); }); });

  if (session()) load(); else show($("login"), true);
})();
