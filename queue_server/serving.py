"""Serving the hub: Flask + Flask-SocketIO (threading mode, simple-websocket) behind gunicorn's
gthread worker, the production server Flask-SocketIO documents for that mode.

- One worker process: the hub holds the queue lock and the data folder's `flock`, so there is
  exactly one. gunicorn's master only supervises it (a worker that dies is started again) and owns
  the listening socket, which `cli.py` binds before gunicorn starts (so a busy port is a clear
  error and `--port 0` is printed).
- `threads` (default 256, `[server] threads`): each websocket holds one thread of the pool for as
  long as it is connected (simple-websocket reads in it); kiosks, counter panels and phones use
  the rest. A center has tens of Socket.IO clients; the benchmark runs 200.
- TCP_NODELAY is set on the listening socket (gunicorn sets it too), and Linux hands it to every
  accepted connection: a response written as headers + body never waits ~40 ms for a delayed ACK
  on a kept-alive kiosk connection (SPEC §11).
- A client that stops reading is dropped: every websocket gets a fixed kernel send buffer and
  TCP_USER_TIMEOUT (`[server] send_timeout`, default `SEND_TIMEOUT_S`): once data has waited that
  long unacknowledged (a closed receive window included, Linux ≥ 5.5), the kernel aborts the
  connection, the websocket's writer and reader end with it, and what was queued for it is freed —
  the hub's memory does not grow with what a client never takes. (A send timeout, SO_SNDTIMEO,
  was tried first: simple-websocket's close then raises on the full socket and the connection
  lingers until the ping timeout.)
- systemd (Type=notify, NotifyAccess=all): the master's own READY (sent before the app is loaded)
  is withheld; the worker says READY=1 once the hub serves, WATCHDOG=1 while its health check
  passes, STOPPING=1 when it is told to stop. On SIGTERM, SIGINT or SIGQUIT the worker closes
  every Socket.IO connection first, websocket and long-polling (clients reconnect to the next hub
  on their own), then stops gracefully, so the stop does not wait out `graceful_timeout` on
  websockets that never end.

Public extension points only: a `BaseApplication` subclass (gunicorn's documented custom
application), a `ThreadWorker` subclass for the stop signal, gunicorn's server hooks, and
python-engineio's `Server.disconnect()`.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from firmware_bridge import notify

if TYPE_CHECKING:
    from .app import Hub

log = logging.getLogger("queue_server")

DEFAULT_THREADS = 256
SEND_TIMEOUT_S = 10  # a websocket client that takes no byte for this long is dropped
# A websocket's kernel send buffer, fixed (the kernel doubles it for its bookkeeping): what a TV
# that stopped reading can leave queued in the kernel before writes to it wait, then time out.
SEND_BUFFER_BYTES = 64 * 1024
KEEPALIVE_S = 75     # an idle kept-alive kiosk connection is kept this long (waits in the poller)

# systemd's notify socket, taken from the environment before gunicorn starts (its master would
# announce READY before the hub is loaded) and used by the worker it forks.
_notify_address: str | None = None


def take_notify_socket() -> None:
    """Remove $NOTIFY_SOCKET from the environment and keep it for `sd_notify` (call once, in the
    master, before gunicorn starts)."""
    global _notify_address
    _notify_address = os.environ.pop("NOTIFY_SOCKET", None) or _notify_address


def sd_notify(message: str) -> None:
    """One datagram of systemd's notify protocol ("READY=1", "WATCHDOG=1", "STOPPING=1") to the
    socket `take_notify_socket` kept (else $NOTIFY_SOCKET); nothing when not run by systemd."""
    notify.sd_notify(message, _notify_address)


def watchdog(check: Callable[[], bool], stop: threading.Event) -> None:
    """Ping systemd every half of $WATCHDOG_USEC while `check()` passes; a failing or raising
    check withholds the ping, and systemd restarts the hub."""
    usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
    if not usec:
        return
    interval = usec / 2e6
    while not stop.wait(interval):
        try:
            if check():
                sd_notify("WATCHDOG=1")
        except Exception:
            log.exception("watchdog check failed")


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is a clear error before gunicorn starts and
    the real port of `--port 0` is known. Inheritable: gunicorn's worker accepts on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(256)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class HubWorker(ThreadWorker):
    """gunicorn's gthread worker, plus: a stop signal first closes every Socket.IO connection
    (their handlers hold pool threads until then), and only then stops serving.

    The closing runs in a thread of its own while the worker still serves: a long-polling client
    takes its close packet with its next request, which may need a new connection, and the
    worker's main thread (the one that accepts and dispatches) must not be blocked by the signal
    handler meanwhile. Once every client has its close packet, or after `CLOSE_CLIENTS_S`, the
    worker stops the way gunicorn's gthread worker does (graceful: in-flight requests finish)."""

    CLOSE_CLIENTS_S = 2.0

    def init_process(self) -> None:
        self._stopping = threading.Lock()
        super().init_process()

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM (systemd's stop): close the Socket.IO connections, then a graceful stop."""
        self._stop_after_closing(sig, frame)

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGINT/SIGQUIT (Ctrl-C on `make run`, which also makes gunicorn's master send SIGQUIT):
        the same as SIGTERM, within the master's graceful timeout — gthread's own quick quit
        would cut every websocket without its close packet."""
        self._stop_after_closing(sig, frame)

    def _stop_after_closing(self, sig: int, frame: Any) -> None:
        if not self._stopping.acquire(blocking=False):
            return  # a second signal (the terminal's and the master's): already stopping
        sd_notify("STOPPING=1")
        hub = getattr(self.app, "hub", None)

        def close_then_stop() -> None:
            try:
                if hub is not None:
                    hub.disconnect_clients(self.CLOSE_CLIENTS_S)
            finally:
                ThreadWorker.handle_exit(self, sig, frame)  # thread-safe: a flag and a wake-up

        threading.Thread(target=close_then_stop, name="stop-sockets", daemon=True).start()


def limit_send_time(environ: dict[str, Any], seconds: int = SEND_TIMEOUT_S) -> None:
    """A websocket upgrade's connection gets a fixed send buffer (`SEND_BUFFER_BYTES`) and
    TCP_USER_TIMEOUT of `seconds`: the kernel aborts the connection once sent data has waited that
    long for an acknowledgement (a client that reads nothing, a TV that lost power), so its writer
    stops instead of waiting forever while its queue grows. Other requests are untouched."""
    sock = environ.get("gunicorn.socket")
    if sock is None or environ.get("HTTP_UPGRADE", "").lower() != "websocket":
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, seconds * 1000)
    except OSError:
        pass


def quiet_connection_threads() -> None:
    """A connection's own thread (simple-websocket's reader, Engine.IO's writer) that dies on a
    socket error — a client gone, a descriptor closed while the hub stops — is one WARNING line,
    not a traceback in the journal; any other exception in a thread keeps its full traceback.
    Uses `threading.excepthook`, the standard library's documented hook."""
    default = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, OSError):
            name = args.thread.name if args.thread is not None else "?"
            log.warning("connection thread %s ended: %r", name, args.exc_value)
        else:
            default(args)

    threading.excepthook = hook


class HubServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running the hub: `build()` makes the Hub in the worker process (threads and the
    SQLite connection must be born there, not in the master it forks from); `ready(hub)` runs
    once it is built and about to accept.

    `options`: gunicorn settings by name (bind, threads, keepalive, accesslog, …);
    `send_timeout_s`: see `limit_send_time`."""

    def __init__(self, build: Callable[[], Hub], ready: Callable[[Hub], None],
                 options: dict[str, Any], send_timeout_s: int = SEND_TIMEOUT_S) -> None:
        self.build = build
        self.ready = ready
        self.options = options
        self.send_timeout_s = send_timeout_s
        self.hub: Hub | None = None
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("worker_exit", self._worker_exit)

    def _worker_exit(self, _arbiter: Any, _worker: Any) -> None:
        """gunicorn's `worker_exit` hook, in the worker once it stops serving: close the hub (its
        publisher, printer, GPIO and database) so nothing acknowledged is left half-written."""
        if self.hub is not None:
            self.hub.close()
            self.hub = None

    def load(self) -> Any:
        from .config import ConfigError
        from .storage import StoreLocked

        quiet_connection_threads()
        try:
            self.hub = self.build()
        except (StoreLocked, ConfigError) as exc:
            print(f"queue-server: {exc}", file=sys.stderr, flush=True)
            # gunicorn stops (instead of starting the worker again) on a worker that failed to boot
            sys.exit(3)
        hub = self.hub
        self.ready(hub)
        app = hub.wsgi
        send_timeout_s = self.send_timeout_s

        def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
            limit_send_time(environ, send_timeout_s)
            return app(environ, start_response)

        return wsgi


def gunicorn_options(listener: socket.socket, threads: int, access_log: bool, verbose: bool) -> dict[str, Any]:
    """The gunicorn settings of the hub (documented in gunicorn's settings reference)."""
    return {
        "bind": [f"fd://{listener.fileno()}"],
        "workers": 1,
        "worker_class": "queue_server.serving.HubWorker",
        "threads": threads,
        "worker_connections": max(1000, threads * 4),
        "keepalive": KEEPALIVE_S,
        "timeout": 30,            # the master restarts a worker whose main loop stops for this long
        "graceful_timeout": 5,
        "accesslog": "-" if access_log else None,
        "errorlog": "-",
        "loglevel": "debug" if verbose else "warning",
        "proc_name": "queue-server",
        "preload_app": False,
        "control_socket_disable": True,
    }
