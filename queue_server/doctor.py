"""`queue-server doctor`: what is wrong with this center's installation, and how to fix it, in
plain Vietnamese (default) or English (issue 13; docs/install.md "Doctor").

    queue-server doctor [--config PATH | --demo] [--data DIR] [--port N] [--lang vi|en]

`--demo` checks the demo center as `queue-server --demo` (and `make run`) runs it: its built-in
config (queue_server/demo.toml), the data folder `data` unless --data, the hub on port 8080
unless --port (`make run PORT=8081`: --port 8081).

Each check gives findings: a `problem` (something does not or will not work: exit status 1) or a
`warning` (works, but needs a look: exit status 0), each with its fix. Checks, in order: config
valid; database intact; disk space; clock synchronised (a Pi has no RTC: until NTP has synchronised
it, dates may be wrong) and time zone; every configured printer (simulated: spool folder writable;
network: TCP connect; usb: vendor/product present on the bus; serial/file: device present and
writable); the bridge's serial buses (`[[bridge.buses]] port`); the GPIO chip when GPIO buttons
are configured; the voice (espeak-ng or the recorded clips) and a sound card; the ticket fonts;
the reporting backend (`[reporting] url`); the running hub's /healthz.

Nothing here writes to the center's data, opens a printer the hub is using, or imports the bridge's
or the forwarder's modules: the `[bridge]` and `[reporting]` tables are read as plain TOML.
Every source of the machine's state is a field of `Machine`, so tests replace one at a time (an
unsynchronised clock, no fonts, a full disk) and leave the rest real.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import health
from .backup import BackupError, check_database
from .config import Config, ConfigError, load_config
from .storage import SCHEMA_VERSION, default_db_path

PROBLEM, WARNING, OK = "problem", "warning", "ok"
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf")
NETWORK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Finding:
    """One result: `code` stable (tests, scripts), texts in Vietnamese and English, `fix` empty
    for OK results."""

    severity: str
    code: str
    message: str
    message_en: str
    fix: str = ""
    fix_en: str = ""


def clock_synchronized_from_system() -> bool | None:
    """systemd-timesyncd's answer: True/False, None when it cannot be known (no systemd)."""
    try:
        out = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                             capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip() in ("yes", "no"):
            return out.stdout.strip() == "yes"
    except (OSError, subprocess.SubprocessError):
        pass
    if Path("/run/systemd/timesync").is_dir():
        return Path("/run/systemd/timesync/synchronized").exists()
    return None


def system_timezone() -> str | None:
    """The machine's time zone name (/etc/timezone or the /etc/localtime link), None if unknown."""
    try:
        return Path("/etc/timezone").read_text().strip() or None
    except OSError:
        pass
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        return None
    return target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else None


def sound_cards() -> list[str]:
    """ALSA's sound cards (/proc/asound/cards, one line each); empty when there are none."""
    try:
        text = Path("/proc/asound/cards").read_text()
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line[:3].strip().isdigit()]


def default_font_dirs() -> list[Path]:
    """The folders the ticket renderer searches for DejaVu (kiosk/ticket_image.py FONT_DIRS)."""
    from kiosk.ticket_image import FONT_DIRS

    return list(dict.fromkeys(FONT_DIRS))


@dataclass
class Machine:
    """Where each check reads the machine's state (tests replace single fields)."""

    clock_synchronized: Callable[[], bool | None] = clock_synchronized_from_system
    timezone: Callable[[], str | None] = system_timezone
    free_bytes: Callable[[Path], int] = health.free_bytes
    font_dirs: Callable[[], list[Path]] = default_font_dirs
    gpio_chips: Callable[[], list[str]] = field(default=lambda: sorted(glob.glob("/dev/gpiochip*")))
    sound_cards: Callable[[], list[str]] = sound_cards
    which: Callable[[str], str | None] = shutil.which
    usb_ids: Callable[[], set[tuple[int, int]]] = field(default=lambda: _usb_ids(Path("/sys/bus/usb/devices")))


def _usb_ids(sysfs: Path) -> set[tuple[int, int]]:
    found = set()
    for device in sysfs.glob("*"):
        try:
            found.add((int((device / "idVendor").read_text(), 16), int((device / "idProduct").read_text(), 16)))
        except (OSError, ValueError):
            continue
    return found


def _int_id(value: Any) -> int | None:
    try:
        return int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        return None


def _tcp_reachable(host: str, port: int, timeout: float = NETWORK_TIMEOUT_S) -> str | None:
    """None when a TCP connection opens, else the reason."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


class Doctor:
    """Runs every check for one config file and data folder."""

    def __init__(self, config_path: Path | None, data_dir: Path | None, machine: Machine | None = None,
                 demo: bool = False, port: int | None = None) -> None:
        """`demo`: without `config_path`, the built-in demo config; `port`: where the running hub
        is asked for /healthz (default `[server] port`, else 8080)."""
        self.config_path = config_path
        self.demo = demo
        self.port = port
        self.machine = machine or Machine()
        self.raw: dict[str, Any] = {}
        self.config: Config | None = None
        self.data_arg = data_dir
        self.findings: list[Finding] = []

    def add(self, severity: str, code: str, message: str, message_en: str, fix: str = "", fix_en: str = "") -> None:
        self.findings.append(Finding(severity, code, message, message_en, fix, fix_en))

    @property
    def make_run(self) -> str:
        """With --demo, the command that runs the hub this doctor checks: `make run`, with the
        PORT, DATA and CONFIG it was given (Makefile). A demo has no systemd unit to start."""
        words = ["make run"]
        if self.port is not None and self.port != 8080:
            words.append(f"PORT={self.port}")
        if self.data_arg is not None and Path(self.data_arg) != Path("data"):
            words.append(f"DATA={self.data_arg}")
        if self.config_path is not None:
            words.append(f"CONFIG={self.config_path}")
        return " ".join(words)

    @property
    def data_dir(self) -> Path:
        if self.data_arg is not None:
            return self.data_arg
        server = self.raw.get("server", {}) if isinstance(self.raw.get("server"), dict) else {}
        return Path(server.get("data", "data"))

    def run(self) -> list[Finding]:
        for check in (self.check_config, self.check_database, self.check_disk, self.check_clock,
                      self.check_printers, self.check_serial_buses, self.check_gpio, self.check_voice,
                      self.check_fonts, self.check_reporting, self.check_hub):
            try:
                check()
            except Exception as exc:  # a check that breaks is itself a finding, never a traceback
                self.add(PROBLEM, "check_failed", f"Không kiểm tra được ({check.__name__}): {exc!r}",
                         f"Check {check.__name__} could not run: {exc!r}",
                         "Báo lỗi này cho đơn vị bảo trì.", "Report this to the maintainers.")
        return self.findings

    # -------------------------------------------------------------------------------- config
    def check_config(self) -> None:
        fix = f"Sửa tệp cấu hình theo thông báo, rồi kiểm tra lại: queue-server --config {self.config_path} --check"
        fix_en = f"Fix the config file as the message says, then: queue-server --config {self.config_path} --check"
        if self.config_path is None and self.demo:
            from .demo import demo_config, demo_config_text

            self.raw = tomllib.loads(demo_config_text())
            self.config = demo_config()
            self.add(OK, "config_ok", "Cấu hình trung tâm demo (có sẵn, queue-server --demo).",
                     "The demo center's built-in config (queue-server --demo).")
            return
        if self.config_path is None:
            self.add(PROBLEM, "config_missing", "Chưa chỉ định tệp cấu hình (--config).",
                     "No config file given (--config).",
                     "Chạy lại với --config /etc/quay-so/center.toml (trung tâm demo của make run: --demo)",
                     "Run again with --config /etc/quay-so/center.toml (the demo center of make run: --demo)")
            return
        try:
            self.raw = tomllib.loads(Path(self.config_path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            self.raw = {}  # load_config below names the problem and its line
        try:
            config = load_config(Path(self.config_path))
            from kiosk.runtime import check_kiosk_config

            check_kiosk_config(config)
        except ConfigError as exc:
            self.add(PROBLEM, "config_invalid", f"Tệp cấu hình có lỗi: {exc}", f"The config file is invalid: {exc}",
                     fix, fix_en)
            return
        self.config = config
        self.add(OK, "config_ok", f"Cấu hình hợp lệ ({self.config_path}).", f"Config valid ({self.config_path}).")

    # ------------------------------------------------------------------------------ database
    def check_database(self) -> None:
        data = self.data_dir
        db = default_db_path(data)
        if not data.is_dir():
            if self.demo:
                self.add(PROBLEM, "data_missing", f"Không có thư mục dữ liệu {data}.", f"There is no data folder {data}.",
                         f"Chạy bản demo một lần (nó tạo thư mục): {self.make_run}; hoặc chỉ đúng --data.",
                         f"Run the demo once (it makes the folder): {self.make_run}; or give the right --data.")
            else:
                self.add(PROBLEM, "data_missing", f"Không có thư mục dữ liệu {data}.", f"There is no data folder {data}.",
                         "Cài đặt lại (scripts/install-pi.sh) hoặc chỉ đúng --data.",
                         "Run scripts/install-pi.sh again, or give the right --data.")
            return
        if not db.exists():
            fix, fix_en = (("Khởi động bản demo: " + self.make_run, "Start the demo: " + self.make_run) if self.demo
                           else ("Khởi động hệ thống: sudo systemctl start queue-server",
                                 "Start the hub: sudo systemctl start queue-server"))
            self.add(WARNING, "database_missing", f"Chưa có cơ sở dữ liệu trong {data} (hệ thống chưa chạy lần nào?).",
                     f"No database in {data} yet (has the hub ever run?).", fix, fix_en)
            return
        try:
            version = check_database(db)
        except BackupError as exc:
            if self.demo:
                fix = (f"Dừng bản demo (Ctrl-C ở cửa sổ make run), rồi khôi phục: queue-server restore "
                       f"<tệp sao lưu> --data {data}; hoặc xoá thư mục {data} để demo bắt đầu lại từ đầu.")
                fix_en = (f"Stop the demo (Ctrl-C where make run runs), then restore: queue-server restore "
                          f"<a backup file> --data {data}; or delete the folder {data} to start the demo afresh.")
            else:
                fix = ("Dừng hệ thống và khôi phục bản sao lưu mới nhất: sudo systemctl stop queue-server; "
                       f"sudo -u quayso queue-server restore <tệp trong thư mục sao lưu> --data {data}")
                fix_en = ("Stop the hub and restore the latest backup: sudo systemctl stop queue-server; "
                          f"sudo -u quayso queue-server restore <file in the backup folder> --data {data}")
            self.add(PROBLEM, "database_damaged", f"Cơ sở dữ liệu bị lỗi: {exc.message}",
                     f"The database is damaged: {exc.message_en}", fix, fix_en)
            return
        note = "" if version == SCHEMA_VERSION else f", v{version} → v{SCHEMA_VERSION} khi khởi động"
        note_en = "" if version == SCHEMA_VERSION else f", migrates v{version} → v{SCHEMA_VERSION} at start"
        self.add(OK, "database_ok", f"Cơ sở dữ liệu nguyên vẹn ({db}{note}).", f"Database intact ({db}{note_en}).")

    # ---------------------------------------------------------------------------------- disk
    def check_disk(self) -> None:
        data = self.data_dir if self.data_dir.is_dir() else self.data_dir.parent
        want = health.min_free_mb(self.config.sections if self.config else {})
        try:
            free_mb = self.machine.free_bytes(data) // (1024 * 1024)
        except OSError as exc:
            self.add(PROBLEM, "disk_unreadable", f"Không đọc được dung lượng ổ đĩa ({exc}).",
                     f"Cannot read the disk's free space ({exc}).", "Kiểm tra thẻ nhớ.", "Check the SD card.")
            return
        fix = ("Giải phóng chỗ trống: xoá bản sao lưu cũ trong thư mục sao lưu, thu gọn nhật ký "
               "(sudo journalctl --vacuum-size=32M), hoặc chuyển sang thẻ nhớ lớn hơn.")
        fix_en = ("Free some space: delete old backups from the backup folder, shrink the journal "
                  "(sudo journalctl --vacuum-size=32M), or move to a larger SD card.")
        if free_mb < want:
            self.add(PROBLEM, "low_disk_space", f"Ổ đĩa dữ liệu sắp đầy: còn {free_mb} MB (cần tối thiểu {want} MB).",
                     f"The data disk is nearly full: {free_mb} MB free, {want} MB needed.", fix, fix_en)
        elif free_mb < 2 * want:
            self.add(WARNING, "low_disk_space", f"Ổ đĩa dữ liệu còn ít chỗ: {free_mb} MB.",
                     f"The data disk is getting full: {free_mb} MB free.", fix, fix_en)
        else:
            self.add(OK, "disk_ok", f"Ổ đĩa còn {free_mb} MB.", f"{free_mb} MB free on the data disk.")

    # --------------------------------------------------------------------------------- clock
    def check_clock(self) -> None:
        synced = self.machine.clock_synchronized()
        if synced is False:
            self.add(WARNING, "clock_unsynchronized",
                     "Đồng hồ chưa được đồng bộ qua mạng (Raspberry Pi không có pin đồng hồ): ngày giờ trên phiếu và báo cáo có thể sai.",
                     "The clock has not been synchronised over the network (a Pi has no clock battery): "
                     "dates on tickets and in reports may be wrong.",
                     "Kết nối mạng có Internet (hoặc khai báo máy chủ NTP nội bộ trong /etc/systemd/timesyncd.conf), "
                     "rồi kiểm tra: timedatectl. Không có mạng: đặt giờ bằng tay: sudo timedatectl set-time 'YYYY-MM-DD HH:MM:SS'.",
                     "Connect the Pi to a network with internet (or set a local NTP server in "
                     "/etc/systemd/timesyncd.conf), then check: timedatectl. Without a network, set the "
                     "time by hand: sudo timedatectl set-time 'YYYY-MM-DD HH:MM:SS'.")
        elif synced is None:
            self.add(WARNING, "clock_unknown", "Không biết đồng hồ đã được đồng bộ hay chưa.",
                     "Cannot tell whether the clock is synchronised.",
                     "Kiểm tra bằng: timedatectl", "Check with: timedatectl")
        else:
            self.add(OK, "clock_ok", "Đồng hồ đã được đồng bộ.", "The clock is synchronised.")
        if self.config is not None:
            wanted = self.config.rules.timezone.key
            actual = self.machine.timezone()
            if actual is not None and actual != wanted:
                self.add(WARNING, "timezone_mismatch",
                         f"Múi giờ của máy ({actual}) khác múi giờ của trung tâm ({wanted}): giờ trong nhật ký và tên bản sao lưu sẽ lệch.",
                         f"The machine's time zone ({actual}) differs from the center's ({wanted}): "
                         "times in the journal and backup names will differ.",
                         f"sudo timedatectl set-timezone {wanted}", f"sudo timedatectl set-timezone {wanted}")

    # ------------------------------------------------------------------------------ printers
    def _printer_sections(self) -> list[tuple[str, dict[str, Any]]]:
        if self.config is None:
            return []
        found = [("[printer]", dict(self.config.sections.get("printer", {})))]
        found += [(f"[[printers]] {p.get('id')}", dict(p)) for p in self.config.printers]
        return found

    def check_printers(self) -> None:
        for where, section in self._printer_sections():
            kind = section.get("kind", "simulated")
            problem: tuple[str, str] | None = None
            fix, fix_en = "", ""
            if kind == "simulated":
                spool = self.data_dir / ("printer-spool" if where == "[printer]" else f"printer-spool-{section.get('id')}")
                folder = spool if spool.is_dir() else self.data_dir
                if self.data_dir.is_dir() and not os.access(folder, os.W_OK):
                    problem = (f"không ghi được vào {spool}", f"cannot write to {spool}")
                    fix = f"sudo chown -R quayso:quayso {self.data_dir}"
                    fix_en = fix
            elif kind == "network":
                host, port = str(section.get("host", "")), int(section.get("port", 9100))
                reason = _tcp_reachable(host, port)
                if reason is not None:
                    problem = (f"máy in mạng {host}:{port} không trả lời ({reason})",
                               f"the network printer {host}:{port} does not answer ({reason})")
                    fix = (f"Kiểm tra máy in đã bật, dây mạng đã cắm, địa chỉ IP của máy in là {host} "
                           "(in trang tự kiểm tra của máy in để xem IP).")
                    fix_en = (f"Check that the printer is on, its network cable is plugged in and its "
                              f"address is {host} (its self-test page shows the IP).")
            elif kind == "usb":
                wanted = (_int_id(section.get("vendor_id")), _int_id(section.get("product_id")))
                if wanted not in self.machine.usb_ids():
                    problem = (f"không thấy máy in USB {section.get('vendor_id')}:{section.get('product_id')}",
                               f"no USB printer {section.get('vendor_id')}:{section.get('product_id')} is connected")
                    fix = "Kiểm tra nguồn và cáp USB của máy in; xem thiết bị bằng: lsusb"
                    fix_en = "Check the printer's power and USB cable; list devices with: lsusb"
            elif kind in ("serial", "file"):
                device = str(section.get("device", ""))
                if not os.path.exists(device):
                    problem = (f"không có thiết bị {device}", f"there is no device {device}")
                    fix = "Kiểm tra nguồn và cáp của máy in; tên cố định: /dev/quayso-printer (xem docs/install.md)."
                    fix_en = "Check the printer's power and cable; stable name: /dev/quayso-printer (docs/install.md)."
                elif not os.access(device, os.W_OK):
                    problem = (f"không có quyền ghi {device}", f"no permission to write {device}")
                    fix = "Người dùng quayso phải thuộc nhóm lp/dialout: chạy lại scripts/install-pi.sh"
                    fix_en = "The quayso user must be in groups lp/dialout: run scripts/install-pi.sh again"
            if problem is not None:
                self.add(PROBLEM, "printer_unreachable", f"Máy in {where}: {problem[0]}.",
                         f"Printer {where}: {problem[1]}.", fix, fix_en)
            else:
                self.add(OK, "printer_ok", f"Máy in {where} ({kind}) sẵn sàng.", f"Printer {where} ({kind}) reachable.")

    # -------------------------------------------------------------------------- serial buses
    def check_serial_buses(self) -> None:
        bridge = self.raw.get("bridge")
        buses = bridge.get("buses", []) if isinstance(bridge, dict) else []
        for bus in buses if isinstance(buses, list) else []:
            if not isinstance(bus, dict):
                continue
            port, name = str(bus.get("port", "")), bus.get("name", "?")
            if not os.path.exists(port):
                self.add(PROBLEM, "serial_bus_missing", f"Đường truyền RS485 {name}: không có cổng {port}.",
                         f"RS485 bus {name}: there is no port {port}.",
                         "Cắm bộ chuyển đổi USB–RS485; dùng tên cố định /dev/quayso-rs485-<cổng USB> (ls -l /dev/quayso-rs485*).",
                         "Plug in the USB–RS485 adapter; use its stable name /dev/quayso-rs485-<USB port> (ls -l /dev/quayso-rs485*).")
            elif not os.access(port, os.R_OK | os.W_OK):
                self.add(PROBLEM, "serial_bus_denied", f"Đường truyền RS485 {name}: không có quyền mở {port}.",
                         f"RS485 bus {name}: no permission to open {port}.",
                         "Người dùng quayso phải thuộc nhóm dialout: chạy lại scripts/install-pi.sh",
                         "The quayso user must be in group dialout: run scripts/install-pi.sh again")
            else:
                self.add(OK, "serial_bus_ok", f"Đường truyền RS485 {name} ({port}) có mặt.", f"RS485 bus {name} ({port}) present.")

    # ---------------------------------------------------------------------------------- GPIO
    def check_gpio(self) -> None:
        gpio = self.config.sections.get("gpio", {}) if self.config else {}
        uses_pins = bool(gpio.get("buttons")) or any(k in gpio for k in ("paper_low_pin", "status_led_pin", "buzzer_pin"))
        if not uses_pins or gpio.get("pin_factory") == "mock":
            return
        chips = self.machine.gpio_chips()
        if not chips:
            self.add(PROBLEM, "gpio_missing", "Cấu hình có nút bấm GPIO nhưng máy không có chân GPIO (/dev/gpiochip*).",
                     "GPIO buttons are configured but this machine has no GPIO chip (/dev/gpiochip*).",
                     "Chạy trên Raspberry Pi, hoặc bỏ bảng [gpio] khỏi cấu hình.",
                     "Run on a Raspberry Pi, or remove the [gpio] table from the config.")
        elif not all(os.access(c, os.R_OK | os.W_OK) for c in chips):
            self.add(PROBLEM, "gpio_denied", f"Không có quyền dùng {chips[0]}.", f"No permission to use {chips[0]}.",
                     "Người dùng quayso phải thuộc nhóm gpio: chạy lại scripts/install-pi.sh",
                     "The quayso user must be in group gpio: run scripts/install-pi.sh again")
        else:
            self.add(OK, "gpio_ok", f"GPIO sẵn sàng ({chips[0]}).", f"GPIO ready ({chips[0]}).")

    # --------------------------------------------------------------------------------- voice
    def check_voice(self) -> None:
        voice = self.config.sections.get("voice", {}) if self.config else {}
        engine = voice.get("engine", "espeak")
        if engine == "espeak" and self.machine.which("espeak-ng") is None:
            self.add(PROBLEM, "voice_missing", "Thiếu chương trình đọc số espeak-ng: màn hình TV sẽ không đọc số.",
                     "espeak-ng is missing: the TV will not announce calls.",
                     "sudo apt-get install espeak-ng", "sudo apt-get install espeak-ng")
        elif engine == "clips":
            clips = Path(str(voice.get("clips_dir", "")))
            if not clips.is_dir() or not any(clips.glob("*.wav")):
                self.add(PROBLEM, "voice_missing", f"Không có tệp ghi âm .wav trong {clips}.",
                         f"No recorded .wav clips in {clips}.",
                         "Chép các tệp ghi âm vào thư mục đó (xem display/README.md).",
                         "Copy the recorded clips into that folder (display/README.md).")
        if not self.machine.sound_cards():
            self.add(WARNING, "no_sound_card", "Máy không có card âm thanh: chỉ cần nếu màn hình TV nối vào máy này phát tiếng.",
                     "No sound card: needed only if a TV on this Pi plays the announcements.",
                     "Bật âm thanh HDMI (raspi-config → System → Audio) hoặc cắm loa USB; kiểm tra: aplay -l",
                     "Enable HDMI audio (raspi-config → System → Audio) or plug in a USB speaker; check: aplay -l")

    # --------------------------------------------------------------------------------- fonts
    def check_fonts(self) -> None:
        dirs = self.machine.font_dirs()
        missing = [f for f in FONT_FILES if not any((d / f).is_file() for d in dirs)]
        if missing:
            self.add(PROBLEM, "font_missing", f"Thiếu phông chữ in phiếu: {', '.join(missing)} — không in được phiếu tiếng Việt.",
                     f"Ticket fonts missing: {', '.join(missing)} — Vietnamese tickets cannot be printed.",
                     "sudo apt-get install fonts-dejavu-core", "sudo apt-get install fonts-dejavu-core")
        else:
            self.add(OK, "fonts_ok", "Phông chữ in phiếu có đủ.", "Ticket fonts present.")

    # ----------------------------------------------------------------------------- reporting
    def check_reporting(self) -> None:
        reporting = self.raw.get("reporting")
        url = reporting.get("url") if isinstance(reporting, dict) else None
        if not url:
            return
        parts = urlsplit(str(url))
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
        reason = _tcp_reachable(host, port) if host else "no host in the URL"
        if reason is not None:
            self.add(WARNING, "reporting_unreachable",
                     f"Không kết nối được máy chủ báo cáo {url} ({reason}); số liệu được giữ lại và gửi sau.",
                     f"The reporting backend {url} is unreachable ({reason}); figures are kept and sent later.",
                     "Kiểm tra mạng Internet của trung tâm và địa chỉ [reporting] url.",
                     "Check the center's internet connection and [reporting] url.")
        else:
            self.add(OK, "reporting_ok", f"Máy chủ báo cáo {url} kết nối được.", f"Reporting backend {url} reachable.")

    # ----------------------------------------------------------------------------------- hub
    def check_hub(self) -> None:
        server = self.config.sections.get("server", {}) if self.config else {}
        host = str(server.get("host", "127.0.0.1"))
        host = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
        port = self.port if self.port is not None else server.get("port", 8080)
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=NETWORK_TIMEOUT_S) as r:  # noqa: S310 (loopback)
                r.read()
            self.add(OK, "hub_ok", f"Hệ thống đang chạy ({url}).", f"The hub answers ({url}).")
        except urllib.error.HTTPError as exc:
            fix, fix_en = (("Xem các mục trên và những gì make run in ra", "See the findings above and what make run prints")
                           if self.demo else ("Xem các mục trên và: journalctl -u queue-server -n 50",
                                              "See the findings above and: journalctl -u queue-server -n 50"))
            self.add(PROBLEM, "hub_degraded", f"Hệ thống báo lỗi ({url}: {exc.code}).",
                     f"The hub reports a problem ({url}: {exc.code}).", fix, fix_en)
        except (OSError, ValueError) as exc:
            if self.demo:
                fix = f"Khởi động bản demo: {self.make_run}"
                fix_en = f"Start the demo: {self.make_run}"
                if self.port is None:
                    fix += "; nếu nó đang chạy ở cổng khác: queue-server doctor --demo --port <cổng>"
                    fix_en += "; if it already runs on another port: queue-server doctor --demo --port <port>"
            else:
                fix = "sudo systemctl start queue-server; xem lý do: journalctl -u queue-server -n 50"
                fix_en = "sudo systemctl start queue-server; see why: journalctl -u queue-server -n 50"
            self.add(WARNING, "hub_not_running", f"Hệ thống không trả lời ở {url} ({getattr(exc, 'reason', exc)}).",
                     f"The hub does not answer at {url} ({getattr(exc, 'reason', exc)}).", fix, fix_en)


def render(findings: list[Finding], lang: str) -> str:
    """The report as printed: one line per finding, each problem's fix under it, a summary."""
    en = lang == "en"
    marks = {PROBLEM: "[LỖI]" if not en else "[PROBLEM]", WARNING: "[CẢNH BÁO]" if not en else "[WARNING]",
             OK: "[OK]"}
    lines = []
    for f in findings:
        lines.append(f"{marks[f.severity]} {f.message_en if en else f.message}")
        if f.severity != OK and (f.fix_en if en else f.fix):
            lines.append(f"    {'Fix' if en else 'Cách sửa'}: {f.fix_en if en else f.fix}")
    problems = sum(f.severity == PROBLEM for f in findings)
    warnings = sum(f.severity == WARNING for f in findings)
    lines.append(f"{problems} problem(s), {warnings} warning(s)." if en else f"{problems} lỗi, {warnings} cảnh báo.")
    return "\n".join(lines)


def main(argv: list[str], machine: Machine | None = None) -> int:
    """`queue-server doctor`; exit status 1 when there is a problem (warnings alone: 0)."""
    p = argparse.ArgumentParser(prog="queue-server doctor", description="Check this center's installation.")
    p.add_argument("--config", type=Path, help="the center's TOML config file")
    p.add_argument("--demo", action="store_true",
                   help="check the demo center as `queue-server --demo` (make run) runs it: its built-in "
                        "config; with --config, that file (as `queue-server --demo --config` takes it)")
    p.add_argument("--data", type=Path, help="the hub's data folder (default: [server] data, else ./data)")
    p.add_argument("--port", type=int, help="the running hub's port (default: [server] port, else 8080)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi", help="language of the report")
    args = p.parse_args(argv)
    findings = Doctor(args.config, args.data, machine, demo=args.demo, port=args.port).run()
    print(render(findings, args.lang))
    sys.stdout.flush()
    return 1 if any(f.severity == PROBLEM for f in findings) else 0
