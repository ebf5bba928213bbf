"""Every bad config value names file, line and key (docs/configuration.md), including those that
are checked after the file is parsed: `[reporting]` (forwarder.py), `[kiosk]`, `[printer]`,
`[[printers]]` and `[gpio]` (kiosk/runtime.py), `[voice]` (app.py). These used to print only file
and key (`center.toml: reporting.token: must be at least 16 characters`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from queue_server.demo import demo_config_text
from tests.conftest import ROOT, center_toml, counter_toml, field_toml, free_port

TOKEN = 'token = "0123456789abcdef"'


# a center without [printer] and [gpio] (the demo's config has both, and a table is declared once)
PLAIN = center_toml(field_toml("ho-tich"), counter_toml(1, ["ho-tich"]))


def _write(tmp_path: Path, extra: str) -> tuple[Path, str]:
    """The demo center's config (its [[devices]] too) with `extra` after it, or PLAIN when
    `extra` declares a table the demo's config has."""
    demo = demo_config_text()
    base = PLAIN if extra.splitlines()[0] in demo.splitlines() else demo
    text = base + "\n" + extra
    path = tmp_path / "center.toml"
    path.write_text(text, encoding="utf-8")
    return path, text


def _line(text: str, marker: str) -> int:
    """The number (1-based) of the last line of `text` that reads `marker`."""
    return max(i for i, line in enumerate(text.splitlines(), start=1) if line == marker)


@pytest.mark.parametrize(("extra", "key", "marker", "words"), [
    (f'[reporting]\nurl = "http://10.0.0.5:8090"\ncenter_id = "xa-1"\n{TOKEN}\n',
     "reporting.url", 'url = "http://10.0.0.5:8090"', "loopback"),
    ('[reporting]\nurl = "https://baocao.example.gov.vn"\ncenter_id = "xa-1"\ntoken = "short"\n',
     "reporting.token", 'token = "short"', "at least 16 characters"),
    (f'[reporting]\nurl = "ftp://127.0.0.1/"\ncenter_id = "xa-1"\n{TOKEN}\n',
     "reporting.url", 'url = "ftp://127.0.0.1/"', "https://"),
    (f'[reporting]\nurl = "https://baocao.example.gov.vn"\n{TOKEN}\n',  # missing: its table's line
     "reporting.center_id", "[reporting]", "is required"),
    ('[reporting]\ncenter_id = "xa-1"\n', "reporting.url", "[reporting]", "is required"),
    ('[printer]\nkind = "network"\nhost = "10.0.0.9"\nsimulate = "paper_out"\n',
     "printer.simulate", 'simulate = "paper_out"', 'only applies to kind = "simulated"'),
    ('[printer]\nkind = "laser"\n', "printer.kind", 'kind = "laser"', "laser"),
    ('[[printers]]\nid = "default"\n', "printers[0].id", 'id = "default"', "used twice"),
    ('[[printers]]\nid = "b"\ndevices = ["ghost"]\n', "printers[0].devices", 'devices = ["ghost"]',
     "not a [[devices]] id"),
    ('[[printers]]\nid = "b"\ndevices = ["demo-device"]\n\n[[printers]]\nid = "c"\n'
     'devices = ["demo-device"]\n', "printers[1].devices", 'devices = ["demo-device"]', "already prints"),
    ('[[printers]]\nid = "b"\npoll_seconds = -1\n', "printers[0].poll_seconds", "poll_seconds = -1", ">= 0"),
    # an inline table: placed on the line of the key that holds it
    ('[gpio]\npin_factory = "mock"\nbuttons = [{pin = 17, field = "dat-dai"}]\n', "gpio.buttons[0].field",
     'buttons = [{pin = 17, field = "dat-dai"}]', "unknown field 'dat-dai'"),
])
def test_check_names_the_line_of_a_value_checked_after_parsing(tmp_path: Path, extra: str, key: str,
                                                               marker: str, words: str) -> None:
    path, text = _write(tmp_path, extra)
    run = subprocess.run([sys.executable, "-m", "queue_server", "--demo", "--config", str(path), "--check"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert f"{path}, line {_line(text, marker)}: {key}: " in run.stderr, run.stderr
    assert words in run.stderr, run.stderr


@pytest.mark.parametrize("how", ["--check", "start"])
def test_a_bad_voice_template_names_its_line(tmp_path: Path, how: str) -> None:
    """`[voice] template` is refused, with its line, by --check (it used to pass --check and
    stop the hub's worker at start, exit 3) and at start."""
    path, text = _write(tmp_path, '[voice]\nengine = "fake"\ntemplate = "Mời số {number} đến {quay}"\n')
    mode = ["--check"] if how == "--check" else ["--port", str(free_port()), "--data", str(tmp_path / "data")]
    run = subprocess.run([sys.executable, "-m", "queue_server", "--demo", "--config", str(path), *mode],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr  # at start too: before any worker is forked
    line = _line(text, 'template = "Mời số {number} đến {quay}"')
    assert f"{path}, line {line}: voice.template: unknown placeholder {{quay}}" in run.stderr, run.stderr


def test_a_config_built_without_its_text_still_names_the_key() -> None:
    """Tables checked without a file (the browser's settings, settings.py) have no lines: the
    refusal names file and key, as before, and no wrong line."""
    import tomllib

    from queue_server.config import config_from_tables
    from queue_server.forwarder import settings_from_config

    tables = tomllib.loads(demo_config_text() + '\n[reporting]\nurl = "https://x.example"\n'
                                                'center_id = "xa-1"\ntoken = "short"\n')
    with pytest.raises(Exception) as err:
        settings_from_config(config_from_tables(tables, "browser settings"))
    assert str(err.value) == "browser settings: reporting.token: must be at least 16 characters (a shared secret)"
