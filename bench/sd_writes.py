"""What the hub writes to the SD card: bytes per visit and per day (issue 13).

    python bench/sd_writes.py [--visits 450] [--idle 120] [--server-python PATH]

Starts a real `queue-server --demo` with its data folder on this machine's disk, plays a scripted
day over HTTP — six counters logged in; every visit is one ticket issued, called, finished
(`received`, one dossier) and rated: the four writes a citizen causes — and then leaves it idle
(no requests: what the watchdog, health checks and the day's timers write on their own).
Measured: `write_bytes` of /proc/<pid>/io summed over the hub's processes (gunicorn's master and
worker): the bytes the kernel accounts as sent to the storage layer, page cache writes included,
so both the WAL's appends and the checkpoints into the database file count, and so does the voice
cache (a WAV per new announcement). Also the sizes on disk at the end (database, WAL, voice cache).

A provincial center: Ninh Bình's averaged 451.79 dossiers a day in Q1 2024
(/work/shared/reference/000_*, the default --visits 450); a commune center: Kim Thành's 4,520
visits in Q3 2025, about 70 a day (004_*). Prints a Markdown table and writes
bench/results/sd_writes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from common import free_port  # bench/ is this script's own folder on sys.path

ROOT = Path(__file__).resolve().parents[1]
DEVICE = {"Authorization": "Bearer demo-device"}
FIELDS = ["ho-tich", "chung-thuc", "dat-dai", "dang-ky-kinh-doanh", "tu-phap", "bao-tro-xa-hoi"]


def hub_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def written(pids: list[int]) -> int:
    """write_bytes summed over `pids` (bytes the kernel accounts to storage)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                total += int(line.split()[1])
    return total


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def start_hub(python: str, data: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([python, "-m", "queue_server", "--demo", "--host", "127.0.0.1", "--port", str(port),
                             "--data", str(data)], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the hub did not start")


def play_day(url: str, visits: int) -> dict[str, int]:
    """The scripted day; returns the number of each kind of request that succeeded."""
    counts = {"issued": 0, "called": 0, "finished": 0, "rated": 0}
    staff = []
    for n in range(1, 7):
        r = requests.post(f"{url}/api/v1/auth/login", json={"username": f"staff{n}", "password": "demo"}, timeout=30)
        r.raise_for_status()
        staff.append((n, requests.Session()))
        staff[-1][1].headers["Authorization"] = f"Bearer {r.json()['token']}"
    kiosk = requests.Session()
    kiosk.headers.update(DEVICE)
    issued = 0
    while counts["finished"] < visits:
        # tickets come in small groups, counters serve them
        for _ in range(min(6, visits - issued)):
            r = kiosk.post(f"{url}/api/v1/tickets", json={"service": FIELDS[issued % len(FIELDS)]}, timeout=30)
            r.raise_for_status()
            issued += 1
            counts["issued"] += 1
        progress = False
        for n, session in staff:
            r = session.post(f"{url}/api/v1/counters/{n}/next", timeout=30)
            if r.status_code != 200:
                continue
            ticket = r.json()["id"]
            counts["called"] += 1
            session.post(f"{url}/api/v1/counters/{n}/finish", json={"outcome": "received", "dossiers": 1},
                         timeout=30).raise_for_status()
            counts["finished"] += 1
            kiosk.post(f"{url}/api/v1/ratings", json={"ticket": ticket, "level": 1}, timeout=30).raise_for_status()
            counts["rated"] += 1
            progress = True
        if not progress and issued >= visits:
            break
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--visits", type=int, default=450)
    p.add_argument("--idle", type=float, default=120.0, help="seconds of idling measured after the day")
    p.add_argument("--server-python", default=sys.executable)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        data = Path(tmp) / "data"
        port = free_port()
        hub = start_hub(args.server_python, data, port)
        try:
            time.sleep(2)  # start-up writes (schema, first checkpoint) are not the day's
            pids = hub_pids(hub.pid)
            at_start = written(pids)
            db_start = folder_bytes(data)
            began = time.monotonic()
            counts = play_day(f"http://127.0.0.1:{port}", args.visits)
            # the voice cache synthesizes one call at a time, behind the calls (and deletes its
            # oldest past [voice] cache_mb): wait until no WAV has appeared for 10 s
            voice = data / "voice-cache"
            deadline = time.monotonic() + 900
            while time.monotonic() < deadline:
                newest = max((p.stat().st_mtime for p in voice.glob("*.wav")), default=0.0)
                if time.time() - newest > 10:
                    break
                time.sleep(1)
            day_s = time.monotonic() - began
            after_day = written(pids)
            time.sleep(args.idle)
            after_idle = written(pids)
            sizes = {
                "database_bytes": (data / "queue.sqlite3").stat().st_size,
                "wal_bytes": (data / "queue.sqlite3-wal").stat().st_size if (data / "queue.sqlite3-wal").exists() else 0,
                "voice_cache_bytes": folder_bytes(data / "voice-cache"),
                "voice_cache_files": len(list((data / "voice-cache").glob("*.wav"))) if (data / "voice-cache").exists() else 0,
                "data_folder_growth_bytes": folder_bytes(data) - db_start,
            }
        finally:
            os.killpg(hub.pid, signal.SIGTERM)
            hub.wait(timeout=30)
    day_bytes = after_day - at_start
    idle_per_hour = (after_idle - after_day) / args.idle * 3600
    result: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "visits": args.visits, "requests": counts, "day_seconds": round(day_s, 1),
        "written_day_bytes": day_bytes, "written_per_visit_bytes": round(day_bytes / max(1, counts["finished"])),
        "idle_seconds": args.idle, "written_idle_per_hour_bytes": round(idle_per_hour),
        **sizes,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "sd_writes.json").write_text(json.dumps(result, indent=2))
    mb = 1024 * 1024
    print(json.dumps(result, indent=2))
    print()
    print("| measure | value |")
    print("|---|---|")
    print(f"| visits (issue + call + finish + rating) | {counts['finished']} |")
    print(f"| written during the day | {day_bytes / mb:.1f} MiB |")
    print(f"| per visit | {day_bytes / max(1, counts['finished']) / 1024:.1f} KiB |")
    print(f"| idle, per hour | {idle_per_hour / 1024:.1f} KiB |")
    print(f"| voice cache at the end (bounded by [voice] cache_mb) | {sizes['voice_cache_bytes'] / mb:.1f} MiB in {sizes['voice_cache_files']} files |")
    print(f"| database + WAL at the end | {(sizes['database_bytes'] + sizes['wal_bytes']) / mb:.1f} MiB |")


if __name__ == "__main__":
    main()
