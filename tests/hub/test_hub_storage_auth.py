"""Schema versioning and login tokens, at the adapter level (real SQLite, injected clock)."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from queue_server.auth import Authenticator, token_sha256
from queue_server.core.errors import Unauthorized
from queue_server.core.ports import ManualClock
from queue_server.demo import demo_config
from queue_server.storage import SCHEMA_VERSION, SqliteStore


def test_schema_is_versioned_and_reopening_keeps_data(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.sqlite3")
    assert store.schema_version == SCHEMA_VERSION
    store.add_session("abc", "staff1", 1e12)
    store.close()
    again = SqliteStore(tmp_path / "q.sqlite3")
    assert again.schema_version == SCHEMA_VERSION and again.session("abc") == ("staff1", 1e12)
    journal = again.db.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = again.db.execute("PRAGMA synchronous").fetchone()[0]
    assert (journal, synchronous) == ("wal", 2)  # WAL, FULL: a commit is on disk when it returns
    again.close()


def test_a_database_from_a_newer_program_is_refused(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "q.sqlite3").close()
    db = sqlite3.connect(tmp_path / "q.sqlite3")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(RuntimeError, match="newer than this program"):
        SqliteStore(tmp_path / "q.sqlite3")


def test_login_tokens_expire_and_are_stored_hashed(tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc))
    store = SqliteStore(tmp_path / "q.sqlite3")
    auth = Authenticator(demo_config(), store, clock)
    token, expires, principal = auth.login("staff3", "demo")
    assert (principal.role, principal.counter) == ("staff", 3)
    assert expires - clock.now() == timedelta(hours=12)
    assert store.session(token) is None and store.session(token_sha256(token)) is not None
    assert auth.principal(token) == principal
    clock.advance(hours=12, seconds=1)
    with pytest.raises(Unauthorized) as err:
        auth.principal(token)
    assert err.value.code == "expired_token"
    with pytest.raises(Unauthorized):
        auth.login("staff3", "wrong")
    with pytest.raises(Unauthorized):
        auth.login("nobody", "demo")
    device = auth.principal("demo-device")
    assert device is not None and device.role == "device" and device.counters_allowed() is None
    store.close()
