"""The day turns at midnight with nobody acting: the daybreak thread against a clock set by hand,
then real `queue-server` processes on a shifted wall clock (QUAYSO_FAKE_NOW) — one crossing
midnight while a display listens, one switched off over the weekend."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

from queue_server.config import parse_config
from queue_server.core.ports import ManualClock
from queue_server.core.service import QueueService
from queue_server.daybreak import Daybreak, ShiftedClock, clock_from_env
from queue_server.storage import SqliteStore
from tests.conftest import DEVICE, HubProcess, ONE_COUNTER_CENTER, free_port, login
from tests.hub.test_hub_server import Listener

HANOI = timezone(timedelta(hours=7))
CONFIG = ONE_COUNTER_CENTER


class WaitingPublisher:
    """Records published events and lets a test wait for one (the daybreak thread publishes)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.cond = threading.Condition()

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        with self.cond:
            self.events.append((name, payload))
            self.cond.notify_all()

    def wait_for(self, name: str, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.cond:
            self.cond.wait_for(lambda: any(n == name for n, _ in self.events), timeout)
            return [p for n, p in self.events if n == name]


def test_daybreak_turns_the_day_at_midnight_without_any_action(tmp_path: Path) -> None:
    config = parse_config(CONFIG)
    clock = ManualClock(datetime(2026, 11, 23, 23, 0, tzinfo=HANOI))
    publisher = WaitingPublisher()
    store = SqliteStore(tmp_path / "q.sqlite3")
    service = QueueService(config.rules, store, clock, publisher)
    ticket = service.issue("ho-tich").ticket
    daybreak = Daybreak(service, clock, config.rules.timezone, max_sleep=0.01)
    assert daybreak.seconds_to_midnight() == 3600.0
    daybreak.start()
    try:
        assert publisher.wait_for("day_changed", timeout=0.3) == []  # still Monday
        clock.set(datetime(2026, 11, 24, 0, 0, 1, tzinfo=HANOI))
        assert publisher.wait_for("day_changed") == [{"day": "2026-11-24"}]
    finally:
        daybreak.close()
        daybreak.close()  # idempotent
    closed = service.get_ticket(ticket.id)
    assert (closed.status.value, closed.closed_reason) == ("cancelled", "day_end")
    assert closed.finished_at == datetime(2026, 11, 24, 0, 0, tzinfo=HANOI)
    store.close()


def test_daybreak_at_start_closes_what_an_earlier_day_left_open(tmp_path: Path) -> None:
    config = parse_config(CONFIG)
    clock = ManualClock(datetime(2026, 11, 27, 16, 0, tzinfo=HANOI))
    store = SqliteStore(tmp_path / "q.sqlite3")
    service = QueueService(config.rules, store, clock, WaitingPublisher())
    ticket = service.issue("ho-tich").ticket
    clock.set(datetime(2026, 11, 30, 7, 0, tzinfo=HANOI))
    daybreak = Daybreak(service, clock, config.rules.timezone, max_sleep=0.01)
    daybreak.start()
    daybreak.close()
    row = store.db.execute("SELECT status, closed_reason FROM tickets WHERE id = ?", (ticket.id,)).fetchone()
    assert tuple(row) == ("cancelled", "day_end")
    store.close()


def test_fake_now_is_read_only_from_its_variable() -> None:
    assert clock_from_env({}) is None
    clock = clock_from_env({"QUAYSO_FAKE_NOW": "2026-11-27T23:59:40+07:00"})
    assert isinstance(clock, ShiftedClock)
    assert abs((clock.now() - datetime(2026, 11, 27, 23, 59, 40, tzinfo=HANOI)).total_seconds()) < 60


def _hub(tmp_path: Path, name: str, fake_now: str, port: int | None = None) -> HubProcess:
    return HubProcess(tmp_path / name, port or free_port(), ["--demo"],
                      env={"QUAYSO_FAKE_NOW": fake_now}).start()


def test_a_real_hub_shows_the_new_day_at_midnight_to_a_listening_display(tmp_path: Path) -> None:
    # 30 s before midnight (the shifted clock starts when the hub wires itself; a loaded machine
    # needs seconds to get it serving): a ticket is issued, a display listens; nobody acts
    hub = _hub(tmp_path, "data", "2026-11-27T23:59:30+07:00")
    try:
        r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
        assert r.status_code == 201, r.text
        ticket = r.json()
        display = Listener(hub.url)
        try:
            first = display.wait_for("state", timeout=15)[0]
            assert first["day"] == "2026-11-27" and first["waiting"]["ho-tich"] == 1, (
                "the hub started too late to watch midnight pass (machine overloaded?)")
            # the display hears of the new day: the core publishes `day_changed`; by contract the
            # Socket.IO publisher answers it with a fresh `state` (it may or may not pass the
            # event itself on), so either one of the new day counts
            def new_day(name: str, data: Any) -> bool:
                return (name == "day_changed" and data == {"day": "2026-11-28"}) or (
                    name == "state" and data.get("day") == "2026-11-28"
                    and data["waiting"]["ho-tich"] == 0)

            with display.cond:
                display.cond.wait_for(lambda: any(new_day(n, d) for n, d in display.events), 60)
                heard = [(n, d) for n, d in display.events if new_day(n, d)]
            assert heard, display.events
        finally:
            display.close()
        state = requests.get(f"{hub.url}/api/v1/state", timeout=10).json()
        assert (state["day"], state["waiting"]["ho-tich"]) == ("2026-11-28", 0)
        view = requests.get(f"{hub.url}/api/v1/tickets/{ticket['id']}", timeout=10).json()
        assert (view["status"], view["closed_reason"]) == ("cancelled", "day_end")
        assert view["finished_at"] == "2026-11-28T00:00:00+07:00"
    finally:
        hub.stop()


def test_a_hub_off_over_the_weekend_keeps_fridays_figures(tmp_path: Path) -> None:
    """Friday: 1001 served, 1002 called and never finished, 1003 waiting; the hub is switched
    off and started again on Monday 07:30. Friday's figures stay as they were at closing."""
    hub = _hub(tmp_path, "data", "2026-11-27T16:40:00+07:00")
    port = hub.port
    try:
        ids = []
        for _ in range(3):
            r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
            assert r.status_code == 201
            ids.append(r.json()["id"])
        staff = login(hub.url, "staff1")
        assert requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff, timeout=10).json()["number"] == "1001"
        r = requests.post(f"{hub.url}/api/v1/counters/1/finish", json={"outcome": "guidance"}, headers=staff, timeout=10)
        assert r.status_code == 200
        assert requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff, timeout=10).json()["number"] == "1002"
        manager = login(hub.url, "manager")
        friday = {"from": "2026-11-27", "to": "2026-11-27"}
        at_closing = requests.get(f"{hub.url}/api/v1/stats", params=friday, headers=manager, timeout=10).json()
    finally:
        hub.stop()
    assert at_closing["totals"]["served"] == 1 and at_closing["totals"]["waiting"] == 2

    monday = HubProcess(tmp_path / "data", port, ["--demo"], env={"QUAYSO_FAKE_NOW": "2026-11-30T07:30:00+07:00"})
    monday.start()
    try:
        # closed at start, before anybody acts (read straight from the database)
        db = sqlite3.connect(f"file:{tmp_path / 'data' / 'queue.sqlite3'}?mode=ro", uri=True)
        rows = db.execute("SELECT number, status, closed_reason FROM tickets ORDER BY issue_order").fetchall()
        db.close()
        assert rows == [("1001", "done", None), ("1002", "cancelled", "day_end"), ("1003", "cancelled", "day_end")]
        manager = login(monday.url, "manager")
        after = requests.get(f"{monday.url}/api/v1/stats", params=friday, headers=manager, timeout=10).json()
        for key in ("issued", "served", "no_show", "dossiers", "wait_min", "service_min", "within_target_pct"):
            assert after["totals"][key] == at_closing["totals"][key], key
        assert (after["totals"]["cancelled"], after["totals"]["closed_at_day_end"]) == (0, 2)
        state = requests.get(f"{monday.url}/api/v1/state", timeout=10).json()
        assert state["day"] == "2026-11-30"
        assert [c["current"] for c in state["counters"] if c["counter"] == 1] == [None]
        r = requests.post(f"{monday.url}/api/v1/tickets", json={"service": "ho-tich"}, headers=DEVICE, timeout=10)
        assert r.json()["number"] == "1001"
    finally:
        monday.stop()


def test_the_phone_page_says_when_there_is_no_estimate_and_when_the_day_ended(
        browser: Any, tmp_path: Path) -> None:
    friday = _hub(tmp_path, "data", "2026-11-27T16:40:00+07:00")
    port = friday.port
    try:
        # the kiosk screen: nobody has called a ticket yet, so no counter is staffed
        kiosk = browser.new_page(viewport={"width": 1080, "height": 1920})
        kiosk.goto(f"{friday.url}/kiosk?token=demo-device")
        kiosk.locator('[data-service="ho-tich"]').click()
        kiosk.locator("#overlay-result").wait_for(state="visible")
        assert kiosk.locator("#result-number").inner_text().strip() == "1001"
        assert kiosk.locator("#result-wait").inner_text() == "chưa ước tính được (chưa có quầy nào đang làm việc)"
        kiosk.close()
        mine = requests.post(f"{friday.url}/api/v1/kiosk/tickets", json={"service": "ho-tich"},
                             headers=DEVICE, timeout=10).json()
        assert (mine["number"], mine["waiting_ahead"], mine["est_wait_min"]) == ("1002", 1, None)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(f"{friday.url}/t/{mine['id']}")
        page.locator("#facts").wait_for(state="visible")
        assert page.locator("#fact-wait").inner_text() == "chưa ước tính được (chưa có quầy nào đang làm việc)"
    finally:
        friday.stop()
    monday = HubProcess(tmp_path / "data", port, ["--demo"],
                        env={"QUAYSO_FAKE_NOW": "2026-11-30T07:30:00+07:00"}).start()
    try:
        page.goto(f"{monday.url}/t/{mine['id']}")
        page.get_by_text("Ngày làm việc đã kết thúc", exact=True).wait_for()
        assert page.locator("#status-title").inner_text() == "Ngày làm việc đã kết thúc"
        assert "lấy số mới" in page.locator("#status-text").inner_text()
        page.close()
    finally:
        monday.stop()
