"""A throwaway PostgreSQL cluster from Debian's binaries (/usr/lib/postgresql/<version>/bin): initdb
into a temp folder, served on a unix socket in that folder and a free port (no TCP listener), stopped
and removed at the end — no system service. initdb refuses to run as root, so under root (CI) the
cluster belongs to `nobody` (setpriv). Used by the reporting tests and bench/ingest_benchmark.py."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg


class PostgresMissing(RuntimeError):
    """Debian's postgresql package is not installed."""


@dataclass
class Postgres:
    """A running throwaway cluster; `dsn(db)` names one database on it."""

    socket_dir: Path
    port: int

    def dsn(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@/{db}?host={self.socket_dir}&port={self.port}"

    def create_database(self) -> str:
        """A fresh, empty database; its DSN."""
        name = f"central_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise PostgresMissing("PostgreSQL is not installed: run `make system` (scripts/setup-system.sh "
                              "installs Debian's postgresql)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_cluster(max_connections: int = 300, fsync: bool = False) -> Iterator[Postgres]:
    """Start a cluster, yield it, stop and delete it. `fsync=False` (tests): a crash of the test
    machine loses the cluster, which is thrown away anyway."""
    bindir = _bindir()
    base = Path(tempfile.mkdtemp(prefix="quayso-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(base, nobody.pw_uid, nobody.pw_gid)
        as_user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]
    data = base / "data"
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "HOME": str(base)}
    try:
        subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                        "--auth=trust", "-E", "UTF8", "--no-instructions"],
                       check=True, capture_output=True, env=env, cwd=base)
        options = (f"-k {base} -p {port} -c listen_addresses='' -c max_connections={max_connections}"
                   f" -c fsync={'on' if fsync else 'off'}")
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-o", options,
                        "-l", str(base / "postgres.log"), "-w", "start"],
                       check=True, capture_output=True, env=env, cwd=base)
        yield Postgres(base, port)
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, env=env, cwd=base)
        shutil.rmtree(base, ignore_errors=True)
