"""scripts/install-pi.sh against a scratch root (`--root`): the files, users, groups and
permissions a fresh Raspberry Pi OS gets; a second run changes nothing; `--uninstall` removes the
software and keeps the data and the config; the installed release runs (offline, from the
wheelhouse)."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

from tests.deploy.conftest import INSTALL, UNITS, install, make_scratch_root, needs_root

pytestmark = needs_root


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    """Every path under `root` with its type, mode, owner, size, mtime and content hash."""
    seen: dict[str, tuple[object, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                detail: object = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                detail = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                detail = None
            seen[str(path.relative_to(root))] = (st.st_mode, st.st_uid, st.st_gid, st.st_size,
                                                 st.st_mtime_ns, detail)
    return seen


def accounts(root: Path, name: str) -> dict[str, list[str]]:
    return {line.split(":")[0]: line.split(":") for line in (root / "etc" / name).read_text().splitlines()}


def owner(path: Path) -> tuple[int, int, str]:
    st = path.stat()
    return st.st_uid, st.st_gid, oct(stat.S_IMODE(st.st_mode))


def test_install_twice_changes_nothing_and_uninstall_keeps_data(tmp_path: Path, wheelhouse: Path) -> None:
    root = make_scratch_root(tmp_path / "root")
    first = install(root, wheelhouse, "--screen", "tv")
    assert "release quay_so-" in first.stdout and "user quayso" in first.stdout

    # users and groups: a system user with a shell that refuses logins, in lp, dialout and gpio
    # only; the browsers' user in no group at all
    passwd, group = accounts(root, "passwd"), accounts(root, "group")
    hub = passwd["quayso"]
    uid, gid = int(hub[2]), int(hub[3])
    assert uid < 1000 and hub[5] == "/var/lib/quay-so" and hub[6] == "/usr/sbin/nologin"
    assert group["quayso"][2] == str(gid)
    member_of = {g for g, fields in group.items() if "quayso" in fields[3].split(",")}
    assert member_of == {"lp", "dialout", "gpio"}
    assert not any("quayso-screen" in fields[3].split(",") for fields in group.values())
    assert group["dialout"][3].split(",") == ["pi", "quayso"]  # the image's members are kept

    # folders and files: data private to the hub, config readable by it, never writable
    assert owner(root / "var/lib/quay-so") == (uid, gid, "0o750")
    assert owner(root / "var/lib/quay-so/backups") == (uid, gid, "0o750")
    assert owner(root / "etc/quay-so") == (0, gid, "0o750")
    assert owner(root / "etc/quay-so/center.toml") == (0, gid, "0o640")
    assert owner(root / "etc/quay-so/screens.env") == (0, 0, "0o600")
    assert (root / "etc/quay-so/center.toml").read_text() == (root / "etc/quay-so/center.toml.example").read_text()
    assert owner(root / "opt/quay-so/.venv/bin/queue-server")[:2] == (0, 0)
    for unit in UNITS:
        assert owner(root / "etc/systemd/system" / unit) == (0, 0, "0o644")
    for path in ("etc/systemd/journald.conf.d/quay-so.conf", "etc/udev/rules.d/60-quay-so.rules",
                 "etc/pam.d/quay-so-screen"):
        assert owner(root / path) == (0, 0, "0o644")
    wants = {p.parent.name + "/" + p.name: os.readlink(p) for p in (root / "etc/systemd/system").glob("*.wants/*")}
    assert wants == {
        "multi-user.target.wants/queue-server.service": "/etc/systemd/system/queue-server.service",
        "timers.target.wants/queue-server-backup.timer": "/etc/systemd/system/queue-server-backup.timer",
        "graphical.target.wants/tv-browser.service": "/etc/systemd/system/tv-browser.service",
    }  # no bridge: the example config has no [bridge]

    # a second run: not one byte, mode, owner or time changes
    before = snapshot(root)
    second = install(root, wheelhouse, "--screen", "tv")
    assert second.stdout.strip() == "install-pi: nothing to change"
    assert snapshot(root) == before

    # the installed release runs, from the venv made offline (--no-index) out of the wheelhouse
    check = subprocess.run([str(root / "opt/quay-so/.venv/bin/queue-server"), "--config",
                            str(root / "etc/quay-so/center.toml"), "--check"], capture_output=True, text=True)
    assert check.returncode == 0 and ": OK (" in check.stdout, check.stderr

    # the technician's edits and the center's data survive an uninstall (and a reinstall)
    config = root / "etc/quay-so/center.toml"
    config.write_text(config.read_text().replace("Kim Thành", "Kim Thành (đã sửa)"))
    (root / "var/lib/quay-so/queue.sqlite3").write_bytes(b"the center's data")
    (root / "var/lib/quay-so/backups/queue-20261201T023000.sqlite3").write_bytes(b"a backup")
    gone = subprocess.run(["bash", str(INSTALL), "--root", str(root), "--uninstall"],
                          capture_output=True, text=True)
    assert gone.returncode == 0, gone.stderr
    assert not (root / "opt/quay-so").exists()
    assert not list((root / "etc/systemd/system").glob("*.service"))
    assert not list((root / "etc/systemd/system").glob("*.timer"))
    assert not list((root / "etc/systemd/system").glob("*.wants/*"))
    assert not (root / "etc/udev/rules.d/60-quay-so.rules").exists()
    assert not (root / "etc/systemd/journald.conf.d/quay-so.conf").exists()
    assert "(đã sửa)" in config.read_text()
    assert (root / "var/lib/quay-so/queue.sqlite3").read_bytes() == b"the center's data"
    assert (root / "var/lib/quay-so/backups/queue-20261201T023000.sqlite3").exists()
    assert "quayso" in accounts(root, "passwd")  # its files still belong to it
    again = install(root, wheelhouse)
    assert "(đã sửa)" in config.read_text() and "center.toml (edit it" not in again.stdout


def test_bad_options_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    root = make_scratch_root(tmp_path / "root")
    before = snapshot(root)
    for options in (["--screen", "projector"], ["--frobnicate"], ["--root", str(tmp_path / "missing")]):
        result = subprocess.run(["bash", str(INSTALL), "--root", str(root), *options],
                                capture_output=True, text=True)
        assert result.returncode != 0
        assert "install-pi:" in result.stderr
    assert snapshot(root) == before
