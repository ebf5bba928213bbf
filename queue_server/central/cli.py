"""`queue-server central --database DSN --centers FILE [--host H] [--port N]` (SPEC §9).

Before serving: reads the centers file (a bad one is refused, exit 2), migrates the database
(exit 3 when it cannot be reached), and records the centers. Then gunicorn serves the central's
Flask app (`web.create_central_app`) with `--workers` gthread workers of `--threads` threads; each
worker opens its own psycopg_pool pool (connections are never shared across a fork). `--certfile`
and `--keyfile` serve HTTPS directly (else put a TLS proxy in front: centers send only over HTTPS
unless the central is on their loopback).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gunicorn.app.base import BaseApplication

log = logging.getLogger("queue_server.central")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="queue-server central",
                                description="The province's central reporting backend (PostgreSQL).")
    p.add_argument("--database", required=True, help="PostgreSQL DSN, e.g. postgresql://user@host/db")
    p.add_argument("--centers", type=Path, required=True,
                   help="TOML file with [[centers]] (id, name, token) and [[readers]] (name, token)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8090, help="port (default 8090)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    p.add_argument("--threads", type=int, default=8, help="threads per worker = pool size (default 8)")
    p.add_argument("--timezone", default="Asia/Ho_Chi_Minh",
                   help="the province's time zone, which sets the views' default day (default Asia/Ho_Chi_Minh)")
    p.add_argument("--certfile", help="TLS certificate (PEM) to serve HTTPS")
    p.add_argument("--keyfile", help="TLS private key (PEM)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


class CentralServer(BaseApplication):  # type: ignore[misc]
    """gunicorn (its documented custom application) serving the central app; `load()` runs in
    each worker and opens that worker's pool."""

    def __init__(self, options: dict[str, Any], dsn: str, registry: Any, tz: ZoneInfo,
                 pool_size: int) -> None:
        self.options = options
        self.dsn = dsn
        self.registry = registry
        self.tz = tz
        self.pool_size = pool_size
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from .db import create_pool
        from .web import create_central_app

        pool = create_pool(self.dsn, self.pool_size)
        return create_central_app(pool, self.registry, self.tz)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import psycopg
    except ImportError:
        print("queue-server central: psycopg is missing; install the 'central' extra "
              "(pip install 'quay-so[central]')", file=sys.stderr)
        return 2
    from .. import serving
    from .db import migrate, sync_centers
    from .registry import RegistryError, load_registry

    try:
        registry = load_registry(args.centers)
        tz = ZoneInfo(args.timezone)
    except RegistryError as exc:
        print(f"queue-server central: {exc}", file=sys.stderr)
        return 2
    except (ZoneInfoNotFoundError, ValueError):
        print(f"queue-server central: --timezone: unknown time zone {args.timezone!r}", file=sys.stderr)
        return 2
    if bool(args.certfile) != bool(args.keyfile):
        print("queue-server central: give both --certfile and --keyfile", file=sys.stderr)
        return 2
    try:
        version = migrate(args.database)
        sync_centers(args.database, [(c.id, c.name) for c in registry.centers.values()])
    except (psycopg.Error, RuntimeError) as exc:
        print(f"queue-server central: database: {exc}", file=sys.stderr)
        return 3
    try:
        listener = serving.listen(args.host, args.port)
    except OSError as exc:
        print(f"queue-server central: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 3
    scheme = "https" if args.certfile else "http"
    port = listener.getsockname()[1]
    log.info("central backend: schema v%d, %d centers, %d readers; %s://%s:%s", version,
             len(registry.centers), len(registry.readers), scheme,
             args.host, port)
    print(f"READY {scheme}://{args.host}:{port}", flush=True)
    options: dict[str, Any] = {
        "bind": [f"fd://{listener.fileno()}"], "workers": args.workers, "worker_class": "gthread",
        "threads": args.threads, "timeout": 30, "graceful_timeout": 5, "keepalive": 30,
        "accesslog": "-" if args.access_log else None, "errorlog": "-",
        "loglevel": "debug" if args.verbose else "warning", "proc_name": "queue-server-central",
        "control_socket_disable": True,
    }
    if args.certfile:
        options.update(certfile=args.certfile, keyfile=args.keyfile)
    CentralServer(options, args.database, registry, tz, args.threads).run()
    return 0
