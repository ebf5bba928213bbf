"""The technician's page of the device rig, and its JSON control API (tests drive the rig here).

A small stdlib HTTP server on its own port (firmware_bridge imports no web framework: see the
import-linter contracts). It listens on loopback by default: it presses keys and breaks the bus.

| method, path | what |
|---|---|
| GET `/` | the page (Vietnamese): each device as it looks, with its keys |
| GET `/api/devices` | every bus and device: what it shows (`DeviceRig.view()`) |
| POST `/api/buses/<bus>/devices/<unit>/press` `{"key": k, "arg": a}` | press a key → `{"seq": n or null}` |
| POST `/api/buses/<bus>/devices/<unit>/reset` | power-cycle the device (the event store is kept) |
| GET `/api/buses/<bus>/faults` | faults waiting and faults applied |
| POST `/api/buses/<bus>/faults` `{Fault}` | add a fault (faults.py) → 201 |
| DELETE `/api/buses/<bus>/faults` | clear the waiting faults |
| POST `/api/buses/<bus>/noise` `{"bytes": n}` | `n` random bytes on the wire towards the master |
| POST `/api/buses/<bus>/unplug` `{"down_s": s}` | unplug the bridge's adapter for `s` seconds (0..30) |

Bad input gets 400/404 with `message` (Vietnamese) and `message_en`, and changes nothing.
"""

from __future__ import annotations

import json
import random
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from .faults import Fault
from .line import TO_MASTER
from .rig import DeviceRig

MAX_BODY = 4096


class ApiError(Exception):
    def __init__(self, status: int, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.status, self.message, self.message_en = status, message, message_en


def _page() -> bytes:
    return resources.files(__package__).joinpath("technician.html").read_bytes()


class TechnicianServer:
    """Serves the page and the API for `rig` on (host, port); port 0 picks a free one (`.port`).
    `start()` runs it on a daemon thread; `close()` stops it (idempotent)."""

    def __init__(self, rig: DeviceRig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.rig = rig
        handler = type("Handler", (_Handler,), {"rig": rig})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self._httpd.server_address[0]
        return f"http://{host}:{self.port}"

    def start(self) -> "TechnicianServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="technician-page",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._httpd.shutdown()
        self._httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    rig: DeviceRig
    protocol_version = "HTTP/1.1"
    server_version = "device-simulator"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass   # quiet: the page polls several times a second

    # ---- plumbing --------------------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApiError(400, "Content-Length không hợp lệ", "bad Content-Length") from None
        if length > MAX_BODY:
            raise ApiError(413, "Yêu cầu quá lớn", "request body too large")
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Nội dung không phải JSON hợp lệ", "body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ApiError(400, "Nội dung phải là một đối tượng JSON", "body must be a JSON object")
        return data

    def _dispatch(self, method: str) -> None:
        try:
            if method == "POST":
                body = self._body()
            else:
                body = {}
            self._route(method, self.path.split("?", 1)[0], body)
        except ApiError as e:
            self._json(e.status, {"message": e.message, "message_en": e.message_en})

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._dispatch("DELETE")

    # ---- routes ----------------------------------------------------------------------------------
    def _route(self, method: str, path: str, body: dict[str, Any]) -> None:
        if path == "/" and method == "GET":
            return self._send(200, _page(), "text/html; charset=utf-8")
        if path == "/api/devices" and method == "GET":
            return self._json(200, self.rig.view())
        m = re.fullmatch(r"/api/buses/([a-z0-9_-]{1,40})/(devices/(\d{1,3})/(press|reset)|faults|noise|unplug)", path)
        if not m:
            raise ApiError(404, "Không có địa chỉ này", "no such path")
        bus_name = m.group(1)
        bus = self.rig.buses.get(bus_name)
        if bus is None:
            raise ApiError(404, f"Không có đường truyền {bus_name}", f"no bus {bus_name}")
        if m.group(3):
            unit = int(m.group(3))
            device = bus.devices.get(unit)
            if device is None:
                raise ApiError(404, f"Không có thiết bị số {unit} trên {bus_name}", f"no unit {unit} on {bus_name}")
            if method != "POST":
                raise ApiError(405, "Phương thức không được hỗ trợ", "method not allowed")
            if m.group(4) == "reset":
                device.reset()
                return self._json(200, device.view())
            key, arg = body.get("key"), body.get("arg", 0)
            if not isinstance(key, int) or isinstance(key, bool) or not isinstance(arg, int) or isinstance(arg, bool):
                raise ApiError(400, "key và arg phải là số nguyên", "key and arg must be integers")
            return self._json(200, {"seq": device.press(key, arg), "device": device.view()})
        what = m.group(2)
        if what == "faults":
            if method == "GET":
                return self._json(200, {"pending": bus.faults.pending(),
                                        "applied": [vars(a) for a in bus.faults.applied()]})
            if method == "DELETE":
                bus.faults.clear()
                return self._json(200, {"pending": []})
            if method == "POST":
                try:
                    fault = Fault.from_dict(body)
                except (TypeError, ValueError) as e:
                    raise ApiError(400, f"Lỗi giả lập không hợp lệ: {e}", f"bad fault: {e}") from None
                bus.faults.add(fault)
                return self._json(201, {"pending": bus.faults.pending()})
        if method != "POST":
            raise ApiError(405, "Phương thức không được hỗ trợ", "method not allowed")
        if what == "noise":
            n = body.get("bytes", 8)
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 256:
                raise ApiError(400, "bytes phải từ 1 đến 256", "bytes must be 1..256")
            bus.line.inject(TO_MASTER, bytes(random.randrange(256) for _ in range(n)))
            return self._json(200, {"injected": n})
        down = body.get("down_s", 0.5)
        if not isinstance(down, (int, float)) or isinstance(down, bool) or not 0 <= down <= 30:
            raise ApiError(400, "down_s phải từ 0 đến 30 giây", "down_s must be 0..30 seconds")
        bus.unplug(float(down))
        return self._json(200, {"unplugged_s": down})
