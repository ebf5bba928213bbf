"""Fixtures of the deployment tests: a wheelhouse made by the documented command, and scratch
roots that `scripts/install-pi.sh --root` installs into (a folder with its own etc/passwd and
etc/group, as on a fresh Raspberry Pi OS image)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-pi.sh"
UPGRADE = ROOT / "scripts" / "upgrade-pi.sh"
UNITS = ("queue-server.service", "firmware-bridge.service", "kiosk-browser.service",
         "tv-browser.service", "queue-server-backup.service", "queue-server-backup.timer")

# The base system's own accounts: those a fresh image has before the script runs.
PASSWD = "root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000:,,,:/home/pi:/bin/bash\n"
GROUP = "root:x:0:\nlp:x:7:\ndialout:x:20:pi\nsudo:x:27:pi\nvideo:x:44:pi\npi:x:1000:\n"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0,
    reason="install-pi.sh runs as root (useradd --prefix and chown into the scratch root)")


def venv_python() -> str:
    """The Python the installed venv is made from: Debian's, as on a Pi, when it has venv."""
    debian = Path("/usr/bin/python3")
    if debian.exists() and subprocess.run([str(debian), "-c", "import ensurepip, venv"],
                                          capture_output=True).returncode == 0:
        return str(debian)
    return sys.executable


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`python3 -m pip wheel --wheel-dir DIR .` — the command docs/install.md gives for an
    offline install (needs PyPI, as `make venv` does)."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    subprocess.run([venv_python(), "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(folder), str(ROOT)],
                   check=True, cwd=ROOT)
    return folder


def make_scratch_root(folder: Path) -> Path:
    """An empty root file system with the base image's passwd, group, shadow and gshadow."""
    etc = folder / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    (etc / "shadow").write_text("".join(f"{line.split(':')[0]}:*:19000:0:99999:7:::\n"
                                        for line in PASSWD.splitlines()))
    (etc / "gshadow").write_text("".join(f"{line.split(':')[0]}:*::{line.split(':')[3]}\n"
                                         for line in GROUP.splitlines()))
    for name in ("shadow", "gshadow"):
        (etc / name).chmod(0o640)
    return folder


def install(root: Path, wheelhouse: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/install-pi.sh against `root`; fails the test when it fails."""
    result = subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--wheelhouse", str(wheelhouse),
         "--python", venv_python(), *options],
        capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def add_system_files(root: Path) -> None:
    """What the base image holds and `systemd-analyze verify --root` looks at: systemd's own
    units (targets the ours are wanted by) and the programs our units run, copied from this
    machine's Debian (no symlinks: verify resolves them inside the root)."""
    units = root / "usr/lib/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    for unit in Path("/usr/lib/systemd/system").iterdir():
        if unit.is_file() and not unit.is_symlink():
            shutil.copy(unit, units / unit.name)
    for program in ("/bin/sh", "/usr/bin/cage", "/usr/bin/chromium", "/usr/bin/curl"):
        target = root / program.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if Path(program).exists():
            shutil.copy(Path(program).resolve(), target)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path) -> Path:
    """A scratch root with the release installed (a kiosk Pi), shared by the session's tests (each leaves it installed)."""
    if os.geteuid() != 0:
        pytest.skip("install-pi.sh runs as root")
    root = make_scratch_root(tmp_path_factory.mktemp("pi") / "root")
    install(root, wheelhouse, "--screen", "kiosk")
    return root
