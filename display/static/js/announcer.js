/* The display's voice: ONE audio queue, so two calls never talk over each other (SPEC §5).
 *
 * Each call is played as [chime, voice] through a single <audio> element, strictly one clip after
 * another; a recall is just another call. A clip that fails (missing file, decode error, stalled)
 * is logged and skipped so the queue never jams. When the browser refuses to play (autoplay
 * policy), the queue stops where it is, `onBlocked` shows the "Bấm để bật âm thanh" overlay, and
 * `unlock()` (called from that click) resumes at the same clip.
 *
 * For Chromium kiosks, start the browser with --autoplay-policy=no-user-gesture-required so the
 * TV speaks without anyone touching it.
 *
 * Test hooks: window.__announcements lists every clip as
 *   {kind: "chime"|"voice", url, number, counter, recall, queued, started, ended, error}
 * (epoch milliseconds), and <body data-audio-state="idle|playing|blocked|off">.
 */
(function () {
  "use strict";

  var CHIME_URL = "/audio/chime.wav";
  var MAX_QUEUE = 30;            // calls waiting to be spoken; the oldest are dropped beyond this
  var STALE_MS = 3 * 60 * 1000;  // a call not yet spoken after 3 minutes is no longer announced
  var GAP_MS = 350;              // silence between two calls
  var NO_END_GRACE_MS = 2500;    // after a clip's duration, give up waiting for `ended`
  var UNKNOWN_LENGTH_MS = 30000;

  var LOG_LIMIT = 400;            // a TV runs for months: keep only the latest clips in the log
  var log = window.__announcements = window.__announcements || [];

  function setState(state) {
    document.body.setAttribute("data-audio-state", state);
  }

  function Blocked(error) { this.error = error; }

  /** A tiny silent WAV (as a Blob URL) to learn at start-up whether sound is allowed. */
  function silentWavUrl() {
    var samples = 800, buffer = new ArrayBuffer(44 + samples * 2), v = new DataView(buffer);
    function str(offset, s) { for (var i = 0; i < s.length; i++) v.setUint8(offset + i, s.charCodeAt(i)); }
    str(0, "RIFF"); v.setUint32(4, 36 + samples * 2, true); str(8, "WAVE"); str(12, "fmt ");
    v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
    v.setUint32(24, 8000, true); v.setUint32(28, 16000, true); v.setUint16(32, 2, true);
    v.setUint16(34, 16, true); str(36, "data"); v.setUint32(40, samples * 2, true);
    return URL.createObjectURL(new Blob([buffer], { type: "audio/wav" }));
  }

  function Announcer(options) {
    options = options || {};
    this.chime = options.chime !== false;
    this.enabled = options.enabled !== false;
    this.onBlocked = options.onBlocked || function () {};
    this.onUnblocked = options.onUnblocked || function () {};
    this.audio = new Audio();
    this.audio.preload = "auto";
    this.queue = [];   // calls; each is {call, clips: [...], index}
    this.busy = false;
    this.blocked = false;
    setState(this.enabled ? "idle" : "off");
  }

  /** Queues one call (a `ticket_called` payload) to be announced after those before it. */
  Announcer.prototype.announce = function (call) {
    if (!this.enabled) return;
    var clips = [];
    if (this.chime) clips.push({ kind: "chime", url: CHIME_URL });
    if (call.audio_url) clips.push({ kind: "voice", url: call.audio_url });
    if (!clips.length) return;
    this.queue.push({ call: call, clips: clips, index: 0, queued: Date.now() });
    while (this.queue.length > MAX_QUEUE) this.queue.splice(this.busy ? 1 : 0, 1);
    this._pump();
  };

  /** From a user's click on the overlay: sound is allowed now; carry on where we stopped. */
  Announcer.prototype.unlock = function () {
    this.blocked = false;
    this.onUnblocked();
    setState(this.busy ? "playing" : "idle");
    this._pump();
  };

  /** Tries a silent clip: if the browser refuses sound, show the overlay before the first call. */
  Announcer.prototype.probe = function () {
    var self = this;
    if (!this.enabled) return;
    var url = silentWavUrl();
    var probe = new Audio(url);
    var played = probe.play();
    if (played && played.then) {
      played.then(function () { URL.revokeObjectURL(url); }, function (error) {
        URL.revokeObjectURL(url);
        if (error && error.name === "NotAllowedError" && !self.blocked) {
          self.blocked = true;
          setState("blocked");
          self.onBlocked();
        }
      });
    }
  };

  Announcer.prototype._pump = function () {
    var self = this;
    if (this.busy || this.blocked) return;
    var item = this.queue[0];
    if (!item) { setState("idle"); return; }
    if (Date.now() - item.queued > STALE_MS) {
      this.queue.shift();
      this._pump();
      return;
    }
    this.busy = true;
    setState("playing");
    var clip = item.clips[item.index];
    this._play(clip, item.call).then(function () {
      self.busy = false;
      item.index += 1;
      if (item.index >= item.clips.length) {
        self.queue.shift();
        if (self.queue.length) {
          self.busy = true; // hold the queue during the gap so nothing can start in between
          window.setTimeout(function () { self.busy = false; self._pump(); }, GAP_MS);
          return;
        }
      }
      self._pump();
    }, function (reason) {
      self.busy = false;
      if (reason instanceof Blocked) {
        self.blocked = true;
        setState("blocked");
        self.onBlocked();
      } else {
        item.index += 1;
        self._pump();
      }
    });
  };

  /** Plays one clip to its end. Resolves when done (or failed: logged, skipped); rejects with
   * Blocked when the browser refuses to play. */
  Announcer.prototype._play = function (clip, call) {
    var audio = this.audio;
    var entry = {
      kind: clip.kind, url: clip.url, number: call.number, counter: call.counter,
      recall: !!call.recall, queued: Date.now(), started: null, ended: null, error: null
    };
    return new Promise(function (resolve, reject) {
      var settled = false, guard = null;
      function cleanup() {
        audio.removeEventListener("playing", onPlaying);
        audio.removeEventListener("ended", onEnded);
        audio.removeEventListener("error", onError);
        audio.removeEventListener("loadedmetadata", armGuard);
        if (guard) window.clearTimeout(guard);
      }
      function finish(error) {
        if (settled) return;
        settled = true;
        cleanup();
        entry.ended = Date.now();
        entry.error = error || null;
        if (error) { try { audio.pause(); } catch (e) { /* ignore */ } }
        resolve();
      }
      function armGuard() {
        if (guard) window.clearTimeout(guard);
        var ms = isFinite(audio.duration) && audio.duration > 0
          ? audio.duration * 1000 + NO_END_GRACE_MS : UNKNOWN_LENGTH_MS;
        guard = window.setTimeout(function () { finish("timeout"); }, ms);
      }
      function onPlaying() { if (entry.started === null) entry.started = Date.now(); armGuard(); }
      function onEnded() { finish(null); }
      function onError() { finish("media_error"); }
      audio.addEventListener("playing", onPlaying);
      audio.addEventListener("ended", onEnded);
      audio.addEventListener("error", onError);
      audio.addEventListener("loadedmetadata", armGuard);
      audio.src = clip.url;
      guard = window.setTimeout(function () { finish("timeout"); }, UNKNOWN_LENGTH_MS);
      log.push(entry);
      if (log.length > LOG_LIMIT) log.splice(0, log.length - LOG_LIMIT);
      var played;
      try { played = audio.play(); } catch (e) { played = Promise.reject(e); }
      if (played && played.then) {
        played.then(function () {
          if (entry.started === null) entry.started = Date.now();
        }, function (error) {
          if (settled) return;
          if (error && error.name === "NotAllowedError") {
            settled = true;
            cleanup();
            log.splice(log.indexOf(entry), 1); // not played: it will be retried after the click
            reject(new Blocked(error));
          } else if (error && error.name === "AbortError") {
            // superseded load; the error/ended listeners or the guard settle it
          } else {
            finish(error && error.name ? error.name : "play_failed");
          }
        });
      }
    });
  };

  window.QSAnnouncer = Announcer;
})();
