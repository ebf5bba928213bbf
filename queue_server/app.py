"""The application factory: the one place that picks the concrete store, clock, publisher and
voice, and wires them around the queue core.

The hub is one WSGI application: Flask for pages and the API, Flask-SocketIO (threading mode,
simple-websocket) for `/socket.io/`; `serving.py` runs it under gunicorn's gthread worker."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request, send_file
from flask_socketio import SocketIO
from werkzeug.exceptions import HTTPException

from .api import create_api, error_response, storage_error_response
from .auth import Authenticator, LoginAdmission
from .config import Config
from .core.errors import QueueError
from .core.ports import Clock
from .core.service import QueueService
from .daybreak import Daybreak, clock_from_env
from .push import AudioIndex, SocketPublisher, register_handlers
from .storage import SqliteStore, default_db_path

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
# Engine.IO's heartbeat (s): the server pings every PING_INTERVAL_S and drops a client that has not
# answered within PING_TIMEOUT_S more — how long a TV that lost power still counts as connected.
PING_INTERVAL_S = 25
PING_TIMEOUT_S = 20


class SystemClock:
    """The wall clock, in UTC (the core converts to the center's time zone)."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass
class Hub:
    app: Flask
    socketio: SocketIO
    service: QueueService
    store: SqliteStore
    publisher: SocketPublisher
    config: Config
    data_dir: Path
    kiosk: Any = None  # kiosk.runtime.KioskRuntime: printer, dispenser, GPIO buttons
    daybreak: Any = None  # daybreak.Daybreak: turns the day at local midnight
    forwarder: Any = None  # forwarder.Forwarder: reports to the province when [reporting] is set
    hall: Any = None  # hall.HallFeed: the manager room's live hall (manager page)

    @property
    def wsgi(self) -> Any:
        """The served WSGI application (Flask-SocketIO's middleware in front of Flask)."""
        return self.app

    def start(self) -> None:
        """Start the event stream (the publisher thread); call once the hub is about to serve."""
        self.publisher.start(self.service.snapshot)
        if self.hall is not None:
            self.hall.start()

    def disconnect_clients(self, timeout_s: float = 2.0) -> None:
        """Close every Socket.IO connection at the Engine.IO level (the hub is stopping): each
        client gets Engine.IO's close packet, a "transport close" that browsers and TVs answer by
        reconnecting to the next hub on their own. Returns once every connection is closed or
        after `timeout_s` seconds.

        One thread per connection, all at once: python-engineio's `disconnect(sid)` waits until
        that socket's writer has taken its queue, and a writer that ended first (its client
        answered the close and hung up before the writer looked again) never does — the
        "close(wait=True) hangs on queue.join()" kind, python-engineio PR #60. Closed one after
        another, that one connection kept every later one open until gunicorn's graceful timeout
        cut them without their close packet (tests/hub/test_hub_serving.py)."""
        server = self.socketio.server
        try:
            eio_sids = [eio_sid for _sid, eio_sid in server.manager.get_participants("/", None)]
        except Exception:  # stopping anyway
            log.exception("could not list the Socket.IO connections")
            return

        def close(eio_sid: str) -> None:
            try:
                server.eio.disconnect(eio_sid)
            except Exception as exc:  # a client that left meanwhile: nothing to close
                log.debug("closing %s: %r", eio_sid, exc)

        closing = [threading.Thread(target=close, args=(sid,), name="stop-socket", daemon=True)
                   for sid in eio_sids]
        for thread in closing:
            thread.start()
        deadline = time.monotonic() + timeout_s
        for thread in closing:
            thread.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        if self.forwarder is not None:  # forwarder: stop before the store closes
            self.forwarder.close()
        if self.daybreak is not None:  # daybreak: stop turning days before the store closes
            self.daybreak.close()
        if self.kiosk is not None:
            self.kiosk.close()
        if self.hall is not None:
            self.hall.close()
        self.publisher.close()
        self.store.close()


def check_voice_config(config: Config) -> str:
    """The `[voice] template` checked (display/voice.py `validate_template`), as start-up and
    `queue-server --check` both need it; raises ConfigError naming its file, line and key."""
    from display import voice

    template = config.sections.get("voice", {}).get("template", voice.DEFAULT_TEMPLATE)
    try:
        voice.validate_template(template)
    except voice.TemplateError as exc:
        raise config.error("voice.template", str(exc)) from None
    return template


def _voice(config: Config, data_dir: Path) -> tuple[Any, Any]:
    """(announcer, cache) from the [voice] section; the sentence works even without audio."""
    from display import voice

    section = config.sections.get("voice", {})
    template = check_voice_config(config)
    engine = section.get("engine", "espeak")
    options: dict[str, Any] = {}
    if engine == "clips":
        options["directory"] = section.get("clips_dir", "")
    elif engine == "espeak" and "speed" in section:
        options["speed"] = section["speed"]
    cache = None
    try:
        cache = voice.VoiceCache(data_dir / "voice-cache", voice.create_synthesizer(engine, **options),
                                 max_bytes=int(section.get("cache_mb", 32)) * 1024 * 1024)
    except voice.VoiceError as exc:
        log.warning("voice disabled: %s", exc)
    except (TypeError, ValueError) as exc:
        raise config.error("voice", str(exc)) from None

    def announce(number: str, counter: int) -> tuple[str, str]:
        sentence = voice.announcement_text(number, counter, template)
        return sentence, cache.key_for(sentence) if cache else ""

    return announce, cache


def create_hub(config: Config, data_dir: Path, clock: Clock | None = None) -> Hub:
    # absolute once, here: Flask's send_file takes a relative path from the package's folder, not
    # the working directory (`make run --data data` served every announcement as a 500)
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    app = Flask("queue_server")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    server = config.sections.get("server", {})
    socketio = SocketIO(app, async_mode="threading", logger=False, engineio_logger=False,
                        ping_interval=server.get("ping_interval", PING_INTERVAL_S),
                        ping_timeout=server.get("ping_timeout", PING_TIMEOUT_S),
                        max_http_buffer_size=MAX_BODY_BYTES)
    store = SqliteStore(default_db_path(data_dir))
    # daybreak: QUAYSO_FAKE_NOW (tests of a real process only) shifts the wall clock
    clock = clock or clock_from_env() or SystemClock()
    # manager: sections an admin saved in the browser replace the file's (settings.py)
    from .settings import CenterSettings, busy_in

    settings = CenterSettings(config, store, clock, lambda new: apply_settings(new))
    config = settings.load()
    announce, cache = _voice(config, data_dir)
    audio = AudioIndex()

    def prepare_audio(text: str) -> None:
        if cache is not None:  # the announcer already remembered the key
            cache.audio_for(text)

    def announcer(number: str, counter: int) -> tuple[str, str]:
        sentence, key = announce(number, counter)
        if cache is not None:
            audio.remember(key, sentence)
        return sentence, key

    publisher = SocketPublisher(socketio, config.rules, announcer, prepare_audio)
    from .hall import HallFeed, HallView, register_manager_room

    feed = HallFeed(publisher)  # manager: every event goes on to `publisher`, and nudges the hall
    service = QueueService(config.rules, store, clock, feed)
    auth = Authenticator(config, store, clock)

    def apply_settings(new: Config) -> None:
        # manager: a configuration saved in the browser takes effect without a restart
        service.replace_rules(new.rules)
        auth.config = new
        publisher.rules_changed(new.rules)  # TVs and panels get the new `state` at once
        app.extensions["hub_config"] = new
        feed.nudge()

    settings.busy_source = lambda: busy_in(service, store)
    app.extensions["queue"] = service
    app.extensions["hub_config"] = config
    app.extensions["auth"] = auth
    # Flask's documented middleware seat: refused logins are answered before Flask (auth.py)
    app.wsgi_app = LoginAdmission(app.wsgi_app, auth)  # type: ignore[method-assign]
    app.register_blueprint(create_api(service, auth, store, config.public_issuing))
    from display.web import create_pages

    app.register_blueprint(create_pages(service, config))
    from .report_page import create_report_page  # /manager/reports (issue 11)

    app.register_blueprint(create_report_page(config.rules.center_name, config.rules.center_name_en,
                                              config.rules.rating_levels))
    from kiosk.web import install_kiosk

    kiosk = install_kiosk(app, service, auth, config, data_dir, feed.publish)
    register_handlers(socketio, service, publisher)
    from .manager import create_manager_blueprint

    view = HallView(service, store, auth, kiosk)
    app.register_blueprint(create_manager_blueprint(service, auth, store, settings, view))
    from .openapi import manager_paths

    app.extensions["openapi_paths"] = {**app.extensions.get("openapi_paths", {}), **manager_paths()}
    register_manager_room(socketio, auth, view, feed)
    feed.attach(socketio, view, auth)

    @app.get("/audio/<key>.wav")
    def audio_file(key: str) -> Response:
        if cache is None:
            abort(404)
        path = cache.path_for_key(key)
        if path is None:
            text = audio.text(key)
            if text is None:
                abort(404)
            cache.audio_for(text)
            path = cache.path_for_key(key)
        return send_file(path, mimetype="audio/wav", max_age=86400)

    @app.get("/audio/chime.wav")
    def chime() -> Response:
        from display.voice import chime_wav

        return Response(chime_wav(), mimetype="audio/wav", headers={"Cache-Control": "max-age=86400"})

    # Refusals and storage failures get the same JSON answer from every blueprint (API, kiosk).
    app.register_error_handler(QueueError, error_response)
    app.register_error_handler(sqlite3.Error, storage_error_response)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        # A browser gets a page in the center's style, API clients JSON; a 405 keeps its Allow.
        from .pages import http_error_response

        return http_error_response(exc, config.rules.center_name)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Any:
        # Never a stack trace on a screen: log it, answer plainly (a page or JSON, as above).
        log.exception("unhandled error on %s %s", request.method, request.path)
        from .pages import unexpected_error_response

        return unexpected_error_response(config.rules.center_name)

    # daybreak: close what earlier days left open now, then turn the day at each local midnight
    daybreak = Daybreak(service, clock, config.rules.timezone)
    daybreak.start()
    # forwarder: reporting to the province (off unless [reporting] is configured)
    from .forwarder import install_forwarder

    forwarder = install_forwarder(app, config, store, clock, auth)
    return Hub(app, socketio, service, store, publisher, config, data_dir, kiosk, daybreak,
               forwarder=forwarder, hall=feed)
