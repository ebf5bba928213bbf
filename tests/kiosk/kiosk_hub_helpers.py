"""Helpers for the kiosk tests that run a real hub: its config file and its event log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiosk.fake_printer import FakePrinter


# --- hubs with a kiosk config, and their data -----------------------------------------------

DEMO_KIOSK = '[kiosk]\npublic_issuing = false\n'
DEMO_PRINTER = '[printer]\nkind = "simulated"\n'


def write_center(folder: Path, printer: str = DEMO_PRINTER, kiosk: str = DEMO_KIOSK,
                 extra: str = "", replace: dict[str, str] | None = None,
                 name: str = "center.toml") -> Path:
    """The demo center's config with its [printer] / [kiosk] sections (and any other text in
    `replace`) replaced, `extra` appended."""
    from queue_server.demo import demo_config_text

    text = demo_config_text()
    assert DEMO_KIOSK in text and DEMO_PRINTER in text
    text = text.replace(DEMO_KIOSK, kiosk).replace(DEMO_PRINTER, printer) + extra
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def network_printer(fake: FakePrinter, **extra: Any) -> str:
    lines = ['[printer]', 'kind = "network"', f'host = "{fake.host}"', f"port = {fake.port}",
             "status_timeout = 0.3", "poll_seconds = 0"]
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def ticket_events(data: Path, ticket_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(kind, data) of the hub's event log, read-only, beside the running hub."""
    import json
    import sqlite3

    db = sqlite3.connect(f"file:{data / 'queue.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        if ticket_id is None:
            rows = db.execute("SELECT kind, data FROM events ORDER BY id").fetchall()
        else:
            rows = db.execute("SELECT kind, data FROM events WHERE ticket_id = ? ORDER BY id",
                              (ticket_id,)).fetchall()
    finally:
        db.close()
    return [(kind, json.loads(raw)) for kind, raw in rows]



def ticket_id_by_number(data: Path, number: str) -> str:
    """Today's ticket with this number (tests use a field of their own, so it is unique)."""
    import sqlite3

    db = sqlite3.connect(f"file:{data / 'queue.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        (row,) = db.execute("SELECT id FROM tickets WHERE number = ?", (number,)).fetchall()
    finally:
        db.close()
    return str(row[0])


def shared_hub(tmp_path_factory: Any, *args: str) -> Any:
    """A hub for a whole test module (tests there use fields of their own)."""
    from tests.conftest import HubProcess, free_port

    return HubProcess(tmp_path_factory.mktemp("hub") / "data", free_port(), list(args)).start()
