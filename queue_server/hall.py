"""The manager's live hall (issue 11): every counter, the waiting per field, today's totals and
the printers, as one picture (`HallView.picture`), pushed to a manager-only Socket.IO room.

How it is fed (chosen so the publisher thread of `push.py` stays as it is): `HallFeed` stands
between the queue service and `push.SocketPublisher`. Every event the service (or the kiosk's
printer health) publishes goes on to the public publisher unchanged, and also nudges the feed's
own thread, which waits `COALESCE_S` for more, reads one whole picture and emits it as `hall` to
the room `MANAGER_ROOM`. A burst of tickets is one picture; a picture is read after the events
that caused it were committed, so it contains them. The picture carries names of staff, which
public events never do — hence a room of its own that only a manager or admin token can join
(`manager_join` with {token}); an anonymous client is answered with an `error` and is never in it.
Before each picture the room's members are checked again (their tokens): a logout, an expired
login or a disabled account leaves the room.

Device health of the RS485 bridge is not in the picture: the page asks `GET /api/v1/devices`
itself (it answers 404 until a bridge exists).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any

from flask import request
from flask_socketio import SocketIO, join_room

from . import stats
from .core.errors import QueueError

log = logging.getLogger(__name__)

MANAGER_ROOM = "manager"
COALESCE_S = 0.2  # a burst of events becomes one picture
HALL_EVENT = "hall"


def _iso(epoch: float | None, tz: Any) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).astimezone(tz).isoformat()


class HallView:
    """Reads the live hall: `picture()` → {now, day, counters: [...], fields: [...], totals,
    printers}. Durations are left to the page (it has `called_at` / `paused_until` and the hub's
    `now`), so the picture needs no refresh while nothing happens.

    `service`: QueueService; `store`: SqliteStore; `auth`: Authenticator (staff names, roles);
    `kiosk`: kiosk.runtime.KioskRuntime or None (printer health)."""

    def __init__(self, service: Any, store: Any, auth: Any, kiosk: Any = None) -> None:
        self.service = service
        self.store = store
        self.auth = auth
        self.kiosk = kiosk

    def picture(self) -> dict[str, Any]:
        rules = self.service.rules
        tz = rules.timezone
        snap = self.service.snapshot(None)
        day = datetime.fromisoformat(snap["day"]).date()
        now = self.service.clock.now()
        staff = self.auth.config.staff
        logged_in = self.store.active_sessions(now.timestamp())
        oldest = self.store.oldest_waiting(day)
        with self.store.reading() as tx:
            serving = tx.serving(day)
        counters = []
        for c in snap["counters"]:
            n = c["counter"]
            current = serving.get(n)
            at_counter = sorted(u for u, a in staff.items() if a.counter == n and a.role == "staff")
            if c["status"] == "paused":
                state = "paused"
            elif current is not None:
                state = "serving"
            else:
                state = "idle"
            counters.append({
                **c,
                "state": state,
                "serving_staff": current.staff if current is not None else None,
                "serving_staff_name": (staff[current.staff].name if current is not None
                                       and current.staff in staff else None),
                "staff": [{"username": u, "name": staff[u].name, "logged_in": u in logged_in}
                          for u in at_counter],
            })
        fields = []
        for s in snap["services"]:
            issued = oldest.get(s["id"])
            field = rules.fields.get(s["id"])
            fields.append({**s, "name_en": (field.name_en if field else "") or s["name"],
                           "oldest_issued_at": _iso(issued, tz),
                           "longest_wait_s": max(0, round(now.timestamp() - issued)) if issued else None})
        known = {s["id"] for s in snap["services"]}
        for fid, count in snap["waiting"].items():  # tickets of a field renamed away still wait
            if fid not in known and count:
                issued = oldest.get(fid)
                fields.append({"id": fid, "name": fid, "name_en": fid, "waiting": count,
                               "oldest_issued_at": _iso(issued, tz),
                               "longest_wait_s": max(0, round(now.timestamp() - issued)) if issued else None})
        return {
            "seq": snap["seq"], "now": snap["now"], "day": snap["day"],
            "center": snap["center"],
            "counters": counters,
            "fields": fields,
            "totals": {**self.totals(day), "waiting": sum(snap["waiting"].values())},
            "printers": self.printers(),
            "logged_in": sorted(u for u in logged_in if u in staff),
        }

    def totals(self, day: Any) -> dict[str, Any]:
        """Today's issued, served, no-show, cancelled, average wait so far (min), with the
        definitions of `stats.py` (one set of rules for the page and the reports); `waiting` is
        replaced by the citizens waiting to be called (the fields' counts) in `picture`."""
        block = stats.from_store(self.store, self.service.rules, day, day)["totals"]
        return {"issued": block["issued"], "served": block["served"], "no_show": block["no_show"],
                "cancelled": block["cancelled"], "waiting": block["waiting"],
                "avg_wait_min": block["wait_min"]["avg"],
                "within_target_pct": block.get("within_target_pct")}

    def printers(self) -> list[dict[str, Any]]:
        """Every kiosk printer's health as the kiosk reports it (kiosk/dispenser.py)."""
        if self.kiosk is None:
            return []
        out = []
        for printer_id, dispenser in getattr(self.kiosk, "dispensers", {}).items():
            try:
                out.append({**dispenser.health().as_dict(detail=True), "printer": printer_id})
            except Exception:  # one printer's reading must not hide the hall
                log.exception("printer %s health", printer_id)
        return out


class HallFeed:
    """The service's publisher as seen by the queue core: forwards every event to `publisher`
    (push.SocketPublisher) at once, then nudges the thread that pushes the hall picture to the
    manager room. `publish` only enqueues (the core calls it under its lock)."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher
        self.socketio: SocketIO | None = None
        self.view: HallView | None = None
        self.auth: Any = None
        self._nudged = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        # who is in the manager room, with the token it joined with: checked again before each
        # picture, so a logout, an expired login or a disabled account stops the pictures
        self._members: dict[str, str] = {}
        self._members_lock = threading.Lock()

    def admit(self, sid: str, token: str) -> None:
        """`sid` joined the manager room with `token` (register_manager_room)."""
        with self._members_lock:
            self._members[sid] = token

    def _recheck_members(self) -> None:
        """Take out of the room every member whose token no longer names a manager or admin."""
        if self.auth is None or self.socketio is None:
            return
        with self._members_lock:
            members = list(self._members.items())
        for sid, token in members:
            try:
                principal = self.auth.principal(token)
            except QueueError:
                principal = None
            if principal is None or principal.role not in ("admin", "manager"):
                with self._members_lock:
                    self._members.pop(sid, None)
                self.socketio.server.leave_room(sid, MANAGER_ROOM)

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        self.publisher.publish(name, payload)
        self._nudged.set()

    def nudge(self) -> None:
        """Something a manager sees changed outside the queue (a config change, a login)."""
        self._nudged.set()

    def attach(self, socketio: SocketIO, view: HallView, auth: Any = None) -> None:
        """Where pictures go, how they are read, who may get them (wired by app.create_hub)."""
        self.socketio = socketio
        self.view = view
        self.auth = auth

    def start(self) -> None:
        """Start the thread (with the publisher's, when the hub starts serving)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="hall-feed", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop = True
        self._nudged.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        while True:
            self._nudged.wait()
            if self._stop:
                return
            time.sleep(COALESCE_S)  # let the rest of a burst arrive
            self._nudged.clear()
            if self._stop:
                return
            try:
                assert self.view is not None and self.socketio is not None
                self._recheck_members()
                self.socketio.emit(HALL_EVENT, self.view.picture(), to=MANAGER_ROOM)
            except Exception:  # the next event tries again
                log.exception("could not push the hall picture")


def register_manager_room(socketio: SocketIO, auth: Any, view: HallView, feed: HallFeed) -> None:
    """`manager_join` {token}: a manager's or admin's login token puts this connection in the
    manager room and answers the current `hall` picture; anything else is answered with an
    `error` event (code `forbidden` or `login_required`) and joins nothing."""

    def refuse(sid: str, code: str, vi: str, en: str) -> None:
        socketio.emit("error", {"code": code, "message": vi, "message_en": en}, to=sid)

    @socketio.on("manager_join")
    def manager_join(data: Any = None, *_extra: Any) -> None:
        sid = request.sid  # type: ignore[attr-defined]
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not 0 < len(token) <= 256:
            refuse(sid, "login_required", "Vui lòng đăng nhập.", "Log in first (token).")
            return
        try:
            principal = auth.principal(token)
        except QueueError as exc:
            refuse(sid, exc.code, exc.message_vi, exc.message_en)
            return
        if principal is None or principal.role not in ("admin", "manager"):
            refuse(sid, "forbidden", "Chỉ lãnh đạo và quản trị viên được xem trang quản lý.",
                   "Only managers and admins may watch the hall.")
            return
        join_room(MANAGER_ROOM, sid)
        feed.admit(sid, token)
        socketio.emit(HALL_EVENT, view.picture(), to=sid)

