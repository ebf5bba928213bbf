"""Fixtures of the reporting tests: a throwaway PostgreSQL cluster (Debian's binaries, initdb into a
temp folder, served on a unix socket in that folder and a free port, stopped at the end; run as
`nobody` when the tests run as root, since initdb refuses root), a central backend process
(`queue-server central`), and centers (`queue-server` hubs with `[reporting]`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT, HubProcess, free_port
from tests.reporting.pg import Postgres, PostgresMissing, throwaway_cluster


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    try:
        with throwaway_cluster() as cluster:
            yield cluster
    except PostgresMissing as exc:
        pytest.fail(str(exc))


CENTER_TOKENS = {f"xa-{i}": f"secret-of-center-{i}-{'x' * 12}" for i in range(1, 6)}
READER_TOKEN = "reader-token-of-the-province-office"


def centers_toml(tokens: dict[str, str] = CENTER_TOKENS) -> str:
    out = []
    for cid, token in tokens.items():
        out.append(f'[[centers]]\nid = "{cid}"\nname = "Trung tâm xã {cid}"\ntoken = "{token}"\n')
    out.append(f'[[readers]]\nname = "Văn phòng UBND tỉnh"\ntoken = "{READER_TOKEN}"\n')
    return "\n".join(out)


@dataclass
class CentralProcess:
    """A `queue-server central` subprocess on a fixed port (a restart keeps it)."""

    dsn: str
    centers_file: Path
    port: int
    log_path: Path
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, verify: Any = True) -> "CentralProcess":
        log = open(self.log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "queue_server", "central", "--database", self.dsn,
             "--centers", str(self.centers_file), "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "2", "--threads", "4", *self.extra],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"central exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1, verify=verify).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                time.sleep(0.1)
        raise RuntimeError("central did not become healthy in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def central_factory(postgres: Postgres, tmp_path: Path) -> Iterator[Any]:
    started: list[CentralProcess] = []

    def make(*extra: str, start: bool = True, verify: Any = True) -> CentralProcess:
        centers = tmp_path / f"centers{len(started)}.toml"
        centers.write_text(centers_toml(), encoding="utf-8")
        central = CentralProcess(postgres.create_database(), centers, free_port(),
                                 tmp_path / f"central{len(started)}.log", list(extra))
        if "--certfile" in extra:
            central.scheme = "https"
        started.append(central)
        return central.start(verify=verify) if start else central

    yield make
    for c in started:
        c.stop()


ONE_FIELD_CENTER = """
[center]
name = "Trung tâm Phục vụ hành chính công {cid}"

[[fields]]
id = "ho-tich"
name = "Hộ tịch"
start = 1001

[[fields]]
id = "dat-dai"
name = "Đất đai"
start = 2001

[[counters]]
number = 1
fields = ["ho-tich", "dat-dai"]

[[counters]]
number = 2
fields = ["dat-dai", "ho-tich"]

[reporting]
url = "{url}"
center_id = "{cid}"
token = "{token}"
interval_seconds = 1
heartbeat_seconds = 10
max_backoff_seconds = 5
{extra}
"""


def center_config(tmp_path: Path, cid: str, url: str | None, extra: str = "",
                  token: str | None = None) -> Path:
    """The two-field center `cid` reporting to `url` (url None: no [reporting] section)."""
    path = tmp_path / f"{cid}.toml"
    text = ONE_FIELD_CENTER.format(cid=cid, url=url, token=token or CENTER_TOKENS[cid], extra=extra)
    if url is None:
        text = text.split("[reporting]")[0]
    path.write_text(text, encoding="utf-8")
    return path


def start_center(tmp_path: Path, cid: str, url: str, extra: str = "", env: dict[str, str] | None = None,
                 token: str | None = None) -> HubProcess:
    config = center_config(tmp_path, cid, url, extra, token)
    return HubProcess(tmp_path / f"data-{cid}", free_port(), ["--demo", "--config", str(config)],
                      env=env or {}).start()
