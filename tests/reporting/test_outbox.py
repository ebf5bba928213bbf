"""The outbox in the hub (issue 12): every committed change marks its slot, the packed figures add up
to the center's own statistics (transfers, cancels, no-shows, ratings included), a change after
packing makes the slot dirty again with a higher revision, and the reporting status API is for
managers and admins only."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import requests
from jsonschema import Draft202012Validator

from queue_server.central.ingest import SCHEMA
from queue_server.forwarder import pack_batch
from queue_server.storage import SqliteStore, default_db_path
from tests.conftest import HubProcess, free_port, login

from .conftest import center_config
from .test_central_e2e import DAY, FAKE_NOW, center_figures, work

ROOT = Path(__file__).resolve().parents[2]


def _packed(data: Path) -> list[dict]:
    store = SqliteStore(default_db_path(data), lock_folder=False)
    try:
        batches = []
        while True:
            with store.transaction() as tx:
                seq = pack_batch(tx.db, "xa-1", ("Rất hài lòng", "Hài lòng", "Chưa hài lòng"),
                                 datetime.now(timezone.utc), limit=1)
                if seq is None:
                    break
                (body,) = tx.db.execute("SELECT body FROM outbox_batches WHERE seq = ?", (seq,)).fetchone()
            batches.append(json.loads(body))
        return batches
    finally:
        store.close()


def test_packed_slots_add_up_to_the_centers_statistics(tmp_path: Path) -> None:
    config = center_config(tmp_path, "xa-1", None)  # forwarding off: this test packs by itself
    hub = HubProcess(tmp_path / "data", free_port(), ["--demo", "--config", str(config)],
                     env=FAKE_NOW).start()
    manager = login(hub.url, "manager")
    work(hub, manager, 12)
    # a transfer (the ticket moves to another field: both fields' slots change), a cancel
    services = requests.get(f"{hub.url}/api/v1/services", timeout=10).json()
    fields = [s["id"] for s in (services["services"] if isinstance(services, dict) else services)]
    for field in fields[:2]:
        requests.post(f"{hub.url}/api/v1/tickets", json={"service": field, "priority": False},
                      headers=manager, timeout=10).raise_for_status()
    called = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=manager, timeout=10)
    assert called.status_code == 200, called.text
    target = next(f for f in fields if f != called.json()["service"])
    r = requests.post(f"{hub.url}/api/v1/counters/1/transfer", json={"service": target},
                      headers=manager, timeout=10)
    assert r.status_code == 200, r.text
    waiting = requests.post(f"{hub.url}/api/v1/tickets", json={"service": fields[0], "priority": False},
                            headers=manager, timeout=10).json()["id"]
    r = requests.post(f"{hub.url}/api/v1/tickets/{waiting}/cancel", json={}, headers=manager, timeout=10)
    assert r.status_code == 200, r.text
    want = center_figures(hub, manager)
    hub.stop()
    try:
        _check_packed(hub, want, fields)
    finally:
        hub.stop()


def _check_packed(hub: HubProcess, want: dict, fields: list[str]) -> None:

    batches = _packed(hub.data)
    assert len(batches) > 1  # one slot per batch: several batches
    validator = Draft202012Validator(SCHEMA)
    for b in batches:
        assert not list(validator.iter_errors(b))
    slots = [s for b in batches for s in b["slots"]]
    keys = [(s["day"], s["field"], s["slot_start"]) for s in slots]
    assert len(keys) == len(set(keys))
    got = {k: sum(s[k] for s in slots) for k in ("issued", "served", "no_show", "cancelled",
                                            "closed_at_day_end", "dossiers")}
    ratings: dict[str, int] = {}
    for s in slots:
        for r in s["ratings"]:
            ratings[str(r["level"])] = ratings.get(str(r["level"]), 0) + r["count"]
    got["ratings"] = {lv: ratings.get(lv, 0) for lv in want["ratings"]}
    assert got == want
    assert all(s["day"] == DAY for s in slots)
    assert _packed(hub.data) == []  # nothing dirty any more

    # A late change (a rating after the slot was packed) makes exactly that slot dirty again.
    hub.start()
    manager = login(hub.url, "manager")
    requests.post(f"{hub.url}/api/v1/tickets", json={"service": fields[0], "priority": False},
                  headers=manager, timeout=10).raise_for_status()
    requests.post(f"{hub.url}/api/v1/counters/1/next", headers=manager, timeout=10).raise_for_status()
    hub.stop()
    again = [s for b in _packed(hub.data) for s in b["slots"]]
    assert len(again) == 1
    before = {(s["day"], s["field"], s["slot_start"]): s["revision"] for s in slots}
    key = (again[0]["day"], again[0]["field"], again[0]["slot_start"])
    assert key not in before or again[0]["revision"] > before[key]


def test_reporting_status_is_for_managers_and_admins(hub) -> None:
    url = f"{hub.url}/api/v1/reporting/status"
    assert requests.get(url, timeout=10).status_code == 401
    r = requests.get(url, headers=login(hub.url, "staff1"), timeout=10)
    assert r.status_code == 403 and r.json()["error"]["message_en"]
    manager = login(hub.url, "manager")
    requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich", "priority": False},
                  headers=manager, timeout=10).raise_for_status()
    for who in ("manager", "admin"):
        state = requests.get(url, headers=login(hub.url, who), timeout=10).json()
        # forwarding is off in the demo: nothing sent, the outbox still marks what would be
        assert state["enabled"] is False and state["last_ack"] is None
        assert state["backlog"]["slots"] == 1 and state["backlog"]["batches"] == 0
    spec = requests.get(f"{hub.url}/api/v1/openapi.json", timeout=10).json()
    assert "/api/v1/reporting/status" in spec["paths"]


def test_existing_tickets_are_marked_by_the_migration(tmp_path: Path) -> None:
    """A center upgraded to v5 sends its history once reporting is turned on."""
    import sqlite3

    from queue_server import storage

    path = tmp_path / "queue.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for script in storage.MIGRATIONS[:4]:
        for statement in storage._statements(script):
            db.execute(statement)
    db.execute("PRAGMA user_version = 4")
    for i, at in enumerate((1000.0, 1100.0, 1900.0)):
        db.execute("INSERT INTO tickets (id, day, origin_field, seq, number, field_id, priority, status, "
                   "issued_at, source, issue_order) VALUES (?, '2026-11-30', 'f', ?, ?, 'f', 0, 'done', ?, "
                   "'api', ?)", (f"t{i}", i + 1, str(1001 + i), at, i + 1))
    db.close()
    store = SqliteStore(path, lock_folder=False)
    try:
        rows = store.db.execute("SELECT slot, revision, packed_revision FROM outbox_slots ORDER BY slot").fetchall()
        assert [tuple(r) for r in rows] == [(900, 1, 0), (1800, 1, 0)]
    finally:
        store.close()


def test_the_documented_schema_is_the_one_the_central_checks() -> None:
    from queue_server.central.ingest import SCHEMA_PATH

    documented = ROOT / "docs" / "reporting" / "batch-v1.schema.json"
    assert json.loads(documented.read_text(encoding="utf-8")) == json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(SCHEMA)


def test_backoff_grows_exponentially_with_jitter_up_to_its_cap() -> None:
    from queue_server.forwarder import BACKOFF_BASE_S, Forwarder, ReportingSettings

    settings = ReportingSettings("http://127.0.0.1:9", "xa-1", "t" * 16, None, 10.0, 300.0, 5.0, 60.0)
    forwarder = Forwarder(settings, store=None, clock=None, levels=("a", "b"))  # type: ignore[arg-type]
    for failures, step in ((1, BACKOFF_BASE_S), (2, 2 * BACKOFF_BASE_S), (4, 8 * BACKOFF_BASE_S), (30, 60.0)):
        forwarder.failures = failures
        waits = [forwarder.backoff() for _ in range(200)]
        assert all(step / 2 <= w <= step for w in waits), (failures, min(waits), max(waits))
        assert len(set(waits)) > 1  # jittered, not one fixed delay for every center
