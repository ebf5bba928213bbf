"""Health that tells the truth: a full disk makes /healthz say "degraded" (503, with reasons in
Vietnamese and English) instead of "ok", and a successful write makes it healthy again.

Two real full disks: in process, SQLite's own limit on the database size (`PRAGMA max_page_count`
on the store's connection) makes commits fail with SQLITE_FULL; against a real hub process, the
kernel's file-size limit (RLIMIT_FSIZE, lowered with prlimit on the running hub, as an
unprivileged user may) makes every write to the database files fail, as a full SD card does.
"""

from __future__ import annotations

import resource
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator

from queue_server import health
from queue_server.config import parse_config
from queue_server.core.errors import Conflict
from queue_server.core.ports import ManualClock
from queue_server.core.service import QueueService
from queue_server.storage import SqliteStore
from tests.conftest import DEVICE, HubProcess, ONE_COUNTER_CENTER, RecordingPublisher, free_port

CONFIG = ONE_COUNTER_CENTER


def test_a_full_database_is_reported_until_a_write_succeeds(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.sqlite3")
    clock = ManualClock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
    q = QueueService(parse_config(CONFIG).rules, store, clock, RecordingPublisher())
    first = q.issue("ho-tich").ticket
    assert health.check(store, tmp_path, 0).ok
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    with pytest.raises(sqlite3.OperationalError):
        for _ in range(200):
            q.issue("ho-tich")
    result = health.check(store, tmp_path, 0)
    assert [p.code for p in result.problems] == ["write_failed"]
    assert not result.restart_may_help  # a watchdog must not restart-loop on a full disk
    assert result.as_dict()["status"] == "degraded"
    problem = result.as_dict()["problems"][0]
    assert "full" in problem["message_en"] and "ổ đĩa" in problem["message"]
    # a refusal of the rules is not a successful write: still degraded
    with pytest.raises(Conflict):
        q.requeue(first.id, None)  # refused inside its transaction: it is waiting, not absent
    assert not health.check(store, tmp_path, 0).ok
    store.db.execute("PRAGMA max_page_count = 1073741823")  # space freed
    q.issue("ho-tich")
    assert health.check(store, tmp_path, 0).ok
    store.close()


def test_low_free_space_and_an_unreachable_database_are_reported(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "q.sqlite3")
    free_mb = health.free_bytes(tmp_path) // (1024 * 1024)
    assert health.check(store, tmp_path, max(free_mb - 10, 0)).ok
    low = health.check(store, tmp_path, free_mb + 1000)
    assert [p.code for p in low.problems] == ["low_disk_space"]
    assert f"{free_mb + 1000} MB" in low.problems[0].message
    store.close()  # a closed connection: the probe itself fails
    gone = health.check(store, tmp_path, 0)
    assert [p.code for p in gone.problems] == ["database_unreachable"]
    assert gone.restart_may_help


def _healthz(hub: HubProcess) -> tuple[int, dict[str, Any]]:
    r = requests.get(f"{hub.url}/healthz", timeout=10)
    return r.status_code, r.json()


def test_healthz_of_a_real_hub_on_a_full_disk(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", free_port(), ["--demo"]).start()
    assert hub.proc is not None
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    try:
        status, body = _healthz(hub)
        assert (status, body["status"]) == (200, "ok")
        issue = lambda: requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"},  # noqa: E731
                                      headers=DEVICE, timeout=10)
        assert issue().status_code == 201
        # the disk fills up: no file of the hub's may grow past one byte
        resource.prlimit(hub.worker_pid(), resource.RLIMIT_FSIZE, (1, hard))
        r = issue()
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "storage_unavailable"
        status, body = _healthz(hub)
        assert status == 503
        assert body["status"] == "degraded"
        assert [p["code"] for p in body["problems"]] == ["write_failed"]
        assert all(p["message"] and p["message_en"] for p in body["problems"])
        doc = requests.get(f"{hub.url}/api/v1/openapi.json", timeout=10).json()
        Draft202012Validator(doc["paths"]["/healthz"]["get"]["responses"]["503"]["content"][
            "application/json"]["schema"]).validate(body)
        # nothing acknowledged was lost, nothing half-written shows
        assert requests.get(f"{hub.url}/api/v1/state", timeout=10).json()["waiting"]["ho-tich"] == 1
        # space comes back; the next write succeeds and health follows
        resource.prlimit(hub.worker_pid(), resource.RLIMIT_FSIZE, (soft, hard))
        assert issue().status_code == 201
        status, body = _healthz(hub)
        assert (status, body["status"]) == (200, "ok")
    finally:
        if hub.proc.poll() is None:
            resource.prlimit(hub.worker_pid(), resource.RLIMIT_FSIZE, (soft, hard))  # the serving process
        hub.stop()


def test_healthz_reports_low_disk_space_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "center.toml"
    demo = (Path(__file__).resolve().parents[2] / "queue_server" / "demo.toml").read_text(encoding="utf-8")
    config.write_text(demo + "\n[server]\nmin_free_mb = 1000000\n", encoding="utf-8")
    hub = HubProcess(tmp_path / "data", free_port(), ["--demo", "--config", str(config)])
    with pytest.raises(RuntimeError):  # never healthy: the fixture waits for 200
        hub.start(timeout=8)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = _healthz(hub)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "hub did not answer"
                time.sleep(0.1)
        assert status == 503
        assert [p["code"] for p in body["problems"]] == ["low_disk_space"]
        assert "1000000 MB" in body["problems"][0]["message"]
    finally:
        hub.stop()


def test_config_refuses_a_negative_threshold() -> None:
    from queue_server.config import ConfigError

    with pytest.raises(ConfigError):
        parse_config(CONFIG + "\n[server]\nmin_free_mb = -5\n")
    assert health.min_free_mb(parse_config(CONFIG).sections) == health.DEFAULT_MIN_FREE_MB
    assert health.min_free_mb(parse_config(CONFIG + "\n[server]\nmin_free_mb = 7\n").sections) == 7


def test_check_hub_uses_the_hubs_store_folder_and_threshold(tmp_path: Path) -> None:
    from queue_server.app import create_hub

    free_mb = health.free_bytes(tmp_path) // (1024 * 1024)
    hub = create_hub(parse_config(CONFIG + f"\n[server]\nmin_free_mb = {free_mb + 1000}\n"), tmp_path / "data")
    try:
        assert [p.code for p in health.check_hub(hub).problems] == ["low_disk_space"]
    finally:
        hub.close()
    hub = create_hub(parse_config(CONFIG), tmp_path / "data")
    try:
        assert health.check_hub(hub).ok
        assert hub.daybreak is not None  # the day turns with this hub (closed with it)
    finally:
        hub.close()
