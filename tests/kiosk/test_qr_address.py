"""The address in a ticket's QR code: from `[center] public_url`, else from the socket the hub
listens on (never an assumed port 8080), with a start-up warning when phones cannot reach it."""

from __future__ import annotations

import dataclasses
import re

import pytest
import requests

from kiosk.runtime import lan_address, qr_address_warnings, qr_base_url
from queue_server.config import Config
from queue_server.demo import demo_config
from tests.conftest import HubProcess, login
from tests.kiosk.kiosk_escpos_parser import decode

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def config(public_url: str = "") -> Config:
    return dataclasses.replace(demo_config(), public_url=public_url)


@pytest.mark.parametrize(("host", "port", "expected"), [
    ("127.0.0.1", 8123, "http://127.0.0.1:8123"),
    ("192.168.1.10", 9000, "http://192.168.1.10:9000"),
    ("::1", 8080, "http://[::1]:8080"),
    ("localhost", 5000, "http://localhost:5000"),
])
def test_without_public_url_the_qr_follows_the_listening_socket(host: str, port: int, expected: str) -> None:
    assert qr_base_url(config(), host, port) == expected


def test_on_every_interface_the_qr_uses_the_lan_address_and_says_it_guessed() -> None:
    lan = lan_address()
    assert qr_base_url(config(), "0.0.0.0", 8765) == f"http://{lan or 'localhost'}:8765"
    (warning,) = qr_address_warnings(config(), "0.0.0.0", 8765)
    assert "public_url is not set" in warning and f":8765/t/" in warning


def test_public_url_wins_and_silences_the_warning_unless_it_is_loopback() -> None:
    assert qr_base_url(config("http://quay.xa-kim-thanh.vn"), "127.0.0.1", 8123) == "http://quay.xa-kim-thanh.vn"
    assert qr_address_warnings(config("http://192.168.1.10:8080"), "0.0.0.0", 8080) == []
    assert qr_address_warnings(config("http://192.168.1.10:8080"), "127.0.0.1", 8080) == []
    (warning,) = qr_address_warnings(config("http://localhost:8080"), "0.0.0.0", 8080)
    assert "loopback" in warning and "public_url" in warning


def test_a_loopback_listener_without_public_url_is_warned_about() -> None:
    (warning,) = qr_address_warnings(config(), "127.0.0.1", 8123)
    assert "127.0.0.1:8123" in warning and "--host 0.0.0.0" in warning and "public_url" in warning
    assert qr_address_warnings(config(), "192.168.1.10", 8123) == []


def test_a_button_pressed_before_any_page_prints_the_hubs_real_port(hub: HubProcess) -> None:
    """The issue's case: right after start, before any kiosk page has loaded, a ticket button's
    QR pointed at port 8080 while the hub listened elsewhere."""
    assert hub.port != 8080
    admin = login(hub.url, "admin")
    r = requests.post(f"{hub.url}/api/v1/buttons/press", json={"pin": 17}, headers=admin, timeout=30)
    assert r.status_code == 200 and r.json()["issued"] == 1
    (ticket_bin,) = (hub.data / "printer-spool").glob("*.bin")
    (qr,) = decode(ticket_bin.read_bytes(), 576).qrs
    url = qr.data.decode()
    match = re.fullmatch(rf"http://127\.0\.0\.1:{hub.port}/t/({UUID})", url)
    assert match, url
    assert requests.get(f"{hub.url}/api/v1/tickets/{match.group(1)}", timeout=10).json()["status"] == "waiting"
    log = (hub.data.parent / f"hub-{hub.port}.log").read_text(encoding="utf-8")
    assert f"listens on 127.0.0.1:{hub.port} only" in log, "the start-up log says phones cannot reach it"


def test_a_kiosk_on_the_hub_itself_gets_the_address_the_hub_listens_on(hub: HubProcess) -> None:
    """A kiosk browser on the Pi opens the hub at 127.0.0.1 while the hub listens on 127.0.0.1
    only (make run): the QR code is the address the start-up warning names, not this machine's LAN
    address swapped in, which nothing listens on (found by a new user: connection refused)."""
    r = requests.post(f"{hub.url}/api/v1/kiosk/tickets", json={"service": "ho-tich"},
                      headers={"Authorization": "Bearer demo-device"}, timeout=30)
    assert r.status_code == 201, r.text
    assert re.fullmatch(rf"http://127\.0\.0\.1:{hub.port}/t/{UUID}", r.json()["status_url"]), r.json()["status_url"]
    assert requests.get(r.json()["status_url"], timeout=10).status_code == 200
