"""`queue-server`: start the hub for one center (SPEC §9).

    queue-server --config PATH [--host H] [--port N] [--data DIR] [--demo]
    queue-server --hash-password            # prints a hash for a [[staff]] password_hash
    queue-server --config PATH --check      # checks the config file and exits
    queue-server central --database DSN --centers FILE [--host H] [--port N]
                                            # the province's reporting backend (central/cli.py)
    queue-server backup  [--config PATH] [--data DIR] [--label L]   # online backup + retention
    queue-server restore FILE [--data DIR]  # the hub stopped: replace the database with a backup
    queue-server migrate [--data DIR]       # the hub stopped: bring the database to this schema
    queue-server doctor  [--config PATH] [--data DIR] [--lang vi|en]   # what is wrong, and the fix
    queue-server reporting retry-refused [--data DIR]   # send the batches the central refused again

Serving (`serving.py`): gunicorn's gthread worker runs the Flask + Flask-SocketIO hub in one
worker process; its master supervises it. systemd readiness and watchdog notifications go to
$NOTIFY_SOCKET when it is set (the unit needs NotifyAccess=all: the worker sends them); the
watchdog is fed only while the database answers and the publisher thread does.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from . import memory
from .config import Config, ConfigError, load_config
from .demo import demo_config, with_demo_accounts

if TYPE_CHECKING:
    from .app import Hub

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


SUBCOMMANDS_HELP = """commands (each has its own --help):
  queue-server doctor  [--config PATH | --demo] [--data DIR] [--lang vi|en]
                       what is wrong with this installation, and the fix
  queue-server backup  [--config PATH] [--data DIR] [--label L]
                       online backup of the database, then its retention
  queue-server restore FILE [--config PATH] [--data DIR]
                       the hub stopped: replace the database with a backup
  queue-server migrate [--config PATH] [--data DIR]
                       the hub stopped: bring the database to this release's schema
  queue-server central --database DSN --centers FILE [--host H] [--port N]
                       the province's central reporting backend
  queue-server reporting retry-refused [--config PATH] [--data DIR]
                       send again the batches the central refused (once it is fixed)
"""


def build_parser() -> argparse.ArgumentParser:
    """The hub's own options; the subcommands (COMMANDS, central) are listed in the epilog, and
    main() dispatches them before this parser sees argv."""
    p = argparse.ArgumentParser(prog="queue-server", description="Queue hub of a public service center.",
                                epilog=SUBCOMMANDS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, help="the center's TOML config file")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1, or [server].host)")
    p.add_argument("--port", type=int, help="port (default 8080, or [server].port)")
    p.add_argument("--data", type=Path, help="folder for the database and printer spool (default ./data)")
    p.add_argument("--demo", action="store_true",
                   help="demo accounts and simulated hardware; with --config, fields and counters come from the file")
    p.add_argument("--check", action="store_true", help="check the config file and exit")
    p.add_argument("--hash-password", action="store_true", help="read a password and print its hash")
    p.add_argument("--access-log", action="store_true",
                   help="log every HTTP request (displays' long-lived connections included)")
    p.add_argument("--verbose", action="store_true", help="debug logging")
    return p


def load(args: argparse.Namespace) -> Config:
    if args.config is not None:
        config = load_config(args.config)
        return with_demo_accounts(config) if args.demo else config
    if args.demo:
        return demo_config()
    raise ConfigError("--config", "give a config file, or --demo for the demo center")


def _data_folder(args: argparse.Namespace) -> tuple[Config | None, Path]:
    """The config (None without --config) and the data folder, as the hub would pick them."""
    config = load_config(args.config) if args.config is not None else None
    server = config.sections.get("server", {}) if config is not None else {}
    return config, (args.data or Path(server.get("data", "data"))).resolve()


def _fail(exc: Exception) -> int:
    from .backup import BackupError

    if isinstance(exc, BackupError):
        print(f"queue-server: {exc.message}\nqueue-server: {exc.message_en}", file=sys.stderr)
    else:
        print(f"queue-server: {exc}", file=sys.stderr)
    return 1


def backup_main(argv: list[str]) -> int:
    """`queue-server backup`: one online backup into `[backup] dir`, then its retention (the
    nightly timer runs it while the hub serves)."""
    from . import backup
    from .storage import default_db_path

    p = argparse.ArgumentParser(prog="queue-server backup", description="Back up the database (online).")
    p.add_argument("--config", type=Path, help="the center's TOML config file ([backup] dir, keep_days)")
    p.add_argument("--data", type=Path, help="the hub's data folder")
    p.add_argument("--label", default="", help="added to the file name, e.g. pre-upgrade")
    args = p.parse_args(argv)
    try:
        try:
            config, data = _data_folder(args)
        except ConfigError as exc:
            # a config being edited must not stop the nightly backup: the default folder then
            if args.data is None:
                raise
            print(f"queue-server: {exc}; backing up into <data>/backups", file=sys.stderr)
            config, data = None, args.data
        where = backup.settings(config.sections if config else {}, data)
        made = backup.take_backup(default_db_path(data), where.folder, label=args.label)
        print(f"backup: {made} ({made.stat().st_size} bytes)")
        for old in backup.prune(where.folder, where.keep_days):
            print(f"deleted (older than {where.keep_days} days): {old}")
    except (ConfigError, backup.BackupError, ValueError) as exc:
        return _fail(exc)
    return 0


def restore_main(argv: list[str]) -> int:
    """`queue-server restore FILE`: the hub stopped, replace its database with a checked backup."""
    from . import backup

    p = argparse.ArgumentParser(prog="queue-server restore",
                                description="Replace the database with a backup (stop the hub first).")
    p.add_argument("file", type=Path, help="a backup made by `queue-server backup`")
    p.add_argument("--config", type=Path, help="the center's TOML config file ([server] data)")
    p.add_argument("--data", type=Path, help="the hub's data folder")
    args = p.parse_args(argv)
    try:
        _, data = _data_folder(args)
        kept = backup.restore(args.file, data)
        version_before, version = backup.migrate(data)
    except (ConfigError, backup.BackupError) as exc:
        return _fail(exc)
    print(f"restored {args.file} into {data} (schema v{version_before} -> v{version})")
    if kept is not None:
        print(f"the replaced database is kept as {kept}")
    return 0


def migrate_main(argv: list[str]) -> int:
    """`queue-server migrate`: bring the stopped hub's database to this release's schema."""
    from . import backup

    p = argparse.ArgumentParser(prog="queue-server migrate", description="Migrate the database schema.")
    p.add_argument("--config", type=Path, help="the center's TOML config file ([server] data)")
    p.add_argument("--data", type=Path, help="the hub's data folder")
    args = p.parse_args(argv)
    try:
        _, data = _data_folder(args)
        before, after = backup.migrate(data)
    except (ConfigError, backup.BackupError) as exc:
        return _fail(exc)
    print(f"schema v{before} -> v{after}" if before != after else f"schema v{after}: up to date")
    return 0


def doctor_main(argv: list[str]) -> int:
    """`queue-server doctor`: checks the installation; exit 1 when something needs fixing."""
    from . import doctor

    return doctor.main(argv)


def reporting_main(argv: list[str]) -> int:
    """`queue-server reporting retry-refused`: send again the batches the central refused for
    good (docs/reporting.md), once the central is fixed; the running hub's forwarder picks them
    up within its interval. Exit 1 when there is no database in the data folder."""
    from .forwarder import retry_refused
    from .storage import SqliteStore, default_db_path

    p = argparse.ArgumentParser(prog="queue-server reporting", description="Reporting to the province.")
    # a sub-parser per action, so `queue-server reporting retry-refused --help` is that action's help
    actions = p.add_subparsers(dest="action", required=True)
    retry = actions.add_parser(
        "retry-refused", help="send the refused batches again",
        description="Send again the batches the central refused for good (docs/reporting.md), once "
                    "the central is fixed; the running hub's forwarder sends them within its interval.")
    retry.add_argument("--config", type=Path, help="the center's TOML config file ([server] data)")
    retry.add_argument("--data", type=Path, help="the hub's data folder (default: [server] data, else ./data)")
    args = p.parse_args(argv)
    try:
        _, data = _data_folder(args)
    except ConfigError as exc:
        return _fail(exc)
    if not default_db_path(data).exists():
        print(f"queue-server: no database in {data}", file=sys.stderr)
        return 1
    store = SqliteStore(default_db_path(data), lock_folder=False)
    try:
        n = retry_refused(store)
    finally:
        store.close()
    print(f"{n} refused batch(es) queued to be sent again")
    return 0


COMMANDS = {"backup": backup_main, "restore": restore_main, "migrate": migrate_main,
            "doctor": doctor_main, "reporting": reporting_main}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["central"]:
        return central(argv[1:])
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        logging.getLogger("engineio.server").addFilter(OneLineClientErrors())
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
    try:
        # the kiosk, printer and GPIO checks start-up makes, before any process is forked: a bad
        # section is refused with its key, as a bad field is
        from kiosk.runtime import check_kiosk_config

        check_kiosk_config(config)
        from .forwarder import settings_from_config

        settings_from_config(config)  # [reporting]: refused here with its key, not in the worker
        from .app import check_voice_config

        check_voice_config(config)  # [voice] template: --check refuses what start-up would
    except ConfigError as exc:
        print(f"queue-server: {exc}", file=sys.stderr)
        return 2
    if args.check:
        print(f"{config.source}: OK ({len(config.rules.fields)} fields, {len(config.rules.counters)} counters)")
        return 0
    server_section = config.sections.get("server", {})
    host = args.host or server_section.get("host", "127.0.0.1")
    port = args.port if args.port is not None else server_section.get("port", 8080)
    data = (args.data or Path(server_section.get("data", "data"))).resolve()

    from . import serving

    try:
        listener = serving.listen(host, port)
    except OSError as exc:
        print(f"queue-server: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 3
    bound_port = listener.getsockname()[1]
    threads = server_section.get("threads", serving.DEFAULT_THREADS)
    serving.take_notify_socket()
    # The watchdog and memory threads run in the worker, as daemons: they end with its process
    # (gunicorn's worker exits once the hub is closed), so nothing ever needs to set this.
    stop = threading.Event()

    def build() -> "Hub":
        memory.limit_malloc_arenas()
        from .app import create_hub

        return create_hub(config, data)

    def ready(hub: "Hub") -> None:
        hub.start()
        if hub.kiosk is not None:  # ticket QR codes follow the bound socket; warn if unreachable
            for warning in hub.kiosk.listening_on(config, host, bound_port):
                log.warning("%s", warning)

        from .health import check_hub

        said = [""]

        def healthy() -> bool:
            """The watchdog's question: the publisher thread answers and no problem that a
            restart could cure (the database stopped answering). A full disk or a failed write
            is told to systemd (STATUS=, shown by `systemctl status`), not restarted in a loop."""
            health = check_hub(hub)
            status = "; ".join(p.message_en for p in health.problems) or "serving"
            if status != said[0]:
                serving.sd_notify(f"STATUS={status}")
                said[0] = status
            return hub.publisher.alive() and not health.restart_may_help

        mode = " (demo)" if args.demo else ""
        log.info("%s%s listening on http://%s:%s, data in %s", config.rules.center_name, mode,
                 host, bound_port, Path(data).resolve())
        print(f"READY http://{host}:{bound_port}", flush=True)
        serving.sd_notify("READY=1")
        # Pings only from now on: before READY there is no publisher to vouch for.
        threading.Thread(target=serving.watchdog, args=(healthy, stop), name="watchdog",
                         daemon=True).start()
        threading.Thread(target=memory.return_freed_memory, args=(stop,), name="memory-trim",
                         daemon=True).start()
        memory.settle_garbage_collector()

    # Import the hub's code before gunicorn forks its worker, and freeze it out of the garbage
    # collector's reach (the gc docs' advice before a fork): the worker shares those pages with
    # the master instead of importing its own copy, and starts sooner.
    from . import app as _app  # noqa: F401

    memory.settle_garbage_collector()
    server = serving.HubServer(build, ready, serving.gunicorn_options(
        listener, threads, access_log=args.access_log, verbose=args.verbose),
        send_timeout_s=server_section.get("send_timeout", serving.SEND_TIMEOUT_S))
    server.run()  # returns, or exits, when gunicorn's master stops
    return 0


def central(argv: list[str]) -> int:
    """`queue-server central --database DSN --centers FILE [--host H] [--port N]`: the province's
    central reporting backend (SPEC §9; queue_server/central/)."""
    from .central.cli import main as central_main

    return central_main(argv)


if __name__ == "__main__":
    sys.exit(main())
