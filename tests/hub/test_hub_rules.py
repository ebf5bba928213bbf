"""The queue rules, checked event by event: a QueueService on the real SQLite store, an injected
clock (no sleeping) and a publisher that records what would be pushed."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from queue_server.config import parse_config
from queue_server.core.errors import Conflict, InvalidRequest, IssuingClosed
from queue_server.core.models import Outcome, TicketStatus
from queue_server.core.ports import ManualClock
from queue_server.core.service import QueueService
from queue_server.storage import SqliteStore
from tests.conftest import RecordingPublisher, center_toml, counter_toml, field_toml

# 09:00 on Monday 2026-11-23 in Hà Nội (UTC+7)
MONDAY_9AM = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)

CONFIG = center_toml("[priority]\nmax_consecutive = 2", field_toml("ho-tich"), field_toml("chung-thuc"),
                     field_toml("dat-dai", prefix="D", start=1, daily_cap=3),
                     counter_toml(1, ["ho-tich", "chung-thuc"]), counter_toml(2, ["chung-thuc"]),
                     counter_toml(3, ["dat-dai"]))


class Center:
    def __init__(self, tmp: Path, text: str = CONFIG) -> None:
        self.config = parse_config(text)
        self.clock = ManualClock(MONDAY_9AM)
        self.publisher = RecordingPublisher()
        self.store = SqliteStore(tmp / "q.sqlite3")
        self.q = QueueService(self.config.rules, self.store, self.clock, self.publisher)

    def issue(self, field: str, priority: bool = False) -> str:
        self.clock.advance(seconds=10)
        return self.q.issue(field, priority).ticket.number

    def next(self, counter: int) -> str | None:
        self.clock.advance(seconds=30)
        t = self.q.call_next(counter, f"staff{counter}")
        return t.number if t else None

    def log(self) -> list[tuple[str, str | None, int | None]]:
        """(kind, ticket number, counter) of every event, in order."""
        rows = self.store.db.execute(
            "SELECT e.kind, t.number, e.counter FROM events e LEFT JOIN tickets t ON t.id = e.ticket_id ORDER BY e.id"
        ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def center(tmp_path: Path) -> Center:
    return Center(tmp_path)


def test_numbers_are_per_field_and_formatted(center: Center) -> None:
    assert [center.issue("ho-tich") for _ in range(3)] == ["1001", "1002", "1003"]
    assert center.issue("chung-thuc") == "2001"
    assert center.issue("dat-dai") == "D001"


def test_counter_serves_fields_in_order_then_oldest_first(center: Center) -> None:
    center.issue("chung-thuc")  # 2001, older than every ho-tich ticket
    center.issue("ho-tich")  # 1001
    center.issue("ho-tich")  # 1002
    # counter 1 serves ho-tich first: 2001 waits although it is older
    assert [center.next(1), center.next(1), center.next(1), center.next(1)] == ["1001", "1002", "2001", None]
    # 'next' finished each previous ticket first, outcome left unrecorded
    kinds = [(k, n) for k, n, _ in center.log() if k in ("called", "finished")]
    assert kinds == [("called", "1001"), ("finished", "1001"), ("called", "1002"),
                     ("finished", "1002"), ("called", "2001"), ("finished", "2001")]
    done = center.store.db.execute("SELECT outcome FROM tickets WHERE number='1001'").fetchone()
    assert done[0] is None


def test_priority_goes_first_but_cannot_starve_ordinary(center: Center) -> None:
    for _ in range(2):
        center.issue("ho-tich")  # 1001, 1002 ordinary
    for _ in range(4):
        center.issue("ho-tich", priority=True)  # 1003..1006 priority
    order = [center.next(1) for _ in range(6)]
    # max_consecutive = 2: two priority, one ordinary, two priority, then the last ordinary
    assert order == ["1003", "1004", "1001", "1005", "1006", "1002"]


def test_priority_people_ahead_and_estimate(center: Center) -> None:
    center.issue("ho-tich")
    center.issue("ho-tich")
    center.clock.advance(seconds=1)
    p = center.q.issue("ho-tich", True)
    assert p.waiting_ahead == 0
    o = center.q.issue("ho-tich")
    assert o.waiting_ahead == 3
    # no counter has called anyone yet: no estimate rather than a made-up number
    assert o.est_wait_min is None
    center.q.call_next(1, "staff1")  # counter 1 (the only one serving ho-tich) starts: P first
    o = center.q.issue("ho-tich")
    # 3 ahead (1001, 1002, o); nobody finished yet: default 5 min per person, one counter
    assert (o.waiting_ahead, o.est_wait_min) == (3, 15)


def test_estimate_uses_recent_service_time_and_open_counters(center: Center) -> None:
    for _ in range(4):
        center.issue("chung-thuc")
    for _ in range(2):  # two visits of 2 minutes each at counter 2
        center.q.call_next(2, "s")
        center.clock.advance(minutes=2)
        center.q.finish(2, "s", Outcome.GUIDANCE)
    issued = center.q.issue("chung-thuc")
    # 2 ahead, 2 min each; counters 1 and 2 both serve chung-thuc but only 2 is staffed → 4
    assert (issued.waiting_ahead, issued.est_wait_min) == (2, 4)
    center.q.call_next(1, "s")  # counter 1 starts calling: two staffed counters
    issued = center.q.issue("chung-thuc")
    assert (issued.waiting_ahead, issued.est_wait_min) == (2, 2)
    center.q.pause(2, "s", "break", 15)
    issued = center.q.issue("chung-thuc")
    assert (issued.waiting_ahead, issued.est_wait_min) == (3, 6)


def test_transfer_to_field_keeps_number_and_place(center: Center) -> None:
    center.issue("chung-thuc")  # 2001 (oldest)
    center.issue("ho-tich")  # 1001
    center.issue("chung-thuc")  # 2002
    assert center.next(2) == "2001"
    moved = center.q.transfer(2, "staff2", to_field="ho-tich")
    assert (moved.number, moved.field_id, moved.status) == ("2001", "ho-tich", TicketStatus.WAITING)
    # 2001 was issued before 1001, so it is first in ho-tich now
    assert center.next(1) == "2001"
    assert center.next(1) == "1001"
    ev = center.store.db.execute("SELECT data FROM events WHERE kind='transferred'").fetchone()
    assert json.loads(ev[0])["from_field"] == "chung-thuc"


def test_transfer_to_counter_reserves_the_ticket(center: Center) -> None:
    center.issue("chung-thuc")  # 2001
    center.issue("chung-thuc")  # 2002
    assert center.next(1) == "2001"
    center.q.transfer(1, "staff1", to_counter=2)
    # counter 1 may not take it back; counter 2 gets it first (earliest issue time)
    assert center.next(1) == "2002"
    assert center.next(2) == "2001"


def test_no_show_and_requeue_keep_original_place(center: Center) -> None:
    a = center.q.issue("ho-tich").ticket
    center.issue("ho-tich")  # 1002
    center.next(1)
    absent = center.q.no_show(1, "staff1")
    assert absent.status is TicketStatus.NO_SHOW
    with pytest.raises(Conflict):
        center.q.recall(1, "staff1")  # nothing being served after a no-show
    center.q.requeue(a.id, "staff1")
    assert center.next(1) == "1001"  # back at its original place, ahead of 1002
    kinds = [k for k, n, _ in center.log() if n == "1001"]
    assert kinds == ["issued", "called", "no_show", "requeued", "called"]


def test_no_show_any_time_after_the_call(center: Center) -> None:
    a = center.q.issue("ho-tich").ticket
    center.issue("ho-tich")
    center.next(1)
    center.next(1)  # 'next' closed 1001 without outcome
    assert center.q.no_show(1, "staff1", a.id).status is TicketStatus.NO_SHOW
    with pytest.raises(Conflict):
        center.q.no_show(2, "staff2", a.id)  # not this counter's ticket


def test_recall_is_announced_again(center: Center) -> None:
    center.issue("ho-tich")
    center.next(1)
    center.q.recall(1, "staff1")
    calls = center.publisher.named("ticket_called")
    assert [(c["number"], c["counter"], c["recall"]) for c in calls] == [("1001", 1, False), ("1001", 1, True)]
    assert calls[1]["seq"] > calls[0]["seq"]


def test_pause_blocks_calls_and_resume_reopens(center: Center) -> None:
    center.issue("ho-tich")
    center.q.pause(1, "staff1", "meeting", 30)
    with pytest.raises(Conflict) as err:
        center.q.call_next(1, "staff1")
    assert err.value.code == "counter_paused"
    assert center.q.snapshot()["counters"][0]["status"] == "paused"
    center.q.resume(1, "staff1")
    assert center.next(1) == "1001"
    assert [k for k, _, c in center.log() if c == 1][:2] == ["counter_paused", "counter_resumed"]


def test_pause_reason_must_be_known(center: Center) -> None:
    with pytest.raises(InvalidRequest):
        center.q.pause(1, "staff1", "lunch")


def test_finish_records_outcome_and_dossiers(center: Center) -> None:
    center.issue("ho-tich")
    center.next(1)
    center.clock.advance(minutes=7)
    done = center.q.finish(1, "staff1", Outcome.RECEIVED, 3)
    assert (done.status, done.outcome, done.dossiers) == (TicketStatus.DONE, Outcome.RECEIVED, 3)
    data = json.loads(center.store.db.execute("SELECT data FROM events WHERE kind='finished'").fetchone()[0])
    assert data["outcome"] == "received" and data["dossiers"] == 3 and data["service_seconds"] == 420.0
    with pytest.raises(Conflict):
        center.q.finish(1, "staff1", Outcome.GUIDANCE)  # nothing left to finish


def test_daily_cap(center: Center) -> None:
    for _ in range(3):
        center.issue("dat-dai")
    with pytest.raises(IssuingClosed) as err:
        center.issue("dat-dai")
    assert err.value.code == "sold_out" and "hết số" in err.value.message_vi
    assert center.store.db.execute("SELECT COUNT(*) FROM tickets WHERE field_id='dat-dai'").fetchone()[0] == 3


def test_day_boundary_restarts_numbers_and_keeps_history(center: Center) -> None:
    first = [center.issue("ho-tich") for _ in range(3)]
    center.next(1)  # 1001 being served at midnight
    # 23:59 local → 00:01 local the next day
    center.clock.set(datetime(2026, 11, 23, 16, 59, tzinfo=timezone.utc))
    assert center.issue("ho-tich") == "1004"
    center.clock.set(datetime(2026, 11, 23, 17, 1, tzinfo=timezone.utc))
    assert center.q.today().isoformat() == "2026-11-24"
    assert center.issue("ho-tich") == "1001"  # numbering restarts
    assert first == ["1001", "1002", "1003"]
    rows = center.store.db.execute(
        "SELECT day, number, status, closed_reason FROM tickets ORDER BY issue_order").fetchall()
    # yesterday's leftovers (1001 was being served) are closed at the day's end, apart from
    # real cancellations
    assert [tuple(r) for r in rows] == [
        ("2026-11-23", "1001", "cancelled", "day_end"), ("2026-11-23", "1002", "cancelled", "day_end"),
        ("2026-11-23", "1003", "cancelled", "day_end"), ("2026-11-23", "1004", "cancelled", "day_end"),
        ("2026-11-24", "1001", "waiting", None),
    ]
    # with an event each, dated at local midnight, nothing deleted
    closed = center.store.db.execute(
        "SELECT COUNT(*), MIN(at), MAX(at) FROM events WHERE day='2026-11-23' AND kind='closed_at_day_end'"
    ).fetchone()
    midnight = datetime(2026, 11, 23, 17, 0, tzinfo=timezone.utc).timestamp()
    assert tuple(closed) == (4, midnight, midnight)
    assert center.next(1) == "1001"  # only today's ticket is offered
    assert center.next(1) is None


def test_working_hours_and_cutoff(tmp_path: Path) -> None:
    text = CONFIG.replace("[priority]", """[hours]
mon = ["07:30-11:30", "13:30-17:00"]
sat = ["07:30-11:30"]
cutoff_minutes = 15

[priority]""")
    c = Center(tmp_path, text)
    local = lambda h, m, day=23: datetime(2026, 11, day, h, m, tzinfo=timezone(timedelta(hours=7)))  # noqa: E731
    c.clock.set(local(7, 29))
    with pytest.raises(IssuingClosed) as err:
        c.q.issue("ho-tich")
    assert err.value.code == "before_open" and "07:30–11:30" in err.value.message_vi
    c.clock.set(local(7, 30))
    assert c.q.issue("ho-tich").ticket.number == "1001"
    c.clock.set(local(11, 15))
    with pytest.raises(IssuingClosed) as err:
        c.q.issue("ho-tich")
    assert err.value.code == "after_cutoff"
    c.clock.set(local(12, 0))
    with pytest.raises(IssuingClosed) as err:
        c.q.issue("ho-tich")
    assert err.value.code == "between_sessions"
    c.clock.set(local(9, 0, day=29))  # Sunday: no sessions configured
    with pytest.raises(IssuingClosed) as err:
        c.q.issue("ho-tich")
    assert err.value.code == "closed_day"
    c.clock.set(local(9, 0, day=28))  # Saturday morning session
    assert c.q.issue("ho-tich").ticket.number == "1001"


def test_rating_once_tied_to_counter_and_staff(center: Center) -> None:
    t = center.q.issue("ho-tich").ticket
    with pytest.raises(Conflict):
        center.q.rate(t.id, 1)  # not served yet
    center.next(1)
    center.q.finish(1, "staff1", Outcome.GUIDANCE)
    center.q.rate(t.id, 3, "Chờ lâu")
    with pytest.raises(Conflict) as err:
        center.q.rate(t.id, 1)
    assert err.value.code == "already_rated"
    row = center.store.db.execute("SELECT counter, staff, data FROM events WHERE kind='rated'").fetchone()
    assert (row[0], row[1]) == (1, "staff1")
    assert json.loads(row[2])["label"] == "Chưa hài lòng"


def test_event_log_is_append_only(center: Center) -> None:
    center.issue("ho-tich")
    with pytest.raises(sqlite3.IntegrityError):
        center.store.db.execute("DELETE FROM events")
    with pytest.raises(sqlite3.IntegrityError):
        center.store.db.execute("UPDATE events SET kind='x'")


def test_refused_change_changes_nothing(center: Center) -> None:
    center.issue("ho-tich")
    before = center.log()
    pushed = len(center.publisher.events)
    with pytest.raises(Conflict):
        center.q.finish(1, "staff1", Outcome.RECEIVED)
    with pytest.raises(InvalidRequest):
        center.q.transfer(1, "staff1", to_field="ho-tich", to_counter=2)
    assert center.log() == before and len(center.publisher.events) == pushed


def test_second_hub_on_same_folder_is_refused(tmp_path: Path) -> None:
    from queue_server.storage import StoreLocked

    store = SqliteStore(tmp_path / "q.sqlite3")
    with pytest.raises(StoreLocked):
        SqliteStore(tmp_path / "q.sqlite3")
    store.close()
    SqliteStore(tmp_path / "q.sqlite3").close()
