/* Helpers shared by the kiosk page and the ticket status page: language, API calls, clock.
 *
 * Plain browser JS, no build step, nothing from the internet. Everything lives under window.KQ.
 * Every non-2xx answer becomes the server's own Vietnamese (or English) `error.message`; a
 * network failure or an answer that is not our JSON becomes a fixed, friendly sentence. No
 * exception text ever reaches the screen.
 */
(function () {
  "use strict";

  var FALLBACK = {
    vi: {
      network: "Không kết nối được với máy chủ. Vui lòng thử lại hoặc báo cán bộ hướng dẫn.",
      unexpected: "Hệ thống đang bận. Vui lòng thử lại sau giây lát."
    },
    en: {
      network: "Cannot reach the server. Please try again or ask a staff member.",
      unexpected: "The system is busy. Please try again in a moment."
    }
  };
  var WEEKDAYS = {
    vi: ["Chủ Nhật", "Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy"],
    en: ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
  };

  function createI18n(strings, initial) {
    var lang = initial === "en" ? "en" : "vi";
    var listeners = [];
    function t(key, values) {
      var table = strings[lang] || strings.vi;
      var text = table[key];
      if (text === undefined) { text = strings.vi[key]; }
      if (text === undefined) { return key; }
      if (values) {
        text = text.replace(/\{(\w+)\}/g, function (m, name) {
          return values[name] !== undefined && values[name] !== null ? String(values[name]) : m;
        });
      }
      return text;
    }
    function apply(root) {
      var nodes = (root || document).querySelectorAll("[data-i18n]");
      for (var i = 0; i < nodes.length; i++) {
        nodes[i].textContent = t(nodes[i].getAttribute("data-i18n"));
      }
      document.documentElement.lang = lang;
    }
    return {
      t: t,
      apply: apply,
      get lang() { return lang; },
      set: function (next) {
        lang = next === "en" ? "en" : "vi";
        apply();
        listeners.forEach(function (fn) { fn(lang); });
      },
      onChange: function (fn) { listeners.push(fn); }
    };
  }

  /* fetch JSON; resolves {ok, status, data, message} and never rejects. */
  function api(method, path, options) {
    options = options || {};
    var lang = options.lang === "en" ? "en" : "vi";
    var headers = { "Accept": "application/json" };
    if (options.token) { headers.Authorization = "Bearer " + options.token; }
    var init = { method: method, headers: headers, cache: "no-store", credentials: "omit" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = null;
    if (controller) {
      init.signal = controller.signal;
      timer = setTimeout(function () { controller.abort(); }, options.timeout || 30000);
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.ok) {
          return { ok: true, status: response.status, data: data, message: "" };
        }
        var error = data && data.error && typeof data.error === "object" ? data.error : null;
        var message = error ? (lang === "en" ? error.message_en || error.message : error.message) : "";
        if (typeof message !== "string" || !message) { message = FALLBACK[lang].unexpected; }
        return { ok: false, status: response.status, data: data, code: error && error.code,
                 message: message };
      });
    }, function () {
      return { ok: false, status: 0, data: null, code: "network", message: FALLBACK[lang].network };
    }).then(function (result) {
      if (timer) { clearTimeout(timer); }
      return result;
    });
  }


  // The center's wall clock, whatever time zone the kiosk's own OS is set to (the ticket
  // prints the center's time; the screen must agree with it).
  function centerNow() {
    var zone = document.body.getAttribute("data-timezone") || "Asia/Ho_Chi_Minh";
    var parts = {};
    new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hour12: false, weekday: "short", year: "numeric", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit"
    }).formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
    var weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].indexOf(parts.weekday);
    return { hour: parts.hour === "24" ? "00" : parts.hour, minute: parts.minute, day: parts.day,
             month: parts.month, year: parts.year, weekday: weekday };
  }

  function startClock(timeEl, dateEl, i18n) {
    function tick() {
      var now = centerNow();
      if (timeEl) { timeEl.textContent = now.hour + ":" + now.minute; }
      if (dateEl) {
        dateEl.textContent = WEEKDAYS[i18n.lang][now.weekday] + ", " + now.day + "/" +
          now.month + "/" + now.year;
      }
    }
    tick();
    i18n.onChange(tick);
    return setInterval(tick, 1000);
  }

  function waitText(minutes, i18n) {
    if (minutes === null || minutes === undefined) { return i18n.t("wait_unknown"); }
    if (minutes < 1) { return i18n.t("wait_under_minute"); }
    return i18n.t("wait_minutes", { m: minutes });
  }

  /* Socket.IO, if the vendored client loaded; null otherwise (pages still work by polling). */
  function connect(options) {
    if (typeof window.io !== "function") { return null; }
    try {
      return window.io(Object.assign({ reconnectionDelayMax: 5000 }, options || {}));
    } catch (e) {
      return null;
    }
  }

  // Whatever goes wrong in a script stays in the console; the screen keeps its last good state.
  window.addEventListener("error", function (event) { event.preventDefault(); });
  window.addEventListener("unhandledrejection", function (event) { event.preventDefault(); });

  window.KQ = { createI18n: createI18n, api: api, startClock: startClock, waitText: waitText,
                connect: connect };
})();
