"""Reporting to the province (SPEC §8, §9 `[reporting]`; issue 12): the outbox and the forwarder.

What leaves the center: per field, per 15-minute slot of issue, the figures a province needs —
visits (issued), served, no-show, cancelled, closed at day end, never printed, still open,
dossiers; waiting and service time as count + sum + histogram buckets (so the central can merge
percentiles across slots and centers) and the count within the target wait; ratings per level per
staff. No ticket id, number or citizen data; staff appear by their login name only, as in the
center's own per-staff report. The batch format is `central/batch-v1.schema.json`
(documented in docs/reporting.md).

With `[reporting] raw_events = true` a batch is version 2 (`central/batch-v2.schema.json`): the
same plus `events`, the hub's event log after the last event packed (a cursor in
`outbox_event_stream`, moved in the packing transaction; at most `MAX_EVENTS_PER_BATCH` a batch),
each event rebuilt from the whitelist `EVENT_DATA` — never the ticket id (the phone page's
capability) but `visit_ref`, an HMAC of it under a key the center keeps; never the ticket number
or free text.

How nothing is missed or counted twice:
- The outbox is written by triggers (storage migration v5): every change to a ticket bumps the
  revision of its (day, field, slot) in the same SQLite transaction as the change and its event.
- Packing (one `BEGIN IMMEDIATE`): the dirty slots are re-aggregated from the `tickets` rows and the
  first `called` event of each ticket, marked packed at their current revision, and stored as one
  batch — the exact bytes, a random idempotency key, a sequence number. A later change (a rating
  after its slot was sent) makes the slot dirty again: a new batch carries a higher revision.
- Sending: the oldest unacknowledged batch is POSTed (same key, same bytes) until the central
  answers 200/201; only then is it marked acknowledged. A batch is packed only when none is
  waiting, so during an outage the backlog is the dirty marks, not a pile of batches. The central
  keeps, per (center, day, field, slot), the highest revision (replace, never add): a batch sent
  twice, or one that arrives after a newer one, changes nothing.
- Kill -9 between the central's answer and our ack: after restart the same batch is sent again and
  the central answers "duplicate".
- A batch the central refuses for good (REFUSED_STATUSES: 400, 409, 413, 422 — the same bytes can
  never be taken) is set aside with the central's answer (`refused_at`, `refusal`, its body kept),
  logged at ERROR, and the next batch goes: one bad batch never holds back the others. Anything
  else (401/403, 404, 408, 429, 5xx, no answer) is about the link or the configuration: the same
  batch is retried with backoff. `retry_refused` (admin API, `queue-server reporting
  retry-refused`) puts the refused batches back in line once the central is fixed.

Disk budget (the outbox's own, beyond the tickets the hub keeps anyway): one `outbox_slots` row
(~60 bytes) per field per 15 minutes with visits — ~6 KB per field per day — plus at most one
unacknowledged batch body (≤ `MAX_SLOTS_PER_BATCH` slots, ~1 KB each). Acknowledged batches keep
their key and counts (no body) for `KEEP_ACKED_DAYS`. A week-long outage of a 10-field center
costs well under 1 MB.

Transport: HTTPS with urllib3 (certificate verification always on; `ca_file` adds a private CA);
plain http:// only to a loopback address (tests, demos). `Authorization: Bearer <token>`,
`X-Signature: sha256=<hex HMAC-SHA256 of the body keyed by the token>`, `Idempotency-Key`.
Failures retry with exponential backoff (base `BACKOFF_BASE_S`, capped by `max_backoff_seconds`)
and jitter (each wait a random ½–1 of its step). While idle the forwarder still sends an empty batch every
`heartbeat_seconds`, so the central can tell a quiet center from one that stopped reporting.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import random
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, jsonify

from .config import Config
from .core.errors import Forbidden
from .core.models import CLOSED_AT_DAY_END, PAUSE_REASONS, Outcome, TicketStatus
from .core.ports import Clock

log = logging.getLogger(__name__)

BATCH_SCHEMA = "quay-so/reporting-batch"
BATCH_VERSION = 1
# A batch that carries the raw-event stream (`[reporting] raw_events = true`): version 1's keys
# plus `events` (central/batch-v2.schema.json). Without raw events a center sends version 1, so
# a central that knows only version 1 keeps taking its batches.
BATCH_VERSION_EVENTS = 2
MAX_EVENTS_PER_BATCH = 2000  # a long outage drains in several batches of at most this many
VISIT_REF_HEX = 16  # 64 bits of HMAC-SHA256: unique among a center's visits, not reversible
# HTTP answers that refuse THIS batch for good (a malformed or oversized body, a reused key):
# sending the same bytes again cannot succeed, so the batch is set aside (kept, with the answer)
# and the next one goes. Any other failure (401/403 token or center, 404 wrong URL, 408, 429,
# 5xx, no answer) is about the link or the configuration: the same batch is retried with backoff.
REFUSED_STATUSES = frozenset({400, 409, 413, 422})
SLOT_SECONDS = 900  # 15 minutes; the slot is keyed by its start, epoch seconds (UTC)
# Upper bounds (minutes) of the histogram buckets of waiting and service time; one more, open
# bucket follows the last bound. Fine where the reports' targets lie (≤ 15, ≤ 30 minutes).
HISTOGRAM_BOUNDS_MIN = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120, 150,
                        180, 240, 300, 480)
# Within-target share: the same target as the center's statistics (stats.TARGET_WAIT_MINUTES).
TARGET_WAIT_MINUTES = 15.0
MAX_SLOTS_PER_BATCH = 200  # bounds how long one packing holds the store (the hub waits)
KEEP_ACKED_DAYS = 30
BACKOFF_BASE_S = 2.0

DEFAULTS = {"interval_seconds": 10.0, "heartbeat_seconds": 300.0, "timeout_seconds": 15.0,
            "max_backoff_seconds": 600.0}


@dataclass(frozen=True)
class ReportingSettings:
    """The `[reporting]` section, checked. Seconds for every duration."""

    url: str            # the central's base URL; batches go to <url>/api/v1/ingest
    center_id: str
    token: str          # shared secret: bearer token and HMAC key
    ca_file: str | None
    interval_s: float
    heartbeat_s: float
    timeout_s: float
    max_backoff_s: float
    raw_events: bool = False  # forward the raw-event stream (batch version 2)

    @property
    def ingest_url(self) -> str:
        return self.url.rstrip("/") + "/api/v1/ingest"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_from_config(config: Config) -> ReportingSettings | None:
    """`[reporting]` of the center's config, or None when forwarding is off (no section, or no
    `url`). Raises ConfigError naming the key: a missing `center_id`/`token`, a URL that is not
    https:// (http:// only to a loopback address), a short token."""
    section = config.sections.get("reporting", {})
    if not section.get("url"):
        if section.get("center_id") or section.get("token") or section.get("raw_events"):
            raise config.error("reporting.url", "is required when center_id, token or raw_events "
                               "is set")
        return None
    url = section["url"]
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise config.error("reporting.url", f"must be an https:// URL, got {url!r}")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise config.error("reporting.url", "plain http:// is accepted only for a loopback address "
                           "(127.0.0.1, ::1, localhost); use https://")
    for key in ("center_id", "token"):
        if not section.get(key):
            raise config.error(f"reporting.{key}", "is required when reporting.url is set")
    if len(section["token"]) < 16:
        raise config.error("reporting.token", "must be at least 16 characters (a shared secret)")
    raw_events = section.get("raw_events", False)
    if not isinstance(raw_events, bool):
        raise config.error("reporting.raw_events", f"must be true or false, got {raw_events!r}")
    values = {k: float(section.get(k, v)) for k, v in DEFAULTS.items()}
    return ReportingSettings(
        url=url, center_id=section["center_id"], token=section["token"],
        ca_file=section.get("ca_file") or None, interval_s=values["interval_seconds"],
        heartbeat_s=values["heartbeat_seconds"], timeout_s=values["timeout_seconds"],
        max_backoff_s=values["max_backoff_seconds"], raw_events=raw_events)


def signature(token: str, body: bytes) -> str:
    """The `X-Signature` header value: `sha256=` + hex HMAC-SHA256 of `body` keyed by `token`."""
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def _bucket(minutes: float) -> int:
    for i, bound in enumerate(HISTOGRAM_BOUNDS_MIN):
        if minutes <= bound:
            return i
    return len(HISTOGRAM_BOUNDS_MIN)


def _times(values_s: list[float]) -> dict[str, Any]:
    hist = [0] * (len(HISTOGRAM_BOUNDS_MIN) + 1)
    for v in values_s:
        hist[_bucket(v / 60.0)] += 1
    return {"count": len(values_s), "sum_s": round(sum(values_s), 3), "histogram": hist}


_SLOT_TICKETS = """
SELECT t.status, t.print_pending, t.closed_reason, t.dossiers, t.called_at, t.finished_at,
       t.rating, t.staff,
       (SELECT json_extract(e.data, '$.wait_seconds') FROM events e
         WHERE e.ticket_id = t.id AND e.kind = 'called'
           AND json_extract(e.data, '$.wait_seconds') IS NOT NULL
         ORDER BY e.id LIMIT 1) AS wait_s
FROM tickets t
WHERE t.day = ? AND t.field_id = ? AND CAST(t.issued_at / 900 AS INTEGER) * 900 = ?
"""


def slot_aggregate(db: sqlite3.Connection, day: str, field_id: str, slot: int) -> dict[str, Any]:
    """The figures of one (day, field, slot) from the tickets rows, with the same definitions as
    the center's statistics (stats.py): a never-printed ticket counts only in `print_failed`;
    waiting time = the first call's `wait_seconds`; service time = finish − call of a served
    visit; a negative duration (clock stepped back) is left out and counted in
    `clock_anomalies`. Times in seconds."""
    issued = served = no_show = cancelled = day_end = print_failed = still_open = dossiers = 0
    anomalies = within = 0
    waits: list[float] = []
    services: list[float] = []
    ratings: dict[tuple[str, int], int] = {}
    for row in db.execute(_SLOT_TICKETS, (day, field_id, slot)):
        status, pending, closed, n_dossiers, called_at, finished_at, rating, staff, wait_s = row
        if pending and status == "cancelled":
            print_failed += 1
            continue
        issued += 1
        dossiers += n_dossiers or 0
        if status == "done":
            served += 1
            if called_at is not None and finished_at is not None:
                duration = finished_at - called_at
                if duration >= 0:
                    services.append(duration)
                else:
                    anomalies += 1
        elif status == "no_show":
            no_show += 1
        elif status == "cancelled":
            if closed == CLOSED_AT_DAY_END:
                day_end += 1
            else:
                cancelled += 1
        else:
            still_open += 1
        if wait_s is not None:
            if wait_s >= 0:
                waits.append(float(wait_s))
                within += wait_s / 60.0 <= TARGET_WAIT_MINUTES
            else:
                anomalies += 1
        if rating is not None:
            key = (staff or "", int(rating))
            ratings[key] = ratings.get(key, 0) + 1
    return {
        "issued": issued, "served": served, "no_show": no_show, "cancelled": cancelled,
        "closed_at_day_end": day_end, "print_failed": print_failed, "open": still_open,
        "dossiers": dossiers, "wait": {**_times(waits), "within_target": within},
        "service": _times(services), "clock_anomalies": anomalies,
        "ratings": [{"staff": s, "level": lv, "count": n} for (s, lv), n in sorted(ratings.items())],
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------- the raw-event stream
def _count(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1_000_000 else None


def _number(v: Any) -> float | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e9
    return round(float(v), 3) if ok else None


def _flag(v: Any) -> bool | None:
    return bool(v) if isinstance(v, (bool, int)) else None


def _one_of(*allowed: str) -> Any:
    """A code from a closed list; anything else (free text a person typed) becomes "other"."""
    return lambda v: None if v is None else (v if v in allowed else "other")


def _field_id(v: Any) -> str | None:
    return v if isinstance(v, str) and _FIELD_ID.match(v) else None


_FIELD_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")

# WHITELIST of what leaves the center from an event's `data`, per kind (issue 12: "the raw events
# without personal data"); every other key stays home. Only numbers, flags and codes from closed
# lists that statistics use. Never sent: the ticket number (useless for statistics; the visit
# reference links a visit's events), the priority *group* (elderly, disability, pregnancy: health
# data under Decree 13/2023/ND-CP), free text (a cancel or rating reason, a pause note), the
# rating's label (it is `rating_levels[level - 1]`), the issuing device or principal, the printer.
EVENT_DATA: dict[str, dict[str, Any]] = {
    "issued": {"priority": _flag, "waiting_ahead": _count, "est_wait_min": _number,
               "print": _one_of("pending")},
    "printed": {},
    "reprinted": {},
    "called": {"priority": _flag, "wait_seconds": _number, "guarded": _flag, "by_number": _flag},
    "recalled": {"recalls": _count},
    "no_show": {},
    "requeued": {"by_number": _flag},
    "transferred": {"from_field": _field_id, "to_field": _field_id, "to_counter": _count},
    "finished": {"outcome": _one_of(*(o.value for o in Outcome)), "dossiers": _count,
                 "service_seconds": _number},
    "rated": {"level": _count},
    # the hub's own reasons; a reason a person typed is "other"
    "cancelled": {"reason": _one_of("cancelled", "print_failed", "print_not_confirmed")},
    "closed_at_day_end": {"was": _one_of(*(t.value for t in TicketStatus))},
    "counter_paused": {"reason": _one_of(*PAUSE_REASONS), "minutes": _count},
    "counter_resumed": {"paused_seconds": _number},
}


def visit_ref(key: bytes, ticket_id: str) -> str:
    """The pseudonymous reference of a visit in the raw-event stream: the first `VISIT_REF_HEX`
    hex digits of HMAC-SHA256(key, ticket id). `key` is the center's own random key
    (`outbox_event_stream.visit_key`, never sent): the central can link one visit's events but
    can neither recover the ticket id — the capability behind the phone page `/t/<id>` — nor
    confirm a guess of it."""
    return hmac.new(key, ticket_id.encode(), hashlib.sha256).hexdigest()[:VISIT_REF_HEX]


def raw_event(row: sqlite3.Row | tuple[Any, ...], key: bytes) -> dict[str, Any]:
    """One `events` row (id, at, day, kind, ticket_id, field_id, counter, staff, data) as the
    batch carries it: built field by field from the whitelist, never copied. `at` UTC ISO 8601;
    `visit` the visit's reference (null for a counter's pause/resume); `data` the kind's
    whitelisted keys that the event has (EVENT_DATA; an unknown kind sends none)."""
    event_id, at, day, kind, ticket_id, field_id, counter, staff, data = tuple(row)
    try:
        raw = json.loads(data or "{}")
    except ValueError:
        raw = {}
    wanted = EVENT_DATA.get(kind, {})
    kept: dict[str, Any] = {}
    for name, check in wanted.items():
        if isinstance(raw, dict) and name in raw:
            kept[name] = check(raw[name])
    return {"id": int(event_id), "kind": str(kind), "at": _iso(float(at)), "day": str(day),
            "field": _field_id(field_id), "counter": _count(counter),
            "staff": str(staff)[:64] if staff else None,
            "visit": visit_ref(key, ticket_id) if ticket_id else None, "data": kept}


def set_event_stream(db: sqlite3.Connection, on: bool) -> None:
    """Inside the caller's write transaction: turn the raw-event stream on or off. On, for the
    first time: the cursor starts at the newest event — the stream carries what happens from now
    (the history is in the aggregates). Off: the cursor is forgotten, so turning it on again
    starts anew and never sends the events of the time it was off. Already in that state: no
    write."""
    (cursor,) = db.execute("SELECT last_event FROM outbox_event_stream").fetchone()
    if on and cursor is None:
        db.execute("UPDATE outbox_event_stream SET last_event = "
                   "(SELECT COALESCE(MAX(id), 0) FROM events)")
    elif not on and cursor is not None:
        db.execute("UPDATE outbox_event_stream SET last_event = NULL")


def events_waiting(db: sqlite3.Connection) -> int | None:
    """How many events the stream has not packed yet; None while the stream is off."""
    (cursor,) = db.execute("SELECT last_event FROM outbox_event_stream").fetchone()
    if cursor is None:
        return None
    return int(db.execute("SELECT COUNT(*) FROM events WHERE id > ?", (cursor,)).fetchone()[0])


def _pack_events(db: sqlite3.Connection, limit: int) -> list[dict[str, Any]] | None:
    """Up to `limit` events after the cursor, oldest first, and the cursor moved past them (the
    caller's transaction); None while the stream is off.

    Why `id > cursor` never skips an event: ids are AUTOINCREMENT, assigned inside the write
    transaction that appends the event, and SQLite has one writer at a time. We read here inside
    our own write transaction (BEGIN IMMEDIATE), so every transaction that took an id below the
    newest one we see has committed (and is visible) or rolled back (its id is never reused):
    no event can later appear below the cursor."""
    cursor, key = db.execute("SELECT last_event, visit_key FROM outbox_event_stream").fetchone()
    if cursor is None:
        return None
    rows = db.execute("SELECT id, at, day, kind, ticket_id, field_id, counter, staff, data FROM events "
                      "WHERE id > ? ORDER BY id LIMIT ?", (cursor, limit)).fetchall()
    if rows:
        db.execute("UPDATE outbox_event_stream SET last_event = ?", (rows[-1][0],))
    return [raw_event(r, bytes(key)) for r in rows]


def pack_batch(db: sqlite3.Connection, center_id: str, levels: tuple[str, ...], now: datetime,
               heartbeat: bool = False, limit: int = MAX_SLOTS_PER_BATCH,
               event_limit: int = MAX_EVENTS_PER_BATCH) -> int | None:
    """Inside the caller's write transaction: aggregate up to `limit` dirty slots (oldest first),
    mark them packed at their revision and, while the raw-event stream is on, take up to
    `event_limit` events after its cursor (batch version 2, else version 1); store the batch. Its
    `seq`, or None when nothing is dirty or waiting (unless `heartbeat`: then an empty batch is
    stored)."""
    dirty = db.execute(
        "SELECT day, field_id, slot, revision FROM outbox_slots WHERE revision > packed_revision "
        "ORDER BY day, slot, field_id LIMIT ?", (limit,)).fetchall()
    events = _pack_events(db, event_limit)
    if not dirty and not events and not heartbeat:
        return None
    slots = []
    for day, field_id, slot, revision in dirty:
        slots.append({"day": day, "field": field_id, "slot_start": _iso(slot), "revision": revision,
                      **slot_aggregate(db, day, field_id, slot)})
        db.execute("UPDATE outbox_slots SET packed_revision = ? WHERE day = ? AND field_id = ? "
                   "AND slot = ?", (revision, day, field_id, slot))
    (seq,) = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox_batches").fetchone()
    key = str(uuid.uuid4())
    batch = {
        "schema": BATCH_SCHEMA, "version": BATCH_VERSION if events is None else BATCH_VERSION_EVENTS,
        "center_id": center_id, "batch_id": key,
        "sequence": int(seq), "created_at": now.astimezone(timezone.utc).isoformat(),
        "slot_seconds": SLOT_SECONDS, "histogram_bounds_min": list(HISTOGRAM_BOUNDS_MIN),
        "target_wait_min": TARGET_WAIT_MINUTES, "rating_levels": list(levels), "slots": slots,
    }
    if events is not None:
        batch["events"] = events
    body = json.dumps(batch, ensure_ascii=False, separators=(",", ":")).encode()
    db.execute("INSERT INTO outbox_batches (seq, key, created_at, slots, events, body) "
               "VALUES (?, ?, ?, ?, ?, ?)", (seq, key, now.timestamp(), len(slots), len(events or ()), body))
    return int(seq)


class Forwarder:
    """The forwarder thread of one hub: `start()` once, `close()` to stop; `status()` for the API.

    `store`: the hub's `storage.SqliteStore`; `clock`: the hub's clock (batch times and the
    heartbeat follow it, so a test's shifted clock is honoured); backoff waits use the monotonic
    clock."""

    def __init__(self, settings: ReportingSettings, store: Any, clock: Clock,
                 levels: tuple[str, ...]) -> None:
        import urllib3

        self.settings = settings
        self.store = store
        self.clock = clock
        self.levels = levels
        self.http = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED", ca_certs=settings.ca_file, retries=False,
            timeout=urllib3.Timeout(connect=min(5.0, settings.timeout_s), read=settings.timeout_s))
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.failures = 0          # consecutive failed attempts (drives the backoff)
        self.last_error: dict[str, Any] | None = None
        self.next_attempt_at: float | None = None  # epoch s (hub clock), while backing off
        # monotonic time of the last acknowledged batch; -inf: a heartbeat at once after start, so
        # the central sees a restarted center as reporting before anything changes
        self._last_sent = float("-inf")

    # ------------------------------------------------------------------ thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="forwarder", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)  # a POST in flight is abandoned (daemon thread)
        self.http.clear()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.step()
            except Exception:  # never let the thread die: log, wait, go on
                log.exception("forwarder step failed")
                delay = self.settings.interval_s
            self._wake.wait(delay)
            self._wake.clear()

    def backoff(self) -> float:
        """Seconds to wait after `self.failures` consecutive failures: exponential, capped, each
        wait a random ½–1 of its step ("equal jitter" in the AWS Architecture Blog's "Exponential
        Backoff And Jitter"), so centers cut off together do not return together."""
        step = min(self.settings.max_backoff_s, BACKOFF_BASE_S * 2 ** max(self.failures - 1, 0))
        return step * random.uniform(0.5, 1.0)

    def step(self) -> float:
        """Send the oldest unacknowledged batch (packing one first if due); the seconds to wait
        before the next step."""
        batch = self._next_batch()
        if batch is None:
            return self.settings.interval_s
        seq, key, body = batch
        outcome = self._send(seq, key, body)
        if outcome in ("acked", "refused"):
            # a refused batch is set aside and the next one goes at once: one bad batch never
            # holds back the ones after it
            self.failures = 0
            self.next_attempt_at = None
            self._last_sent = time.monotonic()
            return 0.0 if self._has_backlog() else self.settings.interval_s
        self.failures += 1
        delay = self.backoff()
        self.next_attempt_at = self.clock.now().timestamp() + delay
        return delay

    def _next_batch(self) -> tuple[int, str, bytes] | None:
        with self.store.transaction() as tx:
            db = tx.db
            row = db.execute("SELECT seq, key, body FROM outbox_batches WHERE acked_at IS NULL "
                             "AND refused_at IS NULL ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                heartbeat = time.monotonic() - self._last_sent >= self.settings.heartbeat_s
                seq = pack_batch(db, self.settings.center_id, self.levels, self.clock.now(),
                                 heartbeat=heartbeat)
                if seq is None:
                    return None
                row = db.execute("SELECT seq, key, body FROM outbox_batches WHERE seq = ?",
                                 (seq,)).fetchone()
        return int(row[0]), str(row[1]), bytes(row[2])

    def _has_backlog(self) -> bool:
        with self.store.reading() as tx:
            db = tx.db
            if db.execute("SELECT 1 FROM outbox_slots WHERE revision > packed_revision "
                          "LIMIT 1").fetchone() is not None:
                return True
            if db.execute("SELECT 1 FROM outbox_batches WHERE acked_at IS NULL AND refused_at IS NULL "
                          "LIMIT 1").fetchone() is not None:
                return True
            return bool(events_waiting(db))

    def _send(self, seq: int, key: str, body: bytes) -> str:
        """POST one batch: "acked" (200/201), "refused" (a REFUSED_STATUSES answer: set aside
        with the answer, logged at ERROR) or "failed" (anything else: retried with backoff)."""
        import urllib3

        headers = {"Content-Type": "application/json", "Idempotency-Key": key,
                   "Authorization": f"Bearer {self.settings.token}",
                   "X-Signature": signature(self.settings.token, body)}
        error: str | None = None
        try:
            response = self.http.request("POST", self.settings.ingest_url, body=body, headers=headers)
            if response.status in (200, 201):
                self._acked(seq)
                return "acked"
            if response.status in REFUSED_STATUSES:
                self._refused(seq, key, response.status, response.data)
                return "refused"
            error = f"HTTP {response.status}: {response.data[:300].decode('utf-8', 'replace')}"
        except urllib3.exceptions.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        log.warning("reporting batch %s (#%d) not taken: %s", key, seq, error)
        now = self.clock.now().timestamp()
        with self._lock:
            self.last_error = {"at": _iso(now), "batch": key, "message": error}
        with self.store.transaction() as tx:
            tx.db.execute("UPDATE outbox_batches SET attempts = attempts + 1, last_error = ? "
                          "WHERE seq = ?", (error, seq))
        return "failed"

    def _refused(self, seq: int, key: str, status: int, answer: bytes) -> None:
        """The central refused this batch for good: keep its body and the answer, go on.

        The refusal is reported under `refused` (status API), not as `last_error`: that one is
        only for a failure the forwarder will retry by itself (with `consecutive_failures` and
        `next_attempt_at`). The central answered, so an earlier transport error is over too."""
        refusal = refusal_of(status, answer)
        log.error("reporting batch %s (#%d) REFUSED by the central (HTTP %d %s): %s; set aside, "
                  "the next batches go on (send it again with POST /api/v1/reporting/retry-refused "
                  "once the central is fixed)", key, seq, status, refusal["code"], refusal["message_en"])
        now = self.clock.now().timestamp()
        text = json.dumps(refusal, ensure_ascii=False)
        with self._lock:
            self.last_error = None
        with self.store.transaction() as tx:
            tx.db.execute("UPDATE outbox_batches SET attempts = attempts + 1, refused_at = ?, "
                          "refusal = ?, last_error = ? WHERE seq = ?", (now, text, text, seq))

    def _acked(self, seq: int) -> None:
        now = self.clock.now().timestamp()
        with self.store.transaction() as tx:
            tx.db.execute("UPDATE outbox_batches SET acked_at = ?, body = NULL, "
                          "attempts = attempts + 1, last_error = NULL WHERE seq = ?", (now, seq))
            tx.db.execute("DELETE FROM outbox_batches WHERE acked_at < ?",
                          (now - KEEP_ACKED_DAYS * 86400,))
        with self._lock:
            self.last_error = None

    def retry_refused(self) -> int:
        """Queue every refused batch to be sent again (see `retry_refused`), and wake the thread."""
        n = retry_refused(self.store)
        self._wake.set()
        return n

    # ------------------------------------------------------------------ state
    def status(self) -> dict[str, Any]:
        """What the manager page shows: see `reporting_status`."""
        out = reporting_status(self.store)
        with self._lock:
            last_error = dict(self.last_error) if self.last_error else None
        out.update({"enabled": True, "url": self.settings.url, "center_id": self.settings.center_id,
                    "raw_events": self.settings.raw_events,
                    "last_error": last_error, "consecutive_failures": self.failures,
                    "next_attempt_at": _iso(self.next_attempt_at) if self.next_attempt_at else None})
        return out


def refusal_of(status: int, answer: bytes) -> dict[str, Any]:
    """The central's refusal as kept and shown: `status` (HTTP), `code`, `message` (Vietnamese),
    `message_en`, taken from its `{"error": {...}}` body (a body that is not one: code null and
    the body's first 300 characters as the English message)."""
    error: Any = None
    try:
        error = json.loads(answer.decode("utf-8")).get("error")
    except (ValueError, AttributeError):
        pass
    if not isinstance(error, dict):
        text = answer[:300].decode("utf-8", "replace")
        return {"status": status, "code": None, "message": text, "message_en": text}
    return {"status": status, "code": str(error.get("code"))[:100] if error.get("code") else None,
            "message": str(error.get("message", ""))[:500],
            "message_en": str(error.get("message_en", ""))[:500]}


def retry_refused(store: Any) -> int:
    """Put every batch the central refused back in line, oldest first (their stored bytes, same
    key): for the technician once the central is fixed. Safe at any time: the central keeps the
    highest revision per slot and each raw event once, so an old batch taken late cannot undo
    newer figures. The number of batches queued again."""
    with store.transaction() as tx:
        return tx.db.execute("UPDATE outbox_batches SET refused_at = NULL, refusal = NULL "
                             "WHERE refused_at IS NOT NULL").rowcount


def reporting_status(store: Any) -> dict[str, Any]:
    """The outbox's state: `last_ack` (batch id, sequence, slots, time; null before the first),
    `backlog` (`slots` dirty, `batches` packed and waiting to be sent, `oldest_day` of a dirty
    slot, `events` of the raw-event stream not yet packed — 0 while it is off), `refused`
    (`batches` the central refused for good and set aside; `newest`: that one's `batch_id`,
    `sequence`, `at`, and the central's `status`, `code`, `message`, `message_en`; null when
    none). Forwarding off: `enabled` false, the backlog still shown (it is sent once turned on)."""
    with store.reading() as tx:
        db = tx.db
        ack = db.execute("SELECT key, seq, slots, acked_at FROM outbox_batches "
                         "WHERE acked_at IS NOT NULL ORDER BY seq DESC LIMIT 1").fetchone()
        dirty, oldest = db.execute("SELECT COUNT(*), MIN(day) FROM outbox_slots "
                                   "WHERE revision > packed_revision").fetchone()
        (unacked,) = db.execute("SELECT COUNT(*) FROM outbox_batches WHERE acked_at IS NULL "
                                "AND refused_at IS NULL").fetchone()
        (refused,) = db.execute("SELECT COUNT(*) FROM outbox_batches WHERE refused_at IS NOT NULL").fetchone()
        newest = db.execute("SELECT key, seq, refused_at, refusal FROM outbox_batches "
                            "WHERE refused_at IS NOT NULL ORDER BY seq DESC LIMIT 1").fetchone()
        events = events_waiting(db)
    newest_out = None
    if newest is not None:
        try:
            answer = json.loads(newest[3] or "{}")
        except ValueError:
            answer = {}
        newest_out = {"batch_id": newest[0], "sequence": newest[1], "at": _iso(newest[2]),
                      **{k: answer.get(k) for k in ("status", "code", "message", "message_en")}}
    return {
        "enabled": False, "url": None, "center_id": None, "raw_events": False, "last_error": None,
        "consecutive_failures": 0, "next_attempt_at": None,
        "last_ack": None if ack is None else {"batch_id": ack[0], "sequence": ack[1],
                                              "slots": ack[2], "at": _iso(ack[3])},
        "backlog": {"slots": int(dirty), "batches": int(unacked), "oldest_day": oldest,
                    "events": events or 0},
        "refused": {"batches": int(refused), "newest": newest_out},
    }


def create_status_api(store: Any, forwarder: Forwarder | None, auth: Any) -> Blueprint:
    """`GET /api/v1/reporting/status` for managers and admins (the manager page);
    `POST /api/v1/reporting/retry-refused` for admins: the refused batches are sent again
    (`{"requeued": n}`)."""
    from .api import caller

    bp = Blueprint("reporting", __name__)

    @bp.get("/api/v1/reporting/status")
    def status() -> Response:
        principal = caller(auth)
        assert principal is not None
        if principal.role not in ("admin", "manager"):
            raise Forbidden("forbidden", "Chỉ quản lý hoặc quản trị viên được xem trạng thái báo cáo.",
                            "Only a manager or an admin may see the reporting state.")
        return jsonify(forwarder.status() if forwarder is not None else reporting_status(store))

    @bp.post("/api/v1/reporting/retry-refused")
    def retry() -> Response:
        principal = caller(auth)
        assert principal is not None
        if principal.role != "admin":
            raise Forbidden("forbidden", "Chỉ quản trị viên được gửi lại các lô bị từ chối.",
                            "Only an admin may send the refused batches again.")
        n = forwarder.retry_refused() if forwarder is not None else retry_refused(store)
        log.warning("%d refused reporting batch(es) queued again by %s", n, principal.name)
        return jsonify({"requeued": n})

    return bp


def install_forwarder(app: Any, config: Config, store: Any, clock: Clock, auth: Any) -> Forwarder | None:
    """Register the status API and, when `[reporting]` is configured, start the forwarder; the
    forwarder (or None). Raises ConfigError for a bad `[reporting]`."""
    settings = settings_from_config(config)
    with store.transaction() as tx:  # the raw-event stream follows the config (set_event_stream)
        set_event_stream(tx.db, settings is not None and settings.raw_events)
    forwarder = None
    if settings is not None:
        forwarder = Forwarder(settings, store, clock, config.rules.rating_levels)
        forwarder.start()
        log.info("reporting to %s as %s%s", settings.url, settings.center_id,
                 " (with raw events)" if settings.raw_events else "")
    app.register_blueprint(create_status_api(store, forwarder, auth))
    return forwarder


__all__ = ["EVENT_DATA", "Forwarder", "ReportingSettings", "install_forwarder", "pack_batch",
           "raw_event", "refusal_of", "reporting_status", "retry_refused", "set_event_stream",
           "settings_from_config", "signature", "slot_aggregate", "visit_ref"]
