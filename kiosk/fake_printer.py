"""An emulated ESC/POS printer: an independent peer at the transport seam.

It listens on TCP (127.0.0.1, ephemeral port) like a network printer's port 9100, and can
also sit behind a pseudo-terminal like a serial printer. It keeps every byte it receives
and answers DLE EOT 1-4 as the Epson reference defines the reply bits, according to a
settable state; SILENT never answers, like a printer that is off or unplugged.

Faults in the middle of a job, as seen on real hardware:
- `drop_after = N`: each connection takes the first N bytes and then hangs up (a network
  printer or print server that resets mid-ticket);
- `after_job = <state>`: once it has received a cut (GS V, the end of every ticket) it switches
  to that state: SILENT is a printer that jams or loses power while printing, PAPER_OUT one
  whose roll ran out during the ticket;
- `state` may be changed at any time.

Used by tests and demos; it shares no code with printers.py on purpose, so a decoding
mistake there cannot be mirrored here.
"""

from __future__ import annotations

import os
import select
import socket
import socketserver
import struct
import threading
import time
import tty
from enum import StrEnum
from types import TracebackType
from typing import Final


class FakeState(StrEnum):
    """Conditions the emulated printer can be put in."""

    OK = "ok"
    NEAR_END = "near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    ERROR = "error"  # autocutter jam
    SILENT = "silent"


# Replies to DLE EOT n, written out bit by bit from the Epson tables:
# every byte has bits 1 and 4 set (0x12) and bits 0 and 7 clear.
_FIXED: Final = 0x12
_OFFLINE: Final = 0x08  # n=1 bit 3
_COVER: Final = 0x04  # n=2 bit 2
_PAPER_STOP: Final = 0x20  # n=2 bit 5
_ERROR: Final = 0x40  # n=2 bit 6
_CUTTER: Final = 0x08  # n=3 bit 3
_NEAR_END: Final = 0x0C  # n=4 bits 2-3
_PAPER_END: Final = 0x60  # n=4 bits 5-6

REPLIES: Final[dict[FakeState, dict[int, int]]] = {
    FakeState.OK: {1: _FIXED, 2: _FIXED, 3: _FIXED, 4: _FIXED},
    FakeState.NEAR_END: {1: _FIXED, 2: _FIXED, 3: _FIXED, 4: _FIXED | _NEAR_END},
    FakeState.PAPER_OUT: {
        1: _FIXED | _OFFLINE,
        2: _FIXED | _PAPER_STOP,
        3: _FIXED,
        4: _FIXED | _NEAR_END | _PAPER_END,
    },
    FakeState.COVER_OPEN: {1: _FIXED | _OFFLINE, 2: _FIXED | _COVER, 3: _FIXED, 4: _FIXED},
    FakeState.ERROR: {1: _FIXED | _OFFLINE, 2: _FIXED | _ERROR, 3: _FIXED | _CUTTER, 4: _FIXED},
    FakeState.SILENT: {},
}

_DLE: Final = 0x10
_EOT: Final = 0x04
_CUT: Final = b"\x1dV"  # GS V: the end of every ticket


class _StatusScanner:
    """Finds DLE EOT n in a byte stream split arbitrarily across reads.

    Like a real printer with real-time commands enabled, it reacts wherever the
    sequence appears, even inside image data; clients drain stale replies first.
    """

    def __init__(self) -> None:
        self._stage = 0  # 0: idle, 1: after DLE, 2: after DLE EOT

    def feed(self, data: bytes) -> list[int]:
        found: list[int] = []
        for b in data:
            if self._stage == 2:
                self._stage = 0
                if 1 <= b <= 4:
                    found.append(b)
                    continue
            elif self._stage == 1:
                if b == _EOT:
                    self._stage = 2
                    continue
                self._stage = 0
            if b == _DLE:
                self._stage = 1
        return found


class FakePrinter:
    """Emulated printer; start() it, point a printer backend at .host/.port or .serial_path."""

    def __init__(self, state: FakeState | str = FakeState.OK, host: str = "127.0.0.1") -> None:
        self._state = FakeState(state)
        self._host = host
        self._lock = threading.Lock()
        self._received = bytearray()
        self._data_event = threading.Condition(self._lock)
        self.queries: list[int] = []
        self.connections = 0
        self.drop_after: int | None = None
        self.after_job: FakeState | str | None = None
        self.dropped = 0  # connections closed by drop_after
        self._stopping = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._threads: list[threading.Thread] = []
        self._pty_master: int | None = None
        self._pty_slave: int | None = None
        self.serial_path: str | None = None

    # state

    @property
    def state(self) -> FakeState:
        return self._state

    @state.setter
    def state(self, value: FakeState | str) -> None:
        self._state = FakeState(value)

    @property
    def received(self) -> bytes:
        """Every byte received so far, over all connections, in order."""
        with self._lock:
            return bytes(self._received)

    def clear(self) -> None:
        """Forget what was received and which queries came."""
        with self._lock:
            self._received.clear()
            self.queries.clear()

    def wait_for(self, data: bytes, timeout: float = 5.0) -> bool:
        """Block until `data` has arrived (a whole ticket, say) or the timeout passes."""
        deadline = time.monotonic() + timeout
        with self._data_event:
            while data not in self._received:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._data_event.wait(left)
            return True

    def _consume(self, data: bytes, scanner: _StatusScanner) -> bytes:
        """Store data; return the reply bytes the current state calls for."""
        asked = scanner.feed(data)
        with self._data_event:
            tail = bytes(self._received[-1:]) + data
            self._received += data
            self.queries.extend(asked)
            if self.after_job is not None and _CUT in tail:
                self._state = FakeState(self.after_job)
            self._data_event.notify_all()
        replies = REPLIES[self._state]
        return bytes(replies[n] for n in asked if n in replies)

    # TCP

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakePrinter not started")
        return int(self._server.server_address[1])

    def start(self) -> FakePrinter:
        """Listen on an ephemeral TCP port in a background thread."""
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(0.05)
                scanner = _StatusScanner()
                with fake._lock:
                    fake.connections += 1
                taken = 0
                while not fake._stopping.is_set():
                    try:
                        data = sock.recv(65536)
                    except TimeoutError:
                        continue
                    except OSError:
                        return
                    if not data:
                        return
                    limit = fake.drop_after
                    if limit is not None and taken + len(data) >= limit:
                        fake._consume(data[: limit - taken], scanner)
                        with fake._lock:
                            fake.dropped += 1
                        # RST, not FIN: unread bytes are discarded like a printer that resets.
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                        return
                    taken += len(data)
                    reply = fake._consume(data, scanner)
                    if reply:
                        try:
                            sock.sendall(reply)
                        except OSError:
                            return

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((self._host, 0), Handler)
        thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._threads.append(thread)
        return self

    # serial (pseudo-terminal)

    def open_serial(self) -> str:
        """Serve the same printer behind a pty; returns the device path for pyserial."""
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        self._pty_master, self._pty_slave = master, slave
        self.serial_path = os.ttyname(slave)
        thread = threading.Thread(target=self._serve_pty, args=(master,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self.serial_path

    def _serve_pty(self, master: int) -> None:
        scanner = _StatusScanner()
        while not self._stopping.is_set():
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                continue
            reply = self._consume(data, scanner)
            if reply:
                os.write(master, reply)

    # lifecycle

    def stop(self) -> None:
        """Stop serving and join the threads; safe to call twice."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for thread in self._threads:
            thread.join(timeout=2)
        self._threads.clear()
        for fd in (self._pty_master, self._pty_slave):
            if fd is not None:
                os.close(fd)
        self._pty_master = self._pty_slave = None

    def __enter__(self) -> FakePrinter:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
