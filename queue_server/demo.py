"""Demo mode: the accounts of SPEC §9 (admin, manager, staff1…staff6, password `demo`; device
token `demo-device`). They exist only when the hub is started with --demo."""

from __future__ import annotations

import dataclasses
from importlib import resources

from .config import Config, DeviceAccount, StaffAccount, parse_config

# werkzeug scrypt hash of "demo" and sha256 of "demo-device", computed once (hashing at start-up
# would cost half a second on a Pi).
DEMO_PASSWORD_HASH = (
    "scrypt:32768:8:1$Ka6gIZOJzAHcm0XX$0a5fdcc9f03e697a840061ad4af36e8c0ee0a861f2cf228c8fb36cd5a84020"
    "aa3b65a60238ee332519640a1608e06ce8b25d1e0afe3981da7aef16ccd4a8cb72"
)
DEMO_DEVICE_TOKEN = "demo-device"
DEMO_DEVICE_SHA256 = "d4abd70f8553f9270d6645950104735617b1dcef82296ed8107734be9b9a6f24"


def demo_config_text() -> str:
    return resources.files("queue_server").joinpath("demo.toml").read_text(encoding="utf-8")


def with_demo_accounts(config: Config) -> Config:
    """The config's fields and counters, with the demo accounts added (staffN works counter N)."""
    staff = dict(config.staff)
    staff["admin"] = StaffAccount("admin", "Quản trị viên", "admin", None, DEMO_PASSWORD_HASH)
    staff["manager"] = StaffAccount("manager", "Lãnh đạo Trung tâm", "manager", None, DEMO_PASSWORD_HASH)
    for n in range(1, 7):
        if n in config.rules.counters:
            staff[f"staff{n}"] = StaffAccount(f"staff{n}", f"Cán bộ quầy {n}", "staff", n, DEMO_PASSWORD_HASH)
    device = DeviceAccount("demo-device", "kiosk", DEMO_DEVICE_SHA256,
                           ("issue", "rate", "counter", "display"), None)
    return dataclasses.replace(config, staff=staff, devices=(*config.devices, device))


def demo_config() -> Config:
    return with_demo_accounts(parse_config(demo_config_text(), "demo.toml"))
