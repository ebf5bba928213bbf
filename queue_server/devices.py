"""Device health as the RS485 bridges report it (issue 10): what `GET /api/v1/devices` serves.

Each `firmware-bridge` sends its whole picture every `[bridge] health_s` seconds with
`PUT /api/v1/devices/health` (its device token). The hub keeps the latest report per bridge in
memory only — it is a live view, rebuilt within one period after a restart, and not worth an SD-card
write every few seconds. A bridge silent for longer than STALE_S is shown `stale`, with its devices
offline and the reason, so a dead bridge process never looks like healthy devices.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Any

STALE_S = 30.0     # three missed reports at the 10 s the docs recommend as the largest period
MAX_BRIDGES = 16   # a center has one or two; more is a misconfiguration, not a reason to grow

DEVICE_FIELDS = ("id", "bus", "unit", "kind", "counter", "name", "online", "last_seen", "frames_ok",
                 "frames_bad", "timeouts", "exceptions", "rtt_ms", "error", "firmware", "serial",
                 "pending_events", "overflows", "line_noise", "backoff_s")


class DeviceHealthBoard:
    """Thread-safe latest report per bridge id."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._reports: dict[str, tuple[float, dict[str, Any]]] = {}

    def report(self, body: dict[str, Any]) -> bool:
        """Keep a bridge's report (already schema-checked). False when a new bridge would exceed
        MAX_BRIDGES (the report is refused)."""
        bridge_id = body["bridge"]["id"]
        with self._lock:
            if bridge_id not in self._reports and len(self._reports) >= MAX_BRIDGES:
                return False
            self._reports[bridge_id] = (self._clock(), body)
        return True

    def view(self) -> dict[str, Any]:
        """{"bridges": [...], "devices": [...]} — the shape the manager page reads."""
        now = self._clock()
        bridges, devices = [], []
        with self._lock:
            reports = sorted(self._reports.items())
        for bridge_id, (received, body) in reports:
            stale = now - received > STALE_S
            received_at = datetime.fromtimestamp(received, timezone.utc).isoformat(timespec="seconds")
            bridges.append({**body["bridge"], "id": bridge_id, "received_at": received_at,
                            "stale": stale})
            for d in body["devices"]:
                entry = {k: d.get(k) for k in DEVICE_FIELDS}
                entry["bridge"] = bridge_id
                if stale:
                    entry["online"] = False
                    entry["error"] = f"bridge {bridge_id} silent since {received_at}"
                devices.append(entry)
        return {"bridges": bridges, "devices": devices}
