"""Benchmark of the RS485 chain: key press → hub call → that counter's LED shows the number.

    python bench/bridge_benchmark.py [--calls 100] [--bauds 9600,115200] [--terminals 20]

Real processes, as in a center: a hub (`queue-server --demo --config` with 20 counters), the
simulated devices (`device-simulator`, 20 counter terminals on one bus, bytes paced by the line
simulator at the bus's baud rate: 11 bits a character plus a 5 ms device turnaround, PROTOCOL.md
§2) and the bridge (`firmware-bridge`, SPEC §9 command line) between them. For each call the
benchmark presses NEXT on one terminal through the simulator's control API and reads back the
moment that terminal's display took the new number (the device's own record, CLOCK_MONOTONIC, the
same clock in every process of the machine): latency = that moment − the moment before the press.
Presses are spread over the terminals and spaced 0.3–0.7 s at random, so they land at every phase
of the poll cycle.

Bus utilisation is the line time the bytes took (both directions, 11 bits a character at the baud)
divided by the wall time of the run: the share of the line spent carrying frames.

The worst case on paper (PROTOCOL.md §2, §9; t_char = 11 / baud, t3.5 the inter-frame gap,
t_turn the device's turnaround):

    poll   = (8 + 19) · t_char + t_turn + 2 · t3.5          one terminal's event-queue read
    write  = (33 + 8) · t_char + t_turn + 2 · t3.5          one display write (hr 0..11) and reply
    cycle  = N · poll + write                               every terminal polled once, plus the one
                                                            slow-lane write (a waiting count, a
                                                            refresh) allowed per cycle (§9)
    worst  = cycle + poll + write + hub round trip          a press just after its poll; the ack and
                                                            the write queue behind one transaction

The goal (issue 10) is p99 within one poll cycle plus one write of this limit.
Writes bench/results/bridge.json and prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import requests

from common import free_port, pct  # bench/ is this script's own folder on sys.path

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "demo-device"
TURNAROUND_MS = 5.0


def paper(baud: int, n: int, turnaround_ms: float = TURNAROUND_MS) -> dict[str, float]:
    """The worst-case formula above, in ms."""
    char = 11 / baud * 1000
    gap = 3.5 * char if baud <= 19200 else 1.75
    poll = 27 * char + turnaround_ms + 2 * gap
    write = 41 * char + turnaround_ms + 2 * gap
    cycle = n * poll + write  # one slow-lane write per poll cycle (PROTOCOL.md §9)
    return {"t_char_ms": char, "t35_ms": gap, "poll_ms": poll, "write_ms": write, "cycle_ms": cycle,
            "goal_ms": cycle + write, "worst_ms": cycle + poll + write,
            "goal_without_slow_lane_ms": n * poll + write,
            "busy_share_polling": 27 * char / poll}


def hub_toml(n: int) -> str:
    counters = "\n".join(f'[[counters]]\nnumber = {i}\nname = "Quầy {i}"\nfields = ["ho-tich"]\n'
                         for i in range(1, n + 1))
    return ('[center]\nname = "Trung tâm thử tải"\ntimezone = "Asia/Ho_Chi_Minh"\n\n'
            '[printer]\nkind = "simulated"\n\n'
            '[[fields]]\nid = "ho-tich"\nname = "Hộ tịch"\nstart = 1001\n\n' + counters)


def bridge_toml(n: int, port: Path, baud: int, hub: str, timeout_ms: int | None = None) -> str:
    devices = "\n".join(f'[[bridge.devices]]\nbus = "bus1"\nunit = {i}\nkind = "counter-terminal"\ncounter = {i}\n'
                        for i in range(1, n + 1))
    return (f'[bridge]\nhub = "{hub}"\ntoken = "{TOKEN}"\n\n'
            f'[[bridge.buses]]\nname = "bus1"\nport = "{port}"\nbaud = {baud}\n'
            + (f"timeout_margin_ms = {timeout_ms}\n" if timeout_ms is not None else "") + "\n" + devices)


def wait_for(check: Any, timeout: float, what: str) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            value = check()
            if value:
                return value
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class Chain:
    """The three processes for one baud rate, in `folder`."""

    def __init__(self, folder: Path, baud: int, n: int, timeout_ms: int | None = None) -> None:
        self.folder, self.baud, self.n, self.timeout_ms = folder, baud, n, timeout_ms
        self.hub_port, self.sim_port = free_port(), free_port()
        self.hub = f"http://127.0.0.1:{self.hub_port}"
        self.sim = f"http://127.0.0.1:{self.sim_port}"
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, module: str, *args: str) -> None:
        log = open(self.folder / f"{name}.log", "ab")  # noqa: SIM115
        self.procs.append(subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True))

    def start(self) -> None:
        (self.folder / "hub.toml").write_text(hub_toml(self.n), encoding="utf-8")
        port = self.folder / "rs485" / "bus1"
        (self.folder / "bridge.toml").write_text(bridge_toml(self.n, port, self.baud, self.hub, self.timeout_ms),
                                                 encoding="utf-8")
        self.spawn("queue-server", "queue_server", "--demo", "--config", str(self.folder / "hub.toml"),
                   "--port", str(self.hub_port), "--data", str(self.folder / "hub"))
        self.spawn("device-simulator", "firmware_bridge.simulator", "--config", str(self.folder / "bridge.toml"), "--data",
                   str(self.folder / "sim"), "--http-port", str(self.sim_port),
                   "--turnaround-ms", str(TURNAROUND_MS))
        wait_for(lambda: requests.get(f"{self.hub}/healthz", timeout=1).ok, 60, "the hub")
        wait_for(lambda: requests.get(f"{self.sim}/api/devices", timeout=1).ok, 30, "the simulator")
        self.spawn("firmware-bridge", "firmware_bridge.cli", "--config", str(self.folder / "bridge.toml"), "--hub", self.hub,
                   "--token", TOKEN)
        # the bridge has reached every terminal once it wrote each display (out of its error mode)
        wait_for(lambda: all(d["mode"] != "error" for d in self.devices()), 120, "the bridge's first writes")

    def devices(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.sim}/api/devices", timeout=5).json()["buses"][0]["devices"]

    def line(self) -> dict[str, float]:
        return requests.get(f"{self.sim}/api/devices", timeout=5).json()["buses"][0]["line"]

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def measure(baud: int, n: int, calls: int, rng: random.Random, keep: bool = False,
            timeout_ms: int | None = None) -> dict[str, Any]:
    tmp = tempfile.mkdtemp(prefix=f"bridge-bench-{baud}-")
    try:
        chain = Chain(Path(tmp), baud, n, timeout_ms)
        try:
            chain.start()
            kiosk = requests.Session()
            for _ in range(calls + 5):
                kiosk.post(f"{chain.hub}/api/v1/kiosk/tickets", json={"service": "ho-tich"},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).raise_for_status()
            time.sleep(2)
            line0, wall0 = chain.line(), time.monotonic()
            writes0 = sum(d["writes"] for d in chain.devices())
            latencies: list[float] = []
            to_ack: list[float] = []    # press → the bridge took and acknowledged it (poll wait, read, fsync, ack)
            ack_to_led: list[float] = []   # → the hub's call, its Socket.IO event and the display write
            misses = 0
            breakdown: list[tuple[float, float | None, float | None]] = []  # (total, press → ack, ack → LED)
            for i in range(calls):
                unit = rng.randrange(1, n + 1)
                before = next(d for d in chain.devices() if d["unit"] == unit)
                t0 = time.monotonic()
                r = requests.post(f"{chain.sim}/api/buses/bus1/devices/{unit}/press", json={"key": 1}, timeout=5)
                r.raise_for_status()
                try:
                    after = wait_for(lambda: next((d for d in chain.devices() if d["unit"] == unit
                                                   and d["call_seq"] != before["call_seq"]
                                                   and d["mode"] == "number"), None), 30, f"terminal {unit}")
                    latencies.append((after["shown_at"] - t0) * 1000)
                    split: tuple[float | None, float | None] = (None, None)
                    if after.get("acked_at") and after["acked_at"] >= t0:
                        split = ((after["acked_at"] - t0) * 1000, (after["shown_at"] - after["acked_at"]) * 1000)
                        to_ack.append(split[0])
                        ack_to_led.append(split[1])
                    breakdown.append((latencies[-1], *split))
                except RuntimeError:
                    misses += 1
                time.sleep(rng.uniform(0.3, 0.7))
            line1, wall1 = chain.line(), time.monotonic()
            writes1 = sum(d["writes"] for d in chain.devices())
            busy = line1["busy_s"] - line0["busy_s"]
            try:   # the bridge's own count of timeouts and bad frames (GET /api/v1/devices, bridge branch)
                admin = requests.post(f"{chain.hub}/api/v1/auth/login",
                                      json={"username": "admin", "password": "demo"}, timeout=10).json()["token"]
                health = requests.get(f"{chain.hub}/api/v1/devices", headers={"Authorization": f"Bearer {admin}"},
                                      timeout=5).json()
            except (requests.RequestException, ValueError, KeyError):
                health = None
            return {"baud": baud, "terminals": n, "timeout_margin_ms": 50 if timeout_ms is None else timeout_ms, "calls": len(latencies),
                    "missed": misses,
                    "p50_ms": statistics.median(latencies), "p99_ms": pct(latencies, 0.99),
                    "max_ms": max(latencies), "mean_ms": statistics.fmean(latencies),
                    "utilisation": busy / (wall1 - wall0), "paper": paper(baud, n),
                    "press_to_ack_p50_ms": statistics.median(to_ack) if to_ack else None,
                    "ack_to_led_p50_ms": statistics.median(ack_to_led) if ack_to_led else None,
                    "load_average": os.getloadavg(),
                    "display_writes_per_call": (writes1 - writes0) / calls,
                    "latencies_ms": [round(v, 1) for v in latencies],
                    "slowest": [[round(v, 1) if v is not None else None for v in b]
                                for b in sorted(breakdown, key=lambda b: -b[0])[:8]],
                    "health": health}
        finally:
            chain.stop()
    finally:
        if keep:
            print(f"logs kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--terminals", type=int, default=20)
    ap.add_argument("--bauds", default="9600,115200")
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--keep", action="store_true", help="keep the processes' logs")
    ap.add_argument("--timeout-margin-ms", dest="timeout_ms", type=int,
                    help="the bus's timeout_margin_ms, added to each transaction's own timeout (default 50)")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    results = [measure(int(b), args.terminals, args.calls, rng, args.keep, args.timeout_ms) for b in args.bauds.split(",")]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    out = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine,
           "results": results}
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "bench" / "results" / "bridge.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"\n{machine}, {out['when']}\n")
    print("| baud | timeout margin | terminals | calls | key → LED p50 | p99 | max | of which press → ack / ack → LED, p50 | "
          "display writes a call | bus utilisation | paper: poll cycle | cycle + write (goal) | worst | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        p = r["paper"]
        print(f"| {r['baud']} | {r['timeout_margin_ms']} ms | {r['terminals']} | {r['calls']} (missed {r['missed']}) | {r['p50_ms']:.0f} ms | "
              f"{r['p99_ms']:.0f} ms | {r['max_ms']:.0f} ms | "
              f"{r['press_to_ack_p50_ms'] or 0:.0f} / {r['ack_to_led_p50_ms'] or 0:.0f} ms | "
              f"{r['display_writes_per_call']:.1f} | {100 * r['utilisation']:.0f} % | "
              f"{p['cycle_ms']:.0f} ms | {p['goal_ms']:.0f} ms | {p['worst_ms']:.0f} ms | "
              f"{r['load_average'][0]:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
