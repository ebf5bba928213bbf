/* Counter-side rating screen (/rate/<n>).
 *
 * Shows one big button per configured level for the visit this counter just finished, while the
 * hub still offers it (GET /api/v1/counters/<n>/rating: {target: {number, levels, seconds_left}}),
 * and lights up as soon as the counter room says `ticket_finished`. A rating is only ever sent
 * because a citizen pressed a level; when nobody presses, nothing is recorded. After the last
 * ("unsatisfied") level the citizen may add one preset reason; if they walk away from that
 * question, the level they pressed is still sent, without a reason.
 *
 * Authorisation: a device token (open once as /rate/3?token=…; it moves to localStorage and
 * leaves the address bar) or a logged-in staff member's bearer token. Bearer headers, no cookies,
 * so no CSRF exposure. The screen checks its token when it opens and on every refresh (the
 * rating GET answers `authorized`, or 401 for a bad token), as /kiosk does: a screen whose token
 * is wrong, revoked or not allowed at this counter shows why and the staff login, never the
 * smileys. If a tap cannot be recorded all the same (the token was revoked a moment before, the
 * network or the hub's storage failed), the level the citizen pressed is kept and sent by the
 * first refresh that is allowed to and still offers the same visit (after a staff login here,
 * or when the hub answers again); a different visit drops it.
 */
(function () {
  "use strict";

  var QS = window.QS, t = QS.t, el = QS.el;
  var data = QS.pageData();
  var n = data.counter;
  var DEVICE_KEY = "qs.deviceToken";
  var SESSION_KEY = "qs.staff";
  var THANKS_MS = 6000;
  var ERROR_MS = 7000;
  var REASON_MS = 30000;

  var $ = function (id) { return document.getElementById(id); };
  var viewIds = ["idle", "ask", "reason", "thanks", "error", "auth"];

  var mode = "loading";     // which view is up
  var target = null;        // what the hub offers now
  var deadline = 0;         // local ms when the offer ends
  var chosen = null;        // level waiting for an optional reason
  var sending = false;
  var holdTimer = null;     // thanks / error / reason timeouts
  var socket = null;
  var pending = null;       // {level, reason, number}: a tap the hub refused for the token

  // -------------------------------------------------------------------- token
  (function takeTokenFromUrl() {
    var token = QS.params.get("token");
    if (!token) return;
    try { window.localStorage.setItem(DEVICE_KEY, token); } catch (e) { /* ignore */ }
    var url = new URL(window.location.href);
    url.searchParams.delete("token");
    window.history.replaceState(null, "", url.toString());
  })();

  function deviceToken() {
    try { return window.localStorage.getItem(DEVICE_KEY); } catch (e) { return null; }
  }

  function staffToken() {
    try {
      var s = JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || "null");
      if (s && s.token && (!s.expires_at || Date.parse(s.expires_at) > Date.now())) return s.token;
    } catch (e) { /* ignore */ }
    return null;
  }

  function token() { return deviceToken() || staffToken(); }

  /** Drops a token the hub refused; a refused device token must not hide a staff login. */
  function forgetDeviceToken(used) {
    if (used && deviceToken() === used) {
      try { window.localStorage.removeItem(DEVICE_KEY); } catch (e) { /* ignore */ }
    }
  }

  function showAuth(message) {
    show("auth");
    $("rate-login-error").textContent = message || "";
    $("rate-login-error").hidden = !message;
  }

  // --------------------------------------------------------------------- views
  function show(name) {
    var changed = mode !== name;
    mode = name;
    if (name !== "ask" && name !== "reason") $("levels").textContent = ""; // no stale buttons
    viewIds.forEach(function (id) { $(id + "-view").hidden = id !== name; });
    if (changed) {
      // A double tap must not answer the next question too: the new view ignores touches briefly.
      var view = $(name + "-view");
      view.classList.add("arming");
      window.setTimeout(function () { view.classList.remove("arming"); }, 400);
    }
    document.body.setAttribute("data-rate-state", name);
  }

  function hold(ms, then) {
    if (holdTimer) window.clearTimeout(holdTimer);
    holdTimer = window.setTimeout(function () { holdTimer = null; then(); }, ms);
  }

  function face(index, count) {
    // Mouth from a broad smile (first level) to a frown (last level).
    var x = count > 1 ? index / (count - 1) : 0;
    var curve = 1 - 2 * Math.pow(x, 1.5);
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 100 100");
    svg.setAttribute("class", "face");
    svg.setAttribute("aria-hidden", "true");
    function add(tag, attrs) {
      var node = document.createElementNS(ns, tag);
      Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
      svg.appendChild(node);
    }
    add("circle", { cx: 50, cy: 50, r: 44, fill: "none", stroke: "currentColor", "stroke-width": 7 });
    add("circle", { cx: 35, cy: 40, r: 6, fill: "currentColor" });
    add("circle", { cx: 65, cy: 40, r: 6, fill: "currentColor" });
    var y = 66 - curve * 4, c = 66 + curve * 14;
    add("path", { d: "M30 " + y + " Q50 " + c + " 70 " + y, fill: "none", stroke: "currentColor",
                  "stroke-width": 7, "stroke-linecap": "round" });
    return svg;
  }

  // Dark enough for white text (contrast ≥ 4.5:1) on every level.
  var PALETTES = {
    2: ["#11703a", "#a4221b"],
    3: ["#11703a", "#0b4ea2", "#a4221b"],
    4: ["#11703a", "#0b4ea2", "#8a4b00", "#a4221b"],
    5: ["#0d5f30", "#1f7a4d", "#0b4ea2", "#8a4b00", "#a4221b"]
  };
  function levelColor(index, count) {
    if (PALETTES[count]) return PALETTES[count][index];
    var x = count > 1 ? index / (count - 1) : 0;
    return "hsl(" + Math.round(140 - 140 * x) + ", 70%, 28%)";
  }

  function levelLabel(label, i) {
    // English mode: the English form of a configured level (same position), else as configured.
    var english = QS.lang === "en" && label === (data.levels || [])[i] ? (data.levels_en || [])[i] : null;
    return english || label;
  }

  function showAsk() {
    if (!target) { show("idle"); return; }
    $("rate-number").textContent = t("rate_for_number", { number: target.number });
    var box = $("levels");
    box.textContent = "";
    var levels = target.levels || data.levels || [];
    box.style.setProperty("--levels", String(levels.length));
    levels.forEach(function (label, i) {
      var b = el("button", {
        type: "button", class: "level", "data-level": String(i + 1),
        onclick: function () { pressLevel(i + 1, levels.length); }
      }, [face(i, levels.length), el("span", { class: "level-label", text: levelLabel(label, i) })]);
      b.style.backgroundColor = levelColor(i, levels.length);
      box.appendChild(b);
    });
    show("ask");
    tick();
  }

  function tick() {
    if (mode !== "ask") return;
    var left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) {
      target = null;
      show("idle");
      refresh();
      return;
    }
    $("countdown").textContent = t("rate_seconds_left", { s: left });
  }
  window.setInterval(tick, 1000);

  function showReasons(level) {
    chosen = level;
    var box = $("reasons");
    box.textContent = "";
    (data.reasons || []).forEach(function (pair) {
      var label = QS.lang === "en" ? pair[1] : pair[0];
      box.appendChild(el("button", {
        type: "button", class: "btn secondary reason", text: label,
        onclick: function () { submit(level, pair[0]); }
      }));
    });
    show("reason");
    // The citizen chose this level; only the optional reason is skipped if they walk away.
    var left = deadline - Date.now() - 3000;
    hold(Math.max(1000, Math.min(REASON_MS, left)), function () {
      if (mode === "reason" && chosen === level) submit(level, null);
    });
  }
  $("skip-reason").addEventListener("click", function () { if (chosen) submit(chosen, null); });

  function pressLevel(level, count) {
    if (sending) return;
    if (level === count && count >= 3) showReasons(level);
    else submit(level, null);
  }

  // ------------------------------------------------------------------ network
  function refresh() {
    var auth = token();
    if (!auth) { showAuth(null); return Promise.resolve(); }
    return QS.api("GET", "/api/v1/counters/" + n + "/rating", undefined, auth).then(function (r) {
      var next = r.data && r.data.target;
      if (!r.data || !r.data.authorized) {
        // A valid token that may not record ratings here (a device without the rate scope,
        // another counter's staff).
        forgetDeviceToken(auth);
        pending = null;
        showAuth(t("rate_not_allowed", { counter: t("counter_label", { n: n }) }));
        return;
      }
      if (pending) {
        var again = pending;
        pending = null;
        if (next && next.number === again.number) {
          target = next;
          deadline = Date.now() + target.seconds_left * 1000;
          submit(again.level, again.reason);
          return;
        }
      }
      if (mode === "auth") show("idle");
      if (mode === "thanks" || mode === "error" || sending) return;
      if (mode === "reason" && next && target && next.number === target.number) return;
      target = next;
      if (target) {
        deadline = Date.now() + target.seconds_left * 1000;
        showAsk();
      } else {
        show("idle");
      }
    }, function (error) {
      if (error.status === 401) {
        var wasDevice = deviceToken() === auth;
        forgetDeviceToken(auth);
        // the hub cannot tell a revoked login from a wrong device token: the screen knows which
        showAuth(t(wasDevice ? "rate_bad_token" : "rate_staff_bad_token"));
        return;
      }
      if (mode === "loading") show("idle");
      if (error.status !== 0) showError(error.message);
    });
  }

  function submit(level, reason) {
    if (sending) return;
    var auth = token();
    if (!auth) {
      pending = { level: level, reason: reason, number: target && target.number };
      showAuth(null);
      return;
    }
    sending = true;
    chosen = null;
    if (holdTimer) { window.clearTimeout(holdTimer); holdTimer = null; }
    var body = { level: level };
    if (reason) body.reason = reason;
    QS.api("POST", "/api/v1/counters/" + n + "/rating", body, auth).then(function () {
      sending = false;
      target = null;
      show("thanks");
      hold(THANKS_MS, function () { show("idle"); refresh(); });
    }, function (error) {
      sending = false;
      if (error.status === 401 || error.status === 403) {
        pending = { level: level, reason: reason, number: target && target.number };
        var wasDevice = deviceToken() === auth;
        forgetDeviceToken(auth);
        showAuth(error.status === 403 ? error.message
          : t(wasDevice ? "rate_bad_token" : "rate_staff_bad_token"));
        return;
      }
      if (error.status === 0 || error.status >= 500) {
        // The hub is unreachable or its storage is failing: the citizen's choice is kept and
        // sent by the next refresh that still offers the same visit (after the error notice).
        pending = { level: level, reason: reason, number: target && target.number };
      }
      target = null;
      showError(error.message);
    });
  }

  function showError(message) {
    $("rate-error").textContent = message;
    show("error");
    hold(ERROR_MS, function () { show("idle"); refresh(); });
  }

  $("rate-login").addEventListener("submit", function (event) {
    event.preventDefault();
    QS.api("POST", "/api/v1/auth/login", {
      username: $("rate-username").value.trim(), password: $("rate-password").value
    }).then(function (r) {
      $("rate-password").value = "";
      try {
        window.sessionStorage.setItem(SESSION_KEY, JSON.stringify({
          token: r.data.token, username: r.data.username, role: r.data.role,
          counter: r.data.counter, expires_at: r.data.expires_at
        }));
      } catch (e) { /* ignore */ }
      $("rate-login-error").hidden = true;
      refresh();
    }, function (error) {
      $("rate-login-error").textContent = error.message;
      $("rate-login-error").hidden = false;
    });
  });

  // ------------------------------------------------------------------- startup
  refresh();  // checks the token before anything can be tapped
  socket = QS.connect({ counter: n });
  socket.on("connect", function () { if (mode !== "auth") refresh(); });
  socket.on("ticket_finished", function (ev) { if (ev.counter === n && mode !== "auth") refresh(); });
  socket.on("ticket_rated", function (ev) { if (ev.counter === n && mode === "ask") refresh(); });
  // A safety net for a missed event: ask again now and then while idle.
  window.setInterval(function () { if (mode === "idle" && token()) refresh(); }, 20000);
})();
