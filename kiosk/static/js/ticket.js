/* The phone page behind the ticket's QR code: /t/<ticket id>.
 *
 * Shows the number, people ahead and the estimated wait; live: joins the ticket's own Socket.IO
 * room (`join` {ticket}) for `ticket_changed`, and refetches GET /api/v1/tickets/<id> on
 * `queue_changed`. When called: "Mời đến quầy N". After service: the rating buttons
 * (POST /api/v1/ratings), once. No personal data is shown or stored.
 */
(function () {
  "use strict";

  var STRINGS = {
    vi: {
      lang_button: "EN",
      your_number: "Số thứ tự của Ông/Bà",
      priority: "Ưu tiên",
      loading: "Đang tải thông tin…",
      waiting_title: "Đang chờ đến lượt",
      waiting_text: "Vui lòng chờ gọi số. Ông/Bà nên có mặt tại Trung tâm khi còn ít người chờ trước.",
      next_title: "Sắp đến lượt của Ông/Bà",
      next_text: "Không còn ai chờ trước Ông/Bà. Vui lòng chú ý màn hình gọi số.",
      called_title: "Mời đến quầy {n}",
      called_text: "Số {number} đang được mời. Vui lòng đến ngay quầy {n}.",
      done_title: "Đã phục vụ xong",
      done_text: "Cảm ơn Ông/Bà đã đến làm thủ tục.",
      no_show_title: "Ông/Bà đã vắng mặt khi được gọi",
      no_show_text: "Vui lòng liên hệ cán bộ tại quầy để được gọi lại.",
      cancelled_title: "Số thứ tự này đã bị hủy",
      cancelled_text: "Nếu Ông/Bà vẫn cần làm thủ tục, vui lòng lấy số mới tại máy cấp số.",
      day_end_title: "Ngày làm việc đã kết thúc",
      day_end_text: "Số thứ tự này chỉ có giá trị trong ngày cấp. Vui lòng lấy số mới khi Trung tâm làm việc.",
      ahead_label: "Số người đang chờ trước Ông/Bà",
      wait_label: "Thời gian chờ dự kiến",
      wait_minutes: "khoảng {m} phút",
      wait_under_minute: "dưới 1 phút",
      wait_unknown: "chưa ước tính được (chưa có quầy nào đang làm việc)",
      rating_prompt: "Ông/Bà đánh giá thế nào về lượt phục vụ này?",
      reason_prompt: "Ông/Bà chưa hài lòng về điều gì? (không bắt buộc)",
      reason_skip: "Gửi đánh giá, không chọn lý do",
      rated: "Đã đánh giá. Cảm ơn Ông/Bà đã góp ý!",
      sending: "Đang gửi…",
      live_note: "Trang này tự cập nhật. Vui lòng chú ý màn hình và loa gọi số.",
      offline: "Mất kết nối, đang kết nối lại…"
    },
    en: {
      lang_button: "VI",
      your_number: "Your number",
      priority: "Priority",
      loading: "Loading…",
      waiting_title: "Waiting for your turn",
      waiting_text: "Please wait to be called. Be at the center when few people are left ahead of you.",
      next_title: "You are next",
      next_text: "Nobody is ahead of you. Please watch the display.",
      called_title: "Please go to counter {n}",
      called_text: "Number {number} is being called. Please go to counter {n} now.",
      done_title: "Served",
      done_text: "Thank you for your visit.",
      no_show_title: "You were not present when called",
      no_show_text: "Please ask the staff at the counter to call you again.",
      cancelled_title: "This number has been cancelled",
      cancelled_text: "If you still need the service, please take a new number at the kiosk.",
      day_end_title: "The working day has ended",
      day_end_text: "A number is valid on its day only. Please take a new number when the center is open.",
      ahead_label: "People ahead of you",
      wait_label: "Estimated wait",
      wait_minutes: "about {m} min",
      wait_under_minute: "under 1 min",
      wait_unknown: "no estimate yet (no counter is serving)",
      rating_prompt: "How satisfied are you with this visit?",
      reason_prompt: "What was not satisfactory? (optional)",
      reason_skip: "Send without a reason",
      rated: "Rated. Thank you for your feedback!",
      sending: "Sending…",
      live_note: "This page updates by itself. Please watch the display and listen for your number.",
      offline: "Connection lost — reconnecting…"
    }
  };
  var LANG_KEY = "quayso.lang";

  var body = document.body;
  var ticketId = body.getAttribute("data-ticket-id");
  function parseJson(text, fallback) {
    try { return JSON.parse(text); } catch (e) { return fallback; }
  }
  var levels = parseJson(body.getAttribute("data-levels"), []);
  var levelsEn = parseJson(body.getAttribute("data-levels-en"), []);
  var reasons = parseJson(body.getAttribute("data-reasons"), []);
  var centerName = { vi: body.getAttribute("data-center-name"), en: body.getAttribute("data-center-name-en") };
  var savedLang = null;
  try { savedLang = window.localStorage.getItem(LANG_KEY); } catch (e) { savedLang = null; }
  var i18n = KQ.createI18n(STRINGS, savedLang || "vi");

  var $ = function (id) { return document.getElementById(id); };
  var el = {
    center: $("center-name"), lang: $("lang-toggle"),
    number: $("ticket-number"), service: $("ticket-service"), priority: $("ticket-priority"),
    status: $("status"), title: $("status-title"), text: $("status-text"),
    facts: $("facts"), ahead: $("fact-ahead"), wait: $("fact-wait"),
    rating: $("rating"), levels: $("rating-levels"), reasons: $("rating-reasons"),
    reasonList: $("reason-list"), reasonSkip: $("reason-skip"), ratingMessage: $("rating-message"),
    note: $("live-note"), offline: $("offline-banner")
  };

  var ticket = null;
  var sending = false;
  var pendingLevel = null;
  var ratingError = "";
  var refetchTimer = null;
  var namesEn = {};  // service id -> English name, from GET /api/v1/services (a ticket may be transferred)

  function loadServiceNames() {
    return KQ.api("GET", "/api/v1/services", { lang: i18n.lang }).then(function (r) {
      if (r.ok && r.data && Array.isArray(r.data.services)) {
        r.data.services.forEach(function (s) { if (s.name_en) { namesEn[s.id] = s.name_en; } });
        render();
      }
    });
  }

  function serviceName(t) {
    if (i18n.lang === "en" && namesEn[t.service]) { return namesEn[t.service]; }
    return t.service_name || t.service;
  }

  function load() {
    return KQ.api("GET", "/api/v1/tickets/" + encodeURIComponent(ticketId), { lang: i18n.lang })
      .then(function (r) {
        if (r.ok && r.data && r.data.id) {
          var wasCalled = ticket && ticket.status === "called";
          ticket = r.data;
          var mayVibrate = navigator.vibrate && (!navigator.userActivation || navigator.userActivation.hasBeenActive);
          if (ticket.status === "called" && !wasCalled && mayVibrate) {
            try { navigator.vibrate([300, 150, 300]); } catch (e) { /* not allowed: fine */ }
          }
          render();
        }
      });
  }

  function soon() {
    // Many queue changes come in bursts (a call is also a queue change): refetch once.
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(load, 300);
  }

  function setStatus(kind, title, text) {
    el.status.className = "p-card p-status is-" + kind;
    el.title.textContent = title;
    el.text.textContent = text || "";
    el.text.hidden = !text;
  }

  function render() {
    el.center.textContent = centerName[i18n.lang] || centerName.vi;
    el.lang.textContent = i18n.t("lang_button");
    if (!ticket) { return; }
    el.number.textContent = ticket.number;
    el.service.textContent = serviceName(ticket);
    el.priority.hidden = !ticket.priority;
    el.facts.hidden = true;
    el.rating.hidden = true;
    el.note.hidden = !(ticket.status === "waiting" || ticket.status === "called");
    document.title = ticket.number + " — " + (centerName[i18n.lang] || centerName.vi);

    switch (ticket.status) {
      case "waiting":
        var ahead = ticket.waiting_ahead;
        if (ahead === 0) {
          setStatus("next", i18n.t("next_title"), i18n.t("next_text"));
        } else {
          setStatus("waiting", i18n.t("waiting_title"), i18n.t("waiting_text"));
        }
        el.facts.hidden = ahead === null || ahead === undefined;
        el.ahead.textContent = String(ahead);
        el.wait.textContent = KQ.waitText(ticket.est_wait_min, i18n);
        break;
      case "called":
        setStatus("called", i18n.t("called_title", { n: ticket.counter }),
                  i18n.t("called_text", { n: ticket.counter, number: ticket.number }));
        break;
      case "done":
        setStatus("done", i18n.t("done_title"), i18n.t("done_text"));
        renderRating();
        break;
      case "no_show":
        setStatus("no-show", i18n.t("no_show_title"), i18n.t("no_show_text"));
        break;
      default:
        if (ticket.closed_reason === "day_end") {  // still open when its day ended
          setStatus("cancelled", i18n.t("day_end_title"), i18n.t("day_end_text"));
          break;
        }
        setStatus("cancelled", i18n.t("cancelled_title"), i18n.t("cancelled_text"));
    }
  }

  function button(cls, text, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = cls;
    b.textContent = text;
    b.disabled = sending;
    b.addEventListener("click", onClick);
    return b;
  }

  function renderRating() {
    el.rating.hidden = false;
    el.levels.textContent = "";
    el.reasonList.textContent = "";
    if (ticket.rated) {
      el.levels.hidden = true;
      el.reasons.hidden = true;
      el.ratingMessage.hidden = false;
      el.ratingMessage.className = "p-message is-ok";
      el.ratingMessage.textContent = i18n.t("rated");
      $("rating-title").hidden = true;
      return;
    }
    $("rating-title").hidden = false;
    el.levels.hidden = pendingLevel !== null;
    levels.forEach(function (label, index) {
      var level = index + 1;
      var tone = level === 1 ? "best" : (level === levels.length ? "worst" : "mid");
      var b = button("p-level is-" + tone, i18n.lang === "en" && levelsEn[index] ? levelsEn[index] : label, function () {
        if (level === levels.length && reasons.length && levels.length > 2) {
          pendingLevel = level;  // an unsatisfied rating may say why (optional)
          render();
        } else {
          rate(level, null);
        }
      });
      b.setAttribute("data-level", String(level));
      el.levels.appendChild(b);
    });
    el.reasons.hidden = pendingLevel === null;
    reasons.forEach(function (pair) {
      var text = i18n.lang === "en" ? pair[1] : pair[0];
      el.reasonList.appendChild(button("p-reason", text, function () { rate(pendingLevel, pair[0]); }));
    });
    el.reasonSkip.disabled = sending;
    el.ratingMessage.hidden = !sending && !ratingError;
    el.ratingMessage.className = "p-message" + (ratingError ? " is-error" : "");
    el.ratingMessage.textContent = sending ? i18n.t("sending") : ratingError;
  }

  function rate(level, reason) {
    if (sending || !ticket) { return; }
    sending = true;
    ratingError = "";
    render();
    var payload = { ticket: ticket.id, level: level };
    if (reason) { payload.reason = reason; }
    KQ.api("POST", "/api/v1/ratings", { body: payload, lang: i18n.lang }).then(function (r) {
      sending = false;
      pendingLevel = null;
      if (r.ok) {
        ticket.rated = true;
      } else if (r.code === "already_rated") {
        ticket.rated = true;
      } else {
        ratingError = r.message;
      }
      render();
      load();
    });
  }

  el.reasonSkip.addEventListener("click", function () { rate(pendingLevel, null); });
  el.lang.addEventListener("click", function () {
    var next = i18n.lang === "vi" ? "en" : "vi";
    try { window.localStorage.setItem(LANG_KEY, next); } catch (e) { /* private mode */ }
    i18n.set(next);
  });
  i18n.onChange(render);

  var socket = KQ.connect();
  if (socket) {
    socket.on("connect", function () {
      el.offline.hidden = true;
      socket.emit("join", { ticket: ticketId });
      load();
    });
    socket.on("disconnect", function () { el.offline.hidden = false; });
    socket.on("ticket_changed", function (payload) {
      if (payload && payload.id === ticketId) { soon(); }
    });
    socket.on("queue_changed", soon);
  }
  // Phones sleep and drop sockets: a slow poll keeps the page right without them.
  setInterval(load, 30000);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { load(); }
  });

  i18n.apply();
  render();
  load();
  loadServiceNames();
})();
