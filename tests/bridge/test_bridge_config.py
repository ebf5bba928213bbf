"""The bridge's TOML sections: every refusal names the key and its line (docs/configuration.md),
through firmware_bridge.config, through `firmware-bridge --check` and through the hub's own loader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from firmware_bridge.config import BridgeConfigError, parse_bridge_config
from queue_server.config import ConfigError, parse_config
from tests.conftest import ONE_COUNTER_CENTER, ROOT

GOOD = ONE_COUNTER_CENTER + """
[bridge]
token = "secret"

[[bridge.buses]]
name = "bus1"
port = "/dev/ttyUSB0"

[[bridge.devices]]
bus = "bus1"
unit = 1
kind = "counter-terminal"
counter = 1

[[bridge.devices]]
bus = "bus1"
unit = 2
kind = "numeric-led"
counter = 1
function = 16
"""


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [i for i, line in enumerate(text.splitlines(), start=1) if line.strip() == needle]
    return lines[occurrence - 1]


def test_a_good_file_gives_every_default() -> None:
    cfg = parse_bridge_config(GOOD)
    assert cfg.hub == "http://127.0.0.1:8080" and cfg.token == "secret"
    assert cfg.buses[0].baud == 9600 and cfg.buses[0].parity == "N" and cfg.buses[0].timeout_margin_ms == 50
    term, led = cfg.devices
    assert term.id == "bus1/1" and term.options["finish_outcome"] == "received"
    assert led.options == {"register": 0, "function": 16, "digits": 4, "idle_value": 0, "error_value": -1}
    assert parse_bridge_config(GOOD, hub="http://10.0.0.2:8080/", token="t").hub == "http://10.0.0.2:8080"
    parse_config(GOOD)  # the hub accepts the section


@pytest.mark.parametrize(("change", "key", "needle", "words"), [
    (("unit = 2", "unit = 1"), "bridge.devices[1].unit", "unit = 1", "address clash"),
    (('bus = "bus1"\nunit = 2', 'bus = "bus9"\nunit = 2'), "bridge.devices[1].bus", 'bus = "bus9"', "unknown bus"),
    (("function = 16", "function = 5"), "bridge.devices[1].function", "function = 5", "one of 6, 16"),
    (("function = 16", "colour = 16"), "bridge.devices[1].colour", "colour = 16", "unknown key"),
    (('kind = "numeric-led"', 'kind = "neon"'), "bridge.devices[1].kind", 'kind = "neon"', "must be one of"),
    (('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nbaud = 14400'), "bridge.buses[0].baud", "baud = 14400", "9600"),
    (("counter = 1\nfunction", "counter = 7\nfunction"), "bridge.devices[1].counter", "counter = 7", "no [[counters]]"),
    (("unit = 2", "unit = 248"), "bridge.devices[1].unit", "unit = 248", "between 1 and 247"),
    (('token = "secret"', 'token = "secret"\npoll_ms = "fast"'), "bridge.poll_ms", 'poll_ms = "fast"', "integer"),
    (('token = "secret"', 'token = "secret"\naction_max_age_s = -1'), "bridge.action_max_age_s",
     "action_max_age_s = -1", "between 0 and 86400"),
])
def test_bad_input_is_refused_with_key_and_line(change, key, needle, words) -> None:  # type: ignore[no-untyped-def]
    text = GOOD.replace(*change, 1)
    assert text != GOOD
    with pytest.raises(BridgeConfigError) as bad:
        parse_bridge_config(text, "center.toml")
    occurrence = 2 if needle == "unit = 1" else 1
    assert bad.value.key == key
    assert bad.value.line == line_of(text, needle, occurrence)
    assert words in str(bad.value) and f"line {bad.value.line}" in str(bad.value)
    with pytest.raises(ConfigError) as hub_side:  # the hub's loader says the same
        parse_config(text, "center.toml")
    assert hub_side.value.key == key and hub_side.value.line == bad.value.line


def test_a_second_bus_on_the_same_port_is_refused() -> None:
    text = GOOD.replace("[[bridge.devices]]", '[[bridge.buses]]\nname = "bus2"\nport = "/dev/ttyUSB0"\n\n[[bridge.devices]]', 1)
    with pytest.raises(BridgeConfigError, match="one master per bus"):
        parse_bridge_config(text)


def test_the_old_counter_devices_table_is_refused_with_its_line() -> None:
    text = ONE_COUNTER_CENTER + "devices = { led = 11 }\n"
    with pytest.raises(ConfigError) as bad:
        parse_config(text, "center.toml")
    assert bad.value.key == "counters[0].devices" and "[[bridge.devices]]" in str(bad.value)
    assert bad.value.line == line_of(text, "devices = { led = 11 }")


def test_firmware_bridge_check_names_the_key_and_line(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "firmware_bridge.cli", "--config", str(good), "--check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    bad = tmp_path / "bad.toml"
    text = GOOD.replace("unit = 2", "unit = 1")
    bad.write_text(text, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "firmware_bridge.cli", "--config", str(bad), "--check"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert f"line {line_of(text, 'unit = 1', 2)}" in run.stderr and "bridge.devices[1].unit" in run.stderr


def test_the_default_data_folder_is_systemds_state_directory_else_the_hubs_data(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The installed unit (StateDirectory=quay-so/bridge) lets the bridge write only there.
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/quay-so/bridge")
    assert parse_bridge_config(GOOD).data == Path("/var/lib/quay-so/bridge")
    monkeypatch.delenv("STATE_DIRECTORY")
    on_pi = GOOD.replace("[bridge]\n", '[server]\ndata = "/var/lib/quay-so"\n\n[bridge]\n', 1)
    assert parse_bridge_config(on_pi).data == Path("/var/lib/quay-so/bridge")
    assert parse_bridge_config(GOOD).data == Path("data/bridge")
