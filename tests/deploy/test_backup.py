"""Backups, restore and migration (`queue-server backup | restore | migrate`): an online backup
taken during a burst of ticket issues on a real hub restores to an intact database holding every
ticket acknowledged (201) before the backup started; a database of the first released schema
(v1) migrates and serves its tickets; retention; bad backups and a running hub are refused
without touching the data."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from queue_server import backup
from queue_server.storage import MIGRATIONS, SCHEMA_VERSION, _statements
from tests.conftest import DEVICE, ROOT, HubProcess, free_port


def queue_server(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "queue_server", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def ticket_ids(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {row[0] for row in con.execute("SELECT id FROM tickets")}
    finally:
        con.close()


def test_backup_during_a_burst_restores_every_acknowledged_ticket(tmp_path: Path) -> None:
    hub = HubProcess(tmp_path / "data", free_port(), ["--demo"]).start()
    acknowledged: list[tuple[float, str]] = []  # (when the 201 arrived, ticket id)
    stop = threading.Event()
    fields = ["ho-tich", "chung-thuc", "dat-dai"]

    def kiosk(n: int) -> None:
        with requests.Session() as s:
            while not stop.is_set():
                r = s.post(f"{hub.url}/api/v1/tickets", json={"service": fields[n % 3]}, headers=DEVICE, timeout=30)
                assert r.status_code == 201, r.text
                acknowledged.append((time.monotonic(), r.json()["id"]))

    try:
        with ThreadPoolExecutor(6) as pool:
            kiosks = [pool.submit(kiosk, n) for n in range(6)]
            while len(acknowledged) < 60:
                time.sleep(0.05)
            started = time.monotonic()
            made = queue_server("backup", "--data", str(hub.data))
            count_at_end = len(acknowledged)
            while len(acknowledged) < count_at_end + 30:  # the burst goes on after it
                time.sleep(0.05)
            stop.set()
            for k in kiosks:
                k.result()
        assert made.returncode == 0, made.stderr
        file = Path(made.stdout.split("backup: ")[1].split(" (")[0])
        assert file.parent == hub.data / "backups"

        # restore into the data folder of a stopped hub (here a new one), then serve from it
        restored = tmp_path / "restored"
        restored.mkdir()
        result = queue_server("restore", str(file), "--data", str(restored))
        assert result.returncode == 0, result.stderr
        db = restored / "queue.sqlite3"
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        issued_events = {r[0] for r in con.execute("SELECT ticket_id FROM events WHERE kind = 'issued'")}
        con.close()
        before = {ticket for at, ticket in acknowledged if at < started}
        assert len(before) >= 60
        in_backup = ticket_ids(db)
        assert before <= in_backup and before <= issued_events
        assert len(in_backup) < len(acknowledged)  # a snapshot, not a copy taken at the end
        again = HubProcess(restored, free_port(), ["--demo"]).start()
        try:
            some = sorted(before)[0]
            assert requests.get(f"{again.url}/api/v1/tickets/{some}", timeout=10).status_code == 200
        finally:
            again.stop()

        # a restore onto the running hub's folder is refused, and changes nothing
        refused = queue_server("restore", str(file), "--data", str(hub.data))
        assert refused.returncode == 1
        assert "dừng" in refused.stderr and "stop it first" in refused.stderr
        assert set(ticket for _, ticket in acknowledged) <= ticket_ids(hub.data / "queue.sqlite3")
    finally:
        stop.set()
        hub.stop()


def first_release_database(path: Path) -> dict[str, str]:
    """A database as the first released schema (v1, storage.MIGRATIONS[0]) wrote it, with a
    day of tickets and their events."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    for statement in _statements(MIGRATIONS[0]):
        con.execute(statement)
    con.execute("PRAGMA user_version = 1")
    ids = {"1001": str(uuid.uuid4()), "1002": str(uuid.uuid4())}
    day = "2026-11-02"
    for seq, (number, ticket) in enumerate(ids.items(), start=1):
        issued = 1793000000.0 + seq * 60
        status = "done" if seq == 1 else "waiting"
        con.execute(
            "INSERT INTO tickets (id, day, origin_field, seq, number, field_id, priority, status, issued_at, "
            "source, called_at, finished_at, counter, staff, outcome, dossiers, rating) "
            "VALUES (?, ?, 'ho-tich', ?, ?, 'ho-tich', 0, ?, ?, 'kiosk', ?, ?, ?, ?, ?, ?, ?)",
            (ticket, day, seq, number, status, issued, issued + 300 if seq == 1 else None,
             issued + 900 if seq == 1 else None, 1 if seq == 1 else None, "staff1" if seq == 1 else None,
             "received" if seq == 1 else None, 1 if seq == 1 else None, 1 if seq == 1 else None))
        con.execute("INSERT INTO events (at, day, kind, ticket_id, field_id) VALUES (?, ?, 'issued', ?, 'ho-tich')",
                    (issued, day, ticket))
    con.execute("INSERT INTO sequences VALUES (?, 'ho-tich', 2)", (day,))
    con.close()
    return ids


def test_a_first_release_database_migrates_and_serves(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ids = first_release_database(data / "queue.sqlite3")
    result = queue_server("migrate", "--data", str(data))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"schema v1 -> v{SCHEMA_VERSION}"
    assert queue_server("migrate", "--data", str(data)).stdout.strip() == f"schema v{SCHEMA_VERSION}: up to date"
    con = sqlite3.connect(data / "queue.sqlite3")
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    rows = con.execute("SELECT number, status, issue_order FROM tickets ORDER BY issue_order").fetchall()
    assert rows == [("1001", "done", 1), ("1002", "waiting", 2)]
    assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 2
    con.close()
    hub = HubProcess(data, free_port(), ["--demo"]).start()
    try:
        done = requests.get(f"{hub.url}/api/v1/tickets/{ids['1001']}", timeout=10)
        assert done.status_code == 200 and done.json()["number"] == "1001"
        assert done.json()["status"] == "done"
    finally:
        hub.stop()


def test_a_hub_opens_a_first_release_database_itself(tmp_path: Path) -> None:
    """No migrate step: the hub migrates at start, and the old tickets are there."""
    data = tmp_path / "data"
    data.mkdir()
    ids = first_release_database(data / "queue.sqlite3")
    hub = HubProcess(data, free_port(), ["--demo"]).start()
    try:
        r = requests.get(f"{hub.url}/api/v1/tickets/{ids['1002']}", timeout=10)
        assert r.status_code == 200 and r.json()["number"] == "1002"
    finally:
        hub.stop()
    con = sqlite3.connect(data / "queue.sqlite3")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


def test_a_damaged_or_foreign_file_is_not_restored(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    first_release_database(data / "queue.sqlite3")
    before = (data / "queue.sqlite3").read_bytes()
    good = backup.take_backup(data / "queue.sqlite3", tmp_path / "backups")
    damaged = tmp_path / "damaged.sqlite3"
    raw = bytearray(good.read_bytes())
    raw[4096 + 3: 4096 + 5] = b"\x7f\xff"  # the tickets table's root page claims 32767 cells
    damaged.write_bytes(bytes(raw))
    foreign = tmp_path / "foreign.sqlite3"
    sqlite3.connect(foreign).execute("CREATE TABLE notes (x)").connection.close()
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    for bad, reason in ((damaged, "malformed"), (foreign, "not a Quầy số database"),
                        (text, "not a readable database"), (tmp_path / "nothing", "no file")):
        result = queue_server("restore", str(bad), "--data", str(data))
        assert result.returncode == 1, bad
        assert reason in result.stderr, result.stderr
    assert (data / "queue.sqlite3").read_bytes() == before
    # and the good one is restored, the replaced database kept beside it
    ok = queue_server("restore", str(good), "--data", str(data))
    assert ok.returncode == 0, ok.stderr
    kept = list(data.glob("queue.sqlite3.before-restore-*"))
    assert len(kept) == 1 and backup.check_database(kept[0]) == 1


def test_retention_keeps_days_and_never_fewer_than_three(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    now = time.time()
    names = []
    for age_days in (40, 35, 31, 29, 10, 1):
        stamp = time.strftime("%Y%m%dT%H%M%S", time.localtime(now - age_days * 86400))
        path = folder / f"queue-{stamp}.sqlite3"
        path.write_bytes(b"x")
        os.utime(path, (now - age_days * 86400,) * 2)
        names.append(path)
    (folder / "notes.txt").write_text("not a backup")
    deleted = backup.prune(folder, keep_days=30, now=now)
    assert deleted == names[:3]
    assert sorted(folder.iterdir()) == sorted([*names[3:], folder / "notes.txt"])
    # every backup older than keep_days (a clock that jumped): the newest three stay
    deleted = backup.prune(folder, keep_days=1, now=now + 400 * 86400)
    assert deleted == [] and backup.backups(folder) == names[3:]


def test_backup_to_a_missing_stick_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    first_release_database(data / "queue.sqlite3")
    config = tmp_path / "center.toml"
    config.write_text((ROOT / "queue_server/demo.toml").read_text() + "\n[backup]\ndir = \"/proc/no-stick\"\nkeep_days = 7\n")
    result = queue_server("backup", "--config", str(config), "--data", str(data))
    assert result.returncode == 1
    assert "/proc/no-stick" in result.stderr and "USB" in result.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text((ROOT / "queue_server/demo.toml").read_text() + "\n[backup]\nkeep_days = 0\n")
    # a config that does not load (being edited) does not stop the nightly backup
    result = queue_server("backup", "--config", str(bad), "--data", str(data))
    assert result.returncode == 0 and "backup.keep_days" in result.stderr
    assert len(backup.backups(data / "backups")) == 1
