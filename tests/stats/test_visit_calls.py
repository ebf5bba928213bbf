"""The `visit_calls` table (storage migration v8): kept by triggers while the hub runs, and filled
in from the event log when an older database opens — both must give the same rows, for a history
with a transfer, a no-show re-queued, a no-show marked after "next" closed the visit, a visit
cancelled while waiting after its transfer, and one closed at the day's end."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from queue_server.config import parse_config
from queue_server.core.models import Outcome
from queue_server.core.ports import ManualClock
from queue_server.core.service import QueueService
from queue_server.storage import MIGRATIONS, SqliteStore, _statements
from tests.conftest import RecordingPublisher
from tests.hub.test_core_time import CONFIG, local


def run_history(store: SqliteStore) -> QueueService:
    clock = ManualClock(local(2026, 11, 23, 8, 0))
    q = QueueService(parse_config(CONFIG).rules, store, clock, RecordingPublisher())
    a = q.issue("dat-dai").ticket  # 5001: called, transferred to ho-tich, served there
    b = q.issue("dat-dai").ticket  # 5002: no-show, re-queued, served
    c = q.issue("dat-dai").ticket  # 5003: closed by "next", then marked a no-show
    d = q.issue("dat-dai").ticket  # 5004: transferred, then cancelled while waiting
    e = q.issue("ho-tich").ticket  # 1001: still waiting when the day ends
    clock.set(local(2026, 11, 23, 8, 5))
    assert q.call_next(1, "staff1").id == a.id
    assert q.call_next(2, "staff2").id == b.id
    clock.set(local(2026, 11, 23, 8, 9))
    q.transfer(1, "staff1", to_field="ho-tich")
    q.no_show(2, "staff2")
    clock.set(local(2026, 11, 23, 8, 12))
    q.requeue(b.id, "staff2", 2)
    assert q.call_next(1, "staff1").id == b.id
    assert q.call_next(3, "staff3").id == a.id  # ho-tich: 5001 keeps its place before 1001
    clock.set(local(2026, 11, 23, 8, 20))
    q.finish(3, "staff3", Outcome.RECEIVED, 2)
    assert q.call_next(1, "staff1").id == c.id  # "next" finishes 5002 (no outcome), calls 5003
    assert q.call_next(1, "staff1").id == d.id  # closes 5003 the same way, calls 5004
    clock.set(local(2026, 11, 23, 8, 25))
    q.no_show(1, "staff1", c.id)  # 5003 was not there after all
    q.transfer(1, "staff1", to_field="ho-tich")
    q.cancel(d.id, "staff3", "left")
    clock.set(local(2026, 11, 24, 8, 0))
    q.turn_day()  # 1001 closed at the day's end
    assert e.id
    return q


def rows(db: sqlite3.Connection) -> list[tuple]:
    return [tuple(r) for r in db.execute("SELECT * FROM visit_calls ORDER BY call_event")]


def test_triggers_and_the_backfill_agree(tmp_path: Path) -> None:
    live = SqliteStore(tmp_path / "live.sqlite3")
    run_history(live)
    kept = rows(live.db)
    live.close()

    old = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    for migration in MIGRATIONS[:4]:  # the schema before v8
        for statement in _statements(migration):
            old.execute(statement)
    old.execute("PRAGMA user_version = 4")
    old.execute("ATTACH ? AS live", (str(tmp_path / "live.sqlite3"),))
    old.execute("INSERT INTO tickets SELECT * FROM live.tickets")
    old.execute("INSERT INTO events SELECT * FROM live.events")
    old.execute("DETACH live")
    old.close()
    upgraded = SqliteStore(tmp_path / "old.sqlite3")
    assert rows(upgraded.db) == kept
    upgraded.close()

    # and what the rows say, by hand: (number, field, counter, first call, field wait s, end, dossiers)
    db = sqlite3.connect(tmp_path / "live.sqlite3")
    got = db.execute(
        "SELECT t.number, v.field_id, v.counter, v.first_call, v.field_wait_seconds, v.end_kind, v.dossiers "
        "FROM visit_calls v JOIN tickets t ON t.id = v.ticket_id ORDER BY v.call_event").fetchall()
    db.close()
    assert got == [
        ("5001", "dat-dai", 1, 1, 300.0, "transferred", None),  # waited 08:00 → 08:05
        ("5002", "dat-dai", 2, 1, 300.0, "no_show", None),
        ("5002", "dat-dai", 1, 0, None, "finished", None),  # 2nd call in the same field: no new wait
        ("5001", "ho-tich", 3, 0, 180.0, "finished", 2),  # transferred 08:09, called 08:12
        ("5003", "dat-dai", 1, 1, 1200.0, "no_show", None),  # "next" closed it; the no-show wins
        ("5004", "dat-dai", 1, 1, 1200.0, "transferred", None),  # the cancel after does not reopen it
    ]
