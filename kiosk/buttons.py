"""Hardware ticket buttons on GPIO: one press, one printed ticket (the only gpiozero importer).

A button box for citizens without a touchscreen: each button is wired to a GPIO pin and mapped
to a field in the config::

    [gpio]
    pin_factory = "mock"          # "mock" (demo, tests) or a gpiozero factory name; default: the Pi's
    buttons = [{pin = 17, field = "ho-tich"}, {pin = 27, field = "dat-dai", priority = true}]
    press_interval = 2.0          # seconds between two tickets from the same button
    max_per_minute = 20           # tickets per minute from the whole box
    bounce_time = 0.05            # debounce, seconds
    paper_low_pin = 23            # optional paper-low sensor (closes to GND when low)
    status_led_pin = 24           # optional LED: on = ready, blinking = printer fault
    buzzer_pin = 25               # optional buzzer: beeps when a press is refused

Presses are judged in gpiozero's callback (cheap: the per-button interval and the box's cap, so a
held or hammered button issues one ticket, not the day's numbers) and accepted ones are queued to
one worker thread that issues and prints through the `TicketDispenser`, so a slow printer never
stalls the pin callbacks. Every device gets its pins from a pin factory chosen by name; none is
installed process-wide.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gpiozero import LED, Button, Buzzer, DigitalInputDevice, GPIOZeroError
from gpiozero.pins import Factory

from kiosk.dispenser import PrinterHealth, TicketDispenser
from kiosk.limits import Monotonic, PressGate, SlidingWindowLimiter
from queue_server.core.errors import QueueError

log = logging.getLogger(__name__)

DEFAULT_PRESS_INTERVAL = 2.0
DEFAULT_MAX_PER_MINUTE = 20
DEFAULT_BOUNCE_TIME = 0.05
_PIN_NAME = re.compile(r"^(GPIO|BCM|BOARD|WPI|J8:)\d{1,2}$", re.IGNORECASE)
_BUTTON_KEYS = {"pin", "field", "priority", "priority_group"}


class GpioConfigError(ValueError):
    """A bad `[gpio]` value; `key` is its dotted path, e.g. ``gpio.buttons[1].pin``."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.problem = message


class GpioUnavailable(RuntimeError):
    """The GPIO hardware cannot be used (not a Pi, pin busy, library missing): the hub keeps
    running without the button box and says so in device health."""


PinSpec = int | str


@dataclass(frozen=True)
class ButtonSpec:
    pin: PinSpec
    field: str
    priority: bool = False
    priority_group: str | None = None


@dataclass(frozen=True)
class GpioConfig:
    buttons: tuple[ButtonSpec, ...]
    pin_factory: str | None = None
    press_interval: float = DEFAULT_PRESS_INTERVAL
    max_per_minute: int = DEFAULT_MAX_PER_MINUTE
    bounce_time: float | None = DEFAULT_BOUNCE_TIME
    paper_low_pin: PinSpec | None = None
    status_led_pin: PinSpec | None = None
    buzzer_pin: PinSpec | None = None


def _pin(value: Any, key: str) -> PinSpec:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise GpioConfigError(key, f'must be a GPIO number like 17 or a name like "GPIO17", got {value!r}')
    if isinstance(value, int) and not 0 <= value <= 53:
        raise GpioConfigError(key, f"must be a BCM GPIO number 0-53, got {value}")
    if isinstance(value, str) and not _PIN_NAME.match(value):
        raise GpioConfigError(key, f'must look like "GPIO17", "BCM17" or "BOARD11", got {value!r}')
    return value


def _same_pin(spec: PinSpec) -> str:
    """A comparable form: 17, "GPIO17" and "BCM17" are one pin."""
    if isinstance(spec, int):
        return f"GPIO{spec}"
    upper = spec.upper()
    return "GPIO" + upper[3:] if upper.startswith("BCM") else upper


def gpio_config(section: Mapping[str, Any], fields: Collection[str],
                priority_groups: Collection[str] = (), priority_enabled: bool = True) -> GpioConfig | None:
    """Check `[gpio]` (types of the top-level keys are already checked by the hub's config
    reader); None when no buttons are configured."""
    raw_buttons = section.get("buttons") or []
    if not raw_buttons:
        return None
    buttons: list[ButtonSpec] = []
    used: dict[str, str] = {}

    def claim(spec: PinSpec, key: str) -> None:
        name = _same_pin(spec)
        if name in used:
            raise GpioConfigError(key, f"pin {spec!r} is already used by {used[name]}")
        used[name] = key

    for i, item in enumerate(raw_buttons):
        base = f"gpio.buttons[{i}]"
        if not isinstance(item, dict):
            raise GpioConfigError(base, 'must be a table like {pin = 17, field = "ho-tich"}')
        unknown = sorted(set(item) - _BUTTON_KEYS)
        if unknown:
            raise GpioConfigError(f"{base}.{unknown[0]}",
                                  f"unknown key (known keys: {', '.join(sorted(_BUTTON_KEYS))})")
        if "pin" not in item:
            raise GpioConfigError(f"{base}.pin", "is required")
        pin = _pin(item["pin"], f"{base}.pin")
        claim(pin, f"{base}.pin")
        field_id = item.get("field")
        if not isinstance(field_id, str):
            raise GpioConfigError(f"{base}.field", f"is required: one of {', '.join(fields)}")
        if field_id not in fields:
            raise GpioConfigError(f"{base}.field", f"unknown field {field_id!r} (defined: {', '.join(fields)})")
        priority = item.get("priority", False)
        if not isinstance(priority, bool):
            raise GpioConfigError(f"{base}.priority", f"must be true or false, got {priority!r}")
        group = item.get("priority_group")
        if group is not None:
            if not isinstance(group, str) or group not in priority_groups:
                raise GpioConfigError(f"{base}.priority_group",
                                      f"unknown priority group {group!r} (defined: {', '.join(priority_groups)})")
            priority = True
        if priority and not priority_enabled:
            raise GpioConfigError(f"{base}.priority", "priority tickets are disabled in [priority]")
        buttons.append(ButtonSpec(pin, field_id, priority, group))

    extra: dict[str, PinSpec | None] = {}
    for key in ("paper_low_pin", "status_led_pin", "buzzer_pin"):
        value = section.get(key)
        if value is not None:
            value = _pin(value, f"gpio.{key}")
            claim(value, f"gpio.{key}")
        extra[key] = value
    interval = float(section.get("press_interval", DEFAULT_PRESS_INTERVAL))
    if not 0 <= interval <= 3600:
        raise GpioConfigError("gpio.press_interval", f"must be between 0 and 3600 seconds, got {interval}")
    cap = section.get("max_per_minute", DEFAULT_MAX_PER_MINUTE)
    if not 1 <= cap <= 600:
        raise GpioConfigError("gpio.max_per_minute", f"must be between 1 and 600, got {cap}")
    bounce = section.get("bounce_time", DEFAULT_BOUNCE_TIME)
    if bounce is not None and not 0 <= float(bounce) <= 1:
        raise GpioConfigError("gpio.bounce_time", f"must be between 0 and 1 second, got {bounce}")
    factory = section.get("pin_factory") or None
    return GpioConfig(tuple(buttons), factory, interval, int(cap), float(bounce) or None,
                      extra["paper_low_pin"], extra["status_led_pin"], extra["buzzer_pin"])


def make_pin_factory(name: str | None) -> Factory | None:
    """A gpiozero pin factory by name ("mock", "lgpio", "rpigpio", "pigpio", "native"); None
    lets gpiozero pick the Pi's default."""
    if name in (None, "", "default"):
        return None
    if name == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    from importlib.metadata import entry_points

    for ep in entry_points(group="gpiozero_pin_factories"):
        if ep.name == name.lower():
            try:
                factory: Factory = ep.load()()
            except Exception as exc:  # the library is missing, or this is not a Pi
                raise GpioUnavailable(f"pin factory {name!r} cannot start: {exc}") from exc
            return factory
    known = sorted(ep.name for ep in entry_points(group="gpiozero_pin_factories"))
    raise GpioConfigError("gpio.pin_factory", f"unknown pin factory {name!r} (one of {', '.join(known)})")


class TicketButtons:
    """The button box: press → (gate) → worker → dispenser. Close it to release the pins."""

    def __init__(self, config: GpioConfig, dispenser: TicketDispenser, *,
                 factory: Factory | None = None, clock: Monotonic = time.monotonic) -> None:
        self.config = config
        self.dispenser = dispenser
        self.factory = factory if factory is not None else make_pin_factory(config.pin_factory)
        self.gate = PressGate(config.press_interval,
                              SlidingWindowLimiter(config.max_per_minute, 60.0, clock=clock),
                              clock=clock)
        self.counts = {"presses": 0, "ignored": 0, "issued": 0, "refused": 0}
        self._count_lock = threading.Lock()
        self._jobs: queue.Queue[ButtonSpec | None] = queue.Queue()
        self._closed = False
        self.buttons: list[Button] = []
        self.led: LED | None = None
        self.buzzer: Buzzer | None = None
        self.paper_low: DigitalInputDevice | None = None
        try:
            self._open_devices()
        except BaseException:
            self._close_devices()
            raise
        self._worker = threading.Thread(target=self._run, name="gpio-ticket-buttons", daemon=True)
        self._worker.start()
        dispenser.add_listener(self._show_health)
        self._show_health(dispenser.health())

    def _device(self, key: str, make: Any) -> Any:
        try:
            return make()
        except GPIOZeroError as exc:
            raise GpioUnavailable(f"{key}: cannot use this pin: {exc}") from exc

    def _open_devices(self) -> None:
        cfg, pf = self.config, self.factory
        for i, spec in enumerate(cfg.buttons):
            button = self._device(f"gpio.buttons[{i}].pin", lambda spec=spec: Button(
                spec.pin, pull_up=True, bounce_time=cfg.bounce_time, pin_factory=pf))
            button.when_pressed = lambda spec=spec: self._pressed(spec)
            self.buttons.append(button)
        if cfg.status_led_pin is not None:
            self.led = self._device("gpio.status_led_pin", lambda: LED(cfg.status_led_pin, pin_factory=pf))
        if cfg.buzzer_pin is not None:
            self.buzzer = self._device("gpio.buzzer_pin", lambda: Buzzer(cfg.buzzer_pin, pin_factory=pf))
        if cfg.paper_low_pin is not None:
            sensor = self._device("gpio.paper_low_pin", lambda: DigitalInputDevice(
                cfg.paper_low_pin, pull_up=True, bounce_time=cfg.bounce_time, pin_factory=pf))
            sensor.when_activated = lambda: self.dispenser.set_paper_low(True)
            sensor.when_deactivated = lambda: self.dispenser.set_paper_low(False)
            self.paper_low = sensor
            self.dispenser.set_paper_low(bool(sensor.is_active))

    # ---------------------------------------------------------------- presses
    def _count(self, name: str) -> None:
        with self._count_lock:
            self.counts[name] += 1

    def _pressed(self, spec: ButtonSpec) -> None:
        """gpiozero's callback: decide now, print later."""
        if self._closed:
            return
        self._count("presses")
        if not self.gate.allow(_same_pin(spec.pin)):
            self._count("ignored")
            log.debug("button %s: press ignored (rate limit)", spec.pin)
            return
        self._jobs.put(spec)

    def _run(self) -> None:
        while True:
            spec = self._jobs.get()
            try:
                if spec is None:
                    return
                self._dispense(spec)
            finally:
                self._jobs.task_done()

    def _dispense(self, spec: ButtonSpec) -> None:
        try:
            done = self.dispenser.dispense(spec.field, spec.priority or None, spec.priority_group,
                                           source=f"button:{spec.pin}")
        except QueueError as exc:
            self._count("refused")
            log.info("button %s (%s): refused: %s", spec.pin, spec.field, exc.message_en)
            self.beep(refusal=True)
            return
        except Exception:
            self._count("refused")
            log.exception("button %s (%s): dispensing failed", spec.pin, spec.field)
            self.beep(refusal=True)
            return
        self._count("issued")
        log.info("button %s: ticket %s issued and printed", spec.pin, done.ticket.number)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every accepted press has been dispensed (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._jobs.all_tasks_done:
            while self._jobs.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._jobs.all_tasks_done.wait(left)
        return True

    @property
    def simulated(self) -> bool:
        from gpiozero.pins.mock import MockFactory

        return isinstance(self.factory, MockFactory)

    def simulate_press(self, pin: PinSpec) -> bool:
        """Press and release a button on mock pins (demos, a technician's check); False when no
        configured button uses that pin. ValueError on real pins."""
        if not self.simulated:
            raise ValueError("only mock pins can be pressed from software")
        wanted = _same_pin(pin)
        if not any(_same_pin(b.pin) == wanted for b in self.config.buttons):
            return False
        mock = self.factory.pin(pin)  # type: ignore[union-attr]
        mock.drive_low()
        mock.drive_high()
        return True

    # ------------------------------------------------------------- indicators
    def beep(self, refusal: bool = True) -> None:
        if self.buzzer is not None and not self._closed:
            try:
                self.buzzer.beep(on_time=0.12, off_time=0.08, n=3 if refusal else 1, background=True)
            except GPIOZeroError:
                log.warning("buzzer failed", exc_info=True)

    def _show_health(self, health: PrinterHealth) -> None:
        if self.led is None or self._closed:
            return
        try:
            if health.can_print:
                self.led.on()
            else:
                self.led.blink(on_time=0.4, off_time=0.4, background=True)
        except GPIOZeroError:
            log.warning("status LED failed", exc_info=True)

    def health(self) -> dict[str, Any]:
        with self._count_lock:
            counts = dict(self.counts)
        return {"device": "buttons", "buttons": [{"pin": b.pin, "field": b.field,
                                                  "priority": b.priority} for b in self.config.buttons],
                "pin_factory": self.config.pin_factory or "default", **counts}

    # ---------------------------------------------------------------- closing
    def _close_devices(self) -> None:
        for device in [*self.buttons, self.led, self.buzzer, self.paper_low]:
            if device is not None:
                try:
                    device.close()
                except Exception:
                    log.debug("closing a GPIO device failed", exc_info=True)
        self.buttons = []
        self.led = self.buzzer = self.paper_low = None

    def close(self) -> None:
        """Stop taking presses, finish the ticket being printed, release the pins. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(None)
        self._worker.join(timeout=self.dispenser.lock_timeout + 5)
        self._close_devices()
        if self.factory is not None:
            try:
                self.factory.close()
            except Exception:
                log.debug("closing the pin factory failed", exc_info=True)

    def __enter__(self) -> TicketButtons:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
