"""The kiosk side of one hub, built from the config: printers, their dispensers and monitors, and
the GPIO button box when `[gpio] buttons` is configured. No Flask here (`web.py` is the HTTP side).

Printers: `[printer]` is the default one (id "default"): it prints for every kiosk screen not
listed elsewhere, for public issuing and for the GPIO buttons, and spools to
`<data>/printer-spool/` when simulated (SPEC §9). Each `[[printers]]` entry is one more printer
with its own `id`, the `[[devices]]` ids (`devices = [...]`) whose tickets it prints, and the
`[printer]` keys; a simulated one spools to `<data>/printer-spool-<id>/`. Every printer has its own
dispenser (its own lock, status, health and pause), so a kiosk whose printer is out of paper says
so while the others keep issuing.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiosk.dispenser import DEFAULT_PRINTER_ID, Publish, TicketDispenser
from kiosk.limits import SlidingWindowLimiter
from kiosk.printers import ReceiptPrinter, SpoolPrinter, printer_from_config
from queue_server.config import Config, ConfigError

log = logging.getLogger(__name__)

DEFAULT_RETURN_SECONDS = 8
DEFAULT_RATE_LIMIT = 10  # tickets per minute per kiosk screen without a device token
DEFAULT_POLL_SECONDS = 30.0
# `[printer]` keys of the hub's config that are not `printer_from_config` keys.
_HUB_ONLY_PRINTER_KEYS = {"simulate", "poll_seconds"}


def lan_address() -> str | None:
    """This machine's address on the LAN (no packet is sent), or None without a network."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::", "[::]")


def _url(host: str, port: int) -> str:
    host = host.strip("[]")
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def qr_base_url(config: Config, host: str, port: int) -> str:
    """The base of the link in a ticket's QR code (`<base>/t/<id>`) for a hub listening on
    `host`:`port` (the bound port, not the configured one): `[center] public_url` when set;
    listening on every interface (0.0.0.0, ::), this machine's LAN address (localhost without
    one); otherwise the listening address itself. A kiosk page's own address, when it is not
    loopback, replaces it later (`TicketDispenser.base_url`)."""
    if config.public_url:
        return config.public_url
    if _is_wildcard(host):
        return _url(lan_address() or "localhost", port)
    return _url(host, port)


def qr_address_warnings(config: Config, host: str, port: int) -> list[str]:
    """English log lines for start-up when the QR code would point where a phone cannot go:
    a loopback public_url; no public_url and a loopback listener (nothing else reaches it);
    no public_url on every interface (the LAN address is a guess). [] when all is well."""
    base = qr_base_url(config, host, port)
    if config.public_url:
        target = urlsplit(config.public_url).hostname or ""
        if _is_loopback(target):
            return [f"[center] public_url = {config.public_url!r} is this machine's loopback "
                    "address: phones cannot open the QR code on tickets; set the address phones "
                    "use (e.g. http://192.168.1.10:8080)"]
        return []
    if _is_loopback(host.strip("[]")):
        return [f"the hub listens on {host}:{port} only and [center] public_url is not set: the QR "
                f"code on tickets points to {base}/t/..., which no phone can reach; listen on the "
                "LAN (--host 0.0.0.0) and set [center] public_url"]
    if _is_wildcard(host):
        if base.startswith(("http://localhost:", "http://[::1]:")):
            return [f"[center] public_url is not set and this machine has no LAN address: the QR "
                    f"code on tickets points to {base}/t/..., which no phone can reach; set public_url"]
        return [f"[center] public_url is not set: the QR code on tickets points to {base}/t/..., "
                "guessed from this machine's LAN address (until a kiosk page shows the address "
                "people use); set public_url to the address phones reach the hub on"]
    return []


@dataclass(frozen=True)
class KioskSettings:
    public_issuing: bool = False
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT
    return_seconds: int = DEFAULT_RETURN_SECONDS
    language: str = "vi"


def _refusal(config: Config | None, key: str, message: str) -> ConfigError:
    """The ConfigError for `key`: with its file and line when the Config is known."""
    return config.error(key, message) if config is not None else ConfigError(key, message)


def kiosk_settings(section: dict[str, Any], config: Config | None = None) -> KioskSettings:
    """`[kiosk]` checked; ConfigError names the key and, given the `config`, its file and line."""
    # The hub's config reader already checks these ranges (FREE_RANGES); this keeps the kiosk
    # safe when it is built from a Config made some other way.
    rate = section.get("rate_limit_per_minute", DEFAULT_RATE_LIMIT)
    if not 1 <= rate <= 600:
        raise _refusal(config, "kiosk.rate_limit_per_minute", f"must be between 1 and 600, got {rate}")
    back = section.get("return_seconds", DEFAULT_RETURN_SECONDS)
    if not 2 <= back <= 120:
        raise _refusal(config, "kiosk.return_seconds", f"must be between 2 and 120 seconds, got {back}")
    language = section.get("language", "vi")
    if language not in ("vi", "en"):
        raise _refusal(config, "kiosk.language", f'must be "vi" or "en", got {language!r}')
    return KioskSettings(bool(section.get("public_issuing", False)), rate, back, language)


def build_printer(section: dict[str, Any], spool_dir: Path, config: Config | None = None,
                  where: str = "printer") -> ReceiptPrinter:
    """`[printer]` (or one `[[printers]]` entry, `where="printers[0]"`) → a printer;
    `simulate = "paper_out"` sets a simulated printer's state. ConfigError names `<where>.<key>`
    and, given the `config` it came from, its file and line."""
    cfg = {k: v for k, v in section.items() if k not in _HUB_ONLY_PRINTER_KEYS}
    if "simulate" in section:
        if cfg.get("kind", "simulated") != "simulated":
            raise _refusal(config, f"{where}.simulate", 'only applies to kind = "simulated"')
        cfg["state"] = section["simulate"]
    try:
        return printer_from_config(cfg, spool_dir)
    except ValueError as exc:
        text = str(exc)
        key = text.split("'")[1] if text.count("'") >= 2 else "kind"
        key = "simulate" if key == "state" else key
        raise _refusal(config, f"{where}.{key}", text) from None


@dataclass(frozen=True)
class PrinterPlan:
    """One configured printer: its id, `[printer]`-style keys, where it spools, whose it is."""

    id: str
    section: dict[str, Any]
    spool_dir: Path
    devices: tuple[str, ...]
    where: str  # the config path errors name: "printer" or "printers[1]"

    @property
    def poll_seconds(self) -> float:
        return float(self.section.get("poll_seconds", DEFAULT_POLL_SECONDS))


def printer_plans(config: Config, data_dir: Path) -> list[PrinterPlan]:
    """`[printer]` (id "default") then every `[[printers]]` entry, checked: unique ids, devices
    that exist in `[[devices]]` and belong to one printer only, `poll_seconds >= 0`."""
    plans = [PrinterPlan(DEFAULT_PRINTER_ID, dict(config.sections.get("printer", {})),
                         Path(data_dir) / "printer-spool", (), "printer")]
    known_devices = {d.id for d in config.devices}
    owner: dict[str, str] = {}
    for i, entry in enumerate(config.printers):
        where = f"printers[{i}]"
        printer_id = str(entry.get("id", ""))
        if any(plan.id == printer_id for plan in plans):
            raise config.error(f"{where}.id", f"printer id {printer_id!r} is used twice (\"default\" "
                               "is the [printer] section's)")
        devices = tuple(entry.get("devices", ()))
        for device in devices:
            if device not in known_devices:
                raise config.error(f"{where}.devices", f"{device!r} is not a [[devices]] id")
            if device in owner:
                raise config.error(f"{where}.devices", f"device {device!r} already prints on "
                                   f"printer {owner[device]!r}")
            owner[device] = printer_id
        section = {k: v for k, v in entry.items() if k not in ("id", "devices")}
        plans.append(PrinterPlan(printer_id, section,
                                 Path(data_dir) / f"printer-spool-{printer_id}", devices, where))
    for plan in plans:
        if plan.poll_seconds < 0:
            raise config.error(f"{plan.where}.poll_seconds",
                               f"must be >= 0 (0 = only when printing), got {plan.poll_seconds}")
    return plans


class PrinterMonitor:
    """Asks the printer for its status now and every `interval` seconds while it is idle, so a
    printer that runs out of paper shows up in device health before a citizen taps."""

    def __init__(self, dispenser: TicketDispenser, interval: float) -> None:
        self.dispenser = dispenser
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="printer-monitor", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                self.dispenser.check_printer(blocking=False)
            except Exception:
                log.exception("printer status check failed")
            if self.interval <= 0 or self._stop.wait(self.interval):
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class KioskRuntime:
    """The kiosk side: `printer`/`dispenser` are the default printer's; `dispensers` holds every
    printer's by id (the default first) and `device_printers` maps a device id to its printer."""

    settings: KioskSettings
    printer: ReceiptPrinter
    dispenser: TicketDispenser
    limiter: SlidingWindowLimiter
    monitor: PrinterMonitor | None = None
    buttons: Any = None  # kiosk.buttons.TicketButtons, imported only when configured
    buttons_error: str | None = None  # configured but the GPIO hardware is unusable
    dispensers: dict[str, TicketDispenser] = field(default_factory=dict)
    device_printers: dict[str, str] = field(default_factory=dict)
    monitors: list[PrinterMonitor] = field(default_factory=list)
    _closed: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self.dispensers.setdefault(self.dispenser.printer_id, self.dispenser)

    @property
    def simulated(self) -> bool:
        """Is the default printer the simulated one?"""
        return isinstance(self.printer, SpoolPrinter)

    def dispenser_for(self, device: str | None) -> TicketDispenser:
        """The dispenser of the printer that serves this device id (None, a staff login or an
        unlisted device: the default printer)."""
        printer_id = self.device_printers.get(device or "", DEFAULT_PRINTER_ID)
        return self.dispensers.get(printer_id, self.dispenser)

    def listening_on(self, config: Config, host: str, port: int) -> list[str]:
        """The hub's socket is bound: the QR code of a ticket printed before any kiosk page has
        loaded (a GPIO button right after a restart) points to `qr_base_url(config, host,
        port)`, on every printer. Returns `qr_address_warnings` for the start-up log."""
        base = qr_base_url(config, host, port)
        for dispenser in {id(d): d for d in [self.dispenser, *self.dispensers.values()]}.values():
            dispenser.default_base_url = base
        return qr_address_warnings(config, host, port)

    def close(self) -> None:
        """Buttons first (no new presses), then the monitors, then the printers. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.buttons is not None:
            self.buttons.close()
        for monitor in [*self.monitors, *([self.monitor] if self.monitor else [])]:
            monitor.close()
        for dispenser in self.dispensers.values():
            dispenser.close()


def build_runtime(config: Config, data_dir: Path, publish: Publish | None, service: Any) -> KioskRuntime:
    """Everything the kiosk needs, from `[kiosk]`, `[printer]` and `[gpio]`. Raises ConfigError."""
    settings = kiosk_settings(config.sections.get("kiosk", {}), config)
    plans = printer_plans(config, data_dir)
    resolve_unconfirmed_prints(service)
    # Until the serving process reports the socket it bound (`KioskRuntime.listening_on`) or a
    # kiosk request shows the address people use, the QR follows the configured address.
    server = config.sections.get("server", {})
    dispensers: dict[str, TicketDispenser] = {}
    try:
        for plan in plans:
            printer = build_printer(plan.section, plan.spool_dir, config, plan.where)
            dispenser = TicketDispenser(service, printer, None, config.public_url,
                                        kind=plan.section.get("kind", "simulated"), publish=publish,
                                        printer_id=plan.id)
            dispenser.default_base_url = qr_base_url(config, server.get("host", "127.0.0.1"),
                                                     server.get("port", 8080))
            dispensers[plan.id] = dispenser
    except BaseException:
        for built in dispensers.values():
            built.close()
        raise
    default = dispensers[DEFAULT_PRINTER_ID]
    runtime = KioskRuntime(settings, default.printer, default,
                           SlidingWindowLimiter(settings.rate_limit_per_minute, 60.0),
                           dispensers=dispensers,
                           device_printers={d: plan.id for plan in plans for d in plan.devices})
    try:
        gpio = config.sections.get("gpio", {})
        if gpio.get("buttons"):
            runtime.buttons, runtime.buttons_error = _buttons(gpio, default, service, config)
        for plan in plans:
            runtime.monitors.append(PrinterMonitor(dispensers[plan.id], plan.poll_seconds))
    except BaseException:
        runtime.close()
        raise
    return runtime


def resolve_unconfirmed_prints(service: Any) -> list[Any]:
    """At start-up, before any kiosk prints: a ticket issued for printing whose outcome was never
    recorded (the hub stopped mid-print) may or may not be in a citizen's hand, so it is cancelled
    (`reason="print_not_confirmed"`) and never called. Returns the cancelled tickets."""
    cancelled: list[Any] = service.cancel_unconfirmed_prints()
    for ticket in cancelled:
        log.warning("ticket %s (%s) cancelled at start-up: its print was never confirmed",
                    ticket.number, ticket.id)
    return cancelled


def check_kiosk_config(config: Config) -> None:
    """Every check start-up makes of [kiosk], [printer] and [gpio], without opening hardware
    (printers open their device lazily): `queue-server --check` must refuse what start-up would."""
    import tempfile

    from kiosk.buttons import GpioConfigError, gpio_config

    kiosk_settings(config.sections.get("kiosk", {}), config)
    with tempfile.TemporaryDirectory() as spool:
        for plan in printer_plans(config, Path(spool)):
            build_printer(plan.section, plan.spool_dir, config, plan.where).close()
    rules = config.rules
    try:
        gpio_config(config.sections.get("gpio", {}), list(rules.fields),
                    [g for g, _ in rules.priority.groups], rules.priority.enabled)
    except GpioConfigError as exc:
        raise config.error(exc.key, exc.problem) from None


def _buttons(section: dict[str, Any], dispenser: TicketDispenser, service: Any,
             config: Config) -> tuple[Any, str | None]:
    from kiosk.buttons import GpioConfigError, GpioUnavailable, TicketButtons, gpio_config

    rules = service.rules
    try:
        cfg = gpio_config(section, list(rules.fields), [g for g, _ in rules.priority.groups],
                          rules.priority.enabled)
        if cfg is None:
            return None, None
        return TicketButtons(cfg, dispenser), None
    except GpioConfigError as exc:
        raise config.error(exc.key, exc.problem) from None
    except GpioUnavailable as exc:
        # A hardware problem never takes the hub down: the screen kiosks still work.
        log.error("GPIO ticket buttons disabled: %s", exc)
        return None, str(exc)
