"""Benchmark of the hub on this machine: `make bench` (or `python bench/benchmark.py`).

Measures what SPEC §10 and issues 2 and 8 ask for, against a real `queue-server --demo`:
- cold start: process spawn → first 200 from /healthz;
- ticket issue latency (p50/p99) on one kept-alive connection, as a kiosk browser does, and
  sustained tickets per second from 4 concurrent issuers, every commit durable (fsync);
- call-to-display: a counter's "next" request → `ticket_called` at the LAST of 20, 50 and 200
  connected Socket.IO clients (p50/p99 over many calls);
- the hub's memory (PSS summed over its processes: gunicorn's master and worker) idle and with
  200 clients;
- ESC/POS bytes of a full 80 mm and 58 mm ticket.

`--compare REF` also builds the hub of git revision REF (a worktree and a runtime-only venv under
bench/.stacks/, made once) and measures both, taking turns per hall size, so that two serving
stacks are compared within one run on the same machine. Timings are wall-clock on a shared
machine: compare figures from the same run, not across runs. Writes bench/results/latest.json and
prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp
import requests

from common import free_port, pct  # bench/ is this script's own folder on sys.path

ROOT = Path(__file__).resolve().parents[1]
DEVICE = {"Authorization": "Bearer demo-device"}
# A busy hall makes about one call a second; 4 a second still leaves each call's voice synthesis
# (espeak-ng, on its own thread) time to finish before the next call, as it would in a hall.
CALL_SPACING_S = 0.25
SOAK_QUIET_S = 65.0  # Engine.IO ping timers hold a closed socket 25 s; then two memory-trim periods


def rss_mb(pid: int) -> float:
    """Memory of a process and all its descendants (gunicorn's master and worker), MB: the sum of
    their PSS (proportional set size), so pages a forked worker shares with its master count once
    — a sum of RSS would count them twice. For one process PSS ≈ RSS."""
    total = 0.0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            total += int(line.split()[1]) / 1024
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            total += rss_mb(int(child))
    return total


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(),
            "kernel": platform.release(), "date": datetime.now(timezone.utc).date().isoformat()}


def start_hub(data: Path, python: str, source: Path = ROOT) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    proc = subprocess.Popen([python, "-m", "queue_server", "--demo", "--port", str(port),
                             "--data", str(data)], cwd=source, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    with requests.Session() as s:
        while True:
            try:
                if s.get(f"{url}/healthz", timeout=5).status_code == 200:
                    return proc, url, time.perf_counter() - t0
            except (requests.ConnectionError, requests.Timeout):
                if proc.poll() is not None:
                    raise RuntimeError("hub exited") from None
                time.sleep(0.005)


def stop_hub(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


def stack_of(ref: str) -> tuple[str, Path]:
    """(python, source folder) of git revision `ref`: a worktree and a venv with its runtime
    dependencies only, under bench/.stacks/, made on first use."""
    commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    base = ROOT / "bench" / ".stacks"
    tree, venv = base / commit, base / f"{commit}-venv"
    if not tree.exists():
        base.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True)
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "-e", str(tree)], check=True)
        (venv / ".installed").touch()
    return str(venv / "bin" / "python"), tree


def issue_latency(url: str, count: int) -> list[float]:
    out = []
    with requests.Session() as s:
        s.headers.update(DEVICE)
        fields = ["ho-tich", "chung-thuc", "dat-dai"]
        for i in range(count):
            t0 = time.perf_counter()
            r = s.post(f"{url}/api/v1/tickets", json={"service": fields[i % 3]})
            out.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 201, r.text
    return out


def sustained_rate(url: str, seconds: float, workers: int) -> float:
    done = [0] * workers
    stop = time.perf_counter() + seconds

    def worker(k: int) -> None:
        with requests.Session() as s:
            s.headers.update(DEVICE)
            while time.perf_counter() < stop:
                r = s.post(f"{url}/api/v1/tickets", json={"service": "tu-phap"})
                assert r.status_code == 201
                done[k] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - t0)


async def display_client(session: aiohttp.ClientSession, url: str, box: dict[str, float],
                         updates: list[float], ready: asyncio.Event,
                         got_state: asyncio.Event | None = None) -> None:
    """One display, as lean as the protocol allows: Engine.IO v4 over a websocket, Socket.IO
    namespace connect ("40"), pong to pings, and the arrival time of every `ticket_called`.
    200 full python-socketio clients in one process would measure the client library on this
    2-core machine rather than the hub; the tests use python-socketio itself."""
    ws_url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with session.ws_connect(ws_url, max_msg_size=0) as ws:
        opened = await ws.receive_str()
        assert opened.startswith("0{"), opened
        await ws.send_str("40")
        async for msg in ws:
            data = msg.data
            if data == "2":
                await ws.send_str("3")
            elif data.startswith("40"):
                ready.set()
            elif data.startswith('42["state"') and got_state is not None:
                got_state.set()
            elif data.startswith('42["ticket_called"'):
                call = json.loads(data[2:])[1]
                box[call["number"]] = time.perf_counter()
                # arrival order must be commit order, on every display
                assert call["seq"] > box.get("_seq", -1), f"out of order: {call}"
                box["_seq"] = call["seq"]
            elif data.startswith('42["queue_changed"'):
                updates.append(time.perf_counter())
            elif data.startswith("41"):
                return


class Flooder:
    """A hostile client: a websocket that sends `sync` every millisecond and never reads (its
    receive buffer 4 KiB), for as long as it runs — what made the uvicorn hub grow by 400 MB."""

    def __init__(self, url: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((host, int(port)))
        self.sock.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: hub\r\n"
                          b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += self.sock.recv(1)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _frame(text: str) -> bytes:  # a masked client frame (zero key)
        return bytes([0x81, 0x80 | len(text)]) + b"\0\0\0\0" + text.encode()

    def _run(self) -> None:
        try:
            self.sock.sendall(self._frame("40"))
            while not self.stop.wait(0.001):
                self.sock.sendall(self._frame('42["sync"]'))
        except OSError:
            pass  # dropped by the hub: that is the point

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


async def call_to_display(url: str, clients: int, calls: int, pid: int, storms: bool,
                          flooders: int = 0) -> dict[str, float]:
    received: list[dict[str, float]] = [{} for _ in range(clients)]  # number -> arrival, "_seq"
    updates: list[list[float]] = [[] for _ in range(clients)]
    session_http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    readies = [asyncio.Event() for _ in range(clients)]
    tasks = []
    for k in range(clients):
        tasks.append(asyncio.create_task(display_client(session_http, url, received[k], updates[k], readies[k])))
        if k % 25 == 24:
            await asyncio.gather(*(r.wait() for r in readies[: k + 1]))
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    hostile = [Flooder(url) for _ in range(flooders)]
    await asyncio.sleep(1.0)
    rss_with_clients = rss_mb(pid)
    loop = asyncio.get_running_loop()
    session = requests.Session()
    token = session.post(f"{url}/api/v1/auth/login", json={"username": "staff6", "password": "demo"}).json()["token"]
    session.headers["Authorization"] = f"Bearer {token}"
    for _ in range(calls):
        await loop.run_in_executor(None, lambda: session.post(
            f"{url}/api/v1/tickets", json={"service": "bao-tro-xa-hoi"}, headers=DEVICE))
    last_client: list[float] = []
    last_update: list[float] = []
    first_client: list[float] = []
    answered: list[float] = []
    for _ in range(calls):
        t0 = time.perf_counter()
        r = await loop.run_in_executor(None, lambda: session.post(f"{url}/api/v1/counters/6/next"))
        answered.append((time.perf_counter() - t0) * 1000)
        number = r.json()["number"]
        deadline = time.perf_counter() + 5
        while any(number not in box for box in received) and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        times = [box[number] for box in received if number in box]
        assert len(times) == clients, f"only {len(times)} of {clients} clients got {number}"
        last_client.append((max(times) - t0) * 1000)
        first_client.append((min(times) - t0) * 1000)
        # the waiting counts follow the call (coalesced, FOLLOW_UP_DELAY_S after it)
        while any(not u or u[-1] < t0 for u in updates) and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
        last_update.append((max(next(x for x in u if x >= t0) for u in updates) - t0) * 1000)
        await asyncio.sleep(CALL_SPACING_S)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    rss_end = rss_mb(pid)
    for f in hostile:
        f.close()
    result = {"rss_end": rss_end, "p50_last": statistics.median(last_client), "p99_last": pct(last_client, 0.99),
              "p50_first": statistics.median(first_client), "p50_next": statistics.median(answered),
              "p50_update": statistics.median(last_update), "p99_update": pct(last_update, 0.99),
              "rss_with_clients": rss_with_clients}
    if not storms:
        await session_http.close()
        return result
    # The hall after a hub restart: every display connects at once and needs its full state.
    await asyncio.sleep(1.0)
    states = [asyncio.Event() for _ in range(clients)]
    t0 = time.perf_counter()
    tasks = [asyncio.create_task(display_client(session_http, url, {}, [], asyncio.Event(), states[k]))
             for k in range(clients)]
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in states)), 60)
    storm_s = time.perf_counter() - t0
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # Seven more storms, then a quiet spell: what a hall of TVs that keeps reconnecting leaves behind.
    for _ in range(7):
        states = [asyncio.Event() for _ in range(clients)]
        tasks = [asyncio.create_task(display_client(session_http, url, {}, [], asyncio.Event(), states[k]))
                 for k in range(clients)]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in states)), 60)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(SOAK_QUIET_S)
    rss_after_storms = rss_mb(pid)
    await session_http.close()
    return {**result, "storm_s": storm_s, "rss_after_storms": rss_after_storms}


def ticket_bytes() -> dict[str, int]:
    from kiosk.escpos_ticket import ticket_bytes as build
    from kiosk.ticket import TicketContent

    content = TicketContent(
        center_name="Trung tâm Phục vụ hành chính công xã Kim Thành", field_name="Đăng ký kinh doanh",
        number="4023", waiting_ahead=12, est_wait_min=35,
        issued_at=datetime(2026, 11, 23, 9, 5).astimezone(),
        status_url="http://192.168.1.10:8080/t/9b2f6c1e-6a53-4d0e-9a55-0f1b0f3c9d21")
    return {"80mm": len(build(content, width=576)), "58mm": len(build(content, width=384))}


def measure(python: str, source: Path, clients: int, calls: int, issues: int, seconds: float,
            storms: bool, flooders: int = 0) -> dict[str, object]:
    """One hub of one stack: start-up, idle RSS, issue latency, and calls to `clients` displays."""
    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, url, start_s = start_hub(Path(tmp) / "data", python, source)
        try:
            time.sleep(0.5)
            out["start_s"] = round(start_s, 3)
            out["rss_idle_mb"] = round(rss_mb(proc.pid), 1)
            lat = issue_latency(url, issues)
            out["issue_ms"] = {"p50": round(statistics.median(lat), 2), "p99": round(pct(lat, 0.99), 2),
                               "n": len(lat)}
            if storms:
                out["issue_per_s_4_workers"] = round(sustained_rate(url, seconds, 4), 1)
            disp = asyncio.run(call_to_display(url, clients, calls, proc.pid, storms, flooders))
            out["call_to_display_ms"] = {k: round(v, 2) for k, v in disp.items()
                                         if k not in ("rss_with_clients", "storm_s", "rss_after_storms", "rss_end")}
            out["rss_after_calls_mb"] = round(disp["rss_end"], 1)
            out["rss_with_clients_mb"] = round(disp["rss_with_clients"], 1)
            if storms:
                out["all_connect_at_once_to_last_state_s"] = round(disp["storm_s"], 3)
                out["rss_after_8_storms_mb"] = round(disp["rss_after_storms"], 1)
        finally:
            stop_hub(proc)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").strip().split("\n\n")[0])
    ap.add_argument("--issues", type=int, default=500)
    ap.add_argument("--clients", default="20,50,200", help="hall sizes, comma-separated")
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--server-python", default=sys.executable,
                    help="interpreter of the hub under test; `make bench` passes a runtime-only venv "
                         "(no test libraries), which is what a center runs")
    ap.add_argument("--compare", metavar="REF",
                    help="also measure the hub of git revision REF, taking turns with this one")
    ap.add_argument("--flooders", type=int, default=5,
                    help="hostile clients (sync every ms, never reading) beside 50 displays; 0: skip")
    ap.add_argument("--no-storms", action="store_true",
                    help="skip the reconnect storms and the 65 s soak after the largest hall")
    args = ap.parse_args()
    sizes = [int(x) for x in args.clients.split(",")]
    stacks = {"this": (args.server_python, ROOT)}
    if args.compare:
        stacks[args.compare] = stack_of(args.compare)
    results: dict[str, object] = {"machine": machine(), "server_python": args.server_python,
                                  "stacks": {name: {} for name in stacks}}
    for clients in sizes:
        for name, (python, source) in stacks.items():
            storms = clients == max(sizes) and not args.no_storms
            print(f"… {name}: {clients} clients", file=sys.stderr, flush=True)
            results["stacks"][name][str(clients)] = measure(  # type: ignore[index]
                python, source, clients, args.calls, args.issues, args.seconds, storms)
    if args.flooders:
        for name, (python, source) in stacks.items():
            print(f"… {name}: 50 clients and {args.flooders} flooders", file=sys.stderr, flush=True)
            try:
                results["stacks"][name]["flood"] = measure(  # type: ignore[index]
                    python, source, 50, args.calls, 50, args.seconds, False, args.flooders)
            except (AssertionError, RuntimeError, TimeoutError) as exc:  # a stack that gives way
                results["stacks"][name]["flood"] = {"failed": str(exc)}  # type: ignore[index]
    results["ticket_bytes"] = ticket_bytes()
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    m = results["machine"]
    print(f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, {m['date']}")  # type: ignore[index]
    names = list(stacks)
    print("| measure | " + " | ".join(names) + " |\n|---|" + "---|" * len(names))

    def row(label: str, cell: Any) -> None:
        def safe(n: str) -> str:
            try:
                return str(cell(results["stacks"][n]))  # type: ignore[index]
            except KeyError:  # that measurement failed: say how
                return "failed: " + str(results["stacks"][n].get("flood", {}).get("failed", "?"))  # type: ignore[index,union-attr]
        print(f"| {label} | " + " | ".join(safe(n) for n in names) + " |")

    big = str(max(sizes))
    row("cold start to first 200 OK", lambda r: f"{r[big]['start_s']} s")
    row("ticket issue, one kept-alive connection, p50 / p99",
        lambda r: f"{r[big]['issue_ms']['p50']} / {r[big]['issue_ms']['p99']} ms")
    if not args.no_storms:
        row("sustained issuing, 4 issuers, durable commits", lambda r: f"{r[big]['issue_per_s_4_workers']} tickets/s")
    for clients in sizes:
        c = str(clients)
        row(f"next → ticket_called at the last of {clients} clients, p50 / p99",
            lambda r, c=c: f"{r[c]['call_to_display_ms']['p50_last']} / {r[c]['call_to_display_ms']['p99_last']} ms")
    row(f"the staff's next request itself with {big} clients, p50",
        lambda r: f"{r[big]['call_to_display_ms']['p50_next']} ms")
    row(f"next → queue_changed at the last of {big} clients, p50 / p99",
        lambda r: f"{r[big]['call_to_display_ms']['p50_update']} / {r[big]['call_to_display_ms']['p99_update']} ms")
    row(f"memory idle / with {big} clients (PSS of every process of the hub)",
        lambda r: f"{r[big]['rss_idle_mb']} / {r[big]['rss_with_clients_mb']} MB")
    if not args.no_storms:
        row(f"{big} displays connect at once → the last has its state",
            lambda r: f"{r[big]['all_connect_at_once_to_last_state_s']} s")
        row(f"memory after 8 storms of {big} and {SOAK_QUIET_S:.0f} s quiet",
            lambda r: f"{r[big]['rss_after_8_storms_mb']} MB")
    if args.flooders:
        row(f"50 displays + {args.flooders} clients flooding sync, never reading: next → last display p50 / p99",
            lambda r: f"{r['flood']['call_to_display_ms']['p50_last']} / {r['flood']['call_to_display_ms']['p99_last']} ms")
        row("… memory at the start / after the calls",
            lambda r: f"{r['flood']['rss_with_clients_mb']} / {r['flood']['rss_after_calls_mb']} MB")
    tb = results["ticket_bytes"]
    print(f"\nESC/POS bytes per ticket, 80 mm / 58 mm: {tb['80mm']} / {tb['58mm']} B")  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
