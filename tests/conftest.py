"""Shared fixtures: a real hub process on a free port, with its own data folder."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def run_in_own_loop(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(scenario())` on a thread of its own. The session's Playwright browser (sync
    API) keeps an event loop running on the main thread once a browser test has run, and there
    asyncio.run refuses to start: without this, the suite would pass only in directory order."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(scenario())).result(timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HubProcess:
    """A `queue-server` subprocess; `restart()` keeps its data folder and port."""

    data: Path
    port: int
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)  # added to the environment, e.g. NOTIFY_SOCKET
    cwd: Path = ROOT  # where it starts; `data` may be relative to it, as `make run`'s `--data data`

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> "HubProcess":
        log = open((self.cwd / self.data).parent / f"hub-{self.port}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "queue_server", "--host", "127.0.0.1", "--port", str(self.port),
             "--data", str(self.data), *self.args],
            cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env},
            start_new_session=True,  # its own process group: gunicorn's master and its worker
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}; see {log.name}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                # the port listens before the worker has booted: a request may wait, or be refused
                time.sleep(0.05)
        raise RuntimeError("hub did not become healthy in time")

    def worker_pid(self) -> int:
        """The process that serves: gunicorn's worker, the one child of the hub's master."""
        assert self.proc is not None
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        assert len(children) == 1, children
        return int(children[0])

    def kill9(self) -> None:
        """A power cut: every process of the hub (gunicorn's master and worker) dies at once, as
        systemd's KillMode=control-group would have them."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def restart(self) -> "HubProcess":
        self.stop()
        return self.start()


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[object]:
    """`hub_factory(*args, config=None)`: a started hub with those command-line arguments; with
    `config` (a center's TOML text, e.g. from `center_toml`) written to a file and passed as
    `--config`. Every hub is stopped after the test."""
    started: list[HubProcess] = []

    def make(*args: str, config: str | None = None) -> HubProcess:
        if config is not None:
            path = tmp_path / f"center{len(started)}.toml"
            path.write_text(config, encoding="utf-8")
            args = (*args, "--config", str(path))
        hub = HubProcess(tmp_path / f"data{len(started)}", free_port(), list(args))
        started.append(hub)
        return hub.start()

    yield make
    for hub in started:
        hub.stop()


@pytest.fixture
def hub(hub_factory) -> HubProcess:  # type: ignore[no-untyped-def]
    """The demo center, fresh."""
    return hub_factory("--demo")  # type: ignore[no-any-return]


DEVICE = {"Authorization": "Bearer demo-device"}

# The smallest center: one field, one counter (tests of time and health that need no more).
ONE_COUNTER_CENTER = """
[center]
name = "Trung tâm Phục vụ hành chính công xã Kim Thành"

[[fields]]
id = "ho-tich"
name = "Hộ tịch"
start = 1001

[[counters]]
number = 1
fields = ["ho-tich"]
"""

# The center most tests build their config from: xã Kim Thành, and the fields below with the first
# numbers they give (a field's `start`).
KIM_THANH = "Trung tâm Phục vụ hành chính công xã Kim Thành"
FIELD_NAMES = {"ho-tich": ("Hộ tịch", 1001), "chung-thuc": ("Chứng thực", 2001), "dat-dai": ("Đất đai", 3001)}


def _toml_keys(keys: dict[str, Any]) -> str:
    return "".join(f"{key} = {json.dumps(value, ensure_ascii=False)}\n" for key, value in keys.items())


def field_toml(field_id: str, **keys: Any) -> str:
    """A `[[fields]]` table of FIELD_NAMES (id, name, start), `keys` added or put in their place:
    `field_toml("dat-dai", prefix="D", start=1)`."""
    name, start = FIELD_NAMES[field_id]
    return "[[fields]]\n" + _toml_keys({"id": field_id, "name": name, "start": start, **keys})


def counter_toml(number: int, fields: list[str], **keys: Any) -> str:
    """A `[[counters]]` table named "Quầy N" serving `fields` in that order, `keys` added:
    `counter_toml(2, ["dat-dai"], zone="tang-2")`."""
    return "[[counters]]\n" + _toml_keys({"number": number, "name": f"Quầy {number}", "fields": fields, **keys})


def center_toml(*tables: str, name: str = KIM_THANH) -> str:
    """A center's config text: `[center]` (`name`, Asia/Ho_Chi_Minh), then `tables` (TOML text:
    sections such as '[voice]\\nengine = "fake"', `field_toml(...)`, `counter_toml(...)`) in
    that order, a blank line between two."""
    head = f'[center]\nname = "{name}"\ntimezone = "Asia/Ho_Chi_Minh"\n'
    return "\n".join(table.strip("\n") + "\n" for table in (head, *tables))


# Debian's chromium, driven by Playwright; never a downloaded browser. The background-networking
# flags keep it from reaching for Google's hosts on a machine with no internet.
CHROMIUM = os.environ.get("QUAYSO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole run: Playwright's sync API allows one driver per
    thread, so every suite shares this one."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found (scripts/setup-system.sh installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class RecordingPublisher:
    """Stands in for the Socket.IO publisher in core-level tests: keeps what would be pushed."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        self.events.append((name, payload))

    def named(self, name: str) -> list[dict[str, Any]]:
        return [p for n, p in self.events if n == name]


def login(base: str, username: str, password: str = "demo") -> dict[str, str]:
    r = requests.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password}, timeout=10)
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}
