"""Login storm benchmark: does a flood of wrong passwords slow down ticket issuing?

    python bench/login_storm.py [--root SRC] [--threads 32] [--tickets 200]

Starts a real `queue-server --demo` (from `--root`, default this checkout: point it at an
exported older commit to compare before/after in one run) and measures, on one kept-alive
connection as a kiosk does, the latency of `POST /api/v1/tickets`:

- quiet: nothing else going on;
- storm, one address: `--threads` threads sending wrong passwords from 127.0.0.2 (the throttle
  locks the address after [auth] address_max_failures);
- storm, many addresses: the same, each request from another 127.0.x.y and another username,
  so no lockout ever applies and only the bound on concurrent hash checks protects the queue.

Also: how long a wrong password takes for a known vs an unknown username (p50, quiet hub), how
the storm's logins were answered, and whether hashlib.scrypt lets other Python threads run
(a pure-Python loop's speed alone and beside a thread running scrypt).
Wall-clock figures on a shared machine: compare within one run.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from common import free_port, pct  # bench/ is this script's own folder on sys.path

ROOT = Path(__file__).resolve().parents[1]
DEVICE = {"Authorization": "Bearer demo-device", "Content-Type": "application/json"}


def start_hub(root: Path, data: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = open(data.parent / "hub.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "queue_server", "--demo", "--host", "0.0.0.0",
                             "--port", str(port), "--data", str(data)],
                            cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except (requests.ConnectionError, requests.Timeout):  # not listening, or still booting
            time.sleep(0.05)
    os.killpg(proc.pid, 9)  # gunicorn's master and its worker
    raise RuntimeError("hub did not start; see hub.log")


def login_from(port: int, address: str, username: str, password: str) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(address, 0))
    try:
        conn.request("POST", "/api/v1/auth/login",
                     json.dumps({"username": username, "password": password}).encode(),
                     {"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        conn.close()


def issue_latencies(port: int, count: int, max_seconds: float = 90.0) -> list[float]:
    """`count` tickets one after another on one kept-alive connection (fewer if that takes
    longer than `max_seconds`: the old code under a storm needs seconds per ticket)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = json.dumps({"service": "ho-tich"}).encode()
    out: list[float] = []
    end = time.monotonic() + max_seconds
    for _ in range(count):
        if out and time.monotonic() > end:
            break
        started = time.perf_counter()
        conn.request("POST", "/api/v1/tickets", body, DEVICE)
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - started)
        if response.status != 201:
            raise RuntimeError(f"ticket issue answered {response.status}")
    conn.close()
    return out


def storm(port: int, threads: int, many_addresses: bool, stop: threading.Event, answers: Counter[int]) -> list[threading.Thread]:
    lock = threading.Lock()
    counter = iter(range(10**9))

    def run() -> None:
        while not stop.is_set():
            with lock:
                n = next(counter)
            if many_addresses:
                address, username = f"127.0.{1 + n // 250 % 250}.{1 + n % 250}", f"ten-{n}"
            else:
                address, username = "127.0.0.2", f"staff{n % 6 + 1}"
            try:
                status, _ = login_from(port, address, username, "wrong")
            except OSError:
                status = 0
            with lock:
                answers[status] += 1

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    return workers


def gil_check(hashes: int = 5) -> dict[str, float]:
    """Does hashlib.scrypt hold the GIL? A thread runs `hashes` scrypt calls (werkzeug's
    parameters) while this one spins in pure Python noting the longest pause between two of its
    iterations. Holding the GIL, the longest pause would be a whole scrypt call; released, it is
    the interpreter's switch interval or the OS scheduler's doing (a busy machine)."""
    durations: list[float] = []
    done = threading.Event()

    def hasher() -> None:
        for _ in range(hashes):
            started = time.perf_counter()
            hashlib.scrypt(b"password", salt=b"0123456789abcdef", n=2**15, r=8, p=1,
                           maxmem=132 * 1024 * 1024, dklen=64)
            durations.append(time.perf_counter() - started)
        done.set()

    t = threading.Thread(target=hasher)
    longest, last = 0.0, time.perf_counter()
    t.start()
    while not done.is_set():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    t.join()
    return {"scrypt_ms_p50": round(pct(durations, 0.5) * 1000, 1),
            "longest_pause_of_a_python_thread_ms": round(longest * 1000, 1),
            "switch_interval_ms": sys.getswitchinterval() * 1000}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=ROOT, help="source tree of the hub under test")
    p.add_argument("--threads", type=int, default=32)
    p.add_argument("--tickets", type=int, default=200)
    args = p.parse_args()
    results: dict[str, Any] = {"root": str(args.root), "threads": args.threads,
                               "cpus": os.cpu_count(), "gil": gil_check()}
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start_hub(args.root, Path(tmp) / "data")
        try:
            issue_latencies(port, 20)  # warm up
            timing: dict[str, list[float]] = {"known": [], "unknown": []}
            names = ["staff1", "staff2", "staff3", "staff4", "staff5", "staff6", "admin", "manager"]
            for n in range(32):  # never 5 failures per name, never 20 per address
                timing["known"].append(login_from(port, f"127.0.3.{n + 1}", names[n % 8], "wrong")[1])
                timing["unknown"].append(login_from(port, f"127.0.4.{n + 1}", f"ai-{n}", "wrong")[1])
            results["wrong_password_ms_p50"] = {k: round(pct(v, 0.5) * 1000, 1) for k, v in timing.items()}
            quiet = issue_latencies(port, args.tickets)
            results["quiet"] = {"p50_ms": round(pct(quiet, 0.5) * 1000, 2), "p99_ms": round(pct(quiet, 0.99) * 1000, 2)}
            for name, many in (("storm_one_address", False), ("storm_many_addresses", True)):
                stop, answers = threading.Event(), Counter()
                workers = storm(port, args.threads, many, stop, answers)
                time.sleep(1.0)
                started = time.perf_counter()
                during = issue_latencies(port, args.tickets)
                elapsed = time.perf_counter() - started
                stop.set()
                for w in workers:
                    w.join(60)
                results[name] = {"tickets": len(during), "p50_ms": round(pct(during, 0.5) * 1000, 2),
                                 "p99_ms": round(pct(during, 0.99) * 1000, 2),
                                 "logins_answered": dict(sorted(answers.items())),
                                 "logins_per_s": round(sum(answers.values()) / (elapsed + 1.0), 1)}
        finally:
            proc.terminate()
            proc.wait(10)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
