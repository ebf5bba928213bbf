"""The hub as a user of it sees it: a real server process, HTTP requests and Socket.IO clients."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import socketio

from tests.conftest import DEVICE, HubProcess, center_toml, counter_toml, field_toml, login

FIELDS = ("ho-tich", "chung-thuc", "dat-dai")
START = {"ho-tich": 1001, "chung-thuc": 2001, "dat-dai": 3001}


def issue(base: str, service: str, session: requests.Session | None = None, **extra: Any) -> requests.Response:
    return (session or requests).post(f"{base}/api/v1/tickets", json={"service": service, **extra},
                                      headers=DEVICE, timeout=10)


def test_50_concurrent_issuers_unique_and_gapless(hub: HubProcess) -> None:
    per_issuer = 6
    results: list[tuple[str, str]] = []
    lock = threading.Lock()

    def issuer(i: int) -> None:
        with requests.Session() as s:
            for k in range(per_issuer):
                field = FIELDS[(i + k) % 3]
                r = issue(hub.url, field, s)
                assert r.status_code == 201, r.text
                with lock:
                    results.append((field, r.json()["number"]))

    barrier_threads = [threading.Thread(target=issuer, args=(i,)) for i in range(50)]
    for t in barrier_threads:
        t.start()
    for t in barrier_threads:
        t.join()
    assert len(results) == 50 * per_issuer
    by_field: dict[str, list[int]] = defaultdict(list)
    for field, number in results:
        by_field[field].append(int(number))
    for field, numbers in by_field.items():
        assert len(numbers) == len(set(numbers)), f"duplicate numbers in {field}"
        assert sorted(numbers) == list(range(START[field], START[field] + len(numbers))), f"gap in {field}"


def test_kill_9_mid_burst_loses_nothing_acknowledged(hub: HubProcess) -> None:
    acknowledged: dict[str, str] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def burst(field: str) -> None:
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    r = issue(hub.url, field, s)
                except requests.RequestException:
                    return  # the server died under us: that request was never acknowledged
                if r.status_code == 201:
                    with lock:
                        acknowledged[r.json()["id"]] = r.json()["number"]

    threads = [threading.Thread(target=burst, args=(FIELDS[i % 3],)) for i in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(acknowledged) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    hub.kill9()
    stop.set()
    for t in threads:
        t.join()
    assert len(acknowledged) >= 60
    hub.start()
    for ticket_id, number in acknowledged.items():
        r = requests.get(f"{hub.url}/api/v1/tickets/{ticket_id}", timeout=10)
        assert r.status_code == 200 and r.json()["number"] == number
    # issuing continues after the highest number ever handed out, with no reuse
    seen = defaultdict(set)
    for number in acknowledged.values():
        seen[int(number) // 1000].add(int(number))
    for field in FIELDS:
        block = START[field] // 1000
        r = issue(hub.url, field)
        assert r.status_code == 201
        new = int(r.json()["number"])
        assert new not in seen[block]
        # gapless with what the database holds (a ticket committed but not yet answered still counts)
        state = requests.get(f"{hub.url}/api/v1/state", timeout=10).json()
        waiting = {s["id"]: s["waiting"] for s in state["services"]}
        assert waiting[field] == new - START[field] + 1


def test_staff_rights_and_tokens(hub: HubProcess) -> None:
    staff1 = login(hub.url, "staff1")
    manager = login(hub.url, "manager")
    assert issue(hub.url, "ho-tich").status_code == 201
    r = requests.post(f"{hub.url}/api/v1/counters/2/next", headers=staff1, timeout=10)
    assert r.status_code == 403 and r.json()["error"]["code"] == "foreign_counter"
    r = requests.post(f"{hub.url}/api/v1/counters/2/next", headers=manager, timeout=10)
    assert r.status_code == 200 and r.json()["number"] == "1001"
    r = requests.post(f"{hub.url}/api/v1/counters/1/next", timeout=10)
    assert r.status_code == 401
    r = requests.post(f"{hub.url}/api/v1/counters/1/next", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_token"
    r = requests.post(f"{hub.url}/api/v1/auth/login", json={"username": "staff1", "password": "x"}, timeout=10)
    assert r.status_code == 401 and "Sai tên đăng nhập" in r.json()["error"]["message"]
    # no device token, public issuing off: refused
    r = requests.post(f"{hub.url}/api/v1/tickets", json={"service": "ho-tich"}, timeout=10)
    assert r.status_code == 401
    # staff may not read statistics; the manager may
    assert requests.get(f"{hub.url}/api/v1/stats", headers=staff1, timeout=10).status_code == 403
    assert requests.get(f"{hub.url}/api/v1/stats", headers=manager, timeout=10).status_code == 200
    requests.post(f"{hub.url}/api/v1/auth/logout", headers=staff1, timeout=10)
    assert requests.post(f"{hub.url}/api/v1/counters/1/next", headers=staff1, timeout=10).status_code == 401


BAD_REQUESTS = [
    ("post", "/api/v1/tickets", b"{not json", 400, "malformed_json"),
    ("post", "/api/v1/tickets", b"[1, 2]", 400, "invalid_field"),
    ("post", "/api/v1/tickets", b'{"service": "ho-tich", "name": "Nguyen Van A"}', 400, "unknown_field"),
    ("post", "/api/v1/tickets", b'{"service": 5}', 400, "invalid_field"),
    ("post", "/api/v1/tickets", b'{"service": "ho-tich", "priority": "yes"}', 400, "invalid_field"),
    ("post", "/api/v1/tickets", b'{"service": "khong-co"}', 400, "unknown_service"),
    ("post", "/api/v1/tickets", b'{"service": "ho-tich", "priority_group": "vip"}', 400, "unknown_priority_group"),
    ("post", "/api/v1/tickets", b"", 400, "missing_body"),
    ("post", "/api/v1/tickets", b'{"service": "' + b"x" * 70000 + b'"}', 413, None),
    ("post", "/api/v1/counters/1/finish", b'{"outcome": "received", "dossiers": -1}', 400, "invalid_field"),
    ("post", "/api/v1/counters/1/finish", b'{"outcome": "lost"}', 400, "invalid_field"),
    ("post", "/api/v1/counters/1/finish", b'{"outcome": "received", "dossiers": 1e400}', 400, None),
    ("post", "/api/v1/counters/1/finish", b'{"outcome": "received"}', 409, "no_current_ticket"),
    ("post", "/api/v1/counters/1/transfer", b'{"service": "ho-tich", "counter": 2}', 400, "invalid_field"),
    ("post", "/api/v1/counters/1/transfer", b'{"counter": 99999999999999999999}', 400, "invalid_field"),
    ("post", "/api/v1/counters/99/next", b"", 404, "unknown_counter"),
    ("post", "/api/v1/counters/-1/next", b"", 404, None),
    ("post", "/api/v1/counters/1/pause", b'{"reason": "ngu"}', 400, "invalid_field"),
    ("post", "/api/v1/counters/1/recall", b"", 409, "no_current_ticket"),
    ("post", "/api/v1/ratings", b'{"ticket": "x", "level": 9}', 400, "invalid_field"),
    ("post", "/api/v1/ratings", b'{"ticket": "x", "level": 1}', 404, "unknown_ticket"),
    ("get", "/api/v1/tickets/../../etc/passwd", b"", 404, None),
    ("get", "/api/v1/stats?from=2026-13-01", b"", 400, "bad_date"),
    ("get", "/api/v1/stats?from=2026-02-01&to=2026-01-01", b"", 400, "bad_range"),
    ("delete", "/api/v1/tickets", b"", 405, None),
]


def test_bad_input_gets_a_reason_and_changes_nothing(hub: HubProcess) -> None:
    manager = login(hub.url, "manager")
    headers = {**manager, "Content-Type": "application/json"}
    assert issue(hub.url, "ho-tich").status_code == 201
    before = requests.get(f"{hub.url}/api/v1/state", timeout=10).json()
    for method, path, body, status, code in BAD_REQUESTS:
        r = requests.request(method, hub.url + path, data=body, headers=headers, timeout=10)
        assert r.status_code == status, (path, body[:60], r.status_code, r.text[:200])
        error = r.json()["error"]
        assert error["message"] and error["message_en"], (path, error)
        if code:
            assert error["code"] == code, (path, body[:60], error)
    after = requests.get(f"{hub.url}/api/v1/state", timeout=10).json()
    assert after["seq"] == before["seq"] and after["waiting"] == before["waiting"]


ZONED = center_toml(field_toml("ho-tich"), field_toml("dat-dai"), counter_toml(1, ["ho-tich"], zone="tang-1"),
                    counter_toml(2, ["dat-dai"], zone="tang-2"), name="Trung tâm Phục vụ hành chính công tỉnh")


class Listener:
    """A python-socketio client that records every event it receives."""

    def __init__(self, url: str, auth: dict[str, Any] | None = None,
                 transports: list[str] | None = None) -> None:
        self.events: list[tuple[str, Any]] = []
        self.cond = threading.Condition()
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", self._record)
        self.client.connect(url, auth=auth, transports=transports or ["websocket"], wait_timeout=10)

    def _record(self, event: str, data: Any = None) -> None:
        with self.cond:
            self.events.append((event, data))
            self.cond.notify_all()

    def wait_for(self, name: str, count: int = 1, timeout: float = 5.0) -> list[Any]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.of(name)) >= count, timeout)
            found = self.of(name)
        assert len(found) >= count, f"expected {count} {name}, got {self.events}"
        return found

    def wait_until(self, name: str, done: Any, timeout: float = 5.0) -> Any:
        """The first `name` event for which `done(data)` holds (updates may be coalesced, so
        wait for the state, not for a count)."""
        with self.cond:
            self.cond.wait_for(lambda: any(done(d) for d in self.of(name)), timeout)
            found = [d for d in self.of(name) if done(d)]
        assert found, f"no {name} satisfying the condition in {self.events}"
        return found[0]

    def of(self, name: str) -> list[Any]:
        return [d for e, d in self.events if e == name]

    def close(self) -> None:
        # websocket-client waits up to 3 s for the close handshake; nothing here depends on it
        threading.Thread(target=self.client.disconnect, daemon=True).start()


def test_socketio_state_calls_and_rooms(hub_factory: Any) -> None:
    hub = hub_factory("--demo", config=ZONED)
    everyone = Listener(hub.url)
    floor1 = Listener(hub.url, auth={"zone": "tang-1"})
    counter2 = Listener(hub.url)
    counter2.client.emit("join", {"counter": 2})
    try:
        state = everyone.wait_for("state")[0]
        assert [c["counter"] for c in state["counters"]] == [1, 2]
        assert state["center"]["name"].startswith("Trung tâm")
        zstate = floor1.wait_for("state")[0]
        assert [c["counter"] for c in zstate["counters"]] == [1]
        counter2.wait_for("state", 2)

        for field in ("ho-tich", "dat-dai"):
            assert issue(hub.url, field).status_code == 201
        admin = login(hub.url, "admin")
        for n in (1, 2):
            assert requests.post(f"{hub.url}/api/v1/counters/{n}/next", headers=admin, timeout=10).status_code == 200

        calls = everyone.wait_for("ticket_called", 2)
        assert [(c["number"], c["counter"]) for c in calls] == [("1001", 1), ("3001", 2)]
        first = calls[0]
        assert first["announcement"] == "Mời công dân có số một nghìn không trăm linh một đến quầy số một"
        assert first["audio_url"].startswith("/audio/") and first["recall"] is False
        assert first["service"] == "ho-tich" and "called_at" in first
        assert "id" not in first  # ticket ids are capabilities; never broadcast
        audio = requests.get(hub.url + first["audio_url"], timeout=20)
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"

        everyone.wait_until("queue_changed", lambda q: q["waiting"] == {"ho-tich": 0, "dat-dai": 0})
        # a zone client gets its zone's calls only; a counter room its counter's only
        time.sleep(0.3)
        assert [c["number"] for c in floor1.of("ticket_called")] == ["1001"]
        assert [c["number"] for c in counter2.of("ticket_called")] == ["3001"]
        assert floor1.of("queue_changed")  # waiting counts go to every room

        # bad join payloads get an error event, not a crash
        everyone.client.emit("join", {"zone": "khong-co"})
        everyone.client.emit("join", "rubbish")
        assert everyone.wait_for("error", 2)[0]["code"] == "unknown_zone"
        assert requests.get(f"{hub.url}/healthz", timeout=5).status_code == 200
    finally:
        for listener in (everyone, floor1, counter2):
            listener.close()


def test_display_catches_up_after_reconnect(hub: HubProcess) -> None:
    admin = login(hub.url, "admin")
    listener = Listener(hub.url)
    listener.wait_for("state")
    listener.close()
    for _ in range(2):
        issue(hub.url, "ho-tich")
    requests.post(f"{hub.url}/api/v1/counters/1/next", headers=admin, timeout=10)
    requests.post(f"{hub.url}/api/v1/counters/2/next", headers=admin, timeout=10)
    again = Listener(hub.url)
    try:
        state = again.wait_for("state")[0]
        current = {c["counter"]: (c["current"] or {}).get("number") for c in state["counters"]}
        assert current[1] == "1001" and current[2] == "1002"
        assert [c["number"] for c in state["recent_calls"][:2]] == ["1002", "1001"]
    finally:
        again.close()


def test_openapi_document_lists_the_contract(hub: HubProcess) -> None:
    doc = requests.get(f"{hub.url}/api/v1/openapi.json", timeout=10).json()
    for path in ("/api/v1/auth/login", "/api/v1/services", "/api/v1/tickets", "/api/v1/tickets/{ticket_id}",
                 "/api/v1/counters/{n}/next", "/api/v1/counters/{n}/recall", "/api/v1/counters/{n}/no-show",
                 "/api/v1/counters/{n}/transfer", "/api/v1/counters/{n}/finish", "/api/v1/ratings",
                 "/api/v1/stats", "/api/v1/reports/summary.xlsx", "/healthz"):
        assert path in doc["paths"], path


def test_summary_xlsx_has_vietnamese_headers(hub: HubProcess) -> None:
    import io

    from openpyxl import load_workbook

    issue(hub.url, "ho-tich")
    manager = login(hub.url, "manager")
    r = requests.get(f"{hub.url}/api/v1/reports/summary.xlsx", headers=manager, timeout=10)
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.content))
    assert "Mức độ hài lòng" in wb.sheetnames
    assert wb["Tổng hợp"]["B1"].value == "Lượt lấy số" and wb["Tổng hợp"]["B2"].value == 1


def test_concurrent_requests_share_pool(hub: HubProcess) -> None:
    """Many kiosks at once on kept-alive connections: every answer is a 201."""
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: issue(hub.url, FIELDS[i % 3]).status_code, range(80)))
    assert codes == [201] * 80


def test_every_link_on_the_landing_page_works(hub: HubProcess) -> None:
    import re

    page = requests.get(f"{hub.url}/", timeout=10)
    assert page.status_code == 200 and "Kim Thành" in page.text
    links = set(re.findall(r'href="(/[^"]*)"', page.text))
    assert "/kiosk?token=demo-device" in links and "/display" in links and "/counter" in links
    assert "/manager" in links and "/manager/reports" in links  # the README says it links them all
    for link in sorted(links):
        r = requests.get(hub.url + link.replace("&amp;", "&"), timeout=10)
        assert r.status_code == 200, (link, r.status_code)


def test_pause_and_resume_answer_with_the_counter(hub: HubProcess) -> None:
    staff3 = login(hub.url, "staff3")
    issue(hub.url, "dat-dai")
    requests.post(f"{hub.url}/api/v1/counters/3/next", headers=staff3, timeout=10)
    requests.post(f"{hub.url}/api/v1/counters/3/finish", json={"outcome": "guidance"}, headers=staff3, timeout=10)
    r = requests.post(f"{hub.url}/api/v1/counters/3/pause", json={"reason": "meeting", "minutes": 20},
                      headers=staff3, timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert (body["counter"], body["status"], body["pause_label"], body["served_today"]) == (3, "paused", "Họp đột xuất", 1)
    assert body["paused_until"] is not None and body["current"] is None
    r = requests.post(f"{hub.url}/api/v1/counters/3/resume", headers=staff3, timeout=10)
    assert r.status_code == 200 and (r.json()["status"], r.json()["served_today"]) == ("open", 1)
    state = requests.get(f"{hub.url}/api/v1/state", timeout=10).json()
    assert [c for c in state["counters"] if c["counter"] == 3][0] == r.json()


def test_follow_up_updates_are_coalesced_but_end_current(hub: HubProcess) -> None:
    """A burst of 20 kiosk tickets gives the TVs fewer than 20 waiting-count updates, and the last
    one they get is the true count."""
    tv = Listener(hub.url)
    try:
        tv.wait_for("state")
        with requests.Session() as s:
            for _ in range(20):
                assert s.post(f"{hub.url}/api/v1/tickets", json={"service": "dat-dai"},
                              headers=DEVICE, timeout=10).status_code == 201
        last = tv.wait_until("queue_changed", lambda q: q["waiting"].get("dat-dai") == 20)
        assert last["waiting"]["dat-dai"] == 20
        assert 1 <= len(tv.of("queue_changed")) < 20
    finally:
        tv.close()


def test_socket_garbage_gets_errors_and_changes_nothing(hub: HubProcess) -> None:
    """Junk at every layer — Socket.IO event arguments, Engine.IO packets, websocket frames — is
    answered with an `error` event or a closed connection; the hub and its other clients go on."""
    import websocket  # websocket-client, python-socketio's own client transport

    tv = Listener(hub.url)
    prankster = Listener(hub.url)
    try:
        tv.wait_for("state")
        prankster.wait_for("state")
        junk: list[Any] = [None, [], ["zone"], 42, "x" * 10_000, {"zone": ["a"]}, {"counter": True},
                           {"counter": "1"}, {"counter": 10**30}, {"ticket": ""}, {"ticket": 7},
                           {"zone": "tang-1", "evil": 1}, {}]
        for data in junk:
            prankster.client.emit("join", data)
        prankster.client.emit("join", ({"zone": "a"}, "two", "three"))  # three arguments
        prankster.client.emit("sync", ["not", "a", "dict"])
        prankster.client.emit("no-such-event", {"x": 1})
        errors = prankster.wait_for("error", len(junk) + 1, timeout=10)
        assert all(e["message"] and e["message_en"] for e in errors)
        assert {e["code"] for e in errors} <= {"bad_join", "unknown_zone", "unknown_counter", "bad_ticket"}

        ws_url = hub.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        for frames in (["40", "42[not json", "4", "99", "42", '42["join"]'], [b"\xff\x00binary"]):
            raw = websocket.create_connection(ws_url, timeout=5)
            try:
                raw.recv()  # Engine.IO open packet
                for frame in frames:
                    if isinstance(frame, bytes):
                        raw.send_binary(frame)
                    else:
                        raw.send(frame)
            except (websocket.WebSocketException, OSError):
                pass  # the hub may hang up on garbage: that is an answer too
            finally:
                raw.close()

        assert issue(hub.url, "ho-tich").status_code == 201
        admin = login(hub.url, "admin")
        number = requests.post(f"{hub.url}/api/v1/counters/1/next", headers=admin, timeout=10).json()["number"]
        assert [c["number"] for c in tv.wait_for("ticket_called")] == [number]
        assert [c["number"] for c in prankster.wait_for("ticket_called")] == [number]
        assert requests.get(f"{hub.url}/healthz", timeout=5).status_code == 200
        # one line per junk packet in the journal, no stack traces
        log = (hub.data.parent / f"hub-{hub.port}.log").read_text(encoding="utf-8")
        assert "(from a client)" in log and "Traceback" not in log
    finally:
        tv.close()
        prankster.close()


def test_chunked_bodies_are_read_and_limited(hub: HubProcess) -> None:
    """A body without Content-Length (Transfer-Encoding: chunked) is read like any other, and one
    over the 64 KB limit is refused with 413, not cut short."""
    import socket

    def post_chunked(body: bytes) -> bytes:
        host, port = hub.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/tickets HTTP/1.1\r\nHost: hub\r\n"
                         + f"Authorization: {DEVICE['Authorization']}\r\n".encode()
                         + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                         + b"Connection: close\r\n\r\n"
                         + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer

    ok = post_chunked(b'{"service": "ho-tich"}')
    assert ok.startswith(b"HTTP/1.1 201"), ok[:200]
    assert b'"number":"1001"' in ok.replace(b" ", b"")
    padded = b'{"service": "ho-tich"}' + b" " * 70_000  # valid JSON if it were cut at 64 KB
    big = post_chunked(padded)
    assert big.startswith(b"HTTP/1.1 413"), big[:200]
    assert b"request_entity_too_large" in big
    services = requests.get(f"{hub.url}/api/v1/services", timeout=5).json()["services"]
    assert [s["waiting"] for s in services if s["id"] == "ho-tich"] == [1]  # the refused one added nothing


def test_a_relative_data_folder_serves_the_announcement(tmp_path: Path) -> None:
    """`make run` passes `--data data`, relative to where it starts: the spoken announcement's WAV
    (written into the data folder's voice cache) is served, not a 500 from a path taken relative
    to the package (found by a new user: the TV stayed silent)."""
    from tests.conftest import free_port

    hub = HubProcess(Path("data"), free_port(), ["--demo"], cwd=tmp_path).start()
    tv = Listener(hub.url)
    try:
        assert issue(hub.url, "ho-tich").status_code == 201
        assert requests.post(f"{hub.url}/api/v1/counters/1/next", headers=login(hub.url, "staff1"),
                             timeout=10).status_code == 200
        called = tv.wait_for("ticket_called")[0]
        audio = requests.get(hub.url + called["audio_url"], timeout=20)
        assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
        assert (tmp_path / "data" / "queue.sqlite3").exists()  # the folder it was given, not another
    finally:
        tv.close()
        hub.stop()
