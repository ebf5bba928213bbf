"""The bridge process: buses (master.BusMaster), the on-disk press queue (outbox.Outbox) and the
hub link (hub.HubLink), wired together.

What each display shows is computed here from the hub's picture of the hall (hub.HallView):
- counter display / terminal: the counter's current number (MODE 1), `paused` (MODE 2), idle
  (MODE 0), or the error state (MODE 3) while the hub's Socket.IO connection is down;
- rating box: ready (MODE 1) while the hub is reachable, error (MODE 3) otherwise — presses are
  queued in both (PROTOCOL.md §6.3);
- lobby board: the latest calls, newest first, of its `counters` (all when empty);
- numeric-led: the digits of the current number, `idle_value` when none, `error_value` (if set)
  while the hub is unreachable (PROTOCOL.md §7).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime, timezone
from typing import Any

from . import profile
from .config import BridgeConfig, DeviceConfig
from .hub import HallView, HubLink
from .master import BusMaster, error_text
from .notify import sd_notify, watchdog_interval_s
from .outbox import Outbox

log = logging.getLogger("firmware_bridge")

STUCK_S = 10.0  # a bus thread that has not finished a loop turn for this long is stuck (watchdog)


def wanted_registers(d: DeviceConfig, view: HallView, rating_levels: int = 3) -> list[int]:
    """The holding registers device `d` should show now (see the module docstring);
    `rating_levels`: how many levels the hub's [ratings] has (a rating box's LEVELS, 3..5)."""
    o = d.options
    connected = view.connected
    if d.kind == "lobby-board":
        size = o["rows"] or profile.LOBBY_MAX_ROWS
        rows = view.latest(o["counters"], size)
        mode = profile.MODE_ERROR if not connected else (profile.MODE_NUMBER if rows else profile.MODE_IDLE)
        seq = sum(view.counter(c)[1] for _n, c in rows[:1])
        return profile.lobby_block(mode, rows, size, call_seq=seq, blink_s=o["blink_s"],
                                   brightness=o["brightness"], watchdog_s=o["watchdog_s"])
    assert d.counter is not None
    tile, call_seq, waiting = view.counter(d.counter)
    current = ((tile or {}).get("current") or {}).get("number")
    paused = (tile or {}).get("status") == "paused"
    if d.kind == "rating-box":
        mode = profile.MODE_NUMBER if connected else profile.MODE_ERROR
        return profile.rating_block(mode, thanks_s=o["thanks_s"], brightness=o["brightness"],
                                    watchdog_s=o["watchdog_s"], levels=max(3, min(5, rating_levels)))
    if d.kind == "numeric-led":
        if not connected and o["error_value"] >= 0:
            value = o["error_value"]
        elif current and not paused:
            value = profile.numeric_value(current, o["digits"])
        else:
            value = o["idle_value"]
        if o["function"] == 16 and value > 0xFFFF:
            return [value >> 16, value & 0xFFFF]
        return [value & 0xFFFF] if value <= 0xFFFF else [value >> 16, value & 0xFFFF]
    if not connected:
        mode, text = profile.MODE_ERROR, ""
    elif paused:
        mode, text = profile.MODE_PAUSED, ""
    elif current:
        mode, text = profile.MODE_NUMBER, current
    else:
        mode, text = profile.MODE_IDLE, ""
    try:
        return profile.display_block(mode, text, counter=d.counter, call_seq=call_seq,
                                     blink_s=o["blink_s"], brightness=o["brightness"],
                                     watchdog_s=o["watchdog_s"], waiting=waiting)
    except profile.ProfileError:
        log.warning("device %s: number %r cannot be shown", d.id, text)
        return profile.display_block(mode, "", counter=d.counter, call_seq=call_seq,
                                     blink_s=o["blink_s"], brightness=o["brightness"],
                                     watchdog_s=o["watchdog_s"], waiting=waiting)


class Bridge:
    """Everything one `firmware-bridge` process runs. `start()`, then `wait()` or `stop()`."""

    def __init__(self, cfg: BridgeConfig) -> None:
        if not cfg.token:
            raise ValueError("no device token: give [bridge] token or --token")
        self.cfg = cfg
        self.view = HallView()
        self.outbox = Outbox(cfg.data, cfg.queue_max)
        self.buses: dict[str, BusMaster] = {}
        for bus in cfg.buses:
            devs = [d for d in cfg.devices if d.bus == bus.name]
            self.buses[bus.name] = BusMaster(bus, devs, self.outbox, poll_ms=cfg.poll_ms,
                                             refresh_s=cfg.refresh_s)
        self._by_id = {d.id: d for d in cfg.devices}
        self.link = HubLink(cfg.hub, cfg.token, self.view, self.outbox, self.refresh_displays,
                            lambda device: self._by_id[device].options.get("finish_outcome", "received")
                            if device in self._by_id else "received",
                            action_max_age_s=cfg.action_max_age_s)
        self._halt = threading.Event()
        self._done = threading.Event()    # set by SIGTERM / SIGINT
        self._next_ping = 0.0
        self._threads: list[threading.Thread] = []

    def refresh_displays(self) -> None:
        """Recompute every display's registers from the hall view (the bus writes changes)."""
        for d in self.cfg.devices:  # every kind has holding registers to show
            self.buses[d.bus].show(d.unit, wanted_registers(d, self.view, self.cfg.rating_levels))

    def health_report(self) -> dict[str, Any]:
        devices = []
        for bus in self.buses.values():
            for d, h in bus.health():
                devices.append({"id": d.id, "bus": d.bus, "unit": d.unit, "kind": d.kind,
                                "counter": d.counter, "name": d.name, **h})
        return {
            "bridge": {
                "id": self.cfg.bridge_id,
                "reported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "hub_reachable": self.view.connected and self.link.http_ok,
                "queued_presses": self.outbox.size(),
                "queue_max": self.cfg.queue_max,
                "refused_presses": self.outbox.refused,
                "expired_presses": self.link.expired,
                "error": error_text(self.link.last_error),
                "buses": [{"name": b.bus.name, "port": b.bus.port, "baud": b.bus.baud}
                          for b in self.buses.values()],
            },
            "devices": devices,
        }

    def _health_loop(self) -> None:
        while not self._halt.wait(self.cfg.health_s):
            report = self.health_report()
            if self.link.report_health(report) and not report["bridge"]["hub_reachable"]:
                # the hub took a report saying it was unreachable: say at once that it is back
                self.link.report_health(self.health_report())

    def start(self) -> None:
        """Start the buses and the hub link. From the main thread, SIGTERM and SIGINT are taken
        first, so a signal during start-up still ends in a clean `wait()` return."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self._done.set())
        self.refresh_displays()  # error state until the hub answers
        for bus in self.buses.values():
            bus.start()
        for target, name in ((self.link.connect_forever, "hub-connect"),
                             (self.link.run_delivery, "hub-delivery"),
                             (self._health_loop, "health")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        sd_notify("READY=1")  # the buses' threads run (each opens its port, retrying every 1 s)

    def alive(self, stuck_s: float = STUCK_S) -> bool:
        """True while every bus thread is running and finished a loop turn (a transaction, an
        idle wait, a try at reopening its port) within `stuck_s`, and the hub delivery thread
        runs — the condition for systemd's WATCHDOG=1 (docs/install.md)."""
        now = time.monotonic()
        for bus in self.buses.values():
            if not bus.is_alive() or now - bus.last_turn > stuck_s:
                return False
        return any(t.name == "hub-delivery" and t.is_alive() for t in self._threads)

    def stop(self) -> None:
        self._halt.set()
        self.link.stop()
        for bus in self.buses.values():
            bus.stop()
        for bus in self.buses.values():
            bus.join(timeout=3)

    def wait(self) -> None:
        """Run until SIGTERM or SIGINT. Under systemd: WATCHDOG=1 every $WATCHDOG_USEC/2 while
        `alive()`, STOPPING=1 when the signal comes (sd_notify(3))."""
        done = self._done
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: done.set())
        interval = watchdog_interval_s()
        while not done.wait(min(1.0, interval) if interval else 1.0):
            if interval and time.monotonic() >= self._next_ping:
                if self.alive():
                    sd_notify("WATCHDOG=1")
                else:
                    log.error("a bus or the hub link is stuck: no watchdog ping")
                self._next_ping = time.monotonic() + interval
        sd_notify("STOPPING=1")
        log.info("stopping")
        self.stop()
