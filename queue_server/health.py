"""One health check of the hub's storage, for /healthz, the systemd watchdog, the manager page
and `doctor` alike (issue: /healthz said "ok" while every write failed on a full disk).

`check()` reports problems, each with a stable code and a reason in Vietnamese and English:

- `database_unreachable` — the database does not answer a `SELECT 1`;
- `write_failed` — the last write to the database failed (full disk, I/O error, …). The store
  remembers the failure (`SqliteStore.last_write_error`) and forgets it at the next successful
  commit, so the check itself never writes: probing every few seconds must not wear the SD card;
- `low_disk_space` — the data folder's file system has less free space than `[server]
  min_free_mb` (default `DEFAULT_MIN_FREE_MB`), read with `statvfs` (no write).

An empty list means healthy. Nothing here raises: a check that cannot run is itself a problem.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MIN_FREE_MB = 50
RESTART_HELPS = frozenset({"database_unreachable"})


@dataclass(frozen=True)
class Problem:
    code: str
    message: str  # Vietnamese
    message_en: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "message_en": self.message_en}


@dataclass(frozen=True)
class Health:
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def restart_may_help(self) -> bool:
        """True when a restart could clear a problem (the database stopped answering). A full
        disk or a failed write is not cured by restarting: a watchdog that restarted on those
        would only loop; it should report them (e.g. sd_notify STATUS=) and keep running."""
        return any(p.code in RESTART_HELPS for p in self.problems)

    def as_dict(self) -> dict[str, Any]:
        """{"status": "ok"} or {"status": "degraded", "problems": [{code, message, message_en}]}."""
        if self.ok:
            return {"status": "ok"}
        return {"status": "degraded", "problems": [p.as_dict() for p in self.problems]}


def min_free_mb(sections: dict[str, dict[str, Any]]) -> int:
    """`[server] min_free_mb` from a config's sections, or the default."""
    return int(sections.get("server", {}).get("min_free_mb", DEFAULT_MIN_FREE_MB))


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged process may still write in `folder`'s file system."""
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def check(store: Any, data_dir: Path, min_free: int = DEFAULT_MIN_FREE_MB) -> Health:
    """The hub's storage health. `store` is a `storage.SqliteStore` (needs `ping()` and
    `last_write_error`); `data_dir` the data folder; `min_free` the free space wanted, in MB."""
    problems: list[Problem] = []
    try:
        reachable = store.ping()
        reason = ""
    except sqlite3.Error as exc:
        reachable, reason = False, str(exc)
    if not reachable:
        problems.append(Problem(
            "database_unreachable",
            "Không truy cập được cơ sở dữ liệu.",
            f"The database does not answer{': ' + reason if reason else ''}."))
    failure = store.last_write_error
    if failure is not None:
        problems.append(Problem(
            "write_failed",
            "Lần ghi dữ liệu gần nhất bị lỗi (ổ đĩa đầy hoặc hỏng?). Số mới và thao tác mới có thể không được lưu.",
            f"The last write to the database failed ({failure}); new tickets and actions may not be saved."))
    try:
        free = free_bytes(Path(data_dir))
    except OSError as exc:
        problems.append(Problem("disk_unreadable", "Không đọc được dung lượng ổ đĩa dữ liệu.",
                                f"Cannot read the data folder's free space ({exc})."))
    else:
        if free < min_free * 1024 * 1024:
            problems.append(Problem(
                "low_disk_space",
                f"Ổ đĩa dữ liệu sắp đầy: còn {free // (1024 * 1024)} MB (cần tối thiểu {min_free} MB).",
                f"The data disk is nearly full: {free // (1024 * 1024)} MB free, {min_free} MB wanted."))
    return Health(tuple(problems))


def check_hub(hub: Any) -> Health:
    """`check` for a running `app.Hub` with its configured threshold (watchdog, manager page)."""
    return check(hub.store, hub.data_dir, min_free_mb(hub.config.sections))
