/* Shared helpers of the hub's pages: language, HTTP API calls, the Socket.IO connection, clock.
 *
 * Plain browser JS, no build step. Everything lives under window.QS; each page script uses it.
 * Vietnamese is the default language; `?lang=en` or the language button switches to English
 * (the choice is kept in localStorage).
 */
(function () {
  "use strict";

  var STRINGS = {
    vi: {
      lang_button: "EN",
      lang_title: "Switch to English",
      offline: "Mất kết nối máy chủ — đang kết nối lại…",
      network_error: "Không kết nối được với máy chủ. Vui lòng kiểm tra mạng và thử lại.",
      unexpected: "Đã có lỗi xảy ra. Vui lòng thử lại.",
      counter_label: "Quầy {n}",
      paused: "Tạm ngưng",
      people_waiting: "{n} người chờ",
      // display
      latest_calls: "Số vừa gọi",
      waiting_title: "Đang chờ",
      no_calls: "Chưa có số nào được gọi",
      now_calling: "Mời công dân có số",
      to_counter: "đến {counter}",
      sound_on: "Bấm để bật âm thanh",
      sound_hint: "Trình duyệt đang chặn phát âm thanh. Bấm vào đây một lần để nghe đọc số.",
      unknown_zone: "Không có khu vực này.",
      // counter
      login_title: "Đăng nhập quầy giao dịch",
      username: "Tên đăng nhập",
      password: "Mật khẩu",
      login: "Đăng nhập",
      logout: "Đăng xuất",
      choose_counter: "Chọn quầy làm việc",
      counter_select_hint: "Quản trị viên và lãnh đạo có thể làm việc tại bất kỳ quầy nào.",
      open_counter: "Mở quầy",
      current_ticket: "Số đang phục vụ",
      no_current: "Chưa gọi số nào",
      since_call: "Thời gian từ lúc gọi",
      served_today: "Đã phục vụ hôm nay",
      waiting_fields: "Đang chờ theo lĩnh vực",
      your_field: "quầy này",
      status_open: "Đang mở",
      status_paused: "Đang tạm ngưng",
      paused_until: "đến {time}",
      btn_next: "Gọi số tiếp theo",
      btn_recall: "Gọi lại",
      btn_no_show: "Vắng mặt",
      btn_transfer: "Chuyển",
      btn_finish: "Hoàn thành",
      btn_pause: "Tạm ngưng",
      btn_resume: "Tiếp tục",
      cancel: "Hủy",
      confirm: "Xác nhận",
      finish_title: "Hoàn thành lượt phục vụ số {number}",
      outcome: "Kết quả",
      outcome_received: "Tiếp nhận hồ sơ",
      outcome_returned: "Trả kết quả",
      outcome_guidance: "Chỉ hướng dẫn",
      outcome_supplement: "Yêu cầu bổ sung hồ sơ",
      dossiers: "Số hồ sơ tiếp nhận",
      transfer_title: "Chuyển số {number}",
      transfer_to_field: "Sang lĩnh vực",
      transfer_to_counter: "Sang quầy",
      choose: "— Chọn —",
      transfer_pick_one: "Hãy chọn một lĩnh vực hoặc một quầy để chuyển đến.",
      pause_title: "Tạm ngưng quầy",
      reason: "Lý do",
      reason_break: "Nghỉ giải lao",
      reason_meeting: "Họp đột xuất",
      reason_helping: "Hỗ trợ đồng nghiệp",
      reason_other: "Khác",
      minutes: "Thời gian dự kiến (phút)",
      note: "Ghi chú (không bắt buộc)",
      msg_called: "Đã gọi số {number}.",
      msg_nobody: "Hiện không có công dân nào đang chờ.",
      msg_recalled: "Đã gọi lại số {number}.",
      msg_no_show: "Đã đánh dấu số {number} vắng mặt.",
      msg_transferred: "Đã chuyển số {number}.",
      msg_finished: "Đã hoàn thành số {number}.",
      msg_paused: "Quầy đã tạm ngưng.",
      msg_resumed: "Quầy đã mở lại.",
      msg_login_again: "Phiên đăng nhập đã hết. Vui lòng đăng nhập lại.",
      shortcuts: "Phím tắt",
      // counter: what this counter can call, no-shows, call by number
      callable_here: "Quầy này có thể gọi",
      reserved_elsewhere: "+{n} số đã chuyển cho quầy khác",
      reserved_here: "{n} số chuyển đến quầy này",
      transferred_here: "chuyển đến",
      no_shows_title: "Vắng mặt hôm nay",
      no_shows_none: "Chưa có số nào vắng mặt.",
      no_show_marked: "{service} · vắng lúc {time} tại {counter}",
      btn_requeue: "Xếp lại hàng chờ",
      btn_call_now: "Gọi ngay",
      btn_call_number: "Gọi số theo yêu cầu",
      call_title: "Gọi một số cụ thể",
      call_number_label: "Số in trên phiếu (ví dụ 1023 hoặc A023)",
      call_hint: "Số đang chờ hoặc số vắng mặt hôm nay thuộc lĩnh vực của quầy này. Số đang phục vụ (nếu có) được kết thúc như khi gọi số tiếp theo.",
      call_type_number: "Hãy nhập số in trên phiếu.",
      msg_requeued: "Đã xếp số {number} trở lại hàng chờ.",
      // rating
      rate_prompt: "Ông/Bà vui lòng đánh giá mức độ hài lòng",
      rate_for_number: "Lượt phục vụ số {number}",
      rate_seconds_left: "Còn {s} giây",
      rate_idle: "Xin mời Ông/Bà đánh giá sau khi được phục vụ",
      rate_idle_sub: "Các nút đánh giá sẽ hiện ra ngay khi cán bộ hoàn thành hồ sơ.",
      rate_thanks: "Cảm ơn Ông/Bà đã đánh giá",
      rate_reason_prompt: "Ông/Bà chưa hài lòng về điều gì? (không bắt buộc)",
      rate_skip: "Bỏ qua",
      rate_no_token: "Màn hình này chưa được cấp quyền ghi nhận đánh giá.",
      rate_no_token_sub: "Cán bộ kỹ thuật mở trang với mã thiết bị (?token=…), hoặc cán bộ quầy đăng nhập bên dưới.",
      rate_staff_bad_token: "Phiên đăng nhập không hợp lệ. Vui lòng đăng nhập lại.",
      rate_bad_token: "Mã thiết bị của màn hình này không đúng hoặc đã bị thu hồi. Cán bộ kỹ thuật mở lại trang với mã mới (?token=…), hoặc cán bộ quầy đăng nhập bên dưới.",
      rate_not_allowed: "Tài khoản hoặc mã thiết bị này không được phép ghi nhận đánh giá tại {counter}.",
      // landing
      land_kiosk: "Lấy số thứ tự",
      land_display: "Màn hình gọi số",
      land_counter: "Quầy giao dịch (cán bộ)",
      land_manager: "Quản lý: sảnh, thống kê, báo cáo",
      land_reports: "Báo cáo thống kê (in, xuất Excel)",
      land_zones: "Màn hình theo khu vực",
      land_rate: "Màn hình đánh giá tại quầy"
    },
    en: {
      lang_button: "VI",
      lang_title: "Chuyển sang tiếng Việt",
      offline: "Connection to the server lost — reconnecting…",
      network_error: "Cannot reach the server. Check the network and try again.",
      unexpected: "Something went wrong. Please try again.",
      counter_label: "Counter {n}",
      paused: "Paused",
      people_waiting: "{n} waiting",
      latest_calls: "Latest calls",
      waiting_title: "Waiting",
      no_calls: "No number called yet",
      now_calling: "Now serving number",
      to_counter: "at {counter}",
      sound_on: "Tap to turn sound on",
      sound_hint: "The browser is blocking sound. Tap here once to hear the calls.",
      unknown_zone: "There is no such zone.",
      login_title: "Counter login",
      username: "Username",
      password: "Password",
      login: "Log in",
      logout: "Log out",
      choose_counter: "Choose a counter",
      counter_select_hint: "Administrators and managers may work at any counter.",
      open_counter: "Open counter",
      current_ticket: "Now serving",
      no_current: "No number called",
      since_call: "Time since call",
      served_today: "Served today",
      waiting_fields: "Waiting by service",
      your_field: "this counter",
      status_open: "Open",
      status_paused: "Paused",
      paused_until: "until {time}",
      btn_next: "Call next",
      btn_recall: "Recall",
      btn_no_show: "No-show",
      btn_transfer: "Transfer",
      btn_finish: "Finish",
      btn_pause: "Pause",
      btn_resume: "Resume",
      cancel: "Cancel",
      confirm: "Confirm",
      finish_title: "Finish number {number}",
      outcome: "Outcome",
      outcome_received: "Dossiers received",
      outcome_returned: "Result returned",
      outcome_guidance: "Guidance only",
      outcome_supplement: "Supplement requested",
      dossiers: "Dossiers received",
      transfer_title: "Transfer number {number}",
      transfer_to_field: "To service",
      transfer_to_counter: "To counter",
      choose: "— Choose —",
      transfer_pick_one: "Choose one service or one counter.",
      pause_title: "Pause the counter",
      reason: "Reason",
      reason_break: "Break",
      reason_meeting: "Urgent meeting",
      reason_helping: "Helping a colleague",
      reason_other: "Other",
      minutes: "Expected minutes",
      note: "Note (optional)",
      msg_called: "Called number {number}.",
      msg_nobody: "Nobody is waiting.",
      msg_recalled: "Recalled number {number}.",
      msg_no_show: "Number {number} marked as no-show.",
      msg_transferred: "Number {number} transferred.",
      msg_finished: "Number {number} finished.",
      msg_paused: "Counter paused.",
      msg_resumed: "Counter open again.",
      msg_login_again: "Your login has expired. Please log in again.",
      shortcuts: "Shortcuts",
      callable_here: "This counter can call",
      reserved_elsewhere: "+{n} transferred to other counters",
      reserved_here: "{n} transferred to this counter",
      transferred_here: "transferred here",
      no_shows_title: "No-shows today",
      no_shows_none: "No no-shows yet.",
      no_show_marked: "{service} · absent at {time} at {counter}",
      btn_requeue: "Re-queue",
      btn_call_now: "Call now",
      btn_call_number: "Call a number",
      call_title: "Call a specific number",
      call_number_label: "Number printed on the ticket (e.g. 1023 or A023)",
      call_hint: "A waiting number, or today's no-show, of this counter's services. The number being served (if any) is finished as with Call next.",
      call_type_number: "Type the number printed on the ticket.",
      msg_requeued: "Number {number} is back in the queue.",
      rate_prompt: "Please rate our service",
      rate_for_number: "Visit number {number}",
      rate_seconds_left: "{s} seconds left",
      rate_idle: "Please rate us after your visit",
      rate_idle_sub: "The rating buttons appear as soon as the officer finishes your visit.",
      rate_thanks: "Thank you for your rating",
      rate_reason_prompt: "What went wrong? (optional)",
      rate_skip: "Skip",
      rate_no_token: "This screen may not record ratings yet.",
      rate_no_token_sub: "A technician opens it with its device token (?token=…), or counter staff log in below.",
      rate_staff_bad_token: "Invalid login; log in again.",
      rate_bad_token: "This screen's device token is wrong or was revoked. A technician opens the page again with a new token (?token=…), or counter staff log in below.",
      rate_not_allowed: "This account or device may not record ratings at {counter}.",
      land_kiosk: "Take a number",
      land_display: "Calling display",
      land_counter: "Counter panel (staff)",
      land_manager: "Manager: hall, statistics, reports",
      land_reports: "Statistical reports (print, Excel export)",
      land_zones: "Displays by zone",
      land_rate: "Counter rating screens"
    }
  };

  var params = new URLSearchParams(window.location.search);
  var stored = null;
  try { stored = window.localStorage.getItem("qs.lang"); } catch (e) { /* private mode */ }
  var lang = params.get("lang") || stored || "vi";
  if (!STRINGS[lang]) lang = "vi";
  document.documentElement.lang = lang;

  function t(key, values) {
    var text = STRINGS[lang][key];
    if (text === undefined) text = STRINGS.vi[key];
    if (text === undefined) return key;
    if (values) {
      text = text.replace(/\{(\w+)\}/g, function (m, name) {
        return values[name] === undefined ? m : String(values[name]);
      });
    }
    return text;
  }

  /** Fills every [data-i18n] element of `root` with its string (textContent only, never HTML). */
  function applyI18n(root) {
    (root || document).querySelectorAll("[data-i18n]").forEach(function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    if (lang === "en") {
      (root || document).querySelectorAll("[data-en]").forEach(function (node) {
        if (node.getAttribute("data-en")) node.textContent = node.getAttribute("data-en");
      });
    }
    (root || document).querySelectorAll("[data-i18n-placeholder]").forEach(function (node) {
      node.setAttribute("placeholder", t(node.getAttribute("data-i18n-placeholder")));
    });
  }

  function setupLangButton() {
    var button = document.getElementById("lang-toggle");
    if (!button) return;
    button.textContent = t("lang_button");
    button.title = t("lang_title");
    button.addEventListener("click", function () {
      var next = lang === "vi" ? "en" : "vi";
      try { window.localStorage.setItem("qs.lang", next); } catch (e) { /* ignore */ }
      var url = new URL(window.location.href);
      url.searchParams.delete("lang");
      window.location.replace(url.toString());
    });
  }

  /** An error the page can show as is: `message` is already in the page's language. */
  function ApiError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }
  ApiError.prototype = Object.create(Error.prototype);

  /**
   * Calls the hub's HTTP API. Resolves to {status, data} for 2xx; rejects with an ApiError whose
   * message is the server's own Vietnamese (or English) reason, or a plain network message.
   *
   * Authentication is a bearer token in the Authorization header, never a cookie: a browser
   * never attaches it on its own to a request another site makes, so these state-changing POSTs
   * are not exposed to CSRF and need no CSRF token.
   */
  function api(method, path, body, token) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers["Authorization"] = "Bearer " + token;
    return window.fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit"
    }).then(function (response) {
      if (response.status === 204) return { status: 204, data: null };
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.ok) return { status: response.status, data: data };
        var err = data && data.error;
        var message = err ? (lang === "en" && err.message_en ? err.message_en : err.message) : null;
        throw new ApiError(response.status, err ? err.code : "http_" + response.status,
                           message || t("unexpected"));
      });
    }, function () {
      throw new ApiError(0, "network", t("network_error"));
    });
  }

  /**
   * Opens the Socket.IO connection with fast reconnection: a display whose network came back
   * is connected again within ~1.5 s and gets the full `state` at once.
   */
  function connect(auth) {
    var socket = window.io({
      auth: auth || {},
      transports: ["websocket", "polling"],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 1500,
      randomizationFactor: 0.2,
      timeout: 5000
    });
    window.__socket = socket; // for tests and for a technician's console
    var banner = document.getElementById("offline");
    if (banner) {
      banner.textContent = t("offline");
      socket.on("connect", function () { banner.hidden = true; });
      socket.on("disconnect", function () { banner.hidden = false; });
      socket.io.on("reconnect_attempt", function () { banner.hidden = false; });
    }
    return socket;
  }

  /** Server time minus local time (ms), from a snapshot's `now`, so timers agree with the hub. */
  var clockOffset = 0;
  function syncClock(serverIso) {
    var server = Date.parse(serverIso);
    if (!isNaN(server)) clockOffset = server - Date.now();
  }
  function now() { return Date.now() + clockOffset; }

  function elapsed(iso) {
    var start = Date.parse(iso);
    if (isNaN(start)) return "";
    var s = Math.max(0, Math.floor((now() - start) / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = (h ? String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
    return h ? h + ":" + mm : mm;
  }

  function formatter(timezone, options) {
    try {
      return new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "vi-VN",
        Object.assign({ timeZone: timezone || "Asia/Ho_Chi_Minh" }, options));
    } catch (e) {
      return new Intl.DateTimeFormat(lang === "en" ? "en-GB" : "vi-VN", options);
    }
  }

  /** Small DOM builder: el("div", {class: "x", text: "y"}, [children]). Text only, never HTML. */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function counterLabel(counter) {
    if (lang === "vi" && counter.name) return counter.name;
    return t("counter_label", { n: counter.counter !== undefined ? counter.counter : counter.number });
  }

  /** Reads the JSON a template put in <script type="application/json" id="…">. */
  function pageData(id) {
    var node = document.getElementById(id || "page-data");
    if (!node) return {};
    try { return JSON.parse(node.textContent); } catch (e) { return {}; }
  }

  window.QS = {
    lang: lang,
    params: params,
    t: t,
    applyI18n: applyI18n,
    setupLangButton: setupLangButton,
    api: api,
    ApiError: ApiError,
    connect: connect,
    syncClock: syncClock,
    now: now,
    elapsed: elapsed,
    formatter: formatter,
    el: el,
    counterLabel: counterLabel,
    pageData: pageData
  };

  // Page scripts sit at the end of <body>, so the markup is there already: translate it now,
  // before the page's own script draws anything.
  function ready() { applyI18n(document); setupLangButton(); }
  if (document.body) ready(); else document.addEventListener("DOMContentLoaded", ready);
})();
