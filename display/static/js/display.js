/* The TV page: counters, latest calls, waiting per field, clock; voice through QSAnnouncer.
 *
 * Every figure comes from the hub: the `state` snapshot (sent on every (re)connect, and again on
 * `sync`) and the events after it. Events carry the event-log position `seq`; a counter, or the
 * waiting counts, only take a snapshot or event at least as new as what they show, so a snapshot
 * that crossed an event on the wire never rolls the screen back.
 *
 * URL options: ?zone=<id> (only that zone's counters), ?chime=0|1 (chime before the voice; the
 * default is the config's [voice] chime), ?sound=0 (silent: a second screen in the same hall),
 * ?lang=en. The config's [display] latest_calls and flash_seconds come in the page data.
 */
(function () {
  "use strict";

  var QS = window.QS, t = QS.t, el = QS.el;
  var data = QS.pageData();
  var zone = data.zone || null;
  var params = QS.params;

  var chime = params.has("chime") ? params.get("chime") !== "0" : data.chime !== false;
  var announcer = new window.QSAnnouncer({
    chime: chime,
    enabled: params.get("sound") !== "0",
    onBlocked: function () { overlay.hidden = false; },
    onUnblocked: function () { overlay.hidden = true; }
  });
  var overlay = document.getElementById("sound-overlay");
  overlay.addEventListener("click", function () { announcer.unlock(); });

  var countersBox = document.getElementById("counters");
  var callsBox = document.getElementById("calls");
  var waitingBox = document.getElementById("waiting");
  var nowBox = document.getElementById("now-calling");
  var nowNumber = document.getElementById("now-number");
  var nowCounter = document.getElementById("now-counter");
  var errorBox = document.getElementById("tv-error");

  var timezone = "Asia/Ho_Chi_Minh";
  var tiles = {};          // counter number -> {view, seq, root, number, status, sub}
  var order = [];          // counter numbers, as the hub lists them
  var serviceNames = {};   // field id -> name
  var serviceOrder = [];
  var englishNames = {};
  var waiting = {};
  var waitingSeq = -1;
  var calls = [];          // newest first: {number, counter, recall, called_at}
  var announced = {};      // seq of calls already queued for the voice (the latest 200)
  var announcedOrder = [];
  var connectedBefore = false;
  var MAX_CALLS = (data.latest_calls || 6) + 1; // the newest, big, then the list
  var FLASH_PERIOD = 0.7;                         // seconds, as in display.css
  document.body.style.setProperty("--flash-count",
    String(Math.max(0, Math.round((data.flash_seconds === undefined ? 3 : data.flash_seconds) / FLASH_PERIOD))));

  // ------------------------------------------------------------------ rendering
  function counterName(n) {
    var tile = tiles[n];
    return QS.counterLabel(tile ? tile.view : { counter: n });
  }

  function serviceName(id) {
    if (QS.lang === "en" && englishNames[id]) return englishNames[id];
    return serviceNames[id] || id;
  }

  function buildTiles(views) {
    countersBox.textContent = "";
    tiles = {};
    order = [];
    views.forEach(function (view) {
      var number = el("div", { class: "tile-number", "data-counter": String(view.counter) });
      var status = el("div", { class: "tile-status" });
      var sub = el("div", { class: "tile-sub" });
      var root = el("div", { class: "tile", "data-tile": String(view.counter) }, [
        el("div", { class: "tile-name", text: QS.counterLabel(view) }), number, status, sub
      ]);
      root.addEventListener("animationend", function () { root.classList.remove("flash"); });
      countersBox.appendChild(root);
      tiles[view.counter] = { view: view, seq: -1, root: root, number: number, status: status, sub: sub };
      order.push(view.counter);
    });
    layout();
  }

  function renderTile(n) {
    var tile = tiles[n];
    var view = tile.view;
    var current = view.current;
    var paused = view.status === "paused";
    tile.root.classList.toggle("paused", paused);
    tile.root.classList.toggle("idle", !current && !paused);
    tile.number.textContent = current ? current.number : "";
    if (paused) {
      tile.status.textContent = t("paused");
      var reason = view.pause_reason ? t("reason_" + view.pause_reason) : "";
      tile.sub.textContent = reason;
    } else {
      tile.status.textContent = "";
      tile.sub.textContent = current ? serviceName(current.service) : "";
    }
  }

  function flash(n) {
    var root = tiles[n] && tiles[n].root;
    if (!root) return;
    root.classList.remove("flash");
    void root.offsetWidth; // restart the animation
    root.classList.add("flash");
  }

  function renderCalls(flashTop) {
    callsBox.textContent = "";
    var top = calls[0];
    if (!top) {
      nowBox.hidden = false;
      nowNumber.textContent = "";
      nowCounter.textContent = t("no_calls");
      nowBox.classList.add("empty");
    } else {
      nowBox.hidden = false;
      nowBox.classList.remove("empty");
      nowNumber.textContent = top.number;
      nowCounter.textContent = t("to_counter", { counter: counterName(top.counter) });
      if (flashTop) {
        nowBox.classList.remove("flash");
        void nowBox.offsetWidth;
        nowBox.classList.add("flash");
      }
    }
    calls.slice(1, MAX_CALLS).forEach(function (call) {
      callsBox.appendChild(el("li", { class: "call" + (call.recall ? " recall" : "") }, [
        el("span", { class: "call-number", text: call.number }),
        el("span", { class: "call-arrow", text: "→", "aria-hidden": "true" }),
        el("span", { class: "call-counter", text: counterName(call.counter) })
      ]));
    });
    // Only whole lines: drop the oldest calls that do not fit the screen.
    var bottom = callsBox.getBoundingClientRect().bottom;
    while (callsBox.lastChild && callsBox.lastChild.getBoundingClientRect().bottom > bottom + 1) {
      callsBox.removeChild(callsBox.lastChild);
    }
  }
  nowBox.addEventListener("animationend", function () { nowBox.classList.remove("flash"); });

  function renderWaiting() {
    waitingBox.textContent = "";
    var shown = {};
    order.forEach(function (n) { (tiles[n].view.fields || []).forEach(function (f) { shown[f] = true; }); });
    serviceOrder.forEach(function (id) {
      if (zone && !shown[id]) return;
      var count = waiting[id] || 0;
      waitingBox.appendChild(el("li", { class: "wait" + (count ? "" : " none") }, [
        el("span", { class: "wait-name", text: serviceName(id) }),
        el("span", { class: "wait-count", "data-waiting": id, text: String(count) })
      ]));
    });
  }

  /** Picks the column count that gives the largest number font for the tiles' box. */
  function layout() {
    var n = order.length;
    if (!n) return;
    var box = countersBox.getBoundingClientRect();
    var gap = 18, best = null;
    var digits = 4;
    order.forEach(function (k) {
      var cur = tiles[k].view.current;
      if (cur && cur.number.length > digits) digits = cur.number.length;
    });
    for (var cols = 1; cols <= n; cols++) {
      var rows = Math.ceil(n / cols);
      var w = (box.width - gap * (cols - 1)) / cols;
      var h = (box.height - gap * (rows - 1)) / rows;
      var size = Math.min(h * 0.5, (w * 0.88) / (digits * 0.62));
      if (!best || size > best.size) best = { cols: cols, rows: rows, size: size, h: h };
    }
    countersBox.style.gridTemplateColumns = "repeat(" + best.cols + ", minmax(0, 1fr))";
    countersBox.style.gridTemplateRows = "repeat(" + best.rows + ", minmax(0, 1fr))";
    countersBox.style.setProperty("--num-size", Math.max(28, Math.floor(best.size)) + "px");
    countersBox.style.setProperty("--name-size", Math.max(20, Math.min(64, Math.floor(best.h * 0.15))) + "px");
  }
  window.addEventListener("resize", function () { layout(); renderCalls(false); });

  function tickClock() {
    var now = new Date(QS.now());
    document.getElementById("clock").textContent =
      QS.formatter(timezone, { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(now);
    var weekday = QS.formatter(timezone, { weekday: "long" }).format(now);
    var day = QS.formatter(timezone, { day: "2-digit", month: "2-digit", year: "numeric" }).format(now);
    document.getElementById("date").textContent = weekday.charAt(0).toUpperCase() + weekday.slice(1) + ", " + day;
  }

  // -------------------------------------------------------------------- events
  function onState(state) {
    errorBox.hidden = true;
    if (announcedOrder.length && state.seq < announcedOrder[announcedOrder.length - 1]) {
      announced = {}; // the event log went backwards: a new database, so seqs start again
      announcedOrder = [];
    }
    QS.syncClock(state.now);
    timezone = (state.center && state.center.timezone) || timezone;
    var name = QS.lang === "en" ? (data.center_name_en || state.center.name) : state.center.name;
    document.getElementById("center-name").textContent = name;
    var zoneBox = document.getElementById("zone-name");
    zoneBox.hidden = !state.zone;
    zoneBox.textContent = state.zone || "";

    // The field names first: the tiles and the waiting list below are drawn with them.
    serviceOrder = state.services.map(function (s) { serviceNames[s.id] = s.name; return s.id; });
    var ids = state.counters.map(function (c) { return c.counter; }).join(",");
    if (ids !== order.join(",")) buildTiles(state.counters);
    state.counters.forEach(function (view) {
      var tile = tiles[view.counter];
      if (state.seq < tile.seq) return; // an event newer than this snapshot is already shown
      var before = tile.view.current ? tile.view.current.number : null;
      tile.view = view;
      tile.seq = state.seq;
      renderTile(view.counter);
      var after = view.current ? view.current.number : null;
      if (connectedBefore && after && after !== before) flash(view.counter); // called while we were away
    });
    if (state.seq >= waitingSeq) {
      waiting = state.waiting || {};
      waitingSeq = state.seq;
    }
    renderWaiting();
    calls = (state.recent_calls || []).slice(0, MAX_CALLS);
    renderCalls(false);
    layout();
    connectedBefore = true;
  }

  function onCalled(ev) {
    var tile = tiles[ev.counter];
    if (!tile) return; // another zone's counter
    if (ev.seq !== undefined) {
      if (announced[ev.seq]) return;
      announced[ev.seq] = true;
      announcedOrder.push(ev.seq);
      if (announcedOrder.length > 200) delete announced[announcedOrder.shift()];
    }
    if (ev.seq === undefined || ev.seq >= tile.seq) {
      tile.view = Object.assign({}, tile.view, {
        current: { number: ev.number, service: ev.service, called_at: ev.called_at },
        status: "open"
      });
      tile.seq = ev.seq === undefined ? tile.seq : ev.seq;
      renderTile(ev.counter);
      layout();
    }
    flash(ev.counter);
    calls.unshift({ number: ev.number, counter: ev.counter, recall: !!ev.recall, called_at: ev.called_at });
    calls = calls.slice(0, MAX_CALLS);
    renderCalls(true);
    announcer.announce(ev);
  }

  function onCounterChanged(ev) {
    var tile = tiles[ev.counter];
    if (!tile || (ev.seq !== undefined && ev.seq < tile.seq)) return;
    tile.view = ev;
    tile.seq = ev.seq === undefined ? tile.seq : ev.seq;
    renderTile(ev.counter);
  }

  function onQueueChanged(ev) {
    if (ev.seq !== undefined && ev.seq < waitingSeq) return;
    waiting = ev.waiting || {};
    waitingSeq = ev.seq === undefined ? waitingSeq : ev.seq;
    renderWaiting();
  }

  function onError(ev) {
    if (!ev) return;
    errorBox.textContent = QS.lang === "en" ? (ev.message_en || ev.message) : ev.message;
    errorBox.hidden = false;
  }

  // ------------------------------------------------------------------- startup
  var socket = QS.connect(zone ? { zone: zone } : {});
  socket.on("connect", function () {
    Object.keys(tiles).forEach(function (n) { tiles[n].seq = -1; }); // a new connection: new order
    waitingSeq = -1;
    if (connectedBefore) socket.emit("sync", zone ? { zone: zone } : {});
  });
  socket.on("state", onState);
  socket.on("ticket_called", onCalled);
  socket.on("counter_changed", onCounterChanged);
  socket.on("queue_changed", onQueueChanged);
  socket.on("error", onError);

  if (QS.lang === "en") {
    QS.api("GET", "/api/v1/services").then(function (r) {
      (r.data.services || []).forEach(function (s) { englishNames[s.id] = s.name_en || s.name; });
      order.forEach(renderTile);
      renderWaiting();
    }, function () { /* Vietnamese names stay */ });
  }

  tickClock();
  window.setInterval(tickClock, 1000);
  announcer.probe();
})();
