"""The raw-event stream (issue 12, "if configured, the raw events without personal data"): a real
center with `[reporting] raw_events = true` and the real central. The central's `raw_events`
table holds exactly the center's events, each once — also after a kill -9 of the center between
the central's answer and the center's acknowledgement; no ticket id and no free text leaves the
center (checked in every HTTP body and every stored row); one visit's events share one
pseudonymous reference. Off: version 1 batches, no events. Turned on later: from then on only.
Bad config refused."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import requests
from jsonschema import Draft202012Validator

from queue_server.central.ingest import SCHEMAS
from queue_server.forwarder import EVENT_DATA, raw_event
from queue_server.storage import default_db_path
from tests.conftest import ROOT, HubProcess, free_port, login

from .conftest import CENTER_TOKENS, center_config
from .proxy import CentralProxy
from .test_central_e2e import FAKE_NOW, province, status, wait_equal, work

RAW_ON = "raw_events = true"
TYPED_REASON = "Công dân Nguyễn Văn Ân bỏ về, SĐT 0912345678"  # free text a person typed
PAUSE_NOTE = "Đi họp với chị Lê Thị Bình"


def center_events(hub: HubProcess, after: int = 0) -> list[tuple[Any, ...]]:
    """(id, kind, day, field, counter, staff, ticket id) of the center's events after `after`,
    read from its database (read-only, beside the running hub)."""
    db = sqlite3.connect(f"file:{default_db_path(hub.data)}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in db.execute(
            "SELECT id, kind, day, field_id, counter, staff, ticket_id FROM events WHERE id > ? "
            "ORDER BY id", (after,))]
    finally:
        db.close()


def central_events(dsn: str, cid: str) -> list[tuple[Any, ...]]:
    """(event id, kind, day, field, counter, staff, visit, data) stored for `cid`."""
    with psycopg.connect(dsn) as conn:
        return [(r[0], r[1], r[2].isoformat(), *r[3:]) for r in conn.execute(
            "SELECT event_id, kind, day, field_id, counter, staff, visit, data FROM raw_events "
            "WHERE center_id = %s ORDER BY event_id", (cid,)).fetchall()]


def stored_text(dsn: str) -> str:
    """Every stored raw-event row as JSON text, all centers."""
    with psycopg.connect(dsn) as conn:
        return "\n".join(r[0] for r in conn.execute("SELECT row_to_json(e)::text FROM raw_events e"))


def wait_events(dsn: str, hub: HubProcess, cid: str, after: int = 0, timeout: float = 60.0
                ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Poll until the central holds exactly the center's events after `after` (id, kind, day,
    field, counter, staff); both lists, the last pair asserted equal."""
    deadline = time.monotonic() + timeout
    while True:
        mine = center_events(hub, after)
        theirs = central_events(dsn, cid)
        if [m[:6] for m in mine] == [t[:6] for t in theirs] or time.monotonic() > deadline:
            assert [t[:6] for t in theirs] == [m[:6] for m in mine]
            return mine, theirs
        time.sleep(0.5)


def more_life(hub: HubProcess, headers: dict[str, str]) -> None:
    """What `work` does not: a pause with a note, a resume, a cancel with a reason a person typed,
    a transfer and a recall."""
    r = requests.post(f"{hub.url}/api/v1/counters/2/pause", json={"reason": "meeting", "note": PAUSE_NOTE},
                      headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    requests.post(f"{hub.url}/api/v1/counters/2/resume", json={}, headers=headers, timeout=10).raise_for_status()
    waiting = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich", "priority": True},
                            headers=headers, timeout=10).json()["id"]
    r = requests.post(f"{hub.url}/api/v1/tickets/{waiting}/cancel", json={"reason": TYPED_REASON},
                      headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    requests.post(f"{hub.url}/api/v1/tickets", json={"service": "dat-dai", "priority": False},
                  headers=headers, timeout=10).raise_for_status()
    requests.post(f"{hub.url}/api/v1/counters/1/next", headers=headers, timeout=10).raise_for_status()
    requests.post(f"{hub.url}/api/v1/counters/1/recall", json={}, headers=headers, timeout=10).raise_for_status()
    r = requests.post(f"{hub.url}/api/v1/counters/1/transfer", json={"service": "ho-tich"},
                      headers=headers, timeout=10)
    assert r.status_code == 200, r.text


def test_raw_events_reach_the_central_once_and_without_personal_data(central_factory, tmp_path: Path) -> None:
    central = central_factory()
    proxy = CentralProxy(central.url, CENTER_TOKENS["xa-1"])
    config = center_config(tmp_path, "xa-1", proxy.url, extra=RAW_ON)
    hub = HubProcess(tmp_path / "data-xa-1", free_port(), ["--demo", "--config", str(config)],
                     env=FAKE_NOW).start()
    try:
        manager = login(hub.url, "manager")
        work(hub, manager, 8)
        more_life(hub, manager)
        wait_equal(central.url, hub, "xa-1", manager)
        wait_events(central.dsn, hub, "xa-1")

        # kill -9 between the central's answer and the center's ack: nothing stored twice
        proxy.hold.set()
        work(hub, manager, 4, counter=2)
        assert proxy.answered.wait(30), "no batch reached the central"
        held_key, held_status, stored = proxy.seen[-1]
        assert (held_status, stored) == (201, "stored")
        hub.kill9()
        proxy.hold.clear()
        proxy.release.set()
        hub.start()
        manager = login(hub.url, "manager")
        wait_equal(central.url, hub, "xa-1", manager)
        mine, theirs = wait_events(central.dsn, hub, "xa-1")
        assert (held_key, 200, "duplicate") in proxy.seen

        kinds = {m[1] for m in mine}
        assert {"issued", "called", "finished", "no_show", "rated", "cancelled", "counter_paused",
                "counter_resumed", "transferred", "recalled"} <= kinds
        # each event once; the per-day count the province view reads agrees with the table
        summary = province(central.url)
        assert summary["centers"]["xa-1"]["raw_events"] == len(theirs) == len(mine)
        with psycopg.connect(central.dsn) as conn:
            (n,) = conn.execute("SELECT COUNT(*) FROM batches WHERE idempotency_key = %s",
                                (held_key,)).fetchone()
        assert n == 1

        # one visit, one reference; different visits, different references; none for a pause
        refs: dict[str, set[str | None]] = {}
        for m, t in zip(mine, theirs):
            refs.setdefault(m[6] or "", set()).add(t[6])
        assert refs.pop("") == {None}
        assert all(len(r) == 1 and None not in r for r in refs.values())
        assert len({next(iter(r)) for r in refs.values()}) == len(refs)

        # only whitelisted data; the ratings the center holds arrive as levels
        for t in theirs:
            assert set(t[7]) <= set(EVENT_DATA[t[1]]), t
        rated = sorted(t[7]["level"] for t in theirs if t[1] == "rated")
        stats = requests.get(f"{hub.url}/api/v1/stats", params={"from": "2026-11-30", "to": "2026-11-30"},
                             headers=manager, timeout=10).json()
        assert len(rated) == stats["satisfaction"]["total"] > 0
        cancelled = [t[7] for t in theirs if t[1] == "cancelled"]
        assert {"reason": "other"} in cancelled
        paused = next(t[7] for t in theirs if t[1] == "counter_paused")
        assert paused == {"reason": "meeting", "minutes": None}

        # no ticket id and no typed text anywhere: not in what was sent, not in what is stored
        ticket_ids = {m[6] for m in mine if m[6]}
        assert len(ticket_ids) >= 12
        sent = b"\n".join(proxy.bodies).decode()
        kept = stored_text(central.dsn)
        assert sum(json.loads(b).get("version") == 2 for b in proxy.bodies) == len(proxy.bodies)
        for text in (sent, kept):
            assert '"events"' in sent and "issued" in text
            for ticket_id in ticket_ids:
                assert ticket_id not in text
            for secret in (TYPED_REASON, PAUSE_NOTE, "Nguyễn", "0912345678", '"number"', '"label"'):
                assert secret not in text
        state = status(hub, manager)
        assert state["raw_events"] is True and state["backlog"]["events"] == 0
    finally:
        hub.stop()
        proxy.close()


def test_off_sends_version_1_and_turned_on_later_starts_from_then(central_factory, tmp_path: Path) -> None:
    central = central_factory()
    proxy = CentralProxy(central.url, CENTER_TOKENS["xa-2"])
    data, port = tmp_path / "data-xa-2", free_port()
    off = center_config(tmp_path, "xa-2", proxy.url)
    hub = HubProcess(data, port, ["--demo", "--config", str(off)], env=FAKE_NOW).start()
    try:
        manager = login(hub.url, "manager")
        work(hub, manager, 5)
        wait_equal(central.url, hub, "xa-2", manager)
        state = status(hub, manager)
        assert state["raw_events"] is False and state["backlog"]["events"] == 0
        hub.stop()
        assert proxy.bodies
        assert all(json.loads(b)["version"] == 1 and "events" not in json.loads(b) for b in proxy.bodies)
        assert central_events(central.dsn, "xa-2") == []
        before = center_events(hub)
        assert before

        on = tmp_path / "xa-2-on.toml"
        on.write_text(off.read_text(encoding="utf-8") + f"\n{RAW_ON}\n", encoding="utf-8")
        hub = HubProcess(data, port, ["--demo", "--config", str(on)], env=FAKE_NOW).start()
        manager = login(hub.url, "manager")
        work(hub, manager, 3)
        wait_equal(central.url, hub, "xa-2", manager)
        mine, theirs = wait_events(central.dsn, hub, "xa-2", after=before[-1][0])
        assert len(mine) >= 3 * 3 and theirs[0][0] > before[-1][0]
    finally:
        hub.stop()
        proxy.close()


def test_raw_event_is_built_from_the_whitelist_only() -> None:
    """Every key an event kind carries today, plus personal ones that must never leave."""
    key = b"k" * 32
    row = (7, 1796000400.25, "2026-11-30", "cancelled", "5b0f7e0e-6d7a-4c1e-9d63-1f2a3b4c5d6e",
           "ho-tich", 2, "staff1", json.dumps({"reason": TYPED_REASON, "number": "1001",
                                                "citizen": "Nguyễn Văn Ân"}))
    event = raw_event(row, key)
    assert event == {"id": 7, "kind": "cancelled", "at": "2026-11-30T01:00:00.250000Z", "day": "2026-11-30",
                     "field": "ho-tich", "counter": 2, "staff": "staff1", "visit": event["visit"],
                     "data": {"reason": "other"}}
    assert len(event["visit"]) == 16 and event["visit"] != raw_event(row, b"x" * 32)["visit"]
    issued = raw_event((8, 1.0, "2026-11-30", "issued", "t", "ho-tich", None, None, json.dumps({
        "number": "1001", "priority": 1, "priority_group": "khuyet-tat", "source": "kiosk-1",
        "waiting_ahead": 3, "est_wait_min": 12.5, "print": "pending"})), key)
    assert issued["data"] == {"priority": True, "waiting_ahead": 3, "est_wait_min": 12.5, "print": "pending"}
    rated = raw_event((9, 2.0, "2026-11-30", "rated", "t", "ho-tich", 1, "staff1", json.dumps({
        "level": 1, "label": "Rất hài lòng", "reason": "Chị Bình rất nhiệt tình", "source": "phone"})), key)
    assert rated["data"] == {"level": 1} and rated["visit"] == issued["visit"]
    unknown = raw_event((10, 3.0, "2026-11-30", "future_kind", None, None, None, None, '{"x": "y"}'), key)
    assert unknown["data"] == {} and unknown["visit"] is None
    validator = Draft202012Validator(SCHEMAS[2]["$defs"]["event"] | {"$defs": SCHEMAS[2]["$defs"]})
    for e in (event, issued, rated, unknown):
        assert not list(validator.iter_errors(e)), e


def test_schema_v2_is_v1_plus_events_and_both_are_documented() -> None:
    for version in (1, 2):
        name = f"batch-v{version}.schema.json"
        documented = json.loads((ROOT / "docs" / "reporting" / name).read_text(encoding="utf-8"))
        assert documented == json.loads((ROOT / "queue_server" / "central" / name).read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(documented)
    v1, v2 = SCHEMAS[1], SCHEMAS[2]
    assert {k: v for k, v in v2["properties"].items() if k not in ("version", "events")} == \
        {k: v for k, v in v1["properties"].items() if k != "version"}
    assert {k: v2["$defs"][k] for k in v1["$defs"]} == v1["$defs"]
    assert v2["required"] == [*v1["required"], "events"]


def test_bad_raw_events_config_is_refused(tmp_path: Path) -> None:
    def check(extra: str, url: str | None = "http://127.0.0.1:9") -> subprocess.CompletedProcess[str]:
        path = center_config(tmp_path, "xa-3", url)
        text = path.read_text(encoding="utf-8")
        if url is None:
            text += "\n[reporting]\n"
        path.write_text(text + f"\n{extra}\n", encoding="utf-8")
        return subprocess.run([sys.executable, "-m", "queue_server", "--config", str(path), "--check"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    for value in ('"yes"', "1", '"true"'):
        r = check(f"raw_events = {value}")
        assert r.returncode != 0 and "reporting.raw_events" in r.stderr, (value, r.stderr)
    r = check(RAW_ON, url=None)
    assert r.returncode != 0 and "reporting.url" in r.stderr, r.stderr
    assert check(RAW_ON).returncode == 0
    assert check("raw_events = false").returncode == 0
