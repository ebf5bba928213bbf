/* The staff counter panel (/counter, /counter?n=3 for admin and manager).
 *
 * Login goes through POST /api/v1/auth/login; the bearer token is kept in sessionStorage (per
 * tab, gone when the tab closes) and sent in the Authorization header — never a cookie, so no
 * other site can make the browser act on a counter (no CSRF exposure).
 *
 * The panel never guesses: what it shows (current number, pause, served today, waiting) comes only
 * from the hub's `state` and the counter room's events, so two tabs on the same counter always
 * agree, and a refused action (409) just shows the hub's Vietnamese reason.
 *
 * What the counter can call, and today's no-shows of its fields, come from
 * GET /api/v1/counters/<n>/queue (it needs the login, so a stale token shows the login form as
 * soon as the panel opens, not at the first click). The panel asks again whenever the hub says
 * the queue or this counter changed, and every 20 s as a safety net (a no-show marked at another
 * counter of the same field sends nothing to this counter's room). Tickets transferred to another
 * counter are counted apart: the big numbers are what "next" here can call.
 *
 * Keyboard: N or F2 next, R recall, V no-show, C transfer, H finish, P pause, T resume,
 * G call a number; in a dialog 1–4 choose, Enter confirms (wherever the focus is: a list, a
 * preset button, a radio), Esc cancels.
 */
(function () {
  "use strict";

  var QS = window.QS, t = QS.t, el = QS.el;
  var data = QS.pageData();
  var SESSION_KEY = "qs.staff";
  var counters = data.counters || [];

  var $ = function (id) { return document.getElementById(id); };
  var views = { login: $("login-view"), pick: $("pick-view"), work: $("work-view") };

  var session = null;     // {token, username, role, counter, expires_at}
  var n = null;           // the counter worked on
  var socket = null;
  var view = null;        // the counter as the hub last described it
  var viewSeq = -1;
  var services = [];      // [{id, name}] in the center's order
  var englishNames = {};
  var busy = false;
  var messageTimer = null;
  var queueView = null;   // GET /counters/<n>/queue: what this counter can call, its no-shows
  var queueSeq = -1;
  var queueLoading = false;
  var queueAgain = false;

  // ------------------------------------------------------------------ session
  function loadSession() {
    try {
      var s = JSON.parse(window.sessionStorage.getItem(SESSION_KEY) || "null");
      if (s && s.token && (!s.expires_at || Date.parse(s.expires_at) > Date.now())) return s;
    } catch (e) { /* ignore */ }
    return null;
  }

  function saveSession(s) {
    session = s;
    try {
      if (s) window.sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
      else window.sessionStorage.removeItem(SESSION_KEY);
    } catch (e) { /* private mode: the session lives as long as the page */ }
  }

  function show(name) {
    Object.keys(views).forEach(function (k) { views[k].hidden = k !== name; });
    var loggedIn = !!session;
    $("logout").hidden = !loggedIn;
    $("who").textContent = loggedIn ? session.username : "";
    $("change-counter").hidden = !(loggedIn && name === "work" && session.role !== "staff");
  }

  function start() {
    session = loadSession();
    if (!session) { showLogin(); return; }
    if (session.role === "staff") {
      choose(session.counter);
      return;
    }
    var wanted = parseInt(QS.params.get("n") || "", 10);
    if (counters.some(function (c) { return c.number === wanted; })) choose(wanted);
    else showPicker();
  }

  function showLogin(message) {
    stopSocket();
    show("login");
    $("counter-title").textContent = t("login_title");
    var box = $("login-error");
    box.hidden = !message;
    box.textContent = message || "";
    $("username").focus();
  }

  function showPicker() {
    stopSocket();
    show("pick");
    $("counter-title").textContent = t("choose_counter");
    var box = $("picker");
    box.textContent = "";
    counters.forEach(function (c) {
      box.appendChild(el("button", {
        type: "button", class: "btn picker-button", "data-pick": String(c.number),
        text: QS.counterLabel({ counter: c.number, name: c.name }),
        onclick: function () { choose(c.number); }
      }));
    });
  }

  function choose(number) {
    if (n !== number) { view = null; viewSeq = -1; queueView = null; queueSeq = -1; }
    n = number;
    var url = new URL(window.location.href);
    url.searchParams.set("n", String(number));
    window.history.replaceState(null, "", url.toString());
    var c = counters.filter(function (x) { return x.number === number; })[0];
    $("counter-title").textContent = QS.counterLabel({ counter: number, name: c ? c.name : null });
    document.title = $("counter-title").textContent + " — " + document.title.split(" — ").pop();
    show("work");
    render();
    startSocket();
    loadServices();
    fetchQueue();
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var button = $("login-button");
    button.disabled = true;
    QS.api("POST", "/api/v1/auth/login", {
      username: $("username").value.trim(), password: $("password").value
    }).then(function (r) {
      $("password").value = "";
      saveSession({ token: r.data.token, username: r.data.username, role: r.data.role,
                    counter: r.data.counter, expires_at: r.data.expires_at });
      start();
    }, function (error) {
      showLogin(error.message);
    }).then(function () { button.disabled = false; });
  });

  $("logout").addEventListener("click", function () {
    var token = session && session.token;
    saveSession(null);
    n = null;
    if (token) QS.api("POST", "/api/v1/auth/logout", undefined, token).catch(function () {});
    showLogin();
  });

  $("change-counter").addEventListener("click", showPicker);

  // ------------------------------------------------------------------- socket
  function startSocket() {
    stopSocket();
    socket = QS.connect({ counter: n });
    var conn = $("conn");
    socket.on("connect", function () {
      viewSeq = -1; // a new connection: its own order of events
      conn.hidden = true;
    });
    socket.on("disconnect", function () { conn.hidden = false; conn.textContent = t("offline"); });
    socket.on("state", function (state) {
      QS.syncClock(state.now);
      services = state.services.map(function (s) { return { id: s.id, name: s.name }; });
      var mine = state.counters.filter(function (c) { return c.counter === n; })[0];
      if (mine && state.seq >= viewSeq) { view = mine; viewSeq = state.seq; }
      render();
      fetchQueue();
    });
    socket.on("counter_changed", function (ev) {
      if (ev.counter !== n || (ev.seq !== undefined && ev.seq < viewSeq)) return;
      if (ev.served_today === undefined && view) ev.served_today = view.served_today;
      view = ev;
      viewSeq = ev.seq === undefined ? viewSeq : ev.seq;
      render();
      fetchQueue();
    });
    socket.on("ticket_called", function (ev) {
      if (ev.counter !== n || (ev.seq !== undefined && ev.seq < viewSeq) || !view) return;
      view = Object.assign({}, view, {
        current: { number: ev.number, service: ev.service, called_at: ev.called_at }
      });
      viewSeq = ev.seq === undefined ? viewSeq : ev.seq;
      render();
    });
    // The public per-field counts include tickets transferred to other counters: the panel
    // asks for what this counter can call instead.
    socket.on("queue_changed", function () { fetchQueue(); });
  }

  /** Asks the hub what this counter can call and which no-shows it may re-queue. One request at
   * a time; a change announced meanwhile asks once more when it ends. */
  function fetchQueue() {
    if (!session || !n || views.work.hidden) return;
    if (queueLoading) { queueAgain = true; return; }
    queueLoading = true;
    var number = n;
    QS.api("GET", "/api/v1/counters/" + number + "/queue", undefined, session.token).then(function (r) {
      if (number !== n || !r.data) return;
      if (r.data.seq >= queueSeq) { queueView = r.data; queueSeq = r.data.seq; }
      renderWaiting();
    }, function (error) {
      if (number !== n) return;
      if (error.status === 401) {
        saveSession(null);
        showLogin(error.message || t("msg_login_again"));
      } else if (error.status !== 0) {
        say(error.message, "error");
      } // a network error: the reconnect's `state` asks again
    }).then(function () {
      queueLoading = false;
      if (queueAgain) { queueAgain = false; fetchQueue(); }
    });
  }
  window.setInterval(fetchQueue, 20000);

  function stopSocket() {
    if (socket) { socket.off(); socket.disconnect(); socket = null; }
    $("conn").hidden = true;
  }

  function loadServices() {
    if (services.length && (QS.lang !== "en" || Object.keys(englishNames).length)) return;
    QS.api("GET", "/api/v1/services").then(function (r) {
      (r.data.services || []).forEach(function (s) { englishNames[s.id] = s.name_en || s.name; });
      if (!services.length) services = r.data.services.map(function (s) { return { id: s.id, name: s.name }; });
      render();
    }, function () { /* the names come with `state` too */ });
  }

  function serviceName(id) {
    if (QS.lang === "en" && englishNames[id]) return englishNames[id];
    var s = services.filter(function (x) { return x.id === id; })[0];
    return s ? s.name : id;
  }

  // ------------------------------------------------------------------- render
  function render() {
    if (!n || views.work.hidden) return;
    var current = view && view.current;
    var paused = !!view && view.status === "paused";
    $("current-number").textContent = current ? current.number : "";
    $("current-number").hidden = !current;
    $("current-none").hidden = !!current;
    $("current-service").textContent = current ? serviceName(current.service) : "";
    $("timer-row").hidden = !current;
    tickTimer();
    $("served-today").textContent = view && view.served_today !== undefined ? String(view.served_today) : "–";

    var banner = $("pause-banner");
    banner.hidden = !paused;
    if (paused) {
      var text = t("status_paused") + ": " + t("reason_" + view.pause_reason);
      if (view.paused_until) {
        text += " (" + t("paused_until", {
          time: QS.formatter(null, { hour: "2-digit", minute: "2-digit", hour12: false })
            .format(new Date(view.paused_until))
        }) + ")";
      }
      banner.textContent = text;
    }
    var ready = !!view && !busy;
    setEnabled("next", ready && !paused);
    setEnabled("recall", ready && !!current);
    setEnabled("no-show", ready && !!current);
    setEnabled("transfer", ready && !!current);
    setEnabled("finish", ready && !!current);
    setEnabled("pause", ready && !paused && !current);
    setEnabled("resume", ready && paused);
    setEnabled("call", ready && !paused);
    button("pause").hidden = paused;
    button("resume").hidden = !paused;
    renderWaiting();
  }

  function counterName(number) {
    var c = counters.filter(function (x) { return x.number === number; })[0];
    return QS.counterLabel({ counter: number, name: c ? c.name : null });
  }

  /** The waiting counts as this counter sees them: for its fields (and any ticket transferred to
   * it) the number "next" here can call; tickets transferred to other counters only apart. */
  function renderWaiting() {
    var list = $("waiting-list");
    list.textContent = "";
    if (!queueView) { $("callable-total").textContent = "–"; renderNoShows(); return; }
    $("callable-total").textContent = String(queueView.callable);
    var rows = queueView.fields.slice();
    // Fields this counter can call from first (its own in calling order, then tickets
    // transferred here), then the others for information.
    var mine = rows.filter(function (r) { return r.own || r.reserved_here > 0; });
    var others = rows.filter(function (r) { return !(r.own || r.reserved_here > 0); });
    mine.concat(others).forEach(function (r) {
      var here = r.own || r.reserved_here > 0;
      var count = here ? r.callable : r.waiting;
      var notes = [];
      if (r.own && r.reserved_here > 0) notes.push(t("reserved_here", { n: r.reserved_here }));
      if (r.reserved_elsewhere > 0) notes.push(t("reserved_elsewhere", { n: r.reserved_elsewhere }));
      list.appendChild(el("li", { class: "waiting-item" + (here ? " own" : "") + (count ? "" : " none") }, [
        el("span", { class: "waiting-name" }, [serviceName(r.service)].concat(notes.map(function (note) {
          return el("span", { class: "waiting-reserved", "data-reserved": r.service, text: note });
        }))),
        r.own ? el("span", { class: "waiting-own", text: t("your_field") })
          : (r.reserved_here > 0 ? el("span", { class: "waiting-own", text: t("transferred_here") }) : null),
        el("span", { class: "waiting-count", "data-waiting": r.service, text: String(count) })
      ]));
    });
    renderNoShows();
  }

  var noShowsDrawn = null;
  function renderNoShows() {
    var list = $("no-show-list");
    var absent = (queueView && queueView.no_shows) || [];
    $("no-show-none").hidden = absent.length > 0 || !queueView;
    var paused = !!view && view.status === "paused";
    // Redrawn only when something shown changed, so a button focused with Tab keeps its focus
    // while the hub's updates come and go.
    var key = JSON.stringify([absent.map(function (x) { return [x.id, x.finished_at]; }), busy, paused]);
    if (key === noShowsDrawn) return;
    noShowsDrawn = key;
    list.textContent = "";
    var clock = QS.formatter(null, { hour: "2-digit", minute: "2-digit", hour12: false });
    absent.forEach(function (ticket) {
      var meta = t("no_show_marked", {
        service: serviceName(ticket.service),
        time: ticket.finished_at ? clock.format(new Date(ticket.finished_at)) : "",
        counter: ticket.counter ? counterName(ticket.counter) : ""
      });
      list.appendChild(el("li", { class: "no-show-item", "data-no-show": ticket.number }, [
        el("span", { class: "no-show-number", text: ticket.number }),
        el("span", { class: "no-show-meta", text: meta }),
        el("span", { class: "no-show-actions" }, [
          el("button", { type: "button", class: "btn small secondary", "data-requeue": ticket.id,
                         text: t("btn_requeue"), disabled: busy,
                         onclick: function () { requeue(ticket); } }),
          el("button", { type: "button", class: "btn small", "data-call-now": ticket.number,
                         text: t("btn_call_now"), disabled: busy || paused,
                         onclick: function () { callNumber(ticket.number); } })
        ])
      ]));
    });
  }

  function tickTimer() {
    var current = view && view.current;
    $("timer").textContent = current && current.called_at ? QS.elapsed(current.called_at) : "";
  }
  window.setInterval(tickTimer, 1000);

  function button(action) { return document.querySelector('[data-action="' + action + '"]'); }
  function setEnabled(action, on) { button(action).disabled = !on; }

  function say(text, kind) {
    var box = $("message");
    box.textContent = text;
    box.className = "message " + (kind || "ok");
    box.hidden = false;
    if (messageTimer) window.clearTimeout(messageTimer);
    messageTimer = kind === "error" ? null : window.setTimeout(function () { box.hidden = true; }, 6000);
  }

  // ------------------------------------------------------------------ actions
  /** One request at a time, and the same action not again within a moment of its success: a
   * double click or a bouncing key never calls two citizens, while a refused request (a mistyped
   * number) may be corrected and sent again at once. `failed(error)`, if given, shows a refusal
   * instead of the message line. */
  var COOLDOWN_MS = 700;
  var lastDone = { key: null, at: 0 };
  // What a repeat would repeat: "next" calls whoever is first, so any second "next" is one; every
  // other action acts on the number being served, so it is a repeat only on the same number
  // (marking 6001 absent, then 6003 a moment later, is two actions, not a double press).
  function actionKey(path) {
    var current = view && view.current;
    return path === "next" ? path : path + ":" + (current ? current.number : "");
  }
  function act(path, body, done, failed) {
    if (busy || !session) return Promise.resolve();
    var key = actionKey(path);
    if (lastDone.key === key && Date.now() - lastDone.at < COOLDOWN_MS) return Promise.resolve();
    busy = true;
    render();
    var ok = false;
    return QS.api("POST", "/api/v1/counters/" + n + "/" + path, body, session.token).then(function (r) {
      ok = true;
      done(r);
    }, function (error) {
      if (error.status === 401) {
        saveSession(null);
        showLogin(error.message || t("msg_login_again"));
      } else if (failed) {
        failed(error);
      } else {
        say(error.message, "error");
      }
    }).then(function () {
      busy = false;
      if (ok) lastDone = { key: key, at: Date.now() };
      render();
    });
  }

  var actions = {
    next: function () {
      act("next", undefined, function (r) {
        if (r.status === 204) say(t("msg_nobody"), "info");
        else say(t("msg_called", { number: r.data.number }));
      });
    },
    recall: function () {
      act("recall", undefined, function (r) { say(t("msg_recalled", { number: r.data.number })); });
    },
    "no-show": function () {
      act("no-show", undefined, function (r) { say(t("msg_no_show", { number: r.data.number })); });
    },
    transfer: openTransfer,
    finish: openFinish,
    pause: openPause,
    call: openCall,
    resume: function () {
      act("resume", undefined, function () { say(t("msg_resumed")); });
    }
  };

  document.querySelectorAll("[data-action]").forEach(function (b) {
    b.addEventListener("click", function () {
      if (!b.disabled) actions[b.getAttribute("data-action")]();
    });
  });

  var KEYS = { n: "next", f2: "next", r: "recall", v: "no-show", c: "transfer", h: "finish",
               p: "pause", t: "resume", g: "call" };
  document.addEventListener("keydown", function (event) {
    if (views.work.hidden || event.ctrlKey || event.altKey || event.metaKey) return;
    if (document.querySelector("dialog[open]") || isTextField(event.target)) return;
    var action = KEYS[event.key.toLowerCase()];
    if (!action) return;
    event.preventDefault();
    var b = button(action);
    if (b && !b.disabled && !b.hidden) actions[action]();
  });

  // ------------------------------------------------------------------ dialogs
  function isTextField(node) {
    var tag = (node && node.tagName) || "";
    if (tag === "SELECT" || tag === "TEXTAREA") return true;
    return tag === "INPUT" && ["radio", "checkbox", "button", "submit"].indexOf(node.type) < 0;
  }

  function wireDialog(dialog, onSubmit, onKey) {
    dialog.querySelectorAll("[data-close]").forEach(function (b) {
      b.addEventListener("click", function () { dialog.close(); });
    });
    dialog.querySelector("form").addEventListener("submit", function (event) {
      event.preventDefault();
      onSubmit();
    });
    dialog.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.isComposing && !event.ctrlKey && !event.altKey
          && !event.metaKey && !event.shiftKey) {
        // The dialog says "Enter confirms": wherever the focus is (a list chosen with the arrow
        // keys, a preset button just clicked, a radio) — except on the Cancel button itself,
        // whose own Enter cancels, and in a multi-line text.
        var target = event.target;
        if (target.tagName === "TEXTAREA" || (target.hasAttribute && target.hasAttribute("data-close"))) return;
        event.preventDefault();
        onSubmit();
        return;
      }
      if (onKey && !isTextField(event.target) && /^[1-9]$/.test(event.key)) {
        onKey(parseInt(event.key, 10));
        event.preventDefault();
      }
    });
  }

  function pickRadio(form, name, index) {
    var radios = form.querySelectorAll('input[name="' + name + '"]');
    if (radios[index - 1]) { radios[index - 1].checked = true; radios[index - 1].dispatchEvent(new Event("change", { bubbles: true })); }
  }

  // finish
  var finishDialog = $("finish-dialog"), finishForm = $("finish-form");
  function syncDossiers() {
    var outcome = finishForm.querySelector('input[name="outcome"]:checked').value;
    $("dossiers-field").hidden = outcome !== "received";
  }
  finishForm.addEventListener("change", syncDossiers);
  function openFinish() {
    if (!view || !view.current) return;
    $("finish-title").textContent = t("finish_title", { number: view.current.number });
    pickRadio(finishForm, "outcome", 1);
    $("dossiers").value = "1";
    syncDossiers();
    finishDialog.showModal();
    finishForm.querySelector('input[name="outcome"]:checked').focus();
  }
  wireDialog(finishDialog, function () {
    var outcome = finishForm.querySelector('input[name="outcome"]:checked').value;
    var body = { outcome: outcome };
    if (outcome === "received") {
      var count = parseInt($("dossiers").value, 10);
      body.dossiers = isNaN(count) ? 1 : Math.max(0, Math.min(999, count));
    }
    finishDialog.close();
    act("finish", body, function (r) { say(t("msg_finished", { number: r.data.number })); });
  }, function (k) { pickRadio(finishForm, "outcome", k); });

  // transfer
  var transferDialog = $("transfer-dialog");
  function openTransfer() {
    if (!view || !view.current) return;
    $("transfer-title").textContent = t("transfer_title", { number: view.current.number });
    var svc = $("transfer-service"), ctr = $("transfer-counter");
    svc.textContent = ""; ctr.textContent = "";
    svc.appendChild(el("option", { value: "", text: t("choose") }));
    ctr.appendChild(el("option", { value: "", text: t("choose") }));
    services.forEach(function (s) {
      if (s.id !== view.current.service) svc.appendChild(el("option", { value: s.id, text: serviceName(s.id) }));
    });
    counters.forEach(function (c) {
      if (c.number !== n) ctr.appendChild(el("option", { value: String(c.number), text: QS.counterLabel({ counter: c.number, name: c.name }) }));
    });
    $("transfer-error").hidden = true;
    transferDialog.showModal();
    svc.focus();
  }
  $("transfer-service").addEventListener("change", function () { if (this.value) $("transfer-counter").value = ""; });
  $("transfer-counter").addEventListener("change", function () { if (this.value) $("transfer-service").value = ""; });
  wireDialog(transferDialog, function () {
    var svc = $("transfer-service").value, ctr = $("transfer-counter").value;
    if (!svc && !ctr) {
      $("transfer-error").textContent = t("transfer_pick_one");
      $("transfer-error").hidden = false;
      return;
    }
    transferDialog.close();
    act("transfer", svc ? { service: svc } : { counter: parseInt(ctr, 10) }, function (r) {
      say(t("msg_transferred", { number: r.data.number }));
    });
  });

  // pause
  var pauseDialog = $("pause-dialog"), pauseForm = $("pause-form");
  pauseForm.querySelectorAll("[data-minutes]").forEach(function (b) {
    b.addEventListener("click", function () { $("pause-minutes").value = b.getAttribute("data-minutes"); });
  });
  function openPause() {
    pickRadio(pauseForm, "reason", 1);
    $("pause-minutes").value = "15";
    $("pause-note").value = "";
    pauseDialog.showModal();
    pauseForm.querySelector('input[name="reason"]:checked').focus();
  }
  wireDialog(pauseDialog, function () {
    var body = { reason: pauseForm.querySelector('input[name="reason"]:checked').value };
    var minutes = parseInt($("pause-minutes").value, 10);
    if (!isNaN(minutes)) body.minutes = Math.max(1, Math.min(480, minutes));
    var note = $("pause-note").value.trim();
    if (note) body.note = note;
    pauseDialog.close();
    act("pause", body, function () { say(t("msg_paused")); });
  }, function (k) { pickRadio(pauseForm, "reason", k); });

  // requeue and call a number
  function requeue(ticket) {
    act("requeue", { ticket: ticket.id }, function (r) {
      say(t("msg_requeued", { number: r.data.number }));
      fetchQueue();
    });
  }

  function callNumber(number, failed) {
    return act("call", { number: number }, function (r) {
      if (callDialog.open) callDialog.close();
      say(t("msg_called", { number: r.data.number }));
      fetchQueue();
    }, failed);
  }

  var callDialog = $("call-dialog");
  function openCall() {
    $("call-number").value = "";
    $("call-error").hidden = true;
    callDialog.showModal();
    $("call-number").focus();
  }
  wireDialog(callDialog, function () {
    var number = $("call-number").value.trim();
    var box = $("call-error");
    if (!number) {
      box.textContent = t("call_type_number");
      box.hidden = false;
      return;
    }
    // The dialog stays open on a refusal, with the hub's reason, so the number can be corrected.
    callNumber(number, function (error) {
      box.textContent = error.message;
      box.hidden = false;
      $("call-number").select();
    });
  });

  start();
})();
