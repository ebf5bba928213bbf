"""Ingest benchmark of the central backend (issue 12): a province's day, then a nation's.

A throwaway PostgreSQL cluster (tests/reporting/pg.py, fsync on) and a real `queue-server central`
process (gunicorn, `--workers`, `--threads`). Each simulated center replays its day as its forwarder
would: every `--batch-minutes` of the opening hours (07:30–17:00, local) one batch with the slots
that changed since the last one — the slots of the last half hour, at a new revision each time —
so late changes (calls, finishes, ratings) replace earlier revisions exactly as in production.
Tickets per center: `--tickets` / `--centers` spread over 4 fields. Concurrent senders (threads,
each its own HTTP connection) send every center's batches in time order, each signed.

Measured: batches/s and slots/s, ingest latency p50/p99 (client side, one POST), time to the province
view (GET /api/v1/province/summary for the day) — and the totals of that view are checked against
what was sent (issued must equal `--tickets` exactly).

`--raw-events`: the centers send batch version 2 with their raw-event stream as well — per ticket
`issued` in its slot, then `called` and `finished` (or `no_show`) and for half the served a
`rated` in the next slot, each batch carrying the events of its window — and the view's
`raw_events` total is checked against the events sent.

    .venv/bin/python bench/ingest_benchmark.py                       # a province: 150 centers, 75,000 tickets
    .venv/bin/python bench/ingest_benchmark.py --centers 3300 --tickets 1650000 --batch-minutes 30
    .venv/bin/python bench/ingest_benchmark.py --raw-events          # a province, with raw events
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from queue_server.forwarder import HISTOGRAM_BOUNDS_MIN, signature  # noqa: E402
from tests.reporting.pg import throwaway_cluster  # noqa: E402

DAY = "2026-11-30"
OPEN_UTC = datetime(2026, 11, 30, 0, 30, tzinfo=timezone.utc)  # 07:30 in Asia/Ho_Chi_Minh
SLOTS_PER_DAY = 38  # 07:30–17:00
FIELDS = ("ho-tich", "dat-dai", "chung-thuc", "kinh-doanh")
READER = "bench-reader-token-0123456789"


def _slot(field: str, start: datetime, revision: int, issued: int, rng: random.Random) -> dict:
    served = issued * 9 // 10
    wait = [0] * (len(HISTOGRAM_BOUNDS_MIN) + 1)
    service = [0] * (len(HISTOGRAM_BOUNDS_MIN) + 1)
    for _ in range(issued):
        wait[rng.randrange(0, 12)] += 1
    for _ in range(served):
        service[rng.randrange(2, 10)] += 1
    rated = served // 2
    return {"day": DAY, "field": field, "slot_start": start.isoformat().replace("+00:00", "Z"),
            "revision": revision, "issued": issued, "served": served, "no_show": issued - served,
            "cancelled": 0, "closed_at_day_end": 0, "print_failed": 0, "open": 0, "dossiers": served,
            "wait": {"count": issued, "sum_s": 420.0 * issued, "histogram": wait, "within_target": issued},
            "service": {"count": served, "sum_s": 540.0 * served, "histogram": service},
            "clock_anomalies": 0,
            "ratings": [{"staff": f"staff{1 + i}", "level": 1 + i % 3, "count": rated // 3 + (i < rated % 3)}
                        for i in range(3) if rated // 3 + (i < rated % 3)]}


def _events(per_slot: dict[tuple[str, int], int], rng: random.Random) -> dict[int, list[dict]]:
    """Raw events (batch version 2's form) of a center's day, by the slot they happen in."""
    by_slot: dict[int, list[tuple[int, float, dict]]] = {}
    for (field, s), n in per_slot.items():
        for _ in range(n):
            visit = uuid.uuid4().hex[:16]
            issued = OPEN_UTC + timedelta(minutes=15 * s + rng.uniform(0, 15))
            called = issued + timedelta(minutes=rng.uniform(1, 14))
            base = {"field": field, "visit": visit, "day": DAY}
            life = [(issued, {"kind": "issued", "counter": None, "staff": None,
                              "data": {"priority": False, "waiting_ahead": rng.randrange(10), "est_wait_min": 5.0}}),
                    (called, {"kind": "called", "counter": 1, "staff": "staff1",
                              "data": {"priority": False, "wait_seconds": round((called - issued).total_seconds(), 3),
                                       "guarded": False}})]
            end = called + timedelta(minutes=rng.uniform(2, 10))
            if rng.random() < 0.9:
                life.append((end, {"kind": "finished", "counter": 1, "staff": "staff1", "data": {
                    "outcome": "received", "dossiers": 1, "service_seconds": round((end - called).total_seconds(), 3)}}))
                if rng.random() < 0.5:
                    life.append((end + timedelta(seconds=20), {"kind": "rated", "counter": 1, "staff": "staff1",
                                                               "data": {"level": 1}}))
            else:
                life.append((end, {"kind": "no_show", "counter": 1, "staff": "staff1", "data": {}}))
            for at, e in life:
                slot = int((at - OPEN_UTC).total_seconds() // 900)
                by_slot.setdefault(slot, []).append((0, at.timestamp(), {**base, **e, "at": at.isoformat().replace("+00:00", "Z")}))
    ordered = sorted((e for evs in by_slot.values() for e in evs), key=lambda x: x[1])
    out: dict[int, list[dict]] = {}
    for n, (_, ts, e) in enumerate(ordered, start=1):
        slot = int((ts - OPEN_UTC.timestamp()) // 900)
        out.setdefault(slot, []).append({"id": n, **e})
    return out


def center_day(cid: str, tickets: int, batch_minutes: int, seed: int,
               raw_events: bool = False) -> list[tuple[str, bytes]]:
    """The (key, body) of one center's batches over its day, in order (version 2 with the
    center's raw events when `raw_events`)."""
    rng = random.Random(seed)
    # spread exactly `tickets` over (field, slot)
    per_slot: dict[tuple[str, int], int] = {}
    for _ in range(tickets):
        key = (rng.choice(FIELDS), rng.randrange(SLOTS_PER_DAY))
        per_slot[key] = per_slot.get(key, 0) + 1
    events = _events(per_slot, rng) if raw_events else {}
    last_event_slot = max(events, default=0)
    revision: dict[tuple[str, int], int] = {}
    batches = []
    sequence = 0
    step = max(1, batch_minutes // 15)
    for end in range(step, max(SLOTS_PER_DAY + 2, last_event_slot + 1) + step, step):
        # slots of the last 30 minutes (their visits are still being served, rated) change
        changed = [(f, s) for (f, s) in per_slot if end - 2 - step < s < end]
        window = [e for s in range(end - step, end) for e in events.get(s, [])]
        if not changed and not window:
            continue
        sequence += 1
        slots = []
        for f, s in changed:
            revision[(f, s)] = revision.get((f, s), 0) + 1
            slots.append(_slot(f, OPEN_UTC + timedelta(minutes=15 * s), revision[(f, s)],
                               per_slot[(f, s)], rng))
        key = str(uuid.uuid4())
        batch = {
            "schema": "quay-so/reporting-batch", "version": 1, "center_id": cid, "batch_id": key,
            "sequence": sequence, "created_at": datetime.now(timezone.utc).isoformat(), "slot_seconds": 900,
            "histogram_bounds_min": list(HISTOGRAM_BOUNDS_MIN), "target_wait_min": 15.0,
            "rating_levels": ["Rất hài lòng", "Hài lòng", "Chưa hài lòng"], "slots": slots,
        }
        if raw_events:
            batch.update({"version": 2, "events": window})
        body = json.dumps(batch, ensure_ascii=False).encode()
        batches.append((key, body))
    return batches


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict:
    centers = [f"c{i:04d}" for i in range(args.centers)]
    tokens = {cid: f"token-of-{cid}-{uuid.uuid4().hex}" for cid in centers}
    base, extra = divmod(args.tickets, args.centers)
    counts = {cid: base + (i < extra) for i, cid in enumerate(centers)}
    t0 = time.perf_counter()
    plans = {cid: center_day(cid, counts[cid], args.batch_minutes, i, args.raw_events)
             for i, cid in enumerate(centers)}
    prepare_s = time.perf_counter() - t0
    # every center's batches interleaved in time order (the k-th batch of each, then the next)
    queue: list[tuple[str, str, bytes]] = []
    longest = max(len(p) for p in plans.values())
    for k in range(longest):
        for cid in centers:
            if k < len(plans[cid]):
                queue.append((cid, *plans[cid][k]))
    slots_total = sum(len(json.loads(b)["slots"]) for _, _, b in queue[:200]) / min(200, len(queue)) * len(queue)
    events_total = sum(len(json.loads(b).get("events", ())) for _, _, b in queue) if args.raw_events else 0

    with throwaway_cluster(max_connections=100, fsync=True) as pg, tempfile.TemporaryDirectory() as tmp:
        dsn = pg.create_database()
        centers_file = Path(tmp) / "centers.toml"
        centers_file.write_text("".join(
            f'[[centers]]\nid = "{cid}"\nname = "Trung tâm {cid}"\ntoken = "{tokens[cid]}"\n' for cid in centers)
            + f'[[readers]]\nname = "bench"\ntoken = "{READER}"\n', encoding="utf-8")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        log = open(Path(tmp) / "central.log", "wb")  # noqa: SIM115
        central = subprocess.Popen(
            [sys.executable, "-m", "queue_server", "central", "--database", dsn, "--centers", str(centers_file),
             "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if requests.get(f"{url}/healthz", timeout=1).ok:
                        break
                except requests.RequestException:  # still booting
                    pass
                if central.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"central did not start; see {log.name}")
                time.sleep(0.2)

            latencies: list[float] = []
            failures: list[str] = []
            lock = threading.Lock()
            position = iter(range(len(queue)))
            local = threading.local()

            def sender() -> None:
                session = local.__dict__.setdefault("s", requests.Session())
                while True:
                    with lock:
                        i = next(position, None)
                    if i is None:
                        return
                    cid, key, body = queue[i]
                    started = time.perf_counter()
                    r = session.post(f"{url}/api/v1/ingest", data=body, timeout=60, headers={
                        "Content-Type": "application/json", "Authorization": f"Bearer {tokens[cid]}",
                        "Idempotency-Key": key, "X-Signature": signature(tokens[cid], body)})
                    took = time.perf_counter() - started
                    with lock:
                        latencies.append(took)
                        if r.status_code != 201:
                            failures.append(f"{r.status_code} {r.text[:200]}")

            t0 = time.perf_counter()
            with ThreadPoolExecutor(args.senders) as pool:
                for _ in range(args.senders):
                    pool.submit(sender)
            ingest_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            view = requests.get(f"{url}/api/v1/province/summary", params={"from": DAY, "to": DAY},
                                headers={"Authorization": f"Bearer {READER}"}, timeout=600)
            view_s = time.perf_counter() - t0
            data = view.json()
            with __import__("psycopg").connect(dsn) as conn:
                (db_bytes,) = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        finally:
            central.terminate()
            central.wait(30)
    issued = data["totals"]["issued"]
    return {
        "centers": args.centers, "tickets": args.tickets, "batches": len(queue),
        "slots_sent": round(slots_total), "senders": args.senders, "workers": args.workers,
        "threads": args.threads, "failures": len(failures), "first_failure": failures[0] if failures else None,
        "ingest_s": round(ingest_s, 1), "batches_per_s": round(len(queue) / ingest_s, 1),
        "slots_per_s": round(slots_total / ingest_s),
        "latency_ms_p50": round(1000 * statistics.median(latencies), 1),
        "latency_ms_p99": round(1000 * percentile(latencies, 0.99), 1),
        "province_view_s": round(view_s, 2), "view_issued": issued, "issued_exact": issued == args.tickets,
        "raw_events_sent": events_total, "view_raw_events": data["totals"].get("raw_events", 0),
        "raw_events_exact": data["totals"].get("raw_events", 0) == events_total,
        "database_mb": round(db_bytes / 1e6, 1), "prepare_s": round(prepare_s, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--centers", type=int, default=150)
    p.add_argument("--tickets", type=int, default=75_000)
    p.add_argument("--batch-minutes", type=int, default=15,
                   help="a center's batch every this many minutes of its day (production: every 10 s "
                        "while busy; coarser here, the same slots and revisions arrive)")
    p.add_argument("--senders", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--raw-events", action="store_true", help="batch version 2 with the raw-event stream")
    args = p.parse_args()
    print(json.dumps(run(args), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
