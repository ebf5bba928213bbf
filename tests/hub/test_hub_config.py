"""Config files: every bad value is refused with the key and the line named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from queue_server.config import ConfigError, parse_config
from tests.conftest import center_toml, counter_toml, field_toml

GOOD = center_toml('[hours]\nmon = ["07:30-11:30", "13:30-17:00"]\ncutoff_minutes = 15',
                   field_toml("ho-tich"), field_toml("chung-thuc"), counter_toml(1, ["ho-tich", "chung-thuc"]))


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "center.toml")
    return err.value


def test_good_config_parses() -> None:
    cfg = parse_config(GOOD)
    assert list(cfg.rules.fields) == ["ho-tich", "chung-thuc"]
    assert cfg.rules.counters[1].fields == ("ho-tich", "chung-thuc")
    assert cfg.rules.hours.cutoff_minutes == 15 and not cfg.rules.hours.always_open


@pytest.mark.parametrize(
    ("old", "new", "key", "line", "words"),
    [
        ('start = 2001', 'start = "2001"', "fields[1].start", 17, "must be integer"),
        ('start = 1001', 'start = -5', "fields[0].start", 12, "between"),
        ('fields = ["ho-tich", "chung-thuc"]', 'fields = ["ho-tich", "dat-dai"]', "counters[0].fields", 22, "unknown field 'dat-dai'"),
        ('cutoff_minutes = 15', 'cutoff_minutes = 15\nlunch = 3', "hours.lunch", 8, "unknown key"),
        ('"13:30-17:00"', '"13:30-12:00"', "hours.mon", 6, "ends before it starts"),
        ('timezone = "Asia/Ho_Chi_Minh"', 'timezone = "Mars/Olympus"', "center.timezone", 3, "unknown time zone"),
        ('id = "chung-thuc"', 'id = "ho-tich"', "fields[1].id", 15, "duplicate"),
        ('number = 1', 'number = 0', "counters[0].number", 20, "between"),
    ],
)
def test_bad_value_names_key_and_line(old: str, new: str, key: str, line: int, words: str) -> None:
    assert old in GOOD
    err = error_of(GOOD.replace(old, new, 1))
    assert err.key == key
    assert err.line == line, str(err)
    assert words in str(err) and "center.toml" in str(err)


def test_syntax_error_gives_line() -> None:
    err = error_of(GOOD.replace('name = "Hộ tịch"', 'name = "Hộ tịch'))
    assert "line 11" in str(err)


def test_missing_sections() -> None:
    assert error_of('[[fields]]\nid="a"\nname="A"').key == "center"
    assert error_of('[center]\nname = "X"\n').key == "fields"


def test_unknown_section() -> None:
    err = error_of(GOOD + "\n[printerz]\nkind = 1\n")
    assert err.key == "printerz" and err.line == 24


def test_hub_and_bridge_share_one_reader_and_keep_their_own_wording() -> None:
    """The hub's loader and the bridge's parser check with one TOML reader
    (firmware_bridge/toml_reader.py), each keeping its own words: the hub echoes a number as it
    was written and names types plainly, the bridge names the float it took and types in words."""
    from firmware_bridge.config import BridgeConfigError, parse_bridge_config

    err = error_of(GOOD.replace("cutoff_minutes = 15", "cutoff_minutes = 15\n\n[queue]\ndefault_service_minutes = 0"))
    assert str(err) == "center.toml, line 10: queue.default_service_minutes: must be between 0.5 and 240, got 0"
    bridge = GOOD + '\n[bridge]\n\n[[bridge.buses]]\nname = "bus1"\nport = "/dev/ttyUSB0"\nbackoff_max_s = 0\n'
    line = bridge.splitlines().index("backoff_max_s = 0") + 1
    with pytest.raises(BridgeConfigError) as bad:
        parse_bridge_config(bridge, "center.toml")
    assert str(bad.value) == f"center.toml, line {line}: bridge.buses[0].backoff_max_s: must be between 1 and 600, got 0.0"
    assert str(error_of(bridge)) == str(bad.value)  # the hub's loader passes the bridge's words on
    with pytest.raises(BridgeConfigError) as bad:
        parse_bridge_config(bridge.replace("backoff_max_s = 0", 'retries = "2"'), "center.toml")
    assert str(bad.value) == f"center.toml, line {line}: bridge.buses[0].retries: must be an integer, got '2'"


def test_cli_check_reports_error_and_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace("start = 1001", "start = 1.5"), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "queue_server", "--config", str(bad), "--check"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    assert "line 12: fields[0].start: must be integer" in run.stderr
    good = tmp_path / "good.toml"
    good.write_text(GOOD, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "queue_server", "--config", str(good), "--check"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0 and "2 fields, 1 counters" in run.stdout


def test_example_config_in_repo_is_valid() -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = parse_config((root / "config" / "example.toml").read_text(encoding="utf-8"), "example.toml")
    assert cfg.rules.fields and cfg.staff
    assert "bridge" not in cfg.sections  # commented out: no bridge (and no known token) by default


def test_the_examples_rs485_block_uncommented_is_a_valid_center_for_hub_and_bridge(tmp_path: Path) -> None:
    """The commented RS485 block of config/example.toml, switched on as its comment says, is
    accepted by the hub's loader and by `firmware-bridge --check` (one parser for both)."""
    root = Path(__file__).resolve().parents[2]
    text = (root / "config" / "example.toml").read_text(encoding="utf-8")
    start = text.index("# [[devices]]\n# id = \"rs485-bridge\"")
    end = text.index("# end of RS485 devices")
    block = "\n".join(line[2:] if line.startswith("# ") else "" for line in text[start:end].splitlines())
    enabled = text[:start] + block + "\n" + text[end:]
    parse_config(enabled, "example.toml")  # raises ConfigError (key and line) on a bad bridge key
    assert [line for line in enabled.splitlines() if line.startswith("kind = ")][-4:] == [
        'kind = "counter-terminal"              # LED number + staff keypad', 'kind = "rating-box"',
        'kind = "numeric-led"                   # an off-the-shelf Modbus LED display', 'kind = "lobby-board"']
    path = tmp_path / "center.toml"
    path.write_text(enabled, encoding="utf-8")
    run = subprocess.run([str(Path(sys.executable).parent / "firmware-bridge"), "--config", str(path), "--check"],
                         capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr


def test_cli_check_refuses_what_start_up_would(tmp_path: Path) -> None:
    """--check runs the kiosk, printer and GPIO checks too, without touching hardware."""
    for extra, words in [
        ('[gpio]\npin_factory = "mock"\nbuttons = [{pin = 17, field = "dat-dai"}]\n',
         "gpio.buttons[0].field: unknown field 'dat-dai'"),
        ('[printer]\nkind = "laser"\n', "printer.kind"),
        ('[printer]\nkind = "network"\n', "'host' is required"),
    ]:
        path = tmp_path / "center.toml"
        path.write_text(GOOD.replace("[[fields]]", extra + "\n[[fields]]", 1), encoding="utf-8")
        run = subprocess.run([sys.executable, "-m", "queue_server", "--config", str(path), "--check"],
                             capture_output=True, text=True, timeout=30)
        assert run.returncode == 2 and words in run.stderr, (extra, run.stderr)
