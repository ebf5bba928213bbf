"""The technician's page in headless Chromium: what the simulated devices show, and their keys."""

from __future__ import annotations

import pytest

from firmware_bridge.simulator.registers import text_to_registers

from .conftest import RawMaster, RigProcess, valid

pytestmark = pytest.mark.browser


def write(master: RawMaster, unit: int, address: int, values: list[int]) -> None:
    frame = bytes([unit, 16]) + address.to_bytes(2, "big") + len(values).to_bytes(2, "big") \
        + bytes([2 * len(values)]) + b"".join(v.to_bytes(2, "big") for v in values)
    assert master.transact(frame)[:2] == bytes([unit, 16])


def poll(master: RawMaster, unit: int) -> list[int]:
    reply = master.transact(bytes([unit, 4, 0, 16, 0, 7]))
    assert valid(reply), reply.hex(" ")
    return [int.from_bytes(reply[3 + 2 * i:5 + 2 * i], "big") for i in range(7)]


def test_the_page_shows_each_device_and_its_keys_reach_the_bus(browser, rig_process: RigProcess) -> None:  # type: ignore[no-untyped-def]
    master = RawMaster(rig_process.port)
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{rig_process.api}/")
        assert page.locator("h1").inner_text() == "Thiết bị RS485 mô phỏng"
        display = page.locator('.device[data-unit="2"] [data-led]')
        page.wait_for_selector('.device[data-unit="2"] [data-led][data-shows="Err"]')  # MODE 3 after power-up

        # the bridge's write (here a raw master's) shows on the simulated LED, blinking
        write(master, 2, 0, [1, 5, 80, 60, 2, 1, 4, 0, *text_to_registers("A023")])
        page.wait_for_selector('.device[data-unit="2"] [data-led][data-shows="A023"].blink')
        assert "Đang gọi số" in page.locator('.device[data-unit="2"] [data-mode]').inner_text()
        assert display.inner_text().strip() == "A023"

        # NEXT on the terminal of counter 1: an event on the bus
        terminal = page.locator('.device[data-unit="1"]')
        terminal.get_by_role("button", name="Tiếp theo").click()
        page.wait_for_selector('.device[data-unit="1"] .status:has-text("Đã ghi phím")')
        pending, seq, key, arg = poll(master, 1)[:4]
        assert (pending, key, arg) == (1, 1, 0) and seq >= 1
        # TRANSFER to counter 4: the counter number keyed in travels as the argument
        terminal.get_by_label("Quầy chuyển đến").fill("4")
        terminal.get_by_role("button", name="Chuyển quầy").click()
        page.wait_for_selector('.device[data-unit="1"] [data-mode]:has-text("2 phím chờ gửi")')
        master.transact(bytes([1, 6, 0, 32]) + seq.to_bytes(2, "big"))
        assert poll(master, 1)[:4] == [1, seq + 1, 6, 4]

        # a rating box takes presses only once the bridge has made it ready
        rating = page.locator('.device[data-unit="3"]')
        assert rating.get_by_role("button").count() == 3
        write(master, 3, 0, [1, 3, 80, 60, 3])
        page.wait_for_selector('.device[data-unit="3"] [data-lamp="mode"]:has-text("Sẵn sàng")')
        rating.get_by_role("button", name="Hài lòng", exact=True).click()
        page.wait_for_selector('.device[data-unit="3"] [data-lamp="thanks"].on')
        assert poll(master, 3)[:3][0] == 1 and poll(master, 3)[2] == 2

        # the lobby board's rows
        write(master, 4, 0, [1, 5, 80, 60, 2, 1, *[0] * 10, 2, *text_to_registers("1023"),
                             1, *text_to_registers("2001")])
        page.wait_for_selector('.device[data-unit="4"] tr[data-row]:nth-child(2)')
        rows = page.locator('.device[data-unit="4"] tr[data-row]').all_inner_texts()
        assert [r.split() for r in rows] == [["1023", "→", "Quầy", "2"], ["2001", "→", "Quầy", "1"]]

        # the off-the-shelf LED
        assert master.transact(bytes([5, 6, 0, 0, 0x03, 0xFF]))[:2] == bytes([5, 6])
        page.wait_for_selector('.device[data-unit="5"] [data-led][data-shows="1023"]')
        assert errors == []
    finally:
        context.close()
        master.close()
