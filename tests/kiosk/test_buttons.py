"""GPIO ticket buttons on gpiozero's mock pins: the test plays the hardware (drives a pin low), the
hub issues and prints through the same dispenser as the touchscreen."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from kiosk.buttons import GpioConfig, GpioConfigError, TicketButtons, gpio_config
from kiosk.printers import PrinterStatus
from queue_server.app import Hub, create_hub
from queue_server.config import ConfigError, parse_config
from queue_server.demo import demo_config_text


def demo_without_gpio() -> str:
    """The demo center without its own simulated buttons (each test brings its box)."""
    text = demo_config_text()
    start = text.index("[gpio]")
    return text[:start] + text[text.index("[[fields]]", start):]

FIELDS = ["ho-tich", "chung-thuc", "dat-dai", "dang-ky-kinh-doanh", "tu-phap", "bao-tro-xa-hoi"]
BUTTONS = """
[gpio]
pin_factory = "mock"
press_interval = {interval}
max_per_minute = {cap}
bounce_time = 0.02
paper_low_pin = 23
status_led_pin = 24
buzzer_pin = 25
buttons = [
  {{pin = 17, field = "ho-tich"}},
  {{pin = 27, field = "chung-thuc"}},
  {{pin = 22, field = "dat-dai"}},
  {{pin = "GPIO5", field = "tu-phap", priority_group = "elderly"}},
]
"""


def until(check: Callable[[], Any], timeout: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
def make_hub(tmp_path: Path) -> Iterator[Callable[..., Hub]]:
    hubs: list[Hub] = []

    def make(interval: float = 60.0, cap: int = 20, extra: str = "") -> Hub:
        text = demo_without_gpio() + BUTTONS.format(interval=interval, cap=cap) + extra
        hub = create_hub(parse_config(text, "test.toml"), tmp_path / f"data{len(hubs)}")
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


def press(buttons: TicketButtons, pin: int) -> None:
    mock = buttons.factory.pin(pin)  # type: ignore[union-attr]
    mock.drive_low()
    mock.drive_high()


def spool(hub: Hub) -> list[Path]:
    folder = hub.data_dir / "printer-spool"
    return sorted(folder.glob("*.bin")) if folder.exists() else []


def test_a_press_issues_and_prints_one_ticket(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub()
    buttons = hub.kiosk.buttons
    assert isinstance(buttons, TicketButtons)
    press(buttons, 17)
    assert buttons.wait_idle()
    assert hub.service.snapshot()["waiting"]["ho-tich"] == 1
    (ticket_bin,) = spool(hub)
    assert ticket_bin.name.startswith("1001-") and ticket_bin.with_suffix(".png").exists()
    with hub.store.reading() as tx:
        (ticket,) = tx.tickets_between(hub.service.today(), hub.service.today())
    assert ticket.source == "button:17" and not ticket.priority

    press(buttons, 5)  # the priority button
    assert buttons.wait_idle()
    with hub.store.reading() as tx:
        tickets = tx.tickets_between(hub.service.today(), hub.service.today())
    assert [(t.field_id, t.priority, t.priority_group) for t in tickets][1] == ("tu-phap", True, "elderly")


@pytest.mark.parametrize(("cap", "expected"), [(20, 4), (3, 3)], ids=["one-per-button", "box-cap"])
def test_fifty_presses_in_a_second_issue_only_what_the_limits_allow(
    make_hub: Callable[..., Hub], cap: int, expected: int
) -> None:
    hub = make_hub(interval=60.0, cap=cap)
    buttons = hub.kiosk.buttons
    started = time.monotonic()
    for i in range(50):
        press(buttons, (17, 27, 22, 5)[i % 4])
    assert time.monotonic() - started < 1.0
    assert buttons.wait_idle()
    issued = sum(hub.service.snapshot()["waiting"].values())
    assert issued == expected
    assert len(spool(hub)) == expected
    assert buttons.counts == {"presses": 50, "ignored": 50 - expected, "issued": expected, "refused": 0}


def test_a_hammered_button_paced_by_its_interval(make_hub: Callable[..., Hub]) -> None:
    """50 presses spread over one second on one button, interval 0.25 s: presses at 0, 0.26,
    0.52 and 0.78 s get tickets (an injected clock makes it exact)."""
    hub = make_hub()
    hub.kiosk.buttons.close()  # free the pins; build a box with a clock the test moves
    now = [100.0]
    cfg = GpioConfig(buttons=gpio_config({"buttons": [{"pin": 17, "field": "ho-tich"}]}, FIELDS).buttons,
                     press_interval=0.25, max_per_minute=20)
    with TicketButtons(cfg, hub.kiosk.dispenser, factory=MockFactory(), clock=lambda: now[0]) as box:
        for i in range(50):
            now[0] = 100.0 + i * 0.02
            press(box, 17)
        assert box.wait_idle()
        assert box.counts["issued"] == 4
    assert hub.service.snapshot()["waiting"]["ho-tich"] == 4


def test_led_buzzer_and_paper_low_sensor(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub()
    buttons = hub.kiosk.buttons
    dispenser = hub.kiosk.dispenser
    led_pin = buttons.factory.pin(24)
    buzzer_pin = buttons.factory.pin(25)
    until(lambda: buttons.led.is_lit)  # ready

    buttons.factory.pin(23).drive_low()  # the paper-low switch closes
    assert dispenser.health().status is PrinterStatus.PAPER_NEAR_END
    press(buttons, 17)
    assert buttons.wait_idle() and buttons.counts["issued"] == 1, "near end still prints"

    dispenser.simulate("paper_out")
    led_pin.clear_states()
    until(lambda: {s.state for s in led_pin.states} >= {True, False})  # blinking = fault
    press(buttons, 27)
    assert buttons.wait_idle()
    assert buttons.counts["refused"] == 1
    until(lambda: any(s.state for s in buzzer_pin.states))  # a beep on refusal
    assert hub.service.snapshot()["waiting"]["chung-thuc"] == 0, "no phantom ticket"

    dispenser.simulate("ok")
    buttons.factory.pin(23).drive_high()
    until(lambda: buttons.led.is_lit and dispenser.health().status is PrinterStatus.OK)


def test_closing_the_hub_releases_the_pins(make_hub: Callable[..., Hub]) -> None:
    hub = make_hub()
    buttons = hub.kiosk.buttons
    hub.kiosk.close()
    hub.kiosk.close()  # idempotent
    assert buttons.buttons == [] and buttons.led is None
    assert hub.kiosk.printer._closed  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("buttons", "key"),
    [
        ([{"pin": 17, "field": "ho-tich"}, {"pin": 17, "field": "dat-dai"}], "gpio.buttons[1].pin"),
        ([{"pin": 17, "field": "ho-tich"}, {"pin": "BCM17", "field": "dat-dai"}], "gpio.buttons[1].pin"),
        ([{"pin": 99, "field": "ho-tich"}], "gpio.buttons[0].pin"),
        ([{"pin": "pin17", "field": "ho-tich"}], "gpio.buttons[0].pin"),
        ([{"pin": True, "field": "ho-tich"}], "gpio.buttons[0].pin"),
        ([{"field": "ho-tich"}], "gpio.buttons[0].pin"),
        ([{"pin": 17, "field": "nha-dat"}], "gpio.buttons[0].field"),
        ([{"pin": 17}], "gpio.buttons[0].field"),
        ([{"pin": 17, "field": "ho-tich", "colour": "red"}], "gpio.buttons[0].colour"),
        ([{"pin": 17, "field": "ho-tich", "priority": "yes"}], "gpio.buttons[0].priority"),
        ([{"pin": 17, "field": "ho-tich", "priority_group": "vip"}], "gpio.buttons[0].priority_group"),
        (["17"], "gpio.buttons[0]"),
    ],
)
def test_bad_buttons_name_the_item_and_key(buttons: list[Any], key: str) -> None:
    with pytest.raises(GpioConfigError) as err:
        gpio_config({"buttons": buttons}, FIELDS, ["elderly"])
    assert err.value.key == key


def test_bad_buttons_stop_the_hub_with_a_clear_config_error(tmp_path: Path) -> None:
    text = demo_without_gpio() + '[gpio]\npin_factory = "mock"\nbuttons = [{pin = 17, field = "ho-tich"}, {pin = 18, field = "nha-dat"}]\n'
    with pytest.raises(ConfigError) as err:
        create_hub(parse_config(text, "center.toml"), tmp_path / "data")
    assert err.value.key == "gpio.buttons[1].field"
    assert "nha-dat" in str(err.value) and "center.toml" in str(err.value)


def test_unusable_gpio_hardware_does_not_take_the_hub_down(tmp_path: Path) -> None:
    text = demo_without_gpio() + '[gpio]\npin_factory = "lgpio"\nbuttons = [{pin = 17, field = "ho-tich"}]\n'
    try:
        import lgpio  # noqa: F401
        pytest.skip("lgpio is installed here")
    except ImportError:
        pass
    hub = create_hub(parse_config(text, "center.toml"), tmp_path / "data")
    try:
        assert hub.kiosk.buttons is None and "lgpio" in hub.kiosk.buttons_error
        body = hub.app.test_client().get("/api/v1/printer").get_json()
        assert body["buttons"]["error"] and body["status"] == "ok"
    finally:
        hub.close()


def test_the_demo_box_can_be_pressed_by_an_admin(tmp_path: Path) -> None:
    """`--demo` runs simulated buttons; an admin presses one over the API (demos, checks)."""
    from queue_server.demo import demo_config

    hub = create_hub(demo_config(), tmp_path / "data")
    try:
        client = hub.app.test_client()
        admin = client.post("/api/v1/auth/login", json={"username": "admin", "password": "demo"}).get_json()
        auth = {"Authorization": f"Bearer {admin['token']}"}
        r = client.post("/api/v1/buttons/press", json={"pin": 22}, headers=auth)
        assert r.status_code == 200 and r.get_json()["issued"] == 1
        assert client.post("/api/v1/buttons/press", json={"pin": 4}, headers=auth).status_code == 404
        assert client.post("/api/v1/buttons/press", json={"pin": 22}).status_code == 401
        with hub.store.reading() as tx:
            (ticket,) = tx.tickets_between(hub.service.today(), hub.service.today())
        assert (ticket.field_id, ticket.priority_group, ticket.source) == ("ho-tich", "elderly", "button:22")
        assert client.get("/api/v1/printer").get_json()["buttons"]["pin_factory"] == "mock"
    finally:
        hub.close()
