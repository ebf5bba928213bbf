"""Time and the queue rules, at the core: a clock that steps back, the day boundary as an event of
its own, the priority guard, the estimated wait and the statistics ratios. A QueueService on the
real SQLite store, a clock set by hand and a publisher that records what would be pushed."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from queue_server import stats
from queue_server.config import parse_config
from queue_server.core.models import Outcome, TicketStatus
from queue_server.core.ports import ManualClock
from queue_server.core.service import QueueService
from queue_server.storage import MIGRATIONS, SCHEMA_VERSION, SqliteStore, _statements
from tests.conftest import RecordingPublisher, center_toml, counter_toml, field_toml

HANOI = timezone(timedelta(hours=7))

CONFIG = center_toml("[priority]\nmax_consecutive = 3", field_toml("dat-dai", start=5001), field_toml("ho-tich"),
                     counter_toml(1, ["dat-dai"]), counter_toml(2, ["dat-dai"]), counter_toml(3, ["ho-tich"]))


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=HANOI)


class Center:
    def __init__(self, tmp: Path, start: datetime, text: str = CONFIG) -> None:
        self.tmp = tmp
        self.config = parse_config(text)
        self.clock = ManualClock(start)
        self.publisher = RecordingPublisher()
        self.store = SqliteStore(tmp / "q.sqlite3")
        self.q = QueueService(self.config.rules, self.store, self.clock, self.publisher)

    def at(self, moment: datetime) -> "Center":
        self.clock.set(moment)
        return self

    def issue(self, field: str, priority: bool = False) -> str:
        return self.q.issue(field, priority).ticket.number

    def next(self, counter: int) -> str | None:
        t = self.q.call_next(counter, f"staff{counter}")
        return t.number if t else None

    def stats(self, day: date) -> dict:
        return stats.from_store(self.store, self.config.rules, day, day)

    def reopen(self) -> None:
        """A new service on the same database (as after a hub restart)."""
        self.store.close()
        self.store = SqliteStore(self.tmp / "q.sqlite3")
        self.publisher = RecordingPublisher()
        self.q = QueueService(self.config.rules, self.store, self.clock, self.publisher)


# ------------------------------------------------------------- a clock that steps back


def test_queue_follows_issue_order_when_the_clock_steps_back(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 23, 9, 0))
    assert c.issue("dat-dai") == "5001"
    c.at(local(2026, 11, 23, 9, 5))
    assert c.issue("dat-dai") == "5002"
    c.at(local(2026, 11, 23, 8, 55))  # NTP steps the clock back
    third = c.q.issue("dat-dai")
    assert third.ticket.number == "5003"
    assert third.waiting_ahead == 2  # people ahead follow issue order too
    assert c.q.ticket_view(third.ticket.id)["waiting_ahead"] == 2
    assert [c.next(1), c.next(1), c.next(1)] == ["5001", "5002", "5003"]


def test_transfer_keeps_issue_order_place_when_the_clock_steps_back(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 23, 9, 0))
    c.issue("ho-tich")  # 1001
    c.at(local(2026, 11, 23, 9, 10))
    c.issue("dat-dai")  # 5001
    c.at(local(2026, 11, 23, 8, 50))  # stepped back: 1002 carries an earlier time than 1001
    c.issue("ho-tich")  # 1002
    assert c.next(1) == "5001"
    moved = c.q.transfer(1, "staff1", to_field="ho-tich")
    # 5001 was issued after 1001 and before 1002, whatever the clock said
    assert c.q.ticket_view(moved.id)["waiting_ahead"] == 1
    assert [c.next(3), c.next(3), c.next(3)] == ["1001", "5001", "1002"]


def test_a_step_back_across_midnight_never_issues_into_a_closed_day(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 23, 23, 50))
    assert c.issue("dat-dai") == "5001"  # Monday
    c.at(local(2026, 11, 24, 0, 5))
    assert c.issue("dat-dai") == "5001"  # Tuesday: numbering restarted, Monday closed
    c.at(local(2026, 11, 23, 23, 58))  # the clock steps back into Monday
    again = c.q.issue("dat-dai")
    assert (again.ticket.number, again.ticket.day) == ("5002", date(2026, 11, 24))
    assert c.q.today() == date(2026, 11, 24)
    assert c.q.snapshot()["day"] == "2026-11-24"
    # still true after a restart (the turned day is stored, not only remembered)
    c.reopen()
    assert c.q.issue("dat-dai").ticket.number == "5003"
    monday = c.store.db.execute(
        "SELECT COUNT(*) FROM tickets WHERE day = '2026-11-23'").fetchone()[0]
    assert monday == 1


def test_negative_durations_are_excluded_from_estimate_and_statistics(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 23, 9, 0))
    c.issue("dat-dai")  # 5001
    c.at(local(2026, 11, 23, 9, 10))
    assert c.next(1) == "5001"  # waited 10 min
    c.at(local(2026, 11, 23, 9, 0))  # stepped back 10 min during the visit
    c.q.finish(1, "staff1", Outcome.GUIDANCE)  # service "−10 min"
    c.issue("dat-dai")
    c.at(local(2026, 11, 23, 8, 58))  # back again: 5002 called "2 min before" its issue
    assert c.next(1) == "5002"
    c.at(local(2026, 11, 23, 9, 4))
    c.q.finish(1, "staff1", Outcome.GUIDANCE)  # 6 min, a real one
    c.issue("dat-dai")
    issued = c.q.issue("dat-dai")
    # the estimate uses only the real 6 min visit: 1 ahead × 6 min ÷ 1 staffed counter
    assert (issued.waiting_ahead, issued.est_wait_min) == (1, 6)
    block = c.stats(date(2026, 11, 23))["totals"]
    assert block["service_min"] == {"avg": 6.0, "median": 6.0, "p90": 6.0}
    assert block["wait_min"] == {"avg": 10.0, "median": 10.0, "p90": 10.0}
    assert block["clock_anomalies"] == 2


def test_rating_target_is_the_last_visit_finished_not_the_latest_clock(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 23, 9, 0))
    c.issue("dat-dai")
    c.issue("dat-dai")
    c.next(1)
    c.at(local(2026, 11, 23, 9, 10))
    c.q.finish(1, "staff1", Outcome.GUIDANCE)  # 5001 finished at 09:10
    c.next(1)
    c.at(local(2026, 11, 23, 9, 8))  # stepped back
    c.q.finish(1, "staff1", Outcome.GUIDANCE)  # 5002 finished "at 09:08", but after 5001
    target = c.q.rating_target(1)
    assert target is not None and target["number"] == "5002"
    c.at(local(2026, 11, 23, 8, 0))  # far back: the offer never exceeds its window
    target = c.q.rating_target(1)
    assert target is not None and target["seconds_left"] == c.config.rules.counter_rating_seconds


def test_a_version_1_database_migrates(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(MIGRATIONS[0]):
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    cols = "(id, day, origin_field, seq, number, field_id, priority, status, issued_at, source, called_at, finished_at, counter)"
    t = lambda h, m: local(2026, 11, 20, h, m).timestamp()  # noqa: E731
    # inserted in issue order; the third one's clock had stepped back
    db.execute(f"INSERT INTO tickets {cols} VALUES ('a', '2026-11-20', 'dat-dai', 1, '5001', 'dat-dai', 0, 'done', ?, 'api', ?, ?, 1)", (t(16, 40), t(16, 40), t(16, 45)))
    db.execute(f"INSERT INTO tickets {cols} VALUES ('b', '2026-11-20', 'dat-dai', 2, '5002', 'dat-dai', 0, 'done', ?, 'api', ?, ?, 1)", (t(16, 45), t(16, 50), local(2026, 11, 23, 7, 30).timestamp()))
    db.execute(f"INSERT INTO tickets {cols} VALUES ('c', '2026-11-20', 'dat-dai', 3, '5003', 'dat-dai', 0, 'cancelled', ?, 'api', NULL, ?, NULL)", (t(16, 30), local(2026, 11, 23, 7, 30).timestamp()))
    ev = "INSERT INTO events (at, day, kind, ticket_id, field_id, counter, data) VALUES (?, ?, ?, ?, 'dat-dai', ?, ?)"
    db.execute(ev, (t(16, 45), "2026-11-20", "finished", "a", 1, json.dumps({"outcome": "guidance"})))
    db.execute(ev, (local(2026, 11, 23, 7, 30).timestamp(), "2026-11-20", "finished", "b", 1, json.dumps({"auto": "day_closed"})))
    db.execute(ev, (local(2026, 11, 23, 7, 30).timestamp(), "2026-11-20", "cancelled", "c", None, json.dumps({"reason": "day_closed"})))
    db.close()

    store = SqliteStore(path)
    assert store.schema_version == SCHEMA_VERSION
    rows = store.db.execute(
        "SELECT number, issue_order, status, closed_reason FROM tickets ORDER BY issue_order").fetchall()
    assert [tuple(r) for r in rows] == [
        ("5001", 1, "done", None), ("5002", 2, "cancelled", "day_end"), ("5003", 3, "cancelled", "day_end")]
    config = parse_config(CONFIG)
    friday = stats.from_store(store, config.rules, date(2026, 11, 20), date(2026, 11, 20))["totals"]
    assert (friday["served"], friday["cancelled"], friday["closed_at_day_end"]) == (1, 0, 2)
    assert friday["service_min"]["p90"] == 5.0
    # the hub knows the days it has been on: a stepped-back clock cannot reopen Friday
    assert [tuple(r) for r in store.db.execute("SELECT day FROM service_days")] == [("2026-11-20",)]
    store.close()


# ------------------------------------------------------------------- the day boundary


def test_friday_figures_stay_as_they_were_at_closing(tmp_path: Path) -> None:
    """The quoted case: Friday 16:40–16:45 1001 served; 16:50 1002 called and never finished;
    1003 waiting. Monday 07:30 the first ticket is issued."""
    c = Center(tmp_path, local(2026, 11, 27, 16, 35))
    c.issue("ho-tich")
    c.issue("ho-tich")
    c.issue("ho-tich")
    c.at(local(2026, 11, 27, 16, 40))
    assert c.next(3) == "1001"
    c.at(local(2026, 11, 27, 16, 45))
    c.q.finish(3, "staff3", Outcome.GUIDANCE)
    c.at(local(2026, 11, 27, 16, 50))
    assert c.next(3) == "1002"
    friday = date(2026, 11, 27)
    at_closing = c.stats(friday)["totals"]
    assert at_closing["service_min"] == {"avg": 5.0, "median": 5.0, "p90": 5.0}

    c.at(local(2026, 11, 30, 7, 30))
    assert c.issue("ho-tich") == "1001"
    after = c.stats(friday)["totals"]
    assert after["service_min"] == at_closing["service_min"]
    assert after["wait_min"] == at_closing["wait_min"]
    assert (after["served"], after["cancelled"], after["closed_at_day_end"], after["waiting"]) == (1, 0, 2, 0)
    # closed at Friday's end (local midnight), with an event of their own
    rows = c.store.db.execute(
        "SELECT t.number, t.status, t.finished_at, json_extract(e.data, '$.was') FROM tickets t "
        "JOIN events e ON e.ticket_id = t.id AND e.kind = 'closed_at_day_end' ORDER BY t.issue_order").fetchall()
    midnight = local(2026, 11, 28, 0, 0).timestamp()
    assert [tuple(r) for r in rows] == [("1002", "cancelled", midnight, "called"),
                                        ("1003", "cancelled", midnight, "waiting")]
    view = c.q.get_ticket(c.store.db.execute("SELECT id FROM tickets WHERE number='1003'").fetchone()[0])
    assert view.closed_reason == "day_end"


def test_a_real_cancellation_stays_a_cancellation(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 27, 10, 0))
    t = c.q.issue("ho-tich").ticket
    c.q.cancel(t.id, None, "print_failed")
    c.issue("ho-tich")
    c.at(local(2026, 11, 28, 8, 0))
    c.q.turn_day()
    block = c.stats(date(2026, 11, 27))["totals"]
    assert (block["cancelled"], block["closed_at_day_end"]) == (1, 1)


def test_turn_day_is_idempotent_and_announces_the_new_day_once(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 23, 23, 59))
    waiting = c.q.issue("ho-tich").ticket
    assert c.q.turn_day() == date(2026, 11, 23)
    assert c.publisher.named("day_changed") == []
    c.at(local(2026, 11, 24, 0, 0))
    assert c.q.turn_day() == date(2026, 11, 24)
    assert c.q.turn_day() == date(2026, 11, 24)
    assert c.publisher.named("day_changed") == [{"day": "2026-11-24"}]
    # the phone page of the closed ticket hears about it; then the day change
    names = [n for n, _ in c.publisher.events]
    assert names[-2:] == ["ticket_changed", "day_changed"]
    assert c.publisher.named("ticket_changed")[-1] == {"id": waiting.id, "status": "cancelled", "counter": None}
    closed = c.store.db.execute("SELECT COUNT(*) FROM events WHERE kind = 'closed_at_day_end'").fetchone()[0]
    assert closed == 1
    # the state every view re-renders from is the new day's, with nobody acting
    snap = c.q.snapshot()
    assert (snap["day"], snap["waiting"]["ho-tich"]) == ("2026-11-24", 0)


def test_a_hub_off_across_midnight_closes_the_old_day_at_start(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 27, 16, 0))
    c.issue("ho-tich")
    c.next(3)
    c.at(local(2026, 11, 30, 7, 0))
    c.reopen()  # the hub starts on Monday morning
    assert c.q.turn_day() == date(2026, 11, 30)
    rows = c.store.db.execute("SELECT status, closed_reason, finished_at FROM tickets").fetchall()
    assert [tuple(r) for r in rows] == [("cancelled", "day_end", local(2026, 11, 28, 0, 0).timestamp())]
    assert c.q.snapshot()["counters"][2]["current"] is None


# ------------------------------------------------------------------- priority guard


def test_priority_calls_with_nobody_ordinary_waiting_do_not_use_up_the_guard(tmp_path: Path) -> None:
    """The quoted case: max_consecutive = 3; three priority tickets are called while no ordinary
    ticket waits; then ordinary O3 arrives, then priority P8. P8 comes first."""
    c = Center(tmp_path, local(2026, 11, 23, 9, 0))
    for _ in range(3):
        c.issue("dat-dai", priority=True)  # 5001..5003
    assert [c.next(1), c.next(1), c.next(1)] == ["5001", "5002", "5003"]
    o3 = c.issue("dat-dai")  # 5004
    p8 = c.issue("dat-dai", priority=True)  # 5005
    assert c.next(1) == p8
    assert c.next(1) == o3


def test_the_guard_still_stops_priority_while_ordinary_tickets_wait(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 23, 9, 0))
    c.issue("dat-dai", priority=True)  # 5001
    assert c.next(1) == "5001"  # nobody ordinary waiting: not counted
    ordinary = c.issue("dat-dai")  # 5002
    for _ in range(4):
        c.issue("dat-dai", priority=True)  # 5003..5006
    order = [c.next(1) for _ in range(5)]
    assert order == ["5003", "5004", "5005", ordinary, "5006"]


# ------------------------------------------------------------------- estimated wait


def test_estimated_wait_uses_the_counters_actually_staffed(tmp_path: Path) -> None:
    """The quoted case: nobody at a counter → no estimate (not ~10 min for 6 ahead); one counter
    staffed, 7 ahead, 5 min each → 35 min (not 12 over two configured counters)."""
    c = Center(tmp_path, local(2026, 11, 23, 7, 30))
    for _ in range(6):
        c.issue("dat-dai")
    seventh = c.q.issue("dat-dai")
    assert (seventh.waiting_ahead, seventh.est_wait_min) == (6, None)
    assert c.q.ticket_view(seventh.ticket.id)["est_wait_min"] is None
    c.at(local(2026, 11, 23, 7, 35))
    c.next(1)  # counter 1 starts work; counter 2 (same field) stays empty
    c.at(local(2026, 11, 23, 7, 40))
    c.next(1)  # 5001 served in 5 min
    for _ in range(2):  # 5 still waiting, + 2
        c.issue("dat-dai")
    issued = c.q.issue("dat-dai")
    assert (issued.waiting_ahead, issued.est_wait_min) == (7, 35)
    # a paused counter is not staffed
    c.q.call_next(1, "staff1")
    c.q.finish(1, "staff1", Outcome.GUIDANCE)
    c.q.pause(1, "staff1", "break", 15)
    assert c.q.ticket_view(issued.ticket.id)["est_wait_min"] is None
    c.q.resume(1, "staff1")
    assert c.q.ticket_view(issued.ticket.id)["est_wait_min"] is not None
    # staffed means "today": the next morning nobody is staffed yet
    c.at(local(2026, 11, 24, 7, 30))
    tomorrow = c.q.issue("dat-dai")
    assert (tomorrow.waiting_ahead, tomorrow.est_wait_min) == (0, None)


# --------------------------------------------------------------------- statistics ratios


def test_ratios_with_nothing_to_divide_are_null_not_zero(tmp_path: Path) -> None:
    c = Center(tmp_path, local(2026, 11, 23, 9, 0))
    c.issue("dat-dai")
    c.issue("dat-dai")
    data = c.stats(date(2026, 11, 23))
    dat = next(s for s in data["by_service"] if s["service"] == "dat-dai")
    ho = next(s for s in data["by_service"] if s["service"] == "ho-tich")
    assert (dat["issued"], dat["served"], dat["within_target_pct"]) == (2, 0, None)
    assert (ho["issued"], ho["within_target_pct"]) == (0, None)
    assert data["satisfaction"]["total"] == 0
    assert [lv["percent"] for lv in data["satisfaction"]["levels"]] == [None, None, None]
    empty = c.stats(date(2026, 11, 22))
    assert (empty["visits_per_day"], empty["dossiers_per_day"]) == (None, None)
    # and a real zero stays a zero
    c.at(local(2026, 11, 23, 9, 30))
    c.next(1)
    served = c.stats(date(2026, 11, 23))
    assert served["totals"]["within_target_pct"] == 0.0
    assert served["visits_per_day"] == 2.0
