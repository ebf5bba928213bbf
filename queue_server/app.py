"""The application factory: the one place that picks the concrete store, clock, publisher and
voice, and wires them around the queue core.

The hub is one ASGI application: `/socket.io/` goes to python-socketio's asyncio server (displays,
counters, phones), everything else to the Flask app on a pool of threads (a2wsgi), where SQLite's
blocking commits belong."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import socketio
from a2wsgi import WSGIMiddleware
from flask import Flask, Response, abort, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from .api import create_api, error_response, storage_error_response
from .auth import Authenticator
from .config import Config, ConfigError
from .core.errors import QueueError
from .core.ports import Clock
from .core.service import QueueService
from .fanout import create_socket_server
from .push import AudioIndex, SocketPublisher, register_handlers
from .storage import SqliteStore, default_db_path

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 64 * 1024
HTTP_THREADS = 16  # concurrent Flask requests; kiosks, counters and phones, never the displays


class SystemClock:
    """The wall clock, in UTC (the core converts to the center's time zone)."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


def bodies_end_where_asgi_says(app: Any) -> Any:
    """uvicorn hands a request body over with a definite end (a chunked upload is de-chunked), but
    a2wsgi does not tell WSGI so: without `wsgi.input_terminated` werkzeug reads a body that has no
    Content-Length as empty. MAX_CONTENT_LENGTH still applies while reading."""

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ["wsgi.input_terminated"] = True
        return app(environ, start_response)

    return wsgi


@dataclass
class Hub:
    app: Flask
    sio: socketio.AsyncServer
    service: QueueService
    store: SqliteStore
    publisher: SocketPublisher
    config: Config
    data_dir: Path
    kiosk: Any = None  # kiosk.runtime.KioskRuntime: printer, dispenser, GPIO buttons

    def asgi(self, ready: Callable[[], None] | None = None) -> socketio.ASGIApp:
        """The served application; `ready()` runs once the event stream is running."""

        def startup() -> None:
            self.publisher.start(self.service.snapshot)
            if ready is not None:
                ready()

        flask = WSGIMiddleware(bodies_end_where_asgi_says(self.app), workers=HTTP_THREADS)
        return socketio.ASGIApp(self.sio, other_asgi_app=flask, on_startup=startup)

    def close(self) -> None:
        if self.kiosk is not None:
            self.kiosk.close()
        self.publisher.close()
        self.store.close()


def _voice(config: Config, data_dir: Path) -> tuple[Any, Any]:
    """(announcer, cache) from the [voice] section; the sentence works even without audio."""
    from display import voice

    section = config.sections.get("voice", {})
    template = section.get("template", voice.DEFAULT_TEMPLATE)
    try:
        voice.validate_template(template)
    except voice.TemplateError as exc:
        raise ConfigError("voice.template", str(exc), None, config.source) from None
    engine = section.get("engine", "espeak")
    options: dict[str, Any] = {}
    if engine == "clips":
        options["directory"] = section.get("clips_dir", "")
    elif engine == "espeak" and "speed" in section:
        options["speed"] = section["speed"]
    cache = None
    try:
        cache = voice.VoiceCache(data_dir / "voice-cache", voice.create_synthesizer(engine, **options))
    except voice.VoiceError as exc:
        log.warning("voice disabled: %s", exc)
    except (TypeError, ValueError) as exc:
        raise ConfigError("voice", str(exc), None, config.source) from None

    def announce(number: str, counter: int) -> tuple[str, str]:
        sentence = voice.announcement_text(number, counter, template)
        return sentence, cache.key_for(sentence) if cache else ""

    return announce, cache


def create_hub(config: Config, data_dir: Path, clock: Clock | None = None) -> Hub:
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    app = Flask("queue_server")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    sio = create_socket_server()
    store = SqliteStore(default_db_path(data_dir))
    clock = clock or SystemClock()
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

    publisher = SocketPublisher(sio, config.rules, announcer, prepare_audio)
    service = QueueService(config.rules, store, clock, publisher)
    auth = Authenticator(config, store, clock)
    app.extensions["queue"] = service
    app.extensions["hub_config"] = config
    app.register_blueprint(create_api(service, auth, store, config.public_issuing))
    from display.web import create_pages

    app.register_blueprint(create_pages(service, config))
    from kiosk.web import install_kiosk

    kiosk = install_kiosk(app, service, auth, config, data_dir, publisher.publish)
    register_handlers(sio, service, publisher)

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

    return Hub(app, sio, service, store, publisher, config, data_dir, kiosk)
