/* The manager's page: live hall, staffing forecast, configuration (admin), change log.
 *
 * Login: POST /api/v1/auth/login, the bearer token kept in sessionStorage (this tab only), as on
 * /counter. The hall comes from GET /api/v1/manager/hall once, then from the `hall` event of the
 * manager-only Socket.IO room (joined with `manager_join` {token}); device health from
 * GET /api/v1/devices every 15 s (404: no device bridge reports yet). Plain browser JS, no build.
 */
(function () {
  "use strict";

  var SESSION_KEY = "qs.manager.session";
  var en = QS.lang === "en";
  var S = {
    counter: en ? "Counter {n}" : "Quầy {n}",
    serving: en ? "Serving" : "Đang phục vụ",
    idle: en ? "Free" : "Đang trống",
    paused: en ? "Paused" : "Tạm ngưng",
    until: en ? "back at {t}" : "dự kiến {t}",
    since: en ? "for {d}" : "đã {d}",
    logged_in: en ? "logged in" : "đang đăng nhập",
    not_logged_in: en ? "not logged in" : "chưa đăng nhập",
    no_staff: en ? "no staff account" : "chưa có tài khoản cán bộ",
    issued: en ? "Issued" : "Đã cấp số",
    served: en ? "Served" : "Đã phục vụ",
    no_show: en ? "No-show" : "Vắng mặt",
    cancelled: en ? "Cancelled" : "Đã hủy",
    waiting: en ? "Waiting" : "Đang chờ",
    avg_wait: en ? "Average wait (min)" : "Chờ trung bình (phút)",
    live: en ? "live" : "trực tiếp",
    offline: en ? "reconnecting…" : "đang kết nối lại…",
    printer_main: en ? "Main printer" : "Máy in chính",
    printer_n: en ? "Printer {n}" : "Máy in số {n}",
    printer_id: en ? "printer id: {id}" : "mã máy in: {id}",
    printed: en ? "{n} tickets printed" : "đã in {n} phiếu",
    no_bridge: en ? "No device bridge reporting" : "Chưa có bộ kết nối thiết bị nào báo về",
    device: en ? "{kind}{name} (bus {bus}, unit {unit})" : "{kind}{name} (đường truyền {bus}, địa chỉ {unit})",
    device_id: en ? "device id: {id}" : "mã thiết bị: {id}",
    device_error: en ? "communication error" : "lỗi liên lạc",
    online: en ? "online" : "hoạt động",
    device_offline: en ? "offline" : "mất kết nối",
    hour: en ? "Hour" : "Giờ",
    per_hour: en ? "{n}/h" : "{n}/giờ",
    dedicated: en ? "if counters serve one field: {n}" : "nếu mỗi quầy một lĩnh vực: {n}",
    simulated: en ? "opening hour: simulated from the observed arrivals" : "giờ mở cửa: mô phỏng theo lượt đến thực tế",
    fc_note: en ? "From {from} to {to}: {n} tickets, mean service {s} min (variation {cv}). Each cell: counters to open (arrivals per hour)."
                : "Từ {from} đến {to}: {n} lượt, thời gian phục vụ trung bình {s} phút (hệ số biến thiên {cv}). Mỗi ô: số quầy cần mở (lượt đến mỗi giờ).",
    fc_none: en ? "No tickets in that period yet." : "Chưa có dữ liệu trong khoảng thời gian này.",
    too_many: en ? "more than 200" : "trên 200",
    remove: en ? "Remove" : "Xóa",
    saved: en ? "Saved; in effect now." : "Đã lưu, có hiệu lực ngay.",
    from_browser: en ? "Edited here: {s}. Everything else comes from {f}." : "Đã sửa tại đây: {s}. Phần còn lại lấy từ tệp {f}.",
    from_file: en ? "Everything comes from {f}." : "Toàn bộ cấu hình lấy từ tệp {f}.",
    enabled: en ? "active" : "đang dùng",
    disabled: en ? "disabled" : "đã khóa",
    disable: en ? "Disable" : "Khóa",
    enable: en ? "Enable" : "Mở khóa",
    reset: en ? "Reset password" : "Đặt lại mật khẩu",
    new_password: en ? "New password for {u} (at least 8 characters):" : "Mật khẩu mới cho {u} (ít nhất 8 ký tự):",
    weekdays: en ? ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
                 : ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật"],
    level: en ? "Level {n}" : "Mức {n}",
    hours_none: en ? "No working hours: open around the clock." : "Không giới hạn giờ (mở cả ngày).",
    hours_set: en ? "Working hours as below." : "Giờ làm việc theo bảng dưới đây.",
    hours_unsaved: en ? " (not saved yet)" : " (chưa lưu)",
    hours_all_empty: en ? "No session on any day: saving this would close the center every day. Untick “Set working hours” if it is open around the clock."
                        : "Chưa có buổi nào trong tuần: lưu như vậy sẽ đóng cửa mọi ngày. Bỏ chọn “Đặt giờ làm việc” nếu trung tâm mở cả ngày.",
    hours_nothing: en ? "Already without working hours; nothing to save." : "Đang không giới hạn giờ, không có gì để lưu.",
    hours_in_file: en ? "The working hours come from the config file {f}; remove its [hours] there to open around the clock."
                      : "Giờ làm việc lấy từ tệp cấu hình {f}; muốn mở cả ngày, hãy xóa mục [hours] trong tệp đó.",
    ms: en ? "{n} ms" : "{n} ms",
    // reporting to the province (GET /api/v1/reporting/status; docs/reporting.md)
    rep_off: en ? "Not reporting (no [reporting] in the config file)" : "Không gửi báo cáo (tệp cấu hình không có mục [reporting])",
    rep_last: en ? "Last batch taken: {t}" : "Lô gần nhất được nhận: {t}",
    rep_never: en ? "No batch taken yet" : "Chưa có lô nào được nhận",
    rep_backlog: en ? "Waiting to be sent: {s} time slots, {b} batches, {e} events"
                    : "Đang chờ gửi: {s} khung giờ, {b} lô, {e} sự kiện",
    rep_error: en ? "The last attempt failed; it is tried again by itself" : "Lần gửi gần nhất không thành công; hệ thống sẽ tự gửi lại",
    rep_next: en ? " (next attempt at {t})" : " (lần thử tiếp theo lúc {t})",
    rep_refused: en ? "{n} batch(es) refused by the province's server, set aside (newest: {m})"
                    : "{n} lô bị máy chủ tỉnh từ chối, đã để riêng (gần nhất: {m})",
    rep_requeued: en ? "{n} batch(es) queued to be sent again" : "Đã xếp {n} lô để gửi lại",
    // device kinds as the bridge reports them (SPEC §9, firmware_bridge): never shown raw
    kinds: en ? { "counter-terminal": "Counter number board + keypad", "counter-display": "Counter number board",
                  "rating-box": "Rating box", "numeric-led": "Numeric LED board", "lobby-board": "Lobby summary board" }
              : { "counter-terminal": "Bảng số + bàn phím quầy", "counter-display": "Bảng số quầy",
                  "rating-box": "Hộp đánh giá", "numeric-led": "Bảng LED số", "lobby-board": "Bảng tổng hợp sảnh" },
    other_device: en ? "Device" : "Thiết bị",
    roles: en ? { staff: "Staff", manager: "Manager", admin: "Admin" }
              : { staff: "Cán bộ", manager: "Lãnh đạo", admin: "Quản trị viên" },
    sections: en ? { fields: "fields", counters: "counters", staff: "staff accounts", hours: "working hours", ratings: "rating labels" }
                 : { fields: "lĩnh vực", counters: "quầy", staff: "tài khoản cán bộ", hours: "giờ làm việc", ratings: "mức đánh giá" },
    actions: en ? { replace: "Replaced", revert_to_file: "Back to the config file", create_account: "New account",
                    disable_account: "Account disabled", enable_account: "Account enabled",
                    update_account: "Account changed", reset_password: "Password reset" }
                : { replace: "Thay toàn bộ", revert_to_file: "Dùng lại tệp cấu hình", create_account: "Tạo tài khoản",
                    disable_account: "Khóa tài khoản", enable_account: "Mở khóa tài khoản",
                    update_account: "Sửa tài khoản", reset_password: "Đặt lại mật khẩu" },
    placeholders: en ? { "new-username": "username", "new-name": "Full name", "new-counter": "counter",
                         "new-password": "password (≥ 8)" }
                     : { "new-username": "tên đăng nhập", "new-name": "Họ tên", "new-counter": "quầy",
                         "new-password": "mật khẩu (≥ 8)" }
  };
  var DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

  function t(text, values) {
    return String(text).replace(/\{(\w+)\}/g, function (m, k) {
      return values && values[k] !== undefined && values[k] !== null ? String(values[k]) : m;
    });
  }
  function $(id) { return document.getElementById(id); }
  var el = QS.el;

  function loadSession() {
    try { return JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || "null"); } catch (e) { return null; }
  }
  function saveSession(s) {
    try {
      if (s) window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
      else window.sessionStorage.removeItem(SESSION_KEY);
    } catch (e) { /* private mode: this view only */ }
  }
  var session = loadSession();
  var socket = null;
  var hall = null;
  var fieldNames = {};
  var tz = "Asia/Ho_Chi_Minh";
  var timeFmt = null;

  function show(view) {
    ["login-view", "refused-view", "work-view"].forEach(function (id) { $(id).hidden = id !== view; });
    $("nav").hidden = view !== "work-view";
    $("logout").hidden = !session;
  }

  function api(method, path, body) {
    return QS.api(method, path, body, session && session.token).catch(function (error) {
      if (error.status === 401) { logout(error.message); }
      throw error;
    });
  }

  function showLogin(message) {
    show("login-view");
    var box = $("login-error");
    box.hidden = !message;
    box.textContent = message || "";
  }

  function logout(message) {
    if (socket) { socket.disconnect(); socket = null; }
    session = null;
    saveSession(null);
    $("who").textContent = "";
    showLogin(message);
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    $("login-button").disabled = true;
    QS.api("POST", "/api/v1/auth/login", { username: $("username").value.trim(), password: $("password").value })
      .then(function (r) {
        session = { token: r.data.token, username: r.data.username, role: r.data.role };
        saveSession(session);
        $("password").value = "";
        start();
      }, function (error) { showLogin(error.message); })
      .then(function () { $("login-button").disabled = false; });
  });
  $("logout").addEventListener("click", function () {
    var token = session && session.token;
    if (token) { QS.api("POST", "/api/v1/auth/logout", {}, token).catch(function () {}); }
    logout(null);
  });

  // ------------------------------------------------------------------ the live hall
  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    var s = Math.max(0, Math.floor(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? h + "h" + String(m).padStart(2, "0") : m + "′" + String(s % 60).padStart(2, "0") + "″";
  }
  function number(n) {
    if (n === null || n === undefined) return "—";
    return Number(n).toLocaleString(en ? "en-GB" : "vi-VN", { maximumFractionDigits: 2 });
  }
  /** A printer's name for people: the default printer is "the main printer", the others are
   *  numbered in the hall's order; the raw id stays in the tooltip (title). */
  function printerLabel(id, index) {
    return id === "default" ? S.printer_main : t(S.printer_n, { n: index + 1 });
  }
  function kindLabel(kind) { return S.kinds[kind] || S.other_device; }
  function clock(iso) {
    var d = Date.parse(iso);
    return isNaN(d) ? "" : timeFmt.format(new Date(d));
  }

  function renderHall() {
    if (!hall) return;
    var totals = hall.totals || {};
    var boxes = [["issued", S.issued], ["served", S.served], ["no_show", S.no_show],
                 ["cancelled", S.cancelled], ["waiting", S.waiting], ["avg_wait_min", S.avg_wait]];
    var tbox = $("totals");
    tbox.textContent = "";
    boxes.forEach(function (b) {
      tbox.appendChild(el("div", { class: "m-total", "data-total": b[0] }, [
        el("div", { class: "m-total-value", text: number(totals[b[0]]) }),
        el("div", { class: "m-total-label", text: b[1] })]));
    });
    fieldNames = {};
    (hall.fields || []).forEach(function (f) { fieldNames[f.id] = en ? f.name_en : f.name; });
    var grid = $("counters");
    grid.textContent = "";
    (hall.counters || []).forEach(function (c) {
      var lines = [];
      if (c.state === "serving" && c.current) {
        lines.push(el("div", { class: "m-number", text: c.current.number }));
        lines.push(el("div", { class: "m-sub", text: (fieldNames[c.current.service] || c.current.service) + " · " +
          t(S.since, { d: QS.elapsed(c.current.called_at) }) }));
        if (c.serving_staff_name) lines.push(el("div", { class: "m-sub", text: c.serving_staff_name }));
      } else if (c.state === "paused") {
        var reason = en ? (c.pause_reason || "") : (c.pause_label || c.pause_reason || "");
        lines.push(el("div", { class: "m-sub", text: reason + (c.paused_until ? " · " + t(S.until, { t: clock(c.paused_until) }) : "") }));
      }
      var people = (c.staff || []).map(function (s) {
        return el("li", { class: s.logged_in ? "in" : "out", text: s.name + " — " + (s.logged_in ? S.logged_in : S.not_logged_in) });
      });
      if (!people.length) people.push(el("li", { class: "out", text: S.no_staff }));
      grid.appendChild(el("article", { class: "m-counter " + c.state, "data-counter": c.counter, "data-state": c.state }, [
        el("header", {}, [el("span", { class: "m-counter-name", text: QS.counterLabel(c) }),
                          el("span", { class: "m-state", text: S[c.state] })]),
        el("div", { class: "m-counter-body" }, lines),
        el("ul", { class: "m-staff" }, people)]));
    });
    var body = $("fields-table").tBodies[0];
    body.textContent = "";
    (hall.fields || []).forEach(function (f) {
      body.appendChild(el("tr", { "data-field": f.id }, [
        el("td", { text: fieldNames[f.id] }), el("td", { class: "num", text: number(f.waiting) }),
        el("td", { class: "num", text: f.oldest_issued_at ? duration((QS.now() - Date.parse(f.oldest_issued_at)) / 1000) : "—" })]));
    });
    var printers = $("printers");
    printers.textContent = "";
    (hall.printers || []).forEach(function (p, i) {
      printers.appendChild(el("li", { class: p.can_print ? "ok" : "bad", "data-printer": p.printer,
                                      title: t(S.printer_id, { id: p.printer }) }, [
        printerLabel(p.printer, i) + ": " + (en ? p.message_en : p.message) +
        (p.tickets_printed !== undefined ? " · " + t(S.printed, { n: number(p.tickets_printed) }) : "")]));
    });
  }

  function applyHall(picture) {
    if (!picture || (hall && picture.seq < hall.seq)) return;
    hall = picture;
    if (picture.now) QS.syncClock(picture.now);
    if (picture.center && picture.center.timezone) tz = picture.center.timezone;
    timeFmt = QS.formatter(tz, { hour: "2-digit", minute: "2-digit" });
    renderHall();
  }

  function loadDevices() {
    if (!session) return;
    QS.api("GET", "/api/v1/devices", undefined, session.token).then(function (r) {
      var list = $("devices");
      list.textContent = "";
      var devices = (r.data && r.data.devices) || [];
      if (!devices.length) list.appendChild(el("li", { class: "muted", text: S.no_bridge }));
      devices.forEach(function (d) {
        // the bridge's own error text (English, technical) is a tooltip, not the line itself
        var title = t(S.device_id, { id: d.id }) + (d.kind ? " · " + d.kind : "") + (d.error ? " · " + d.error : "");
        list.appendChild(el("li", { class: d.online ? "ok" : "bad", "data-device": d.id, "data-kind": d.kind || "",
                                    title: title }, [
          t(S.device, { kind: kindLabel(d.kind), bus: d.bus, unit: d.unit,
                        // a counter's device says which counter; a given name that is not just the id too
                        name: (d.counter ? " · " + t(S.counter, { n: d.counter }) : "") +
                              (d.name && d.name !== d.id ? " · " + d.name : "") }) + ": " +
          (d.online ? S.online : S.device_offline) +
          (d.rtt_ms !== null && d.rtt_ms !== undefined ? " · " + t(S.ms, { n: number(d.rtt_ms) }) : "") +
          (d.error ? " · " + S.device_error : "")]));
      });
    }, function () {
      var list = $("devices");
      list.textContent = "";
      list.appendChild(el("li", { class: "muted", id: "no-bridge", text: S.no_bridge }));
    });
  }

  function loadReporting() {
    if (!session) return;
    QS.api("GET", "/api/v1/reporting/status", undefined, session.token).then(function (r) {
      var st = r.data || {};
      var list = $("reporting");
      list.textContent = "";
      var refused = (st.refused && st.refused.batches) || 0;
      $("reporting-retry").hidden = !(refused && session.role === "admin");
      if (!st.enabled) {
        list.appendChild(el("li", { class: "muted", text: S.rep_off }));
        return;
      }
      var ack = st.last_ack;
      // "tried again by itself" only while the forwarder is retrying: a refused batch is set
      // aside (below) and waits for the technician, it is not resent by itself
      var retrying = st.consecutive_failures > 0 || !!st.next_attempt_at;
      list.appendChild(el("li", { class: retrying ? "bad" : "ok", "data-rep": "last",
                                  title: st.url || "" },
        [ack ? t(S.rep_last, { t: clock(ack.at) }) : S.rep_never]));
      var b = st.backlog || {};
      list.appendChild(el("li", { class: "muted", "data-rep": "backlog",
                                  text: t(S.rep_backlog, { s: b.slots || 0, b: b.batches || 0, e: b.events || 0 }) }));
      if (retrying) {
        // the transport's own error text (English, technical) is a tooltip, not the line itself
        list.appendChild(el("li", { class: "bad", "data-rep": "error", title: st.last_error ? st.last_error.message : "",
          text: S.rep_error + (st.next_attempt_at ? t(S.rep_next, { t: clock(st.next_attempt_at) }) : "") }));
      }
      if (refused) {
        var n = st.refused.newest || {};
        list.appendChild(el("li", { class: "bad", "data-rep": "refused", title: n.batch_id || "",
          text: t(S.rep_refused, { n: refused, m: (en ? n.message_en : n.message) || n.code || "" }) }));
      }
    }, function () {});
  }
  $("reporting-retry").addEventListener("click", function () {
    api("POST", "/api/v1/reporting/retry-refused", {}).then(function (r) {
      var list = $("reporting");
      list.appendChild(el("li", { class: "muted", "data-rep": "requeued", text: t(S.rep_requeued, { n: r.data.requeued }) }));
      $("reporting-retry").hidden = true;
      window.setTimeout(loadReporting, 3000);
    });
  });

  function connectRoom() {
    if (socket) socket.disconnect();
    socket = QS.connect({});
    socket.on("connect", function () {
      $("live-state").textContent = "● " + S.live;
      socket.emit("manager_join", { token: session.token });
    });
    socket.on("disconnect", function () { $("live-state").textContent = S.offline; });
    socket.on("hall", applyHall);
    socket.on("error", function (e) {
      if (e && (e.code === "bad_token" || e.code === "expired_token" || e.code === "login_required")) logout(en ? e.message_en : e.message);
    });
  }

  // ------------------------------------------------------------------ forecast
  function loadForecast() {
    var q = "?weeks=" + encodeURIComponent($("fc-weeks").value) +
            "&target_min=" + encodeURIComponent($("fc-target").value) +
            "&share=" + encodeURIComponent(String(Number($("fc-share").value) / 100));
    $("forecast-error").hidden = true;
    api("GET", "/api/v1/forecast" + q).then(function (r) {
      var f = r.data;
      var table = $("forecast-table");
      table.textContent = "";
      $("forecast-note").textContent = f.tickets ? t(S.fc_note, { from: f.from, to: f.to, n: number(f.tickets),
        s: number(f.service_min), cv: f.service_cv === null ? "—" : number(f.service_cv) }) : S.fc_none;
      if (!f.weekdays.length) return;
      table.appendChild(el("thead", {}, [el("tr", {}, [el("th", { text: S.hour })].concat(
        f.weekdays.map(function (w) { return el("th", { text: en ? w.name_en : w.name }); })))]));
      var body = el("tbody");
      f.hours.forEach(function (h) {
        var row = [el("th", { text: h + ":00" })];
        f.weekdays.forEach(function (w) {
          var cell = w.hours.filter(function (x) { return x.hour === h; })[0];
          if (!cell) { row.push(el("td", { text: "" })); return; }
          var title = t(S.dedicated, { n: cell.counters_if_dedicated === null ? S.too_many : cell.counters_if_dedicated }) +
            (cell.method === "simulation" ? " · " + S.simulated : "");
          row.push(el("td", { class: "num " + cell.method, title: title, "data-weekday": w.weekday, "data-hour": h }, [
            el("strong", { text: cell.counters === null ? S.too_many : String(cell.counters) }),
            " (" + t(S.per_hour, { n: number(cell.arrivals_per_hour) }) + ")"]));
        });
        body.appendChild(el("tr", {}, row));
      });
      table.appendChild(body);
    }, function (error) {
      $("forecast-error").hidden = false;
      $("forecast-error").textContent = error.message;
    });
  }
  $("forecast-form").addEventListener("submit", function (e) { e.preventDefault(); loadForecast(); });

  // ------------------------------------------------------------------ configuration (admin)
  var cfg = null;
  function message(text, ok) {
    var box = $("config-message");
    box.hidden = false;
    box.className = "message " + (ok ? "ok" : "error");
    box.textContent = text;
  }
  function input(value, attrs) {
    return el("input", Object.assign({ value: value === undefined || value === null ? "" : String(value) }, attrs || {}));
  }
  function removeButton() {
    return el("button", { type: "button", class: "btn small secondary", text: S.remove,
      onclick: function (e) { e.target.closest("tr").remove(); } });
  }
  function fieldRow(f) {
    var row = el("tr", { "data-row": "field" }, [
      el("td", {}, [input(f.id, { "data-k": "id", size: 10, readonly: f.id ? true : null })]),
      el("td", {}, [input(f.name, { "data-k": "name", size: 24 })]),
      el("td", {}, [input(f.name_en, { "data-k": "name_en", size: 20 })]),
      el("td", {}, [input(f.prefix, { "data-k": "prefix", size: 3 })]),
      el("td", {}, [input(f.start, { "data-k": "start", type: "number", min: 0 })]),
      el("td", {}, [removeButton()])]);
    row._original = f;
    return row;
  }
  function counterRow(c) {
    var row = el("tr", { "data-row": "counter" }, [
      el("td", {}, [input(c.number, { "data-k": "number", type: "number", min: 1, max: 999 })]),
      el("td", {}, [input(c.name, { "data-k": "name", size: 16 })]),
      el("td", {}, [input((c.fields || []).join(", "), { "data-k": "fields", size: 28 })]),
      el("td", {}, [input(c.zone, { "data-k": "zone", size: 8 })]),
      el("td", {}, [removeButton()])]);
    row._original = c;
    return row;
  }
  function values(row) {
    var out = {};
    row.querySelectorAll("[data-k]").forEach(function (node) { out[node.getAttribute("data-k")] = node.value; });
    return out;
  }
  function renderConfig() {
    var s = cfg.sections;
    $("config-source").textContent = cfg.from_browser.length ?
      t(S.from_browser, { s: cfg.from_browser.join(", "), f: cfg.file }) : t(S.from_file, { f: cfg.file });
    var fb = $("cfg-fields").tBodies[0];
    fb.textContent = "";
    (s.fields || []).forEach(function (f) { fb.appendChild(fieldRow(f)); });
    var cb = $("cfg-counters").tBodies[0];
    cb.textContent = "";
    (s.counters || []).forEach(function (c) { cb.appendChild(counterRow(c)); });
    // No [hours] at all means open around the clock (docs/configuration.md), which is NOT the
    // same as seven empty days (closed every day): show which one is in effect.
    var limited = hoursConfigured(s.hours);
    $("cfg-hours-limited").checked = limited;
    $("cfg-hours-editor").hidden = !limited;
    $("cfg-hours-state").textContent = limited ? S.hours_set : S.hours_none;
    $("cfg-hours-state").setAttribute("data-hours", limited ? "set" : "none");
    var hb = $("cfg-hours").tBodies[0];
    hb.textContent = "";
    DAYS.forEach(function (d, i) {
      var sessions = (s.hours || {})[d];
      hb.appendChild(el("tr", {}, [el("th", { text: S.weekdays[i] }),
        el("td", {}, [input(sessions ? sessions.join(", ") : "", { "data-day": d, size: 34 })])]));
    });
    var rb = $("cfg-ratings");
    rb.textContent = "";
    var levels = (s.ratings || {}).levels || ["Rất hài lòng", "Hài lòng", "Chưa hài lòng"];
    levels.forEach(function (label, i) {
      rb.appendChild(el("label", { class: "m-inline-label" }, [t(S.level, { n: i + 1 }) + " ",
        input(label, { "data-level": i, size: 28 })]));
    });
    var sb = $("cfg-staff").tBodies[0];
    sb.textContent = "";
    (s.staff || []).forEach(function (a) {
      sb.appendChild(el("tr", { "data-username": a.username }, [
        el("td", { text: a.username }), el("td", { text: a.name || "" }), el("td", { "data-role": a.role, text: S.roles[a.role] || a.role }),
        el("td", { text: a.counter === undefined ? "" : String(a.counter) }),
        el("td", { text: a.disabled ? S.disabled : S.enabled }),
        el("td", {}, [
          el("button", { type: "button", class: "btn small secondary", "data-action": a.disabled ? "enable" : "disable",
            text: a.disabled ? S.enable : S.disable,
            onclick: function () { save("PATCH", "/api/v1/config/staff/" + encodeURIComponent(a.username), { disabled: !a.disabled }); } }),
          el("button", { type: "button", class: "btn small secondary", "data-action": "reset", text: S.reset,
            onclick: function () {
              var pw = window.prompt(t(S.new_password, { u: a.username }));
              if (pw) save("POST", "/api/v1/config/staff/" + encodeURIComponent(a.username) + "/password", { password: pw });
            } })])]));
    });
  }
  function loadConfig() {
    return api("GET", "/api/v1/config").then(function (r) { cfg = r.data; renderConfig(); });
  }
  function save(method, path, body) {
    return api(method, path, body).then(function () {
      message(S.saved, true);
      loadConfig();
      loadAudit();
    }, function (error) { message(error.message, false); });
  }
  function clean(obj) {
    Object.keys(obj).forEach(function (k) { if (obj[k] === "" || obj[k] === undefined) delete obj[k]; });
    return obj;
  }
  $("cfg-fields-add").addEventListener("click", function () {
    $("cfg-fields").tBodies[0].appendChild(fieldRow({ id: "", name: "", prefix: "", start: 1 }));
  });
  $("cfg-fields-save").addEventListener("click", function () {
    var rows = Array.prototype.slice.call($("cfg-fields").tBodies[0].rows);
    var value = rows.map(function (row) {
      var v = values(row);
      var f = Object.assign({}, row._original || {}, clean({ id: v.id.trim(), name: v.name, name_en: v.name_en, prefix: v.prefix }));
      if (!v.name_en) delete f.name_en;
      if (!v.prefix) delete f.prefix;
      if (v.start !== "") f.start = Number(v.start);
      return f;
    });
    save("PUT", "/api/v1/config/fields", { value: value });
  });
  $("cfg-counters-add").addEventListener("click", function () {
    $("cfg-counters").tBodies[0].appendChild(counterRow({ number: "", name: "", fields: [], zone: "" }));
  });
  $("cfg-counters-save").addEventListener("click", function () {
    var rows = Array.prototype.slice.call($("cfg-counters").tBodies[0].rows);
    var value = rows.map(function (row) {
      var v = values(row);
      var c = Object.assign({}, row._original || {});
      c.number = v.number === "" ? v.number : Number(v.number);
      c.name = v.name;
      c.fields = v.fields.split(",").map(function (x) { return x.trim(); }).filter(Boolean);
      if (v.zone) c.zone = v.zone; else delete c.zone;
      if (!c.name) delete c.name;
      return c;
    });
    save("PUT", "/api/v1/config/counters", { value: value });
  });
  function hoursConfigured(hours) { return !!hours && Object.keys(hours).length > 0; }
  $("cfg-hours-limited").addEventListener("change", function () {
    var on = $("cfg-hours-limited").checked;
    $("cfg-hours-editor").hidden = !on;
    var was = hoursConfigured(cfg.sections.hours);
    $("cfg-hours-state").textContent = (on ? S.hours_set : S.hours_none) + (on !== was ? S.hours_unsaved : "");
  });
  $("cfg-hours-save").addEventListener("click", function () {
    var configured = hoursConfigured(cfg.sections.hours);
    if (!$("cfg-hours-limited").checked) {
      // back to "open around the clock": only by dropping the browser's [hours]
      if (!configured) { message(S.hours_nothing, true); return; }
      if (cfg.from_browser.indexOf("hours") >= 0) { save("DELETE", "/api/v1/config/hours"); return; }
      message(t(S.hours_in_file, { f: cfg.file }), false);
      return;
    }
    var value = Object.assign({}, cfg.sections.hours || {});
    var sessions = 0;
    $("cfg-hours").querySelectorAll("[data-day]").forEach(function (node) {
      var parts = node.value.split(",").map(function (x) { return x.replace(/\s+/g, ""); }).filter(Boolean);
      value[node.getAttribute("data-day")] = parts;
      sessions += parts.length;
    });
    if (!sessions) { message(S.hours_all_empty, false); return; }
    save("PUT", "/api/v1/config/hours", { value: value });
  });
  $("cfg-ratings-save").addEventListener("click", function () {
    var value = Object.assign({}, cfg.sections.ratings || {});
    value.levels = Array.prototype.map.call($("cfg-ratings").querySelectorAll("[data-level]"), function (n) { return n.value; });
    save("PUT", "/api/v1/config/ratings", { value: value });
  });
  document.querySelectorAll("[data-revert]").forEach(function (button) {
    button.addEventListener("click", function () { save("DELETE", "/api/v1/config/" + button.getAttribute("data-revert")); });
  });
  $("staff-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var body = { username: $("new-username").value.trim(), role: $("new-role").value, password: $("new-password").value };
    if ($("new-name").value.trim()) body.name = $("new-name").value.trim();
    if ($("new-counter").value) body.counter = Number($("new-counter").value);
    save("POST", "/api/v1/config/staff", body).then(function () { $("new-password").value = ""; });
  });

  // ------------------------------------------------------------------ change log
  function brief(value) {
    if (value === null || value === undefined) return "";
    var text = JSON.stringify(value);
    return text.length > 400 ? text.slice(0, 400) + "…" : text;
  }
  function loadAudit() {
    return api("GET", "/api/v1/config/audit?limit=100").then(function (r) {
      var body = $("audit-table").tBodies[0];
      body.textContent = "";
      r.data.entries.forEach(function (e) {
        body.appendChild(el("tr", { "data-action": e.action, "data-target": e.target }, [
          el("td", { text: e.at.replace("T", " ").slice(0, 19) }), el("td", { text: e.actor }),
          el("td", { title: e.action + " · " + e.target,
                      text: (S.actions[e.action] || e.action) + " · " + (S.sections[e.target] || e.target) }),
          el("td", { class: "m-json", text: brief(e.before) }), el("td", { class: "m-json", text: brief(e.after) })]));
      });
    });
  }

  // ------------------------------------------------------------------ start
  if (en) $("reports-link").setAttribute("href", "/manager/reports?lang=en");  // the report page's language
  Object.keys(S.placeholders).forEach(function (id) { $(id).setAttribute("placeholder", S.placeholders[id]); });
  Array.prototype.forEach.call($("new-role").options, function (o) { o.textContent = S.roles[o.value] || o.value; });
  function start() {
    if (!session) { showLogin(null); return; }
    $("who").textContent = session.username;
    api("GET", "/api/v1/manager/hall").then(function (r) {
      show("work-view");
      applyHall(r.data);
      connectRoom();
      loadDevices();
      loadReporting();
      loadForecast();
      loadAudit();
      var isAdmin = session.role === "admin";
      $("config").hidden = !isAdmin;
      $("nav-config").hidden = !isAdmin;
      if (isAdmin) loadConfig();
    }, function (error) {
      if (error.status === 403) {
        show("refused-view");
        $("refused-text").textContent = error.message;
      } else if (error.status !== 401) {
        showLogin(error.message);
      }
    });
  }
  // durations tick without a new picture
  window.setInterval(renderHall, 1000);
  window.setInterval(loadDevices, 15000);
  window.setInterval(loadReporting, 15000);
  start();
})();
