"""scripts/upgrade-pi.sh on an installed scratch root: it backs the database up first, installs
the release, migrates a database of the first released schema and keeps every row."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from queue_server.backup import check_database
from queue_server.storage import SCHEMA_VERSION
from tests.deploy.conftest import UPGRADE, needs_root, venv_python
from tests.deploy.test_backup import first_release_database

pytestmark = needs_root


def test_upgrade_backs_up_then_migrates_and_keeps_the_data(installed: Path, wheelhouse: Path) -> None:
    data = installed / "var/lib/quay-so"
    for leftover in data.glob("queue.sqlite3*"):
        leftover.unlink()
    ids = first_release_database(data / "queue.sqlite3")
    result = subprocess.run(["bash", str(UPGRADE), "--root", str(installed), "--wheelhouse", str(wheelhouse),
                             "--python", venv_python()], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "upgrade-pi: done" in result.stdout
    saved = sorted((data / "backups").glob("queue-*-pre-upgrade.sqlite3"))
    assert len(saved) == 1
    assert check_database(saved[0]) == 1  # taken before the migration
    con = sqlite3.connect(data / "queue.sqlite3")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {r[0] for r in con.execute("SELECT id FROM tickets")} == set(ids.values())
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()


def test_upgrade_without_an_installed_release_stops_at_once(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(UPGRADE), "--root", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and "no installed release" in result.stderr
    assert list(tmp_path.iterdir()) == []
