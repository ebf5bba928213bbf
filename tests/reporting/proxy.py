"""A pass-through HTTP proxy between a real center and the real central for the reporting tests:
it forwards each POST unchanged and keeps the bytes, so a test can look at exactly what left the
center. Two switches:

- `hold`: a batch with slots is passed on, the central's answer recorded, and the answer kept
  from the center until `release` — the moment to kill -9 the center between the central's
  'stored' and its acknowledgement;
- `newer_version_once`: the next batch with slots is passed on with its `version` raised to 99
  and signed again with the center's token — what a center newer than its central sends — so the
  REAL central refuses it (400 `invalid_batch`) and its real answer goes back to the center.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from queue_server.forwarder import signature
from tests.conftest import free_port


class CentralProxy:
    """See the module. `bodies`: every body the center sent, in order; `seen`: (idempotency key,
    the central's HTTP status, its `status` field or error code)."""

    def __init__(self, target: str, token: str = "") -> None:
        """`token`: the center's, needed only to sign again under `newer_version_once`."""
        self.target = target
        self.token = token
        self.hold = threading.Event()
        self.answered = threading.Event()
        self.release = threading.Event()
        self.newer_version_once = threading.Event()
        self.bodies: list[bytes] = []
        self.seen: list[tuple[str, int, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.bodies.append(body)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "x-signature", "idempotency-key", "content-type")}
                batch = json.loads(body)
                forwarded = body
                if batch["slots"] and proxy.newer_version_once.is_set():
                    proxy.newer_version_once.clear()
                    forwarded = json.dumps({**batch, "version": 99}).encode()
                    headers["X-Signature"] = signature(proxy.token, forwarded)
                r = requests.post(proxy.target + self.path, data=forwarded, headers=headers, timeout=10)
                answer = r.json()
                proxy.seen.append((self.headers["Idempotency-Key"], r.status_code,
                                   answer.get("status") or answer.get("error", {}).get("code", "")))
                if proxy.hold.is_set() and batch["slots"]:
                    proxy.answered.set()
                    proxy.release.wait(30)
                    return  # the center is gone; nothing to answer
                self.send_response(r.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
