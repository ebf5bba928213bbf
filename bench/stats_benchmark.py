"""Benchmark of the statistics and report tables on a provincial center's year (issue 11):
`.venv/bin/python bench/stats_benchmark.py [--data DIR] [--tickets 120000] [--repeat 5]`.

1. Generates a year (2025, Monday–Friday, 07:30–11:30 and 13:30–17:00) of a provincial center
   into a data folder through the storage layer (`SqliteStore.transaction`, the hub's own
   `Ticket` and `Event` rows, one transaction per day, the v8 triggers filling `visit_calls`
   as they do in the hub). Realistic per the reference reports: 18 departments weighted by the
   dossiers they received in person in reference 001 (Bình Định, 2023), 32 counters and staff,
   ~460 tickets per working day (reference 000: 451,79 dossiers/day), ~11 % of visits rated,
   99 % of them "Rất hài lòng" (reference 000: 3.279 of 3.311), 3 % no-shows (a third of them
   re-queued and served), 2 % transfers, 1 % cancelled, 0,2 % failed prints, two pauses per
   counter per day. Seeded: every run generates the same year.
2. Times, for the whole year and for one month (March), each `--repeat` times (median and best):
   - `scan`: one plain SQLite scan over the range's event rows — `SELECT COUNT(*), SUM(at),
     SUM(LENGTH(data)) FROM events WHERE day BETWEEN ? AND ?` (SQLite reads every row once);
   - `fetch`: the same rows fetched into Python (`SELECT * … fetchall()`), what any per-event
     Python path pays before computing anything;
   - `stats`: `stats.from_store` (what GET /api/v1/stats computes);
   - `stats+tables`: that and every report table (report_tables.TABLES);
   - `xlsx`: the workbook of every table (exports.xlsx_bytes), for information;
   - `first query`: the statistics with no day's pieces kept yet (stats.forget_kept), what the
     first query after the hub starts pays (once), and the memory the kept pieces take (RSS);
   - `direct`: stats.compute_direct, the straightforward computation the per-day path must equal.
   Goal (issue 11): stats+tables for the year under 1 s and within 3× `scan`.

Timings are wall-clock on a shared machine: compare figures of the same run. Prints a Markdown
table for the README and writes bench/results/stats-latest.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sqlite3
import statistics as pystats
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from queue_server import exports, report_tables, stats  # noqa: E402
from queue_server.core.models import (  # noqa: E402
    CLOSED_AT_DAY_END, CenterRules, Counter, Event, EventKind, Field, Outcome, Ticket, TicketStatus,
)
from queue_server.storage import SqliteStore, default_db_path  # noqa: E402

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
YEAR = 2025
# Reference 001 (Bình Định provincial center, 2023), appendix I: dossiers received this period
# minus those received online = received in person, per department.
DEPARTMENTS = [
    ("BQL Khu kinh tế tỉnh", 245), ("Sở Công Thương", 255), ("Sở Du lịch", 4),
    ("Sở Giáo dục và Đào tạo", 35), ("Sở Giao thông vận tải", 9373), ("Sở Kế hoạch và Đầu tư", 1695),
    ("Sở Khoa học và Công nghệ", 10), ("Sở Lao động - TBXH", 1100), ("Sở Ngoại vụ", 0),
    ("Sở Nội vụ", 24), ("Sở Nông nghiệp và PTNT", 3631), ("Sở Tài chính", 0),
    ("Sở Tài nguyên và Môi trường", 13749), ("Sở Thông tin và Truyền thông", 0), ("Sở Tư pháp", 31),
    ("Sở Văn hóa và Thể thao", 1), ("Sở Xây dựng", 1430), ("Sở Y tế", 835),
]
COUNTERS = 32
# Share of a day's arrivals per opening hour (a morning peak, a smaller afternoon one).
HOURS = [(7, 0.5, 0.06), (8, 1, 0.16), (9, 1, 0.17), (10, 1, 0.14), (11, 0.5, 0.05),
         (13, 0.5, 0.07), (14, 1, 0.13), (15, 1, 0.12), (16, 1, 0.10)]  # (hour, open fraction, share)
LEVELS = ("Rất hài lòng", "Hài lòng", "Chưa hài lòng")


def center() -> CenterRules:
    weights = [max(w, 60) for _, w in DEPARTMENTS]  # a department with no in-person dossier still has visitors
    fields = {f"f{i:02d}": Field(f"f{i:02d}", name, start=(i + 1) * 1000 + 1)
              for i, (name, _) in enumerate(DEPARTMENTS)}
    # counters shared out by weight: every department at least one, the rest by size
    ids = list(fields)
    alloc = {fid: 1 for fid in ids}
    total = sum(weights)
    for _ in range(COUNTERS - len(ids)):
        fid = max(ids, key=lambda f: weights[ids.index(f)] / total - alloc[f] / COUNTERS)
        alloc[fid] += 1
    counters: dict[int, Counter] = {}
    n = 1
    for fid in ids:
        for _ in range(alloc[fid]):
            counters[n] = Counter(n, f"Quầy {n}", (fid,))
            n += 1
    return CenterRules(center_name="Trung tâm Phục vụ hành chính công tỉnh (benchmark)", timezone=TZ,
                       fields=fields, counters=counters, rating_levels=LEVELS)


def working_days() -> list[date]:
    d, out = date(YEAR, 1, 1), []
    while d.year == YEAR:
        if d.weekday() < 5:
            out.append(d)
        d += timedelta(days=1)
    return out


def generate(store: SqliteStore, rules: CenterRules, tickets: int, seed: int = 2025) -> dict[str, int]:
    """Write the year into `store`; returns counts of what was written."""
    rnd = random.Random(seed)
    days = working_days()
    per_day = tickets / len(days)
    field_ids = list(rules.fields)
    weights = [max(w, 60) for _, w in DEPARTMENTS]
    counters_of = {fid: [c.number for c in rules.counters.values() if fid in c.fields] for fid in field_ids}
    order = 0
    written = {"tickets": 0, "events": 0, "ratings": 0}
    for day in days:
        n_day = max(0, int(rnd.gauss(per_day, per_day * 0.12)))
        seq: dict[str, int] = {}
        arrivals = []
        for _ in range(n_day):
            hour, span, _share = rnd.choices(HOURS, weights=[h[2] for h in HOURS])[0]
            start = 30 if hour in (7, 13) else 0
            minute = start + rnd.random() * 60 * span
            arrivals.append(datetime(day.year, day.month, day.day, hour, 0, tzinfo=TZ)
                            + timedelta(minutes=minute))
        arrivals.sort()
        busy_until: dict[int, datetime] = {}
        events: list[Event] = []
        rows: list[Ticket] = []

        def ev(kind: EventKind, at: datetime, t: Ticket, counter: int | None, staff: str | None,
               data: dict[str, Any]) -> None:
            events.append(Event(kind, at, day, t.id, t.field_id, counter, staff, data))

        for issued_at in arrivals:
            fid = rnd.choices(field_ids, weights=weights)[0]
            seq[fid] = seq.get(fid, 0) + 1
            order += 1
            priority = rnd.random() < 0.04
            t = Ticket(id=str(uuid.UUID(int=rnd.getrandbits(128), version=4)), day=day, origin_field=fid,
                       seq=seq[fid], number=rules.fields[fid].format_number(seq[fid]), field_id=fid,
                       priority=priority, priority_group="elderly" if priority else None,
                       status=TicketStatus.WAITING, issued_at=issued_at, source="kiosk-1", order=order)
            ev(EventKind.ISSUED, issued_at, t, None, None, {
                "number": t.number, "priority": priority, "priority_group": t.priority_group,
                "source": "kiosk-1", "waiting_ahead": rnd.randint(0, 12), "est_wait_min": rnd.randint(0, 40),
                "print": "pending"})
            if rnd.random() < 0.002:  # the printer jammed: never printed, cancelled
                end = issued_at + timedelta(seconds=5)
                ev(EventKind.CANCELLED, end, t, None, None, {"reason": "print_not_confirmed"})
                rows.append(t.with_(status=TicketStatus.CANCELLED, finished_at=end, print_pending=True))
                continue
            ev(EventKind.PRINTED, issued_at + timedelta(seconds=2), t, None, None,
               {"number": t.number, "printer": "default", "bytes": 2300})
            if rnd.random() < 0.01:  # left before being called
                end = issued_at + timedelta(minutes=rnd.uniform(5, 40))
                ev(EventKind.CANCELLED, end, t, None, None, {"reason": "left"})
                rows.append(t.with_(status=TicketStatus.CANCELLED, finished_at=end))
                continue

            def call(t: Ticket, fid: str, ready: datetime, guarded: bool = True) -> tuple[Ticket, datetime, int]:
                counter = rnd.choice(counters_of[fid])
                at = max(ready + timedelta(minutes=rnd.expovariate(1 / 9)), busy_until.get(counter, ready))
                staff = f"staff{counter}"
                called = t.with_(status=TicketStatus.CALLED, called_at=at, counter=counter, staff=staff,
                                 field_id=fid)
                ev(EventKind.CALLED, at, called, counter, staff, {
                    "number": t.number, "priority": t.priority, "guarded": guarded,
                    "wait_seconds": round((at - t.issued_at).total_seconds(), 3)})
                return called, at, counter

            t, called_at, counter = call(t, fid, issued_at)
            if rnd.random() < 0.03:  # no-show
                gone = called_at + timedelta(minutes=2)
                ev(EventKind.NO_SHOW, gone, t, counter, t.staff, {"number": t.number})
                busy_until[counter] = gone
                if rnd.random() < 0.33:  # came back: re-queued at its place and served
                    back = gone + timedelta(minutes=rnd.uniform(3, 20))
                    t = t.with_(status=TicketStatus.WAITING, counter=None, staff=None, called_at=None)
                    ev(EventKind.REQUEUED, back, t, counter, f"staff{counter}", {"number": t.number})
                    t, called_at, counter = call(t, fid, back)
                else:
                    rows.append(t.with_(status=TicketStatus.NO_SHOW, finished_at=gone))
                    continue
            if rnd.random() < 0.02:  # the wrong department: transferred
                moved_at = called_at + timedelta(minutes=rnd.uniform(1, 4))
                to = rnd.choice([f for f in field_ids if f != fid])
                ev(EventKind.TRANSFERRED, moved_at, t, counter, t.staff, {
                    "number": t.number, "from_field": fid, "to_field": to, "to_counter": None})
                busy_until[counter] = moved_at
                t = t.with_(status=TicketStatus.WAITING, field_id=to, counter=None, staff=None)
                fid = to
                t, called_at, counter = call(t, fid, moved_at)
            service = timedelta(minutes=max(0.5, rnd.lognormvariate(math.log(7), 0.5)))
            done_at = called_at + service
            busy_until[counter] = done_at
            outcome = rnd.choices(list(Outcome), weights=[60, 25, 12, 3])[0]
            dossiers = (1 + (rnd.random() < 0.15) + (rnd.random() < 0.05)) if outcome is Outcome.RECEIVED else 0
            t = t.with_(status=TicketStatus.DONE, finished_at=done_at, outcome=outcome, dossiers=dossiers)
            ev(EventKind.FINISHED, done_at, t, counter, t.staff, {
                "outcome": outcome.value, "dossiers": dossiers,
                "service_seconds": round(service.total_seconds(), 3)})
            if rnd.random() < 0.11:
                level = rnd.choices((1, 2, 3), weights=(990, 9, 1))[0]
                t = t.with_(rating=level)
                ev(EventKind.RATED, done_at + timedelta(seconds=40), t, counter, t.staff, {
                    "level": level, "label": LEVELS[level - 1], "reason": None, "source": "counter"})
                written["ratings"] += 1
            rows.append(t)
        for n in rules.counters:  # two pauses per counter per day
            for hour in (10, 15):
                at = datetime(day.year, day.month, day.day, hour, rnd.randint(0, 50), tzinfo=TZ)
                minutes = rnd.randint(5, 15)
                events.append(Event(EventKind.COUNTER_PAUSED, at, day, None, None, n, f"staff{n}",
                                    {"reason": "break", "minutes": minutes, "note": None}))
                events.append(Event(EventKind.COUNTER_RESUMED, at + timedelta(minutes=minutes), day, None,
                                    None, n, f"staff{n}", {"paused_seconds": minutes * 60.0}))
        events.sort(key=lambda e: e.at)
        with store.transaction() as tx:
            for t in rows:
                tx.insert_ticket(t)
            for e in events:
                tx.append(e)
        written["tickets"] += len(rows)
        written["events"] += len(events)
    return written


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """Wall-clock and CPU time (this process) of `fn`, median and best of `repeat` runs: on a
    shared machine the CPU time shows the work, the wall clock what a manager waits."""
    runs, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        runs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"median_s": round(pystats.median(runs), 4), "best_s": round(min(runs), 4),
            "cpu_median_s": round(pystats.median(cpu), 4), "cpu_best_s": round(min(cpu), 4)}


def measure(store: SqliteStore, rules: CenterRules, first: date, last: date, repeat: int) -> dict[str, Any]:
    span = (first.isoformat(), last.isoformat())

    def scan() -> Any:
        with store.reading() as tx:
            return tx.db.execute("SELECT COUNT(*), SUM(at), SUM(LENGTH(data)) FROM events "
                                 "WHERE day BETWEEN ? AND ?", span).fetchone()

    def fetch() -> Any:
        with store.reading() as tx:
            cur = tx.db.cursor()
            cur.row_factory = None
            return cur.execute("SELECT * FROM events WHERE day BETWEEN ? AND ?", span).fetchall()

    def figures() -> dict[str, Any]:
        return stats.from_store(store, rules, first, last)

    def tables() -> list[Any]:
        data = figures()
        return [report_tables.build(k, data, rules) for k in report_tables.TABLES]

    def xlsx() -> bytes:
        return exports.xlsx_bytes(tables(), rules.center_name, first, last, "vi")

    def first_query() -> dict[str, Any]:  # nothing kept yet: the first query after the hub starts
        stats.forget_kept()
        return figures()

    def direct() -> dict[str, Any]:  # the straightforward computation, every figure by SQL over the range
        db = sqlite3.connect(f"{Path(store.path).resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
        try:
            db.execute("BEGIN")
            return stats.compute_direct(db, rules, first, last)
        finally:
            db.close()

    rows = scan()[0]
    rss_before = rss_mib()
    out_first = timed(first_query, 1)
    kept_mib = round(rss_mib() - rss_before, 1)
    data = figures()
    out: dict[str, Any] = {"from": span[0], "to": span[1], "event_rows": rows,
                           "tickets": data["totals"]["issued"] + data["totals"]["print_failed"],
                           "first_query": out_first, "kept_pieces_rss_mib": kept_mib}
    print(f"  {span[0]}…{span[1]} first query (nothing kept): {out_first}, +{kept_mib} MiB RSS", flush=True)
    for name, fn, times in (("scan", scan, repeat), ("fetch", fetch, repeat), ("stats", figures, repeat),
                            ("stats+tables", tables, repeat), ("xlsx", xlsx, 1), ("direct", direct, 1)):
        out[name] = timed(fn, times)
        print(f"  {span[0]}…{span[1]} {name}: {out[name]}", flush=True)
    for basis in ("median_s", "best_s", "cpu_median_s"):
        out[f"ratio_to_scan_{basis}"] = round(out["stats+tables"][basis] / out["scan"][basis], 2)
    out["ratio_to_fetch"] = round(out["stats+tables"]["median_s"] / out["fetch"]["median_s"], 2)
    out["summary"] = {k: data["totals"][k] for k in ("issued", "served", "no_show", "cancelled", "dossiers")}
    out["summary"]["wait_min"] = data["totals"]["wait_min"]
    out["summary"]["ratings"] = data["satisfaction"]["total"]
    return out


def rss_mib() -> float:
    """This process's resident memory (MiB), from /proc; 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{model or platform.processor()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {__import__('sqlite3').sqlite_version}, load average {load:.1f} at start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, help="data folder (default: a fresh temporary one)")
    parser.add_argument("--tickets", type=int, default=120_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rules = center()
    data_dir = args.data or Path(tempfile.mkdtemp(prefix="stats-bench-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    store = SqliteStore(default_db_path(data_dir))
    with store.reading() as tx:
        existing = tx.db.execute("SELECT COUNT(*) FROM tickets").fetchone()[0]
    report: dict[str, Any] = {"machine": machine(), "data": str(data_dir)}
    if existing == 0:
        start = time.perf_counter()
        report["generated"] = generate(store, rules, args.tickets)
        report["generated"]["seconds"] = round(time.perf_counter() - start, 1)
        print(f"generated {report['generated']} into {data_dir}", flush=True)
    report["year"] = measure(store, rules, date(YEAR, 1, 1), date(YEAR, 12, 31), args.repeat)
    report["month"] = measure(store, rules, date(YEAR, 3, 1), date(YEAR, 3, 31), args.repeat)
    store.close()
    out = ROOT / "bench" / "results" / "stats-latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"\nMachine: {report['machine']}\n")
    print("| range | tickets | event rows | | scan (SQLite) | fetch rows | stats | stats + every table | "
          "÷ scan | XLSX of every table | first query (nothing kept) | direct computation |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in ("year", "month"):
        r = report[name]
        for label, key in (("wall, median", "median_s"), ("wall, best", "best_s"), ("CPU, median", "cpu_median_s")):
            ms = lambda m: f"{r[m][key] * 1000:.0f} ms"  # noqa: E731
            ratio = round(r["stats+tables"][key] / r["scan"][key], 2)
            print(f"| {name} ({r['from']}…{r['to']}) | {r['tickets']:,} | {r['event_rows']:,} | {label} | "
                  f"{ms('scan')} | {ms('fetch')} | {ms('stats')} | {ms('stats+tables')} | {ratio}× | {ms('xlsx')} | "
                  f"{ms('first_query')} | {ms('direct')} |")
    print("\n(", args.repeat, "runs each; full figures in", out.relative_to(ROOT), ")")


if __name__ == "__main__":
    main()
