"""`queue-server`: start the hub for one center (SPEC §9).

    queue-server --config PATH [--host H] [--port N] [--data DIR] [--demo]
    queue-server --hash-password            # prints a hash for a [[staff]] password_hash
    queue-server --config PATH --check      # checks the config file and exits

Serving: uvicorn (h11 for HTTP, wsproto for websockets) runs the hub's ASGI application on one
event loop; Flask requests run on a thread pool. asyncio sets TCP_NODELAY on every connection, so a
response written as headers + body never waits ~40 ms for a delayed ACK on a kept-alive kiosk
connection. systemd readiness and watchdog notifications go to $NOTIFY_SOCKET when it is set; the
watchdog is fed only while the database answers and the displays' event loop does.
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

import uvicorn

from . import memory
from .config import Config, ConfigError, load_config
from .demo import demo_config, with_demo_accounts
from .storage import StoreLocked

log = logging.getLogger("queue_server")


class OneLineClientErrors(logging.Filter):
    """python-engineio logs a client's malformed packet (bad JSON, a truncated event) as an ERROR
    with a full traceback. Anyone on the hall's network could fill the Pi's journal that way: keep
    one WARNING line with the exception instead (`--verbose` keeps the tracebacks). The hub's own
    Socket.IO handlers log their failures through their own logger, untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()} (from a client): {record.exc_info[1]!r}"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, made here so the port is known (and printed) before serving.
    IPPROTO_TCP is explicit: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose protocol
    says TCP, and without it a kept-alive client waits ~40 ms per response for a delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
    except OSError:
        sock.close()
        raise
    return sock


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
    p.add_argument("--access-log", action="store_true",
                   help="log every HTTP request and every display's websocket connection")
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
    if not args.verbose:
        logging.getLogger("engineio.server").addFilter(OneLineClientErrors())
    if not (args.verbose or args.access_log):
        # uvicorn logs each websocket connection at INFO: a hall of TVs reconnecting after a
        # network blip would be hundreds of journal lines. Its warnings (bad requests) stay.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
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

    memory.limit_malloc_arenas()
    from .app import create_hub

    try:
        hub = create_hub(config, data)
    except StoreLocked as exc:
        print(f"queue-server: {exc}", file=sys.stderr)
        return 3
    except ConfigError as exc:
        print(f"queue-server: {exc}", file=sys.stderr)
        return 2
    try:
        listener = listen(host, port)
    except OSError as exc:
        print(f"queue-server: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        hub.close()
        return 3
    bound_port = listener.getsockname()[1]
    if hub.kiosk is not None:  # (auth branch) ticket QR codes follow the bound socket; warn if unreachable
        for warning in hub.kiosk.listening_on(config, host, bound_port):
            log.warning("%s", warning)
    stop = threading.Event()

    def healthy() -> bool:
        return hub.publisher.alive() and hub.store.ping()

    def ready() -> None:
        mode = " (demo)" if args.demo else ""
        log.info("%s%s listening on http://%s:%s, data in %s", config.rules.center_name, mode,
                 host, bound_port, Path(data).resolve())
        print(f"READY http://{host}:{bound_port}", flush=True)
        sd_notify("READY=1")
        # Pings only from now on: before READY there is no display loop to vouch for.
        threading.Thread(target=_watchdog, args=(healthy, stop), daemon=True).start()

    server = uvicorn.Server(uvicorn.Config(
        hub.asgi(ready), loop="asyncio", http="h11", ws="wsproto", lifespan="on", log_config=None,
        access_log=args.access_log, server_header=False, timeout_graceful_shutdown=3,
        ws_ping_interval=None,  # Engine.IO pings each client itself
        ws_per_message_deflate=False,  # small frames; compressing each for 200 TVs costs more than it saves
    ))
    threading.Thread(target=memory.return_freed_memory, args=(stop,), name="memory-trim",
                     daemon=True).start()
    memory.settle_garbage_collector()
    # uvicorn stops on SIGTERM/SIGINT, then re-raises the signal to the handler found before it:
    # this one, so the hub closes its store and devices instead of dying on the default action.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda n, _f: log.info("signal %s: stopped", n))
    try:
        server.run(sockets=[listener])
    finally:
        stop.set()
        sd_notify("STOPPING=1")
        hub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
