"""Taking a center's batch (`POST /api/v1/ingest`; format: batch-v1.schema.json, or
batch-v2.schema.json for a batch with the raw-event stream; docs/reporting.md).

Order of checks, each refusal logged (and kept in `refusals`) and changing nothing:
1. `Authorization: Bearer <token>` names a center of the centers file (401 `bad_token`);
2. `X-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact body keyed by that token,
   compared in constant time (401 `bad_signature`);
3. the body is JSON valid against the schema of its `version` (1 or 2; 400 `invalid_batch`,
   an unknown version included), its `center_id` is the
   authenticated center's (403 `wrong_center`), its `batch_id` equals `Idempotency-Key` (400);
4. in ONE transaction: the batch row is inserted with `ON CONFLICT DO NOTHING` on
   (center, idempotency key). Nothing inserted = the key is known: the same body (by SHA-256) is
   answered 200 `duplicate`, a different body 409 `key_reused` (a replay with a changed body).
   Otherwise each slot is upserted, replacing the stored row only when its revision is higher
   (`ON CONFLICT … DO UPDATE … WHERE slots.revision < EXCLUDED.revision`), its ratings replaced
   with it; a version 2 batch's raw events are inserted `ON CONFLICT (center_id, event_id) DO
   NOTHING` (a batch sent twice, or overlapping another, stores each event once) and counted per
   day in `center_day_events`; 201 `stored`. Concurrent deliveries of one key serialize on the
   primary key.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import fastjsonschema
import psycopg
from psycopg_pool import ConnectionPool

from .registry import Center, Registry

log = logging.getLogger("queue_server.central")
SCHEMA_PATH = Path(__file__).with_name("batch-v1.schema.json")
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
# Every batch version the central takes: version 1 (aggregates) stays accepted for centers that
# do not send raw events; version 2 adds `events`.
SCHEMA_PATHS = {1: SCHEMA_PATH, 2: Path(__file__).with_name("batch-v2.schema.json")}
SCHEMAS = {v: json.loads(path.read_text(encoding="utf-8")) for v, path in SCHEMA_PATHS.items()}
# Compiled once (fastjsonschema): the documented schema files, checked as they are.
# (a copy: compiling rewrites the schema's `$ref`s in place)
_VALIDATORS = {v: fastjsonschema.compile(copy.deepcopy(schema)) for v, schema in SCHEMAS.items()}


@dataclass
class Refused(Exception):
    """A refused request: HTTP status, stable code, Vietnamese and English reasons."""

    status: int
    code: str
    message: str
    message_en: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "message_en": self.message_en}


def expected_signature(token: str, body: bytes) -> str:
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def authenticate(registry: Registry, token: str | None, signature: str | None, body: bytes) -> Center:
    """The center behind this request, or Refused (401)."""
    center = registry.center(token)
    if center is None:
        raise Refused(401, "bad_token", "Mã truy cập của trung tâm không hợp lệ.",
                      "Unknown or missing center token.")
    if not signature or not hmac.compare_digest(signature.encode("utf-8", "replace"),
                                                expected_signature(center.token, body).encode()):
        raise Refused(401, "bad_signature", "Chữ ký dữ liệu không khớp: dữ liệu có thể đã bị sửa.",
                      "The X-Signature does not match the body (HMAC-SHA256 with the center's token).")
    return center


def _check_dates(batch: dict[str, Any]) -> None:
    """The schema checks dates by pattern; this checks they are on the calendar (2026-02-30 is
    not) before PostgreSQL's cast would fail on them. Refused(400 `invalid_batch`) naming the
    first bad one."""
    def bad(where: str) -> Refused:
        return Refused(400, "invalid_batch", f"Lô dữ liệu có ngày giờ không hợp lệ (tại {where}).",
                       f"The batch has an impossible date or time at {where}.")

    checks: list[tuple[str, Any, Any]] = [("data.created_at", batch["created_at"], datetime.fromisoformat)]
    for i, slot in enumerate(batch["slots"]):
        checks += [(f"data.slots[{i}].day", slot["day"], date.fromisoformat),
                   (f"data.slots[{i}].slot_start", slot["slot_start"], datetime.fromisoformat)]
    for i, event in enumerate(batch.get("events") or ()):
        checks += [(f"data.events[{i}].day", event["day"], date.fromisoformat),
                   (f"data.events[{i}].at", event["at"], datetime.fromisoformat)]
    for where, value, parse in checks:
        try:
            parse(value)
        except ValueError:
            raise bad(where) from None


def parse_batch(center: Center, key: str | None, body: bytes) -> dict[str, Any]:
    """The batch, checked against the schema and the request; Refused (400/403) otherwise."""
    try:
        batch = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates,
                           parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, "invalid_json", "Dữ liệu gửi lên không phải JSON hợp lệ.",
                      f"The body is not valid JSON ({exc}).") from None
    version = batch.get("version") if isinstance(batch, dict) else None
    if isinstance(version, bool) or version not in _VALIDATORS:
        raise Refused(400, "invalid_batch", "Phiên bản lô dữ liệu không được hỗ trợ; hãy nâng cấp máy chủ tỉnh.",
                      f"Unsupported batch version {str(version)[:20]!r}: this central takes versions "
                      f"{', '.join(map(str, _VALIDATORS))}.")
    try:
        _VALIDATORS[version](batch)
    except fastjsonschema.JsonSchemaValueException as error:
        where = error.name or "data"
        raise Refused(400, "invalid_batch", f"Lô dữ liệu không đúng định dạng (tại {where}).",
                      f"The batch does not match batch-v{version}.schema.json at {where}: "
                      f"{error.message[:200]}") from None
    _check_dates(batch)
    if batch["center_id"] != center.id:
        raise Refused(403, "wrong_center", "Lô dữ liệu ghi mã trung tâm khác với mã truy cập.",
                      "The batch's center_id is not the center of this token.")
    if key != batch["batch_id"]:
        raise Refused(400, "bad_idempotency_key", "Idempotency-Key phải trùng batch_id của lô.",
                      "The Idempotency-Key header must equal the batch's batch_id.")
    return batch


_UPSERT_SLOT = """
INSERT INTO slots (center_id, day, field_id, slot_start, revision, issued, served, no_show,
    cancelled, closed_at_day_end, print_failed, open, dossiers, wait_count, wait_sum_s,
    wait_within_target, wait_hist, service_count, service_sum_s, service_hist, clock_anomalies,
    batch_key)
VALUES (%(center)s, %(day)s, %(field)s, %(slot_start)s, %(revision)s, %(issued)s, %(served)s,
    %(no_show)s, %(cancelled)s, %(closed_at_day_end)s, %(print_failed)s, %(open)s, %(dossiers)s,
    %(wait_count)s, %(wait_sum_s)s, %(wait_within)s, %(wait_hist)s, %(service_count)s,
    %(service_sum_s)s, %(service_hist)s, %(clock_anomalies)s, %(key)s)
ON CONFLICT (center_id, day, field_id, slot_start) DO UPDATE SET
    revision = EXCLUDED.revision, issued = EXCLUDED.issued, served = EXCLUDED.served,
    no_show = EXCLUDED.no_show, cancelled = EXCLUDED.cancelled,
    closed_at_day_end = EXCLUDED.closed_at_day_end, print_failed = EXCLUDED.print_failed,
    open = EXCLUDED.open, dossiers = EXCLUDED.dossiers, wait_count = EXCLUDED.wait_count,
    wait_sum_s = EXCLUDED.wait_sum_s, wait_within_target = EXCLUDED.wait_within_target,
    wait_hist = EXCLUDED.wait_hist, service_count = EXCLUDED.service_count,
    service_sum_s = EXCLUDED.service_sum_s, service_hist = EXCLUDED.service_hist,
    clock_anomalies = EXCLUDED.clock_anomalies, batch_key = EXCLUDED.batch_key
WHERE slots.revision < EXCLUDED.revision
"""


_INSERT_RATINGS = """
INSERT INTO slot_ratings (center_id, day, field_id, slot_start, staff, level, count)
SELECT %(center)s, v.day, v.field, v.slot_start, v.staff, v.level, SUM(v.count)
FROM unnest(%(days)s::date[], %(fields)s::text[], %(starts)s::timestamptz[], %(staff)s::text[],
            %(levels)s::smallint[], %(counts)s::integer[]) AS v(day, field, slot_start, staff, level, count)
JOIN slots s ON s.center_id = %(center)s AND s.day = v.day AND s.field_id = v.field
    AND s.slot_start = v.slot_start AND s.batch_key = %(key)s
GROUP BY v.day, v.field, v.slot_start, v.staff, v.level
"""


_INSERT_EVENTS = """
INSERT INTO raw_events (center_id, event_id, kind, at, day, field_id, counter, staff, visit, data,
                        batch_key)
SELECT %(center)s, v.*, %(key)s
FROM unnest(%(ids)s::bigint[], %(kinds)s::text[], %(ats)s::timestamptz[], %(days)s::date[],
            %(fields)s::text[], %(counters)s::integer[], %(staff)s::text[], %(visits)s::text[],
            %(data)s::jsonb[]) AS v
ON CONFLICT (center_id, event_id) DO NOTHING
RETURNING day
"""


def _store_events(cur: Any, center_id: str, key: str, events: list[dict[str, Any]]) -> int:
    """Insert a batch's raw events (one statement), each (center, event id) once, and add the
    newly stored ones to `center_day_events`; how many were new."""
    if not events:
        return 0
    cur.execute(_INSERT_EVENTS, {
        "center": center_id, "key": key, "ids": [e["id"] for e in events],
        "kinds": [e["kind"] for e in events], "ats": [e["at"] for e in events],
        "days": [e["day"] for e in events], "fields": [e["field"] for e in events],
        "counters": [e["counter"] for e in events], "staff": [e["staff"] for e in events],
        "visits": [e["visit"] for e in events],
        "data": [json.dumps(e["data"], ensure_ascii=False) for e in events]})
    per_day: dict[Any, int] = {}
    for (day,) in cur.fetchall():
        per_day[day] = per_day.get(day, 0) + 1
    if per_day:
        cur.executemany("INSERT INTO center_day_events (center_id, day, events) VALUES (%s, %s, %s) "
                        "ON CONFLICT (day, center_id) DO UPDATE SET "
                        "events = center_day_events.events + EXCLUDED.events",
                        [(center_id, day, n) for day, n in sorted(per_day.items())])
    return sum(per_day.values())


def _slot_params(center_id: str, key: str, slot: dict[str, Any]) -> dict[str, Any]:
    return {
        "center": center_id, "day": slot["day"], "field": slot["field"],
        "slot_start": slot["slot_start"], "revision": slot["revision"], "key": key,
        **{k: slot[k] for k in ("issued", "served", "no_show", "cancelled", "closed_at_day_end",
                                "print_failed", "open", "dossiers", "clock_anomalies")},
        "wait_count": slot["wait"]["count"], "wait_sum_s": slot["wait"]["sum_s"],
        "wait_within": slot["wait"]["within_target"], "wait_hist": slot["wait"]["histogram"],
        "service_count": slot["service"]["count"], "service_sum_s": slot["service"]["sum_s"],
        "service_hist": slot["service"]["histogram"],
    }


_ROLLUP_COUNTS = ("issued", "served", "no_show", "cancelled", "closed_at_day_end", "print_failed",
                  "open", "dossiers", "wait_count", "wait_sum_s", "wait_within_target", "service_count",
                  "service_sum_s", "clock_anomalies")


def _add_into(total: list[int], hist: list[int]) -> list[int]:
    if len(total) < len(hist):
        total.extend([0] * (len(hist) - len(total)))
    for i, n in enumerate(hist):
        total[i] += n
    return total


def _roll_up(conn: Any, center_id: str, days: list[str]) -> None:
    """Rewrite the `center_days` and `center_day_ratings` rows of `center_id` for `days` from its
    slots (inside the ingest's transaction, the center's row locked)."""
    rows = conn.execute(
        f"SELECT day, {', '.join(_ROLLUP_COUNTS)}, wait_hist, service_hist FROM slots "
        "WHERE center_id = %s AND day = ANY(%s::date[])", (center_id, days)).fetchall()
    totals: dict[Any, list[Any]] = {}
    for row in rows:
        day, counts, wait, service = row[0], row[1:-2], row[-2], row[-1]
        t = totals.setdefault(day, [[0] * len(counts), [], []])
        t[0] = [a + b for a, b in zip(t[0], counts)]
        _add_into(t[1], wait)
        _add_into(t[2], service)
    columns = ", ".join(_ROLLUP_COUNTS)
    values = ", ".join(["%s"] * (len(_ROLLUP_COUNTS) + 4))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in (*_ROLLUP_COUNTS, "wait_hist", "service_hist"))
    conn.cursor().executemany(
        f"INSERT INTO center_days (center_id, day, {columns}, wait_hist, service_hist) "
        f"VALUES ({values}) ON CONFLICT (day, center_id) DO UPDATE SET {updates}",
        [(center_id, day, *t[0], t[1], t[2]) for day, t in totals.items()])
    conn.execute("DELETE FROM center_day_ratings WHERE center_id = %s AND day = ANY(%s::date[])",
                 (center_id, days))
    conn.execute("INSERT INTO center_day_ratings (center_id, day, level, count) "
                 "SELECT center_id, day, level, SUM(count) FROM slot_ratings "
                 "WHERE center_id = %s AND day = ANY(%s::date[]) GROUP BY center_id, day, level",
                 (center_id, days))


def store_batch(pool: ConnectionPool, center: Center, batch: dict[str, Any], body: bytes) -> dict[str, Any]:
    """Store a checked batch (see the module's step 4): {"status": "stored", "slots_applied",
    "slots_stale"; for version 2 also "events_stored", "events_known"} or {"status": "duplicate"}; Refused(409) for
    a known key with another body."""
    try:
        return _store(pool, center, batch, body)
    except psycopg.errors.DataError as exc:  # a value PostgreSQL cannot take: this batch's fault
        raise Refused(400, "invalid_batch", "Lô dữ liệu có giá trị không hợp lệ.",
                      f"The batch has a value the database refuses ({type(exc).__name__}).") from None


def _store(pool: ConnectionPool, center: Center, batch: dict[str, Any], body: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(body).digest()
    key = batch["batch_id"]
    with pool.connection() as conn, conn.transaction():
        inserted = conn.execute(
            "INSERT INTO batches (center_id, idempotency_key, body_sha256, sequence, slots, events) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (center_id, idempotency_key) DO NOTHING "
            "RETURNING 1", (center.id, key, digest, batch["sequence"], len(batch["slots"]),
                            len(batch.get("events") or ()))).fetchone()
        if inserted is None:
            row = conn.execute("SELECT body_sha256 FROM batches WHERE center_id = %s AND "
                               "idempotency_key = %s", (center.id, key)).fetchone()
            if row is not None and bytes(row[0]) == digest:
                return {"status": "duplicate", "batch_id": key}
            raise Refused(409, "key_reused",
                          "Mã lô này đã nhận với nội dung khác; lô bị từ chối.",
                          "This idempotency key was already stored with a different body.")
        # one batch of a center at a time from here (its day rollups are rewritten below). NO KEY
        # UPDATE, not UPDATE: the batch row inserted above already holds FOR KEY SHARE on this
        # center's row (its foreign key), and two batches of one center each upgrading that to
        # FOR UPDATE deadlock (PostgreSQL docs, "Row-Level Locks": FOR UPDATE conflicts with FOR
        # KEY SHARE, FOR NO KEY UPDATE does not) — seen as 503s in bench/ingest_benchmark.py.
        conn.execute("SELECT 1 FROM centers WHERE id = %s FOR NO KEY UPDATE", (center.id,))
        slots = batch["slots"]
        applied = 0
        if slots:
            with conn.cursor() as cur:
                # one round trip for all slots (psycopg pipelines executemany)
                cur.executemany(_UPSERT_SLOT, [_slot_params(center.id, key, slot) for slot in slots])
                # the applied slots are those now carrying this batch's key: their ratings are
                # replaced with them; stale slots keep theirs
                days = sorted({slot["day"] for slot in slots})
                applied = cur.execute(
                    "SELECT COUNT(*) FROM slots WHERE center_id = %s AND day = ANY(%s::date[]) "
                    "AND batch_key = %s", (center.id, days, key)).fetchone()[0]
                cur.execute(
                    "DELETE FROM slot_ratings r USING slots s WHERE s.center_id = %s "
                    "AND s.day = ANY(%s::date[]) AND s.batch_key = %s AND r.center_id = s.center_id "
                    "AND r.day = s.day AND r.field_id = s.field_id AND r.slot_start = s.slot_start",
                    (center.id, days, key))
                rated = [(slot["day"], slot["field"], slot["slot_start"], r["staff"], r["level"], r["count"])
                         for slot in slots for r in slot["ratings"]]
                if rated:
                    columns = list(zip(*rated))
                    cur.execute(_INSERT_RATINGS, {"center": center.id, "key": key, "days": list(columns[0]),
                                                  "fields": list(columns[1]), "starts": list(columns[2]),
                                                  "staff": list(columns[3]), "levels": list(columns[4]),
                                                  "counts": list(columns[5])})
            if applied:
                _roll_up(conn, center.id, days)
        events = batch.get("events") or []
        with conn.cursor() as cur:
            new_events = _store_events(cur, center.id, key, events)
        conn.execute("UPDATE centers SET last_batch_at = now(), rating_levels = %s, "
                     "last_sequence = GREATEST(COALESCE(last_sequence, 0), %s) WHERE id = %s",
                     (json.dumps(batch["rating_levels"], ensure_ascii=False), batch["sequence"],
                      center.id))
    out = {"status": "stored", "batch_id": key, "slots_applied": applied,
           "slots_stale": len(batch["slots"]) - applied}
    if "events" in batch:  # version 2
        out.update({"events_stored": new_events, "events_known": len(events) - new_events})
    return out


def record_refusal(pool: ConnectionPool, refused: Refused, center_id: str | None, key: str | None,
                   remote: str | None) -> None:
    """Log a refusal and keep it in `refusals` (best effort: a database failure is logged)."""
    log.warning("ingest refused (%d %s) center=%s key=%s from %s", refused.status, refused.code,
                center_id, key, remote)
    try:
        with pool.connection() as conn:
            conn.execute("INSERT INTO refusals (center_id, idempotency_key, status, code, remote_addr) "
                         "VALUES (%s, %s, %s, %s, %s)",
                         (center_id, (key or "")[:100] or None, refused.status, refused.code, remote))
    except Exception:  # the refusal itself stands; the log line above records it
        log.exception("could not record the refusal")
