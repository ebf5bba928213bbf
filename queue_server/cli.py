"""`queue-server`: start the hub for one center (SPEC §9).

    queue-server --config PATH [--host H] [--port N] [--data DIR] [--demo]
    queue-server --hash-password            # prints a hash for a [[staff]] password_hash
    queue-server --config PATH --check      # checks the config file and exits

Serving: werkzeug's threaded WSGI server (Flask-SocketIO's threading mode with simple-websocket),
with TCP_NODELAY on every connection so that a response written as headers + body never waits
~40 ms for a delayed ACK on a kept-alive kiosk connection. systemd readiness and watchdog
notifications go to $NOTIFY_SOCKET when it is set.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .config import Config, ConfigError, load_config
from .demo import demo_config, with_demo_accounts
from .storage import StoreLocked

log = logging.getLogger("queue_server")


class NoDelayRequestHandler(WSGIRequestHandler):
    """Disables Nagle on each connection; quiet unless access logging is asked for."""

    access_log = False

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:  # a UNIX socket or an odd platform: nothing to tune
            pass

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if self.access_log:
            super().log_request(code, size)


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Each Socket.IO display costs three threads in threading mode, and glibc gives threads
    their own malloc arenas (up to 8 per core): capping them keeps the hub's RSS flat as displays
    connect. mallopt(M_ARENA_MAX) is glibc's documented knob; elsewhere this does nothing."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, arenas)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def sd_notify(message: str) -> None:
    """The systemd notify protocol is one datagram; no library needed."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(message.encode(), address)
        except OSError:
            pass


def _watchdog(check: Any, stop: threading.Event) -> None:
    usec = int(os.environ.get("WATCHDOG_USEC", "0"))
    if not usec:
        return
    interval = usec / 2e6
    while not stop.wait(interval):
        try:
            if check():
                sd_notify("WATCHDOG=1")
        except Exception:  # a failing check withholds the ping; systemd restarts us
            log.exception("watchdog check failed")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="queue-server", description="Queue hub of a public service center.")
    p.add_argument("--config", type=Path, help="the center's TOML config file")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1, or [server].host)")
    p.add_argument("--port", type=int, help="port (default 8080, or [server].port)")
    p.add_argument("--data", type=Path, help="folder for the database and printer spool (default ./data)")
    p.add_argument("--demo", action="store_true",
                   help="demo accounts and simulated hardware; with --config, fields and counters come from the file")
    p.add_argument("--check", action="store_true", help="check the config file and exit")
    p.add_argument("--hash-password", action="store_true", help="read a password and print its hash")
    p.add_argument("--access-log", action="store_true", help="log every HTTP request")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def load(args: argparse.Namespace) -> Config:
    if args.config is not None:
        config = load_config(args.config)
        return with_demo_accounts(config) if args.demo else config
    if args.demo:
        return demo_config()
    raise ConfigError("--config", "give a config file, or --demo for the demo center")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.hash_password:
        from .auth import hash_password

        password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
        if not password:
            print("empty password refused", file=sys.stderr)
            return 2
        print(hash_password(password))
        return 0
    try:
        config = load(args)
    except ConfigError as exc:
        print(f"queue-server: {exc}", file=sys.stderr)
        return 2
    if args.check:
        from kiosk.runtime import check_kiosk_config

        try:
            check_kiosk_config(config)
        except ConfigError as exc:
            print(f"queue-server: {exc}", file=sys.stderr)
            return 2
        print(f"{config.source}: OK ({len(config.rules.fields)} fields, {len(config.rules.counters)} counters)")
        return 0
    server_section = config.sections.get("server", {})
    host = args.host or server_section.get("host", "127.0.0.1")
    port = args.port if args.port is not None else server_section.get("port", 8080)
    data = args.data or Path(server_section.get("data", "data"))

    limit_malloc_arenas()
    from .app import create_hub

    try:
        hub = create_hub(config, data)
    except StoreLocked as exc:
        print(f"queue-server: {exc}", file=sys.stderr)
        return 3
    except ConfigError as exc:
        print(f"queue-server: {exc}", file=sys.stderr)
        return 2
    NoDelayRequestHandler.access_log = args.access_log
    server: BaseWSGIServer = make_server(host, port, hub.app, threaded=True,
                                         request_handler=NoDelayRequestHandler)
    server.daemon_threads = True  # type: ignore[attr-defined]
    stop = threading.Event()

    def shutdown(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping", signum)
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    threading.Thread(target=_watchdog, args=(hub.store.ping, stop), daemon=True).start()
    mode = " (demo)" if args.demo else ""
    log.info("%s%s listening on http://%s:%s, data in %s", config.rules.center_name, mode,
             host, server.server_port, Path(data).resolve())
    print(f"READY http://{host}:{server.server_port}", flush=True)
    sd_notify("READY=1")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        sd_notify("STOPPING=1")
        hub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
