"""`queue-server doctor` against a healthy demo and against each broken part: it names the right
problem, with its fix, in Vietnamese or English, and exits 1 on a problem (0 on warnings alone).

Broken for real where the machine allows it (a bad config, a printer nobody answers for, a
missing serial port, a damaged database, a hub that is down); the machine's own state that a test
cannot change (the clock's NTP state, the system fonts, a full disk) comes through `Machine`."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from queue_server import doctor
from queue_server.doctor import PROBLEM, WARNING, Machine
from tests.conftest import ROOT, HubProcess, free_port

DEMO = (ROOT / "queue_server/demo.toml").read_text(encoding="utf-8")


def center(tmp_path: Path, extra: str = "", port: int | None = None, base: str = DEMO) -> Path:
    path = tmp_path / "center.toml"
    path.write_text(base + f"\n[server]\nport = {port or free_port()}\n" + extra, encoding="utf-8")
    return path


def healthy_machine(**changes: object) -> Machine:
    """This machine as it is, with a synchronised clock and the center's time zone."""
    base = dict(clock_synchronized=lambda: True, timezone=lambda: "Asia/Ho_Chi_Minh",
                sound_cards=lambda: ["0 [vc4hdmi0 ]: vc4-hdmi - vc4-hdmi-0"])
    base.update(changes)
    return Machine(**base)  # type: ignore[arg-type]


def diagnose(config: Path, data: Path, machine: Machine | None = None) -> dict[str, list[doctor.Finding]]:
    found: dict[str, list[doctor.Finding]] = {}
    for f in doctor.Doctor(config, data, machine or healthy_machine()).run():
        found.setdefault(f.code, []).append(f)
    return found


def wrong(found: dict[str, list[doctor.Finding]]) -> dict[str, str]:
    return {code: fs[0].severity for code, fs in found.items() if fs[0].severity in (PROBLEM, WARNING)}


@pytest.fixture
def demo_hub(tmp_path: Path) -> tuple[Path, Path]:
    port = free_port()
    config = center(tmp_path, port=port)
    hub = HubProcess(tmp_path / "data", port, ["--demo", "--config", str(config)]).start()
    yield config, hub.data
    hub.stop()


def test_a_healthy_demo_has_nothing_wrong(demo_hub: tuple[Path, Path]) -> None:
    config, data = demo_hub
    found = diagnose(config, data)
    assert wrong(found) == {}
    for code in ("config_ok", "database_ok", "disk_ok", "clock_ok", "printer_ok", "fonts_ok", "hub_ok"):
        assert code in found, code


def test_the_command_on_a_healthy_demo_and_on_a_bad_config(demo_hub: tuple[Path, Path], tmp_path: Path) -> None:
    """What a technician sees: the real command, the machine as it is (this container's clock
    and sound may warn; warnings alone exit 0)."""
    config, data = demo_hub
    run = subprocess.run([sys.executable, "-m", "queue_server", "doctor", "--config", str(config), "--data", str(data)],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0, run.stdout
    assert "[LỖI]" not in run.stdout and "[OK] Cấu hình hợp lệ" in run.stdout and "0 lỗi" in run.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO.replace('start = 1001', 'start = "một nghìn"', 1), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "queue_server", "doctor", "--config", str(bad), "--data", str(data),
                          "--lang", "en"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 1
    assert "[PROBLEM] The config file is invalid:" in run.stdout and "fields" in run.stdout
    assert "Fix: Fix the config file" in run.stdout and "--check" in run.stdout


def test_bad_config_is_named_with_its_key(tmp_path: Path) -> None:
    config = center(tmp_path, base=DEMO.replace('[printer]\nkind = "simulated"', '[printer]\nkind = "laser"'))
    found = diagnose(config, tmp_path)
    assert wrong(found)["config_invalid"] == PROBLEM
    assert "printer" in found["config_invalid"][0].message_en and "--check" in found["config_invalid"][0].fix_en
    unreadable = diagnose(tmp_path / "missing.toml", tmp_path)
    assert "config_invalid" in unreadable and "cannot read" in unreadable["config_invalid"][0].message_en


def test_printer_offline_and_back(tmp_path: Path) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = center(tmp_path, extra=f'\n[[printers]]\nid = "tang-2"\nkind = "network"\nhost = "127.0.0.1"\nport = {port}\n')
    (tmp_path / "data").mkdir()
    offline = diagnose(config, tmp_path / "data")  # bound, not listening: connection refused
    assert wrong(offline).get("printer_unreachable") == PROBLEM
    problem = offline["printer_unreachable"][0]
    assert "tang-2" in problem.message and f"127.0.0.1:{port}" in problem.message_en
    assert "self-test page" in problem.fix_en and "máy in" in problem.fix
    listener.listen(1)
    try:
        online = diagnose(config, tmp_path / "data")
    finally:
        listener.close()
    assert "printer_unreachable" not in online and len(online["printer_ok"]) == 2


def test_full_disk(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    nearly_full = diagnose(center(tmp_path), tmp_path / "data", healthy_machine(free_bytes=lambda p: 12 * 2**20))
    assert wrong(nearly_full)["low_disk_space"] == PROBLEM
    assert "12 MB" in nearly_full["low_disk_space"][0].message and "journalctl --vacuum" in nearly_full["low_disk_space"][0].fix
    # the threshold is the hub's own ([server] min_free_mb): the real free space against a huge one
    strict = diagnose(center(tmp_path, extra="min_free_mb = 1000000\n"), tmp_path / "data")
    assert wrong(strict)["low_disk_space"] == PROBLEM


def test_missing_fonts(tmp_path: Path) -> None:
    (tmp_path / "fonts").mkdir()
    (tmp_path / "fonts/DejaVuSans.ttf").write_bytes(b"")
    found = diagnose(center(tmp_path), tmp_path, healthy_machine(font_dirs=lambda: [tmp_path / "fonts"]))
    assert wrong(found) == {"font_missing": PROBLEM, "database_missing": WARNING, "hub_not_running": WARNING}
    assert "DejaVuSans-Bold.ttf" in found["font_missing"][0].message and "fonts-dejavu-core" in found["font_missing"][0].fix


def test_unsynchronised_clock_and_other_time_zone(tmp_path: Path) -> None:
    found = diagnose(center(tmp_path), tmp_path,
                     healthy_machine(clock_synchronized=lambda: False, timezone=lambda: "Etc/UTC"))
    assert wrong(found)["clock_unsynchronized"] == WARNING
    assert "timedatectl" in found["clock_unsynchronized"][0].fix and "đồng bộ" in found["clock_unsynchronized"][0].message
    assert "set-timezone Asia/Ho_Chi_Minh" in found["timezone_mismatch"][0].fix_en


def test_serial_bus_gpio_voice_and_reporting(tmp_path: Path) -> None:
    """Parts read from tables other engineers own ([bridge], [reporting]: plain TOML here)."""
    closed = free_port()
    config = center(tmp_path, base=DEMO.replace('pin_factory = "mock"', "") + f'''
[reporting]
url = "http://127.0.0.1:{closed}"
center_id = "kim-thanh"
token = "t"

[bridge]
hub = "http://127.0.0.1:8080"
token = "x"
[[bridge.buses]]
name = "bus1"
port = "{tmp_path}/ttyUSB-unplugged"
baud = 9600
''')
    found = diagnose(config, tmp_path, healthy_machine(gpio_chips=lambda: [], which=lambda name: None))
    assert wrong(found)["serial_bus_missing"] == PROBLEM
    assert "bus1" in found["serial_bus_missing"][0].message and "quayso-rs485" in found["serial_bus_missing"][0].fix
    assert wrong(found)["reporting_unreachable"] == WARNING
    # in a release whose config knows [bridge] and [reporting], the GPIO and voice checks run too
    if "config_ok" in found:
        assert wrong(found)["gpio_missing"] == PROBLEM and wrong(found)["voice_missing"] == PROBLEM


def test_gpio_and_voice_on_a_box_without_them(tmp_path: Path) -> None:
    config = center(tmp_path, base=DEMO.replace('pin_factory = "mock"', ""))
    found = diagnose(config, tmp_path, healthy_machine(gpio_chips=lambda: [], which=lambda name: None,
                                                        sound_cards=lambda: []))
    assert wrong(found)["gpio_missing"] == PROBLEM and "[gpio]" in found["gpio_missing"][0].fix_en
    assert wrong(found)["voice_missing"] == PROBLEM and "espeak-ng" in found["voice_missing"][0].fix
    assert wrong(found)["no_sound_card"] == WARNING


def test_damaged_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    con = sqlite3.connect(data / "queue.sqlite3")
    con.execute("CREATE TABLE tickets (id)")
    con.execute("CREATE TABLE events (id)")
    con.executemany("INSERT INTO tickets VALUES (?)", [(str(i) * 50,) for i in range(500)])
    con.commit()
    con.close()
    raw = bytearray((data / "queue.sqlite3").read_bytes())
    raw[4096 + 3: 4096 + 5] = b"\x7f\xff"
    (data / "queue.sqlite3").write_bytes(bytes(raw))
    found = diagnose(center(tmp_path), data)
    assert wrong(found)["database_damaged"] == PROBLEM
    assert "queue-server restore" in found["database_damaged"][0].fix


def test_the_demo_of_make_run_has_no_config_file(tmp_path: Path) -> None:
    """`make run` starts `queue-server --demo --data data` (no config file): `doctor --demo` checks
    that center, its data folder `data` by default (here the current folder's), the hub on --port.
    Without --demo the doctor still asks for a config file, and says how to check the demo."""
    port = free_port()
    hub = HubProcess(tmp_path / "data", port, ["--demo"]).start()
    try:
        run = subprocess.run([sys.executable, "-m", "queue_server", "doctor", "--demo", "--port", str(port),
                              "--lang", "en"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "[PROBLEM]" not in run.stdout and "0 problem(s)" in run.stdout, run.stdout
        assert "[OK] The demo center's built-in config" in run.stdout
        assert f"The hub answers (http://127.0.0.1:{port}/healthz)" in run.stdout
        assert "No database" not in run.stdout and "There is no data folder" not in run.stdout
        found = diagnose(None, tmp_path / "data", healthy_machine())  # type: ignore[arg-type]
        assert found["config_missing"][0].severity == PROBLEM and "--demo" in found["config_missing"][0].fix_en
    finally:
        hub.stop()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run = subprocess.run([sys.executable, "-m", "queue_server", "doctor", "--demo", "--port", str(port),
                          "--lang", "en"], capture_output=True, text=True, cwd=elsewhere, timeout=60)
    assert run.returncode == 1 and "There is no data folder data." in run.stdout, run.stdout
    assert "The hub does not answer" in run.stdout


def test_the_demos_fixes_say_make_run_not_systemctl(tmp_path: Path) -> None:
    """`doctor --demo` checks what `make run` runs: no systemd unit there, so no finding may tell
    the user to `systemctl start queue-server`; each says how to start the demo instead (with
    the port, data folder and config it was given) and, without --port, how to point the doctor
    at a demo running elsewhere."""
    nobody = free_port()  # no hub answers here
    run = subprocess.run([sys.executable, "-m", "queue_server", "doctor", "--demo", "--port", str(nobody),
                          "--data", str(tmp_path / "nowhere"), "--lang", "en"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert "The hub does not answer" in run.stdout, run.stdout
    assert "systemctl" not in run.stdout and "install-pi" not in run.stdout, run.stdout
    assert f"Fix: Start the demo: make run PORT={nobody} DATA={tmp_path / 'nowhere'}" in run.stdout, run.stdout
    assert f"Run the demo once (it makes the folder): make run PORT={nobody}" in run.stdout, run.stdout

    (tmp_path / "data").mkdir()  # a data folder the demo never ran in; the port from the config
    config = center(tmp_path, port=nobody)
    run = subprocess.run([sys.executable, "-m", "queue_server", "doctor", "--demo", "--config", str(config),
                          "--lang", "vi"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert "systemctl" not in run.stdout, run.stdout
    assert f"Cách sửa: Khởi động bản demo: make run CONFIG={config}" in run.stdout, run.stdout
    assert "nếu nó đang chạy ở cổng khác: queue-server doctor --demo --port <cổng>" in run.stdout, run.stdout

    found: dict[str, list[doctor.Finding]] = {}
    for f in doctor.Doctor(config, tmp_path / "data", healthy_machine(), port=nobody).run():
        found.setdefault(f.code, []).append(f)  # the installed hub (no --demo): systemd's advice
    assert "sudo systemctl start queue-server" in found["hub_not_running"][0].fix_en
    assert "sudo systemctl start queue-server" in found["database_missing"][0].fix_en
