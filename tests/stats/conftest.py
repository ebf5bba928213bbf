"""A scripted day in a real hub whose clock stands still at the moment a file holds
(QUAYSO_FAKE_CLOCK_FILE, queue_server/daybreak.py): every wait and service time of the day is
a whole number of minutes, worked out by hand in test_stats_day.py.

The day (Monday 30/11/2026, Asia/Ho_Chi_Minh), with fields Hộ tịch (1001…) and Chứng thực
(2001…); counter 1 serves Hộ tịch, 2 Chứng thực, 3 both; staffN works counter N:

    08:00 1001 issued          08:02 1002 issued        08:05 2001 issued
    08:06 1003 issued (priority)
    08:10 counter 1 calls 1003 (priority first: waited 4)   08:20 finishes it: received, 2 dossiers
    08:20 counter 2 calls 2001 (waited 15)                   08:21 no-show
    08:22 counter 1 calls 1001 (waited 22)                   08:30 transfers it to Chứng thực
    08:31 counter 3 pauses (break)                           08:35 2001 re-queued by counter 2
    08:36 counter 2 calls 1001 (same place: before 2001; 6 min in Chứng thực)
    08:40 counter 2 finishes 1001: received (1 dossier)      08:41 counter 3 resumes (paused 10)
    08:42 counter 3 calls 1002 (waited 40)                   08:45 counter 2 calls 2001 again
    08:50 counter 2 finishes 2001: guidance                  08:52 counter 3 finishes 1002: returned
    08:55 2002 issued, 08:57 cancelled                       09:05 2003 issued, still waiting
    09:10 ratings: 1003 Rất hài lòng, 1001 Rất hài lòng, 2001 Hài lòng, 1002 Chưa hài lòng
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import DEVICE, HubProcess, center_toml, counter_toml, field_toml, free_port, login

CENTER = center_toml("[reports]\ntarget_wait_min = 10", field_toml("ho-tich"), field_toml("chung-thuc"),
                     counter_toml(1, ["ho-tich"]), counter_toml(2, ["chung-thuc"]),
                     counter_toml(3, ["ho-tich", "chung-thuc"]))

DAY = "2026-11-30"


@dataclass
class ScriptedHub:
    hub: HubProcess
    clock_file: Path
    tickets: dict[str, str] = field(default_factory=dict)  # number → id
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def at(self, hhmm: str) -> None:
        self.clock_file.write_text(f"{DAY}T{hhmm}:00+07:00")

    def who(self, user: str) -> dict[str, str]:
        if user not in self.headers:
            self.headers[user] = login(self.hub.url, user)
        return self.headers[user]

    def post(self, path: str, user: str | None, body: dict[str, Any] | None = None,
             expect: int = 200) -> dict[str, Any]:
        headers = DEVICE if user is None else self.who(user)
        r = requests.post(f"{self.hub.url}{path}", json=body or {}, headers=headers, timeout=10)
        assert r.status_code == expect, (path, r.status_code, r.text)
        return r.json() if r.content else {}

    def issue(self, hhmm: str, service: str, priority: bool = False) -> str:
        self.at(hhmm)
        body = self.post("/api/v1/tickets", None, {"service": service, "priority": priority}, 201)
        self.tickets[body["number"]] = body["id"]
        return str(body["number"])

    def counter(self, hhmm: str, n: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        self.at(hhmm)
        return self.post(f"/api/v1/counters/{n}/{action}", f"staff{n}", body)

    def get(self, path: str, user: str = "manager") -> requests.Response:
        return requests.get(f"{self.hub.url}{path}", headers=self.who(user), timeout=30)


def run_day(s: ScriptedHub) -> None:
    """The day in the module docstring, step by step; each step checks the hub's answer."""
    assert s.issue("08:00", "ho-tich") == "1001"
    assert s.issue("08:02", "ho-tich") == "1002"
    assert s.issue("08:05", "chung-thuc") == "2001"
    assert s.issue("08:06", "ho-tich", priority=True) == "1003"
    assert s.counter("08:10", 1, "next")["number"] == "1003"
    s.counter("08:20", 1, "finish", {"outcome": "received", "dossiers": 2})
    assert s.counter("08:20", 2, "next")["number"] == "2001"
    assert s.counter("08:21", 2, "no-show")["status"] == "no_show"
    assert s.counter("08:22", 1, "next")["number"] == "1001"
    assert s.counter("08:30", 1, "transfer", {"service": "chung-thuc"})["service"] == "chung-thuc"
    s.counter("08:31", 3, "pause", {"reason": "break"})
    assert s.counter("08:35", 2, "requeue", {"ticket": s.tickets["2001"]})["status"] == "waiting"
    assert s.counter("08:36", 2, "next")["number"] == "1001"
    s.counter("08:40", 2, "finish", {"outcome": "received"})
    s.counter("08:41", 3, "resume")
    assert s.counter("08:42", 3, "next")["number"] == "1002"
    assert s.counter("08:45", 2, "next")["number"] == "2001"
    s.counter("08:50", 2, "finish", {"outcome": "guidance"})
    s.counter("08:52", 3, "finish", {"outcome": "returned"})
    assert s.issue("08:55", "chung-thuc") == "2002"
    s.at("08:57")
    s.post(f"/api/v1/tickets/{s.tickets['2002']}/cancel", "manager", {"reason": "left"})
    assert s.issue("09:05", "chung-thuc") == "2003"
    s.at("09:10")
    for number, level in (("1003", 1), ("1001", 1), ("2001", 2), ("1002", 3)):
        s.post("/api/v1/ratings", None, {"ticket": s.tickets[number], "level": level}, 201)


@pytest.fixture(scope="module")
def day_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedHub]:
    """A hub (demo accounts, the center above) on a file clock, after the scripted day."""
    root = tmp_path_factory.mktemp("stats-day")
    config = root / "center.toml"
    config.write_text(CENTER, encoding="utf-8")
    clock = root / "now.txt"
    clock.write_text(f"{DAY}T07:55:00+07:00")
    hub = HubProcess(root / "data", free_port(), ["--demo", "--config", str(config)],
                     env={"QUAYSO_FAKE_CLOCK_FILE": str(clock)}).start()
    scripted = ScriptedHub(hub, clock)
    try:
        run_day(scripted)
        yield scripted
    finally:
        hub.stop()
