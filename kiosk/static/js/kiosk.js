/* The touchscreen kiosk: choose a field (or the priority path), get a printed number.
 *
 * Identity: opened once as /kiosk?token=<device token>; the token is kept in localStorage and
 * removed from the address bar. Data: GET /api/v1/services (fields, issuing state),
 * GET /api/v1/kiosk/status (may this screen issue, printer health), Socket.IO `queue_changed`
 * (waiting counts) and `device_health` (printer). Issuing: POST /api/v1/kiosk/tickets, which
 * prints before it answers.
 */
(function () {
  "use strict";

  var STRINGS = {
    vi: {
      lang_button: "English",
      prompt: "Xin mời chọn lĩnh vực cần giải quyết",
      prompt_sub: "Chạm vào một ô bên dưới để lấy số thứ tự",
      prompt_paused: "Xin Ông/Bà vui lòng chờ trong giây lát",
      prompt_paused_sub: "Máy in phiếu đang gặp sự cố nên tạm ngừng cấp số. Cán bộ hướng dẫn sẽ hỗ trợ Ông/Bà.",
      waiting_none: "Hiện không có người chờ",
      waiting_n: "Đang chờ: {n} người",
      closed: "Tạm ngừng cấp số",
      closed_hours: "Ngoài giờ làm việc",
      stopped: "Đã ngừng cấp số",
      sold_out: "Đã hết số hôm nay",
      priority: "Ưu tiên",
      priority_title: "Chọn đối tượng ưu tiên",
      priority_sub: "Cán bộ có thể đề nghị xuất trình giấy tờ khi gọi đến số ưu tiên.",
      priority_mode: "Đang lấy số ưu tiên",
      priority_cancel: "Hủy ưu tiên",
      priority_badge: "Ưu tiên",
      back: "Quay lại",
      printing: "Đang in phiếu, xin vui lòng chờ…",
      result_title: "Số thứ tự của Ông/Bà",
      ahead_label: "Số người đang chờ trước",
      wait_label: "Thời gian chờ dự kiến",
      people: "{n} người",
      wait_minutes: "khoảng {m} phút",
      wait_under_minute: "dưới 1 phút",
      wait_unknown: "chưa ước tính được (chưa có quầy nào đang làm việc)",
      take_ticket: "Xin mời nhận phiếu ở khe máy in và chú ý màn hình gọi số.",
      done: "Xong",
      auto_back: "Tự động quay lại sau {s} giây",
      error_title: "Chưa lấy được số",
      printer_fault: "Tạm ngừng cấp số",
      closed_title: "Ngoài giờ làm việc",
      closed_text: "Hiện không cấp số thứ tự. Xin mời Ông/Bà quay lại trong giờ làm việc.",
      sold_out_title: "Đã hết số hôm nay",
      sold_out_text: "Các lĩnh vực đã cấp hết số thứ tự của ngày hôm nay. Xin mời quay lại vào ngày làm việc tiếp theo.",
      no_token_title: "Màn hình chưa được cấp quyền cấp số",
      no_token_text: "Vui lòng báo cán bộ hướng dẫn. Cán bộ kỹ thuật mở trang này một lần với mã thiết bị (/kiosk?token=…).",
      bad_token_title: "Mã thiết bị không hợp lệ",
      bad_token_text: "Mã thiết bị của màn hình này không đúng hoặc đã bị thu hồi. Vui lòng báo cán bộ kỹ thuật mở lại trang với mã mới (/kiosk?token=…).",
      loading_title: "Đang kết nối với hệ thống…",
      loading_text: "Xin vui lòng chờ trong giây lát.",
      offline: "Mất kết nối với máy chủ, đang kết nối lại…"
    },
    en: {
      lang_button: "Tiếng Việt",
      prompt: "Please choose the service you need",
      prompt_sub: "Tap a box below to take a number",
      prompt_paused: "Please wait a moment",
      prompt_paused_sub: "The ticket printer has a problem, so numbers are paused. A staff member will help you.",
      waiting_none: "Nobody waiting",
      waiting_n: "Waiting: {n}",
      closed: "Not issuing now",
      closed_hours: "Outside working hours",
      stopped: "Issuing has stopped",
      sold_out: "No more numbers today",
      priority: "Priority",
      priority_title: "Who is the priority number for?",
      priority_sub: "Staff may ask for a supporting document when a priority number is called.",
      priority_mode: "Taking a priority number",
      priority_cancel: "Cancel priority",
      priority_badge: "Priority",
      back: "Back",
      printing: "Printing your ticket, please wait…",
      result_title: "Your number",
      ahead_label: "People ahead of you",
      wait_label: "Estimated wait",
      people: "{n}",
      wait_minutes: "about {m} min",
      wait_under_minute: "under 1 min",
      wait_unknown: "no estimate yet (no counter is serving)",
      take_ticket: "Please take your ticket from the printer and watch the display.",
      done: "Done",
      auto_back: "Returning in {s} s",
      error_title: "No number was issued",
      printer_fault: "Numbers are paused",
      closed_title: "Outside working hours",
      closed_text: "Numbers are not being issued now. Please come back during working hours.",
      sold_out_title: "No more numbers today",
      sold_out_text: "All services have issued their numbers for today. Please come back on the next working day.",
      no_token_title: "This screen may not issue numbers yet",
      no_token_text: "Please ask a staff member. A technician opens this page once with the device token (/kiosk?token=…).",
      bad_token_title: "Invalid device token",
      bad_token_text: "This screen's device token is wrong or was revoked. Please ask a technician to open the page again with a new token (/kiosk?token=…).",
      loading_title: "Connecting…",
      loading_text: "Please wait a moment.",
      offline: "Connection to the server lost — reconnecting…"
    }
  };

  var ICONS = {
    family: "M16 11c1.66 0 3-1.34 3-3s-1.34-3-3-3-3 1.34-3 3 1.34 3 3 3zm-8 0c1.66 0 3-1.34 3-3S9.66 5 8 5 5 6.34 5 8s1.34 3 3 3zm0 2c-2.33 0-7 1.17-7 3.5V19h14v-2.5c0-2.33-4.67-3.5-7-3.5zm8 0c-.29 0-.62.02-.97.05 1.16.84 1.97 1.97 1.97 3.45V19h6v-2.5c0-2.33-4.67-3.5-7-3.5z",
    certify: "M14 2H6c-1.1 0-2 .9-2 2v16c0 1.1.9 2 2 2h12c1.1 0 2-.9 2-2V8l-6-6zm-3.06 16L7.4 14.46l1.41-1.41 2.12 2.12 4.24-4.24 1.41 1.41L10.94 18zM13 9V3.5L18.5 9H13z",
    land: "M10 20v-6h4v6h5v-8h3L12 3 2 12h3v8z",
    business: "M20 6h-4V4c0-1.11-.89-2-2-2h-4c-1.11 0-2 .89-2 2v2H4c-1.11 0-2 .89-2 2v11c0 1.11.89 2 2 2h16c1.11 0 2-.89 2-2V8c0-1.11-.89-2-2-2zm-6 0h-4V4h4v2z",
    justice: "M1 21h12v2H1zM5.25 8.07l2.83-2.83 14.14 14.14-2.83 2.83zM12.32 1l5.66 5.66-2.83 2.83-5.66-5.66zM3.83 9.49l5.66 5.66-2.83 2.83L1 12.32z",
    social: "M12 21.35l-1.45-1.32C5.4 15.36 2 12.28 2 8.5 2 5.42 4.42 3 7.5 3c1.74 0 3.41.81 4.5 2.09C13.09 3.81 14.76 3 16.5 3 19.58 3 22 5.42 22 8.5c0 3.78-3.4 6.86-8.55 11.54L12 21.35z",
    doc: "M14 2H6c-1.1 0-2 .9-2 2v16c0 1.1.89 2 2 2h12c1.1 0 2-.9 2-2V8l-6-6zm2 16H8v-2h8v2zm0-4H8v-2h8v2zm-3-5V3.5L18.5 9H13z"
  };
  var ICON_RULES = [
    [/ho-?tich|hộ tịch|ho tich/i, "family"],
    [/chung-?thuc|chứng thực/i, "certify"],
    [/dat-?dai|đất đai|nha-?dat|xay-?dung/i, "land"],
    [/kinh-?doanh|doanh nghiệp|dau-?tu/i, "business"],
    [/tu-?phap|tư pháp/i, "justice"],
    [/bao-?tro|xa-?hoi|xã hội|lao-?dong/i, "social"]
  ];
  var TOKEN_KEY = "quayso.kiosk.token";
  var IDLE_SECONDS = 45;  // a half-finished choice returns to the start screen

  var body = document.body;
  var defaultLang = body.getAttribute("data-language") === "en" ? "en" : "vi";
  var i18n = KQ.createI18n(STRINGS, defaultLang);
  var returnSeconds = parseInt(body.getAttribute("data-return-seconds"), 10) || 8;
  var publicIssuing = body.getAttribute("data-public-issuing") === "true";
  var centerName = { vi: body.getAttribute("data-center-name"), en: body.getAttribute("data-center-name-en") };

  var $ = function (id) { return document.getElementById(id); };
  var el = {
    center: $("center-name"), lang: $("lang-toggle"), prompt: $("fields-title"), promptSub: $("fields-sub"),
    fields: $("screen-fields"), priority: $("screen-priority"), notice: $("screen-notice"),
    grid: $("field-grid"), groupGrid: $("group-grid"),
    priorityOpen: $("priority-open"), priorityGroupsLine: $("priority-groups-line"),
    priorityBack: $("priority-back"), priorityBanner: $("priority-banner"),
    priorityBannerGroup: $("priority-banner-group"), priorityCancel: $("priority-cancel"),
    printerBanner: $("printer-banner"), printerBannerText: $("printer-banner-text"),
    noticeTitle: $("notice-title"), noticeText: $("notice-text"),
    busy: $("overlay-busy"), result: $("overlay-result"), error: $("overlay-error"),
    resultNumber: $("result-number"), resultService: $("result-service"),
    resultPriority: $("result-priority"), resultAhead: $("result-ahead"), resultWait: $("result-wait"),
    resultWarning: $("result-warning"), resultDone: $("result-done"), resultCountdown: $("result-countdown"),
    errorText: $("error-text"), errorBack: $("error-back"), errorCountdown: $("error-countdown"),
    offline: $("offline-banner")
  };

  var state = {
    token: null,
    services: [],
    groups: [],
    authorized: null,      // null = not known yet
    authProblem: null,     // set when the hub refused the stored token
    printer: null,
    priorityGroup: null,   // {id, name} while on the priority path
    screen: "fields",
    busy: false,
    loaded: false,
    lastResult: null,
    lastError: null
  };
  var timers = { countdown: null, idle: null, busyDelay: null, printerPoll: null };

  // ------------------------------------------------------------------ token
  (function takeToken() {
    var params = new URLSearchParams(window.location.search);
    var fromUrl = params.get("token");
    try {
      if (fromUrl) { window.localStorage.setItem(TOKEN_KEY, fromUrl); }
      state.token = window.localStorage.getItem(TOKEN_KEY);
    } catch (e) {
      state.token = fromUrl;  // storage disabled: this page view still works
    }
    if (fromUrl) {
      params.delete("token");
      var query = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    }
  })();

  function call(method, path, bodyValue) {
    return KQ.api(method, path, { token: state.token, body: bodyValue, lang: i18n.lang });
  }

  // ------------------------------------------------------------------ data
  function loadServices() {
    return call("GET", "/api/v1/services").then(function (r) {
      if (r.ok && r.data && Array.isArray(r.data.services)) {
        state.services = r.data.services;
        state.groups = Array.isArray(r.data.priority_groups) ? r.data.priority_groups : [];
        state.loaded = true;
      }
      return r;
    });
  }

  function loadStatus() {
    return call("GET", "/api/v1/kiosk/status").then(function (r) {
      if (r.ok && r.data) {
        state.authorized = !!r.data.authorized;
        state.authProblem = null;
        state.printerId = r.data.printer && r.data.printer.printer;  // this screen's own printer
        setPrinter(r.data.printer);
      } else if (r.status === 401 && publicIssuing && state.token) {
        state.token = null;  // a refused token is not needed where anyone may issue
        return loadStatus();
      } else if (r.status === 401 || r.status === 403) {
        state.authorized = false;
        state.authProblem = r.message;
      }
      return r;
    });
  }

  function refresh() {
    return Promise.all([loadServices(), loadStatus()]).then(render);
  }

  function setPrinter(health) {
    if (!health || typeof health !== "object") { return; }
    // A health read before the one shown (a slow GET overtaken by a pushed change) must not
    // bring an old state back: a page would offer tiles while the printer is out of paper.
    var shown = state.printer && Date.parse(state.printer.checked_at);
    if (shown && Date.parse(health.checked_at) < shown) { return; }
    state.printer = health;
    schedulePrinterPoll();
  }

  function schedulePrinterPoll() {
    // While the printer is known to be at fault, ask again every 10 s (the hub checks the
    // printer itself, without waiting behind a print), so the screen recovers by itself.
    var faulty = state.printer && state.printer.can_print === false;
    if (faulty && !timers.printerPoll) {
      timers.printerPoll = setInterval(function () {
        call("GET", "/api/v1/printer?refresh=1").then(function (r) {
          if (r.ok && r.data) { setPrinter(r.data); render(); }
        });
      }, 10000);
    } else if (!faulty && timers.printerPoll) {
      clearInterval(timers.printerPoll);
      timers.printerPoll = null;
    }
  }

  // ---------------------------------------------------------------- render
  function iconFor(service) {
    var text = service.id + " " + service.name;
    for (var i = 0; i < ICON_RULES.length; i++) {
      if (ICON_RULES[i][0].test(text)) { return ICONS[ICON_RULES[i][1]]; }
    }
    return ICONS.doc;
  }

  function svg(path, cls) {
    var ns = "http://www.w3.org/2000/svg";
    var node = document.createElementNS(ns, "svg");
    node.setAttribute("viewBox", "0 0 24 24");
    node.setAttribute("aria-hidden", "true");
    node.setAttribute("class", cls);
    var p = document.createElementNS(ns, "path");
    p.setAttribute("d", path);
    node.appendChild(p);
    return node;
  }

  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    if (text !== undefined) { s.textContent = text; }
    return s;
  }

  function serviceName(service) {
    return i18n.lang === "en" ? (service.name_en || service.name) : service.name;
  }

  function groupName(group) {
    return i18n.lang === "en" ? (group.name_en || group.name) : group.name;
  }

  function closedLabel(service) {
    if (service.closed_reason === "sold_out") { return i18n.t("sold_out"); }
    if (service.closed_reason === "after_cutoff") { return i18n.t("stopped"); }
    if (service.closed_reason) { return i18n.t("closed_hours"); }
    return i18n.t("closed");
  }

  function waitingLabel(n) {
    return n > 0 ? i18n.t("waiting_n", { n: n }) : i18n.t("waiting_none");
  }

  function fitGrid(grid, count, aspect) {
    // Columns that make each tile as large as possible at about `aspect` (width / height).
    var w = grid.clientWidth || window.innerWidth;
    var h = grid.clientHeight || window.innerHeight / 2;
    var best = 1, bestSize = -1;
    for (var cols = 1; cols <= Math.min(count, 6); cols++) {
      var rows = Math.ceil(count / cols);
      var cw = w / cols, ch = h / rows;
      var size = Math.min(cw / aspect, ch);
      if (size > bestSize + 1) { best = cols; bestSize = size; }
    }
    var rowsUsed = Math.ceil(count / best);
    grid.style.setProperty("--cols", String(best));
    grid.style.setProperty("--rows", String(rowsUsed));
    grid.classList.toggle("tiles-tall", (w / best) / (h / rowsUsed) < 1.5);
  }

  // Tiles are built once per list of fields and then only updated, so a push that arrives while
  // a finger is on a tile never replaces the element under it (the tap would be lost).
  var fieldTiles = { key: "", byId: {} };

  function buildFields() {
    var grid = el.grid;
    grid.textContent = "";
    fieldTiles = { key: state.services.map(function (s) { return s.id; }).join("|"), byId: {} };
    state.services.forEach(function (service) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "k-field";
      button.setAttribute("role", "listitem");
      button.setAttribute("data-service", service.id);
      var iconBox = span("k-field-icon");
      iconBox.appendChild(svg(iconFor(service), "k-icon"));
      var text = span("k-field-body");
      var name = span("k-field-name");
      var meta = span("k-field-meta");
      text.appendChild(name);
      text.appendChild(meta);
      button.appendChild(iconBox);
      button.appendChild(text);
      button.addEventListener("click", function () {
        var current = state.services.filter(function (s) { return s.id === service.id; })[0];
        if (current) { issue(current); }
      });
      grid.appendChild(button);
      fieldTiles.byId[service.id] = { button: button, name: name, meta: meta };
    });
  }

  function renderFields() {
    var key = state.services.map(function (s) { return s.id; }).join("|");
    if (key !== fieldTiles.key) { buildFields(); }
    var printerDown = state.printer && state.printer.can_print === false;
    state.services.forEach(function (service) {
      var tile = fieldTiles.byId[service.id];
      var open = service.issuing !== false;
      tile.name.textContent = serviceName(service);
      tile.meta.textContent = open ? waitingLabel(service.waiting || 0) : closedLabel(service);
      tile.button.classList.toggle("is-closed", !open);
      tile.button.classList.toggle("is-blocked", open && !!printerDown);
      tile.button.disabled = !open || !!printerDown;
      tile.button.title = !open && service.closed_message && i18n.lang === "vi" ? service.closed_message : "";
    });
    fitGrid(el.grid, Math.max(1, state.services.length), 1.4);
  }

  var groupKey = "";

  function renderGroups() {
    var grid = el.groupGrid;
    var key = i18n.lang + ":" + state.groups.map(function (g) { return g.id + "=" + g.name; }).join("|");
    if (key === groupKey) {
      fitGrid(grid, Math.max(1, state.groups.length), 3.2);
      return;
    }
    groupKey = key;
    grid.textContent = "";
    state.groups.forEach(function (group) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "k-group";
      button.setAttribute("role", "listitem");
      button.setAttribute("data-group", group.id);
      button.appendChild(span("k-group-name", groupName(group)));
      button.addEventListener("click", function () {
        state.priorityGroup = group;
        show("fields");
      });
      grid.appendChild(button);
    });
    fitGrid(grid, Math.max(1, state.groups.length), 3.2);
  }

  function setText(node, key) {
    node.setAttribute("data-i18n", key);  // a language switch re-applies the same key
    node.textContent = i18n.t(key);
  }

  function notice(title, text) {
    el.noticeTitle.textContent = title;
    el.noticeText.textContent = text;
    return "notice";
  }

  function wholeKioskNotice() {
    // Something that stops every field: not connected yet, no permission, closed, sold out.
    if (!state.loaded || state.authorized === null) {
      return notice(i18n.t("loading_title"), i18n.t("loading_text"));
    }
    if (!state.authorized && !publicIssuing) {
      if (state.authProblem) { return notice(i18n.t("bad_token_title"), i18n.t("bad_token_text")); }
      return notice(i18n.t("no_token_title"), i18n.t("no_token_text"));
    }
    var open = state.services.filter(function (s) { return s.issuing !== false; });
    if (state.services.length && !open.length) {
      var soldOut = state.services.every(function (s) { return s.closed_reason === "sold_out"; });
      var message = state.services[0].closed_message;
      if (soldOut) {
        return notice(i18n.t("sold_out_title"), i18n.t("sold_out_text"));
      }
      var title = state.services[0].closed_reason === "after_cutoff" ? i18n.t("stopped") : i18n.t("closed_title");
      return notice(title, i18n.lang === "vi" && message ? message : i18n.t("closed_text"));
    }
    return null;
  }

  function render() {
    el.center.textContent = centerName[i18n.lang] || centerName.vi;
    el.lang.textContent = i18n.t("lang_button");
    var blocked = wholeKioskNotice();
    el.notice.hidden = blocked !== "notice";
    el.fields.hidden = !!blocked || state.screen !== "fields";
    el.priority.hidden = !!blocked || state.screen !== "priority";
    if (blocked) { return; }

    var printerDown = state.printer && state.printer.can_print === false;
    // Every tile is disabled while the printer cannot print: the headline must not ask for a tap.
    setText(el.prompt, printerDown ? "prompt_paused" : "prompt");
    setText(el.promptSub, printerDown ? "prompt_paused_sub" : "prompt_sub");
    el.printerBanner.hidden = !printerDown;
    if (printerDown) {
      el.printerBannerText.textContent = i18n.t("printer_fault") + " — " +
        (i18n.lang === "en" ? state.printer.message_en : state.printer.message);
    }
    var hasPriority = state.groups.length > 0;
    el.priorityOpen.hidden = !hasPriority || !!state.priorityGroup;
    el.priorityOpen.disabled = printerDown;
    el.priorityGroupsLine.textContent = state.groups.map(groupName).join(" · ");
    el.priorityBanner.hidden = !state.priorityGroup;
    if (state.priorityGroup) { el.priorityBannerGroup.textContent = groupName(state.priorityGroup); }
    body.classList.toggle("is-priority", !!state.priorityGroup);

    if (state.screen === "fields") { renderFields(); } else { renderGroups(); }
  }

  function show(screen) {
    state.screen = screen;
    render();
    armIdle();
  }

  function armIdle() {
    clearTimeout(timers.idle);
    if (state.screen !== "fields" || state.priorityGroup || i18n.lang !== defaultLang) {
      timers.idle = setTimeout(reset, IDLE_SECONDS * 1000);
    }
  }

  function reset() {
    state.priorityGroup = null;
    state.screen = "fields";
    hideOverlays();
    if (i18n.lang !== defaultLang) { i18n.set(defaultLang); } else { render(); }
  }

  // ---------------------------------------------------------------- issuing
  function hideOverlays() {
    clearInterval(timers.countdown);
    clearTimeout(timers.busyDelay);
    el.busy.hidden = true;
    el.result.hidden = true;
    el.error.hidden = true;
    state.busy = false;
  }

  function countdown(target, done) {
    var left = returnSeconds;
    clearInterval(timers.countdown);
    target.textContent = i18n.t("auto_back", { s: left });
    timers.countdown = setInterval(function () {
      left -= 1;
      if (left <= 0) { done(); return; }
      target.textContent = i18n.t("auto_back", { s: left });
    }, 1000);
  }

  function issue(service) {
    if (state.busy) { return; }
    state.busy = true;
    clearTimeout(timers.idle);
    timers.busyDelay = setTimeout(function () { el.busy.hidden = false; }, 120);
    var payload = { service: service.id };
    if (state.priorityGroup) {
      payload.priority = true;
      payload.priority_group = state.priorityGroup.id;
    }
    call("POST", "/api/v1/kiosk/tickets", payload).then(function (r) {
      clearTimeout(timers.busyDelay);
      el.busy.hidden = true;
      if (r.ok && r.data && r.data.number) {
        showResult(r.data, service);
      } else {
        showError(r);
      }
      loadServices().then(render);
    });
  }

  function showResult(ticket, service) {
    state.lastResult = { ticket: ticket, service: service };
    state.lastError = null;
    paintResult();
    el.result.hidden = false;
    el.resultDone.focus();
    countdown(el.resultCountdown, reset);
  }

  function paintResult() {
    var ticket = state.lastResult.ticket;
    el.resultNumber.textContent = ticket.number;
    el.resultService.textContent = i18n.lang === "en" ? serviceName(state.lastResult.service)
      : (ticket.service_name || state.lastResult.service.name);
    el.resultPriority.hidden = !ticket.priority;
    el.resultAhead.textContent = i18n.t("people", { n: ticket.waiting_ahead || 0 });
    el.resultWait.textContent = KQ.waitText(ticket.est_wait_min, i18n);
    // Paper near its end: the citizen has the ticket; staff learn it from device health.
    el.resultWarning.hidden = true;
  }

  function showError(result) {
    state.lastResult = null;
    state.lastError = result;
    el.errorText.textContent = result.message;
    el.error.hidden = false;
    el.errorBack.focus();
    if (result.status === 401 || result.status === 403) { loadStatus(); }
    if (result.code && String(result.code).indexOf("printer_") === 0) {
      call("GET", "/api/v1/printer").then(function (r) { if (r.ok) { setPrinter(r.data); render(); } });
    }
    countdown(el.errorCountdown, reset);
  }

  // ---------------------------------------------------------------- events
  el.resultDone.addEventListener("click", reset);
  el.errorBack.addEventListener("click", reset);
  el.priorityOpen.addEventListener("click", function () { show("priority"); });
  el.priorityBack.addEventListener("click", function () { state.priorityGroup = null; show("fields"); });
  el.priorityCancel.addEventListener("click", function () { state.priorityGroup = null; show("fields"); });
  el.lang.addEventListener("click", function () {
    i18n.set(i18n.lang === "vi" ? "en" : "vi");
    armIdle();
  });
  i18n.onChange(function () {
    render();
    if (state.lastResult && !el.result.hidden) { paintResult(); }
  });
  window.addEventListener("resize", function () { render(); });
  // A long press must not open a context menu or select text on a touchscreen.
  document.addEventListener("contextmenu", function (e) { e.preventDefault(); });

  var socket = KQ.connect();
  if (socket) {
    socket.on("connect", function () {
      el.offline.hidden = true;
      refresh();
    });
    socket.on("disconnect", function () { el.offline.hidden = false; });
    // A new day, or a configuration changed on /manager (renamed fields, new hours): the hub
    // pushes a full `state` to every screen; the kiosk reads its services again.
    socket.on("state", function () { if (!state.busy) { refresh(); } });
    socket.on("queue_changed", function (payload) {
      if (!payload || !payload.waiting) { return; }
      var changed = false;
      state.services.forEach(function (s) {
        if (payload.waiting[s.id] !== undefined && payload.waiting[s.id] !== s.waiting) {
          s.waiting = payload.waiting[s.id];
          changed = true;
        }
      });
      if (changed && state.screen === "fields" && !state.busy) { render(); }
    });
    socket.on("device_health", function (payload) {
      // Every printer's health is pushed; a screen follows only its own (several kiosks).
      if (payload && payload.device === "printer" &&
          (!payload.printer || !state.printerId || payload.printer === state.printerId)) {
        setPrinter(payload); render();
      }
    });
  }

  i18n.apply();
  KQ.startClock($("clock-time"), $("clock-date"), i18n);
  refresh();
  // Hours open and close, caps run out: a slow safety refresh besides the pushed events.
  setInterval(function () { if (!state.busy) { refresh(); } }, 60000);
})();
