"""Backups, restore and schema migration of the hub's database (issue 13; docs/install.md).

- `take_backup` copies the live database with SQLite's online backup API
  (`sqlite3.Connection.backup`, https://www.sqlite.org/backup.html), never a file copy: the copy
  is one consistent snapshot (WAL mode: a reader's snapshot, while the hub keeps writing), it
  includes what still sits in the WAL, and it is checked (`PRAGMA integrity_check`) before it gets
  its final name. Written to a temporary name, fsync'ed, renamed, the folder fsync'ed: a power cut
  leaves either no backup or a whole one.
- `prune` keeps `[backup] keep_days` days of backups and never fewer than `MIN_KEPT` (a Pi whose
  clock jumped forward must not delete every backup).
- `restore` replaces the data folder's database with a checked backup; it takes the data folder's
  lock first, so it refuses while a hub runs, and keeps the replaced database beside it.
- `migrate` brings a database to this release's schema (the hub does the same at start).

Config (`[backup]`, docs/configuration.md): `dir` — the folder (default `<data>/backups`; a USB
stick is mounted at /media/quay-so-backup), `keep_days` — retention in days (default 30).
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .storage import SCHEMA_VERSION, SqliteStore, StoreLocked, default_db_path

DEFAULT_KEEP_DAYS = 30
MIN_KEPT = 3  # newest backups kept whatever their age
NAME = re.compile(r"^queue-(\d{8}T\d{6})(?:-[a-z0-9-]+)?\.sqlite3$")


class BackupError(RuntimeError):
    """A backup, restore or migration that could not be done; `message` in Vietnamese (with what
    to do), `message_en` in English."""

    def __init__(self, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en


@dataclass(frozen=True)
class BackupSettings:
    """Where backups go (`folder`) and for how many days they are kept (`keep_days`)."""

    folder: Path
    keep_days: int


def settings(sections: dict[str, dict[str, Any]], data_dir: Path) -> BackupSettings:
    """`[backup] dir` (relative paths are taken from the data folder) and `keep_days`."""
    section = sections.get("backup", {})
    folder = Path(section.get("dir", "backups"))
    if not folder.is_absolute():
        folder = Path(data_dir) / folder
    return BackupSettings(folder, int(section.get("keep_days", DEFAULT_KEEP_DAYS)))


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def check_database(path: Path) -> int:
    """`PRAGMA integrity_check` of a database file; returns its schema version (`user_version`).
    Raises BackupError when the file is not a readable, intact database of this program."""
    if not Path(path).is_file():
        raise BackupError(f"Không có tệp {path}.", f"There is no file {path}.")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            result = [row[0] for row in db.execute("PRAGMA integrity_check")]
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise BackupError(f"Tệp {path} không phải cơ sở dữ liệu đọc được ({exc}).",
                          f"{path} is not a readable database ({exc}).") from None
    if result != ["ok"]:
        raise BackupError(f"Tệp {path} bị hỏng (integrity_check: {'; '.join(result[:3])}).",
                          f"{path} is damaged (integrity_check: {'; '.join(result[:3])}).")
    if "tickets" not in tables or "events" not in tables:
        raise BackupError(f"Tệp {path} không phải dữ liệu của Quầy số.",
                          f"{path} is not a Quầy số database (no tickets and events tables).")
    if version > SCHEMA_VERSION:
        raise BackupError(
            f"Tệp {path} thuộc phiên bản phần mềm mới hơn (lược đồ v{version}); hãy cài phiên bản đó.",
            f"{path} has schema v{version}, newer than this program (v{SCHEMA_VERSION}); install that release.")
    return version


def _copy(source: sqlite3.Connection, target: Path) -> None:
    """SQLite's backup API from `source` into a new file `target`, checked, fsync'ed."""
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)  # pages=-1: one step, one consistent snapshot of the source
        dest.execute("PRAGMA journal_mode = DELETE")  # a single self-contained file
        if dest.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("Bản sao lưu vừa tạo bị lỗi; hãy thử lại và kiểm tra thẻ nhớ/USB.",
                              "The new backup failed its integrity check; retry and check the card or stick.")
    finally:
        dest.close()
    _fsync_file(target)


def take_backup(db_path: Path, folder: Path, now: datetime | None = None, label: str = "") -> Path:
    """Back up the database at `db_path` (a hub may be writing it) into `folder` as
    `queue-<YYYYMMDDTHHMMSS>[-label].sqlite3` (local time of `now`, default the wall clock).
    Returns the new file. Raises BackupError (no database, folder not writable, disk full)."""
    db_path, folder = Path(db_path), Path(folder)
    if not db_path.is_file():
        raise BackupError(f"Không có cơ sở dữ liệu {db_path} (sai --data?).",
                          f"There is no database at {db_path} (wrong --data?).")
    if label and not re.fullmatch(r"[a-z0-9-]+", label):
        raise ValueError(f"label {label!r}: lowercase letters, digits and '-' only")
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S")
    name = f"queue-{stamp}{'-' + label if label else ''}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.partial"
        partial.unlink(missing_ok=True)
        source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
        try:
            _copy(source, partial)
        finally:
            source.close()
        target = folder / f"{name}.sqlite3"
        n = 2
        while target.exists():  # two backups in one second (e.g. by hand): never overwrite
            target = folder / f"{name}-{n}.sqlite3"
            n += 1
        os.rename(partial, target)
        _fsync_folder(folder)
    except (OSError, sqlite3.Error) as exc:
        try:
            (folder / f".{name}.partial").unlink(missing_ok=True)
        except OSError:
            pass
        raise BackupError(f"Không sao lưu được vào {folder}: {exc} (USB đã cắm? còn chỗ trống?).",
                          f"Could not back up into {folder}: {exc} (stick plugged in? space left?).") from None
    return target


def backups(folder: Path) -> list[Path]:
    """The backups in `folder`, oldest first (by the time in their names)."""
    if not Path(folder).is_dir():
        return []
    found = [p for p in Path(folder).iterdir() if NAME.match(p.name)]
    return sorted(found, key=lambda p: (NAME.match(p.name).group(1), p.name))  # type: ignore[union-attr]


def prune(folder: Path, keep_days: int, now: float | None = None) -> list[Path]:
    """Delete backups older than `keep_days` days (by file time), keeping the `MIN_KEPT` newest
    whatever their age. Returns the deleted files."""
    now = time.time() if now is None else now
    kept = backups(folder)
    old = [p for p in kept[:-MIN_KEPT] if now - p.stat().st_mtime > keep_days * 86400]
    for p in old:
        p.unlink()
    return old


class _DataFolderLock:
    """The data folder's `hub.lock`, held while restoring: a running hub holds it, so a restore
    under a running hub is refused (storage.SqliteStore takes the same lock)."""

    def __init__(self, data_dir: Path) -> None:
        self.file = open(Path(data_dir) / "hub.lock", "a")  # noqa: SIM115
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise BackupError(
                "Hệ thống đang chạy: hãy dừng nó trước (sudo systemctl stop queue-server).",
                "The hub is running on this data folder: stop it first (sudo systemctl stop queue-server).",
            ) from None

    def release(self) -> None:
        self.file.close()


def restore(backup_file: Path, data_dir: Path) -> Path | None:
    """Replace the data folder's database with `backup_file` (checked first). The hub must be
    stopped. The replaced database is kept as `queue.sqlite3.before-restore-<stamp>` (returned;
    None when there was none). Files are given the data folder's owner (a restore run as root
    leaves a database the hub's user can write). Raises BackupError."""
    data_dir = Path(data_dir)
    check_database(backup_file)
    if not data_dir.is_dir():
        raise BackupError(f"Không có thư mục dữ liệu {data_dir}.", f"There is no data folder {data_dir}.")
    lock = _DataFolderLock(data_dir)
    try:
        db_path = default_db_path(data_dir)
        owner = data_dir.stat()
        incoming = data_dir / ".restore.partial"
        incoming.unlink(missing_ok=True)
        source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        try:
            _copy(source, incoming)
        finally:
            source.close()
        kept: Path | None = None
        if db_path.exists():
            kept = data_dir / f"{db_path.name}.before-restore-{datetime.now().strftime('%Y%m%dT%H%M%S')}"
            current = sqlite3.connect(db_path)  # with its WAL: what the hub last committed
            try:
                _copy(current, kept)
            finally:
                current.close()
        # a WAL left by the replaced database must never be applied to the restored one
        for leftover in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm"), Path(f"{db_path}-journal")):
            leftover.unlink(missing_ok=True)
        os.rename(incoming, db_path)
        _fsync_folder(data_dir)
        if os.geteuid() == 0:
            for path in (db_path, kept):
                if path is not None:
                    os.chown(path, owner.st_uid, owner.st_gid)
        return kept
    except OSError as exc:
        raise BackupError(f"Không khôi phục được: {exc}.", f"Could not restore: {exc}.") from None
    finally:
        lock.release()


def migrate(data_dir: Path) -> tuple[int, int]:
    """Open the data folder's database and bring it to this release's schema (the hub must be
    stopped). Returns (version before, version after). Raises BackupError."""
    db_path = default_db_path(data_dir)
    if not db_path.is_file():
        raise BackupError(f"Không có cơ sở dữ liệu {db_path}.", f"There is no database at {db_path}.")
    before = check_database(db_path)
    try:
        store = SqliteStore(db_path)
    except StoreLocked:
        raise BackupError("Hệ thống đang chạy: hãy dừng nó trước (sudo systemctl stop queue-server).",
                          "The hub is running on this data folder: stop it first.") from None
    except (sqlite3.Error, RuntimeError) as exc:
        raise BackupError(f"Không nâng cấp được cơ sở dữ liệu: {exc}.", f"Migration failed: {exc}.") from None
    try:
        return before, store.schema_version
    finally:
        store.close()
