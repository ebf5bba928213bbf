"""SQLite storage: the embedded default for one center.

- WAL journal with `synchronous=FULL`: a commit returns only after the log is on disk, so a ticket
  answered 201 survives a power cut or `kill -9`.
- Every change runs in `BEGIN IMMEDIATE`, which takes the write lock up front; numbers are allocated
  inside the same transaction as the ticket row, so they are unique and gapless even with several
  processes on one file.
- The schema is versioned with `PRAGMA user_version`; migrations run in order at open.
- The event log is append-only: triggers refuse UPDATE and DELETE on it.
- One hub per data folder: an exclusive `flock` on `hub.lock` keeps a second one out.
- Write failures are remembered (`last_write_error`) until the next successful write, so the
  health check (`health.py`) can report a full disk without writing anything itself.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from .core.models import (
    CounterState,
    CounterStatus,
    Event,
    Outcome,
    Ticket,
    TicketStatus,
)

MIGRATIONS: list[str] = [
    # v1: tickets, per-day number sequences, the event log, counter states, login sessions
    """
    CREATE TABLE tickets (
        id TEXT PRIMARY KEY,
        day TEXT NOT NULL,
        origin_field TEXT NOT NULL,
        seq INTEGER NOT NULL,
        number TEXT NOT NULL,
        field_id TEXT NOT NULL,
        priority INTEGER NOT NULL,
        priority_group TEXT,
        status TEXT NOT NULL,
        issued_at REAL NOT NULL,
        source TEXT NOT NULL,
        called_at REAL,
        finished_at REAL,
        counter INTEGER,
        staff TEXT,
        target_counter INTEGER,
        outcome TEXT,
        dossiers INTEGER,
        recalls INTEGER NOT NULL DEFAULT 0,
        rating INTEGER,
        UNIQUE (day, origin_field, seq)
    );
    CREATE INDEX tickets_status_day ON tickets (status, day);
    CREATE INDEX tickets_day_field ON tickets (day, field_id, status);
    CREATE INDEX tickets_waiting ON tickets (status, day, field_id, issued_at, seq);
    CREATE TABLE sequences (
        day TEXT NOT NULL,
        field_id TEXT NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (day, field_id)
    ) WITHOUT ROWID;
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        day TEXT NOT NULL,
        kind TEXT NOT NULL,
        ticket_id TEXT,
        field_id TEXT,
        counter INTEGER,
        staff TEXT,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_day_field_kind ON events (day, field_id, kind);
    CREATE INDEX events_ticket ON events (ticket_id);
    CREATE TRIGGER events_no_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TRIGGER events_no_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
    CREATE TABLE counter_states (
        counter INTEGER PRIMARY KEY,
        status TEXT NOT NULL,
        reason TEXT,
        note TEXT,
        since REAL,
        until REAL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    """,
    # v2 (issue: a clock that steps back; the day boundary): the queue follows issue order, not a
    # wall-clock time; a visit left open at a day's end is closed with a reason of its own; the
    # days the hub has turned to are remembered, so a clock stepping back across midnight never
    # reopens a closed day. Existing rows: `rowid` is their insertion (= issue) order; visits the
    # old code closed lazily ("day_closed") are marked closed at day end and no longer count as
    # served or cancelled (the event log keeps what happened).
    """
    ALTER TABLE tickets ADD COLUMN issue_order INTEGER;
    UPDATE tickets SET issue_order = rowid;
    CREATE UNIQUE INDEX tickets_issue_order ON tickets (issue_order);
    DROP INDEX tickets_waiting;
    CREATE INDEX tickets_waiting ON tickets (status, day, field_id, issue_order);
    ALTER TABLE tickets ADD COLUMN closed_reason TEXT;
    UPDATE tickets SET status = 'cancelled', closed_reason = 'day_end'
        WHERE id IN (SELECT ticket_id FROM events WHERE ticket_id IS NOT NULL AND (
            (kind = 'finished' AND json_extract(data, '$.auto') = 'day_closed')
            OR (kind = 'cancelled' AND json_extract(data, '$.reason') = 'day_closed')));
    CREATE INDEX events_day_kind_counter ON events (day, kind, counter);
    CREATE TABLE service_days (
        day TEXT PRIMARY KEY,
        opened_at REAL NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO service_days (day, opened_at) SELECT day, MIN(at) FROM events GROUP BY day;
    """,
    # v3: a kiosk ticket whose print is not confirmed yet is never called (kiosk/dispenser.py)
    """
    ALTER TABLE tickets ADD COLUMN print_pending INTEGER NOT NULL DEFAULT 0;
    """,
    # v4: login lockouts, so a restart does not unlock an account or address under attack
    """
    CREATE TABLE login_lockouts (
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        strikes INTEGER NOT NULL,
        locked_until REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (kind, key)
    ) WITHOUT ROWID;
    """,
    # v5 (issue 12, reporting to the province; read and written by forwarder.py): the outbox.
    # Every insert or update of a ticket marks its (day, field, 15-minute slot of issue) dirty by
    # raising that slot's revision to max(revision + 1, now in epoch ms) — the wall clock keeps
    # revisions rising past what the central holds even after a restore from an older backup, +1
    # keeps them rising when the clock steps back — in a trigger, so in the very transaction that changes the
    # ticket and appends its event: nothing committed can be missed. A transfer marks both the old
    # and the new field. `packed_revision` is the revision last put into a batch; `outbox_batches`
    # holds the exact signed bytes of each batch until the central acknowledges it. Existing
    # tickets are marked dirty once, so a center that turns reporting on sends its history.
    """
    CREATE TABLE outbox_slots (
        day TEXT NOT NULL,
        field_id TEXT NOT NULL,
        slot INTEGER NOT NULL,
        revision INTEGER NOT NULL,
        packed_revision INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, field_id, slot)
    ) WITHOUT ROWID;
    CREATE INDEX outbox_slots_pending ON outbox_slots (day, slot) WHERE revision > packed_revision;
    INSERT INTO outbox_slots (day, field_id, slot, revision)
        SELECT day, field_id, CAST(issued_at / 900 AS INTEGER) * 900, 1 FROM tickets GROUP BY 1, 2, 3;
    CREATE TRIGGER outbox_ticket_inserted AFTER INSERT ON tickets BEGIN
        INSERT INTO outbox_slots (day, field_id, slot, revision)
            VALUES (NEW.day, NEW.field_id, CAST(NEW.issued_at / 900 AS INTEGER) * 900,
                    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
            ON CONFLICT (day, field_id, slot) DO UPDATE SET revision = MAX(revision + 1,
                CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
    END;
    CREATE TRIGGER outbox_ticket_updated AFTER UPDATE ON tickets BEGIN
        INSERT INTO outbox_slots (day, field_id, slot, revision)
            VALUES (NEW.day, NEW.field_id, CAST(NEW.issued_at / 900 AS INTEGER) * 900,
                    CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
            ON CONFLICT (day, field_id, slot) DO UPDATE SET revision = MAX(revision + 1,
                CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
        INSERT INTO outbox_slots (day, field_id, slot, revision)
            SELECT OLD.day, OLD.field_id, CAST(OLD.issued_at / 900 AS INTEGER) * 900,
                   CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
            WHERE OLD.day IS NOT NEW.day OR OLD.field_id IS NOT NEW.field_id
                OR OLD.issued_at IS NOT NEW.issued_at
            ON CONFLICT (day, field_id, slot) DO UPDATE SET revision = MAX(revision + 1,
                CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
    END;
    CREATE TABLE outbox_batches (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL,
        slots INTEGER NOT NULL,
        body BLOB,
        attempts INTEGER NOT NULL DEFAULT 0,
        acked_at REAL,
        last_error TEXT
    );
    CREATE INDEX outbox_batches_unacked ON outbox_batches (seq) WHERE acked_at IS NULL;
    """,
    # v6 (issue 11, configuration in the browser; settings.py): the sections an admin edited in
    # the browser, each replacing the config file's section of that name (the file seeds them),
    # and the audit log of those changes (append-only, like the event log)
    """
    CREATE TABLE config_sections (
        section TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE config_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        before TEXT,
        after TEXT
    );
    CREATE TRIGGER config_audit_no_update BEFORE UPDATE ON config_audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER config_audit_no_delete BEFORE DELETE ON config_audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    """,
    # v7: Idempotency-Key of counter actions and ratings (a retried request is answered from
    # here, never applied twice). `events`: [kind, ticket id] of the events the action logged, in
    # the SAME transaction as the action (see SqliteStore.idempotent).
    """
    CREATE TABLE idempotency (
        principal TEXT NOT NULL,
        key TEXT NOT NULL,
        route TEXT NOT NULL,
        events TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (principal, key)
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_created ON idempotency (created_at);
    """,
    # v8 (issue 11, statistics): one row per call of a visit — its
    # field, counter, staff, call time, the visit's issue time and priority, the wait the hub
    # measured, the wait in this field (from the issue, or from the transfer into it; only on the
    # visit's first call in the field), whether it is the visit's first call, how the call ended
    # and the dossiers of a finish — kept by triggers on the event log, so statistics for a year
    # aggregate in SQL instead of decoding every event's JSON (queue_server/stats.py,
    # docs/statistics.md). Existing calls are filled in from the log. A `no_show` closes the
    # visit's latest call even if "next" had already closed it as finished (a no-show marked
    # afterwards); every other closing event closes an open call only.
    """
    CREATE TABLE visit_calls (
        call_event INTEGER PRIMARY KEY,
        ticket_id TEXT NOT NULL,
        day TEXT NOT NULL,
        field_id TEXT,
        counter INTEGER,
        staff TEXT,
        called_at REAL NOT NULL,
        issued_at REAL,
        priority INTEGER,
        wait_seconds REAL,
        field_wait_seconds REAL,
        first_call INTEGER NOT NULL DEFAULT 0,
        ended_at REAL,
        end_kind TEXT,
        dossiers INTEGER
    );
    CREATE INDEX visit_calls_day ON visit_calls (day, first_call);
    CREATE INDEX visit_calls_ticket ON visit_calls (ticket_id, call_event);
    CREATE TRIGGER visit_calls_open AFTER INSERT ON events WHEN NEW.kind = 'called'
        BEGIN
            INSERT INTO visit_calls (call_event, ticket_id, day, field_id, counter, staff,
                                     called_at, issued_at, priority, wait_seconds,
                                     field_wait_seconds, first_call)
            SELECT NEW.id, NEW.ticket_id, NEW.day, NEW.field_id, NEW.counter, NEW.staff, NEW.at,
                   t.issued_at, t.priority, w,
                   CASE WHEN EXISTS (SELECT 1 FROM visit_calls c WHERE c.ticket_id = NEW.ticket_id
                                     AND c.field_id IS NEW.field_id) THEN NULL
                        ELSE COALESCE(NEW.at - (SELECT c.ended_at FROM visit_calls c
                                                WHERE c.ticket_id = NEW.ticket_id
                                                  AND c.end_kind = 'transferred'
                                                ORDER BY c.call_event DESC LIMIT 1), w) END,
                   NOT EXISTS (SELECT 1 FROM visit_calls c WHERE c.ticket_id = NEW.ticket_id)
            FROM (SELECT json_extract(NEW.data, '$.wait_seconds') AS w)
            LEFT JOIN tickets t ON t.id = NEW.ticket_id;
        END;
    CREATE TRIGGER visit_calls_close AFTER INSERT ON events
        WHEN NEW.kind IN ('finished', 'transferred', 'no_show', 'cancelled', 'closed_at_day_end')
        BEGIN
            UPDATE visit_calls SET ended_at = NEW.at, end_kind = NEW.kind,
                dossiers = CASE WHEN NEW.kind = 'finished'
                                THEN json_extract(NEW.data, '$.dossiers') ELSE dossiers END
            WHERE call_event = (SELECT MAX(call_event) FROM visit_calls
                                WHERE ticket_id = NEW.ticket_id AND call_event < NEW.id)
              AND (end_kind IS NULL OR NEW.kind = 'no_show');
        END;
    INSERT INTO visit_calls (call_event, ticket_id, day, field_id, counter, staff, called_at,
                             issued_at, priority, wait_seconds)
        SELECT e.id, e.ticket_id, e.day, e.field_id, e.counter, e.staff, e.at, t.issued_at,
               t.priority, json_extract(e.data, '$.wait_seconds')
        FROM events e LEFT JOIN tickets t ON t.id = e.ticket_id WHERE e.kind = 'called';
    UPDATE visit_calls SET (ended_at, end_kind, dossiers) = (
        SELECT e.at, e.kind, CASE WHEN e.kind = 'finished' THEN json_extract(e.data, '$.dossiers') END
        FROM events e
        WHERE e.ticket_id = visit_calls.ticket_id AND e.id > visit_calls.call_event
          AND e.kind IN ('finished', 'transferred', 'no_show', 'cancelled', 'closed_at_day_end')
          AND NOT EXISTS (SELECT 1 FROM visit_calls n WHERE n.ticket_id = visit_calls.ticket_id
                          AND n.call_event > visit_calls.call_event AND n.call_event < e.id)
        ORDER BY (e.kind = 'no_show') DESC, e.id LIMIT 1);
    UPDATE visit_calls SET
        first_call = NOT EXISTS (SELECT 1 FROM visit_calls c WHERE c.ticket_id = visit_calls.ticket_id
                                 AND c.call_event < visit_calls.call_event),
        field_wait_seconds = CASE
            WHEN EXISTS (SELECT 1 FROM visit_calls c WHERE c.ticket_id = visit_calls.ticket_id
                         AND c.field_id IS visit_calls.field_id AND c.call_event < visit_calls.call_event)
            THEN NULL
            ELSE COALESCE(called_at - (SELECT c.ended_at FROM visit_calls c
                                       WHERE c.ticket_id = visit_calls.ticket_id
                                         AND c.end_kind = 'transferred'
                                         AND c.call_event < visit_calls.call_event
                                       ORDER BY c.call_event DESC LIMIT 1), wait_seconds) END;
    """,
    # v9 (issue 11, statistics for a year in under a second): per service day, how many events
    # it has and the id of its latest — the day's version. Kept by a trigger on the event log;
    # stats.compute keeps each day's pieces while its version stays the same (a late rating of a
    # closed day changes it, so that day is rebuilt). Existing days are filled in from the log.
    """
    CREATE TABLE event_days (
        day TEXT PRIMARY KEY,
        events INTEGER NOT NULL,
        last_event INTEGER NOT NULL
    ) WITHOUT ROWID;
    INSERT INTO event_days (day, events, last_event) SELECT day, COUNT(*), MAX(id) FROM events GROUP BY day;
    CREATE TRIGGER event_days_count AFTER INSERT ON events BEGIN
        INSERT INTO event_days (day, events, last_event) VALUES (NEW.day, 1, NEW.id)
            ON CONFLICT (day) DO UPDATE SET events = events + 1, last_event = NEW.id;
    END;
    """,
    # v10 (issue 12, raw events and refused batches; forwarder.py): `outbox_event_stream` (one
    # row) holds the raw-event stream's cursor — the id of the last event packed, NULL while
    # `[reporting] raw_events` is off — and the center's own random key of the visits'
    # pseudonymous references (never sent, so the central cannot link a reference to a ticket
    # id). `outbox_batches` gains how many events a batch carries and, for a batch the central
    # refused for good (HTTP 400/409/413/422), when and with what answer: its body is kept so it
    # can be sent again once the central is fixed.
    """
    CREATE TABLE outbox_event_stream (
        one INTEGER PRIMARY KEY CHECK (one = 1),
        last_event INTEGER,
        visit_key BLOB NOT NULL
    );
    INSERT INTO outbox_event_stream (one, last_event, visit_key) VALUES (1, NULL, randomblob(32));
    ALTER TABLE outbox_batches ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox_batches ADD COLUMN refused_at REAL;
    ALTER TABLE outbox_batches ADD COLUMN refusal TEXT;
    DROP INDEX outbox_batches_unacked;
    CREATE INDEX outbox_batches_unacked ON outbox_batches (seq)
        WHERE acked_at IS NULL AND refused_at IS NULL;
    CREATE INDEX outbox_batches_refused ON outbox_batches (seq) WHERE refused_at IS NOT NULL;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

# How long an Idempotency-Key is remembered: far longer than any client retries (the bridge
# retries for as long as the hub is down; a week covers a long outage), far shorter than the
# 65535 presses a device needs to reuse a sequence number (PROTOCOL.md §5.2).
IDEMPOTENCY_KEEP_S = 7 * 86400


class IdempotencyScope:
    """One request's Idempotency-Key while its action runs (SqliteStore.idempotent)."""

    def __init__(self, principal: str, key: str, route: str) -> None:
        self.principal, self.key, self.route = principal, key, route
        self.recorded = False


class StoreLocked(RuntimeError):
    """Another hub process already owns this data folder."""


def _ts(moment: datetime | None) -> float | None:
    return moment.timestamp() if moment is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def _ticket(row: sqlite3.Row) -> Ticket:
    return Ticket(
        id=row["id"],
        day=date.fromisoformat(row["day"]),
        origin_field=row["origin_field"],
        seq=row["seq"],
        number=row["number"],
        field_id=row["field_id"],
        priority=bool(row["priority"]),
        priority_group=row["priority_group"],
        status=TicketStatus(row["status"]),
        issued_at=_dt(row["issued_at"]),  # type: ignore[arg-type]
        source=row["source"],
        called_at=_dt(row["called_at"]),
        finished_at=_dt(row["finished_at"]),
        counter=row["counter"],
        staff=row["staff"],
        target_counter=row["target_counter"],
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        dossiers=row["dossiers"],
        recalls=row["recalls"],
        rating=row["rating"],
        order=row["issue_order"],
        closed_reason=row["closed_reason"],
        print_pending=bool(row["print_pending"]),
    )


def _ticket_params(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id, "day": t.day.isoformat(), "origin_field": t.origin_field, "seq": t.seq,
        "number": t.number, "field_id": t.field_id, "priority": int(t.priority),
        "priority_group": t.priority_group, "status": t.status.value,
        "issued_at": _ts(t.issued_at), "source": t.source, "called_at": _ts(t.called_at),
        "finished_at": _ts(t.finished_at), "counter": t.counter, "staff": t.staff,
        "target_counter": t.target_counter, "outcome": t.outcome.value if t.outcome else None,
        "dossiers": t.dossiers, "recalls": t.recalls, "rating": t.rating,
        "issue_order": t.order, "closed_reason": t.closed_reason,
        "print_pending": int(t.print_pending),
    }


_TICKET_COLUMNS = [
    "id", "day", "origin_field", "seq", "number", "field_id", "priority", "priority_group",
    "status", "issued_at", "source", "called_at", "finished_at", "counter", "staff",
    "target_counter", "outcome", "dossiers", "recalls", "rating", "issue_order", "closed_reason",
    "print_pending",
]
_INSERT_TICKET = (
    f"INSERT INTO tickets ({', '.join(_TICKET_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _TICKET_COLUMNS)})"
)
_UPDATE_TICKET = (
    "UPDATE tickets SET "
    + ", ".join(f"{c} = :{c}" for c in _TICKET_COLUMNS if c != "id")
    + " WHERE id = :id"
)


class SqliteUnitOfWork:
    """The queries of one transaction (see `core.ports.UnitOfWork`)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        # (kind, ticket id) of the events appended in the open transaction (Idempotency-Key)
        self.appended: list[tuple[str, str | None]] = []

    def next_seq(self, day: date, origin_field: str) -> int:
        row = self.db.execute(
            "INSERT INTO sequences (day, field_id, last_seq) VALUES (?, ?, 1) "
            "ON CONFLICT (day, field_id) DO UPDATE SET last_seq = last_seq + 1 "
            "RETURNING last_seq",
            (day.isoformat(), origin_field),
        ).fetchone()
        return int(row[0])

    def next_issue_order(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(issue_order), 0) + 1 FROM tickets").fetchone()
        return int(row[0])

    def issued_count(self, day: date, origin_field: str) -> int:
        """Numbers handed to citizens today: a number whose print failed (cancelled, never
        printed) was burned, not handed out, and does not use up the daily cap."""
        row = self.db.execute(
            "SELECT last_seq FROM sequences WHERE day = ? AND field_id = ?",
            (day.isoformat(), origin_field),
        ).fetchone()
        if not row:
            return 0
        (lost,) = self.db.execute(
            "SELECT COUNT(*) FROM tickets WHERE day = ? AND origin_field = ? "
            "AND status = 'cancelled' AND print_pending = 1",
            (day.isoformat(), origin_field),
        ).fetchone()
        return int(row[0]) - int(lost)

    def insert_ticket(self, ticket: Ticket) -> None:
        self.db.execute(_INSERT_TICKET, _ticket_params(ticket))

    def save_ticket(self, ticket: Ticket) -> None:
        self.db.execute(_UPDATE_TICKET, _ticket_params(ticket))

    def get_ticket(self, ticket_id: str) -> Ticket | None:
        row = self.db.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
        return _ticket(row) if row else None

    def queue_heads(self, day: date, fields: tuple[str, ...], counter: int) -> list[Ticket]:
        heads: list[Ticket] = []
        queues = [("field_id = ? AND target_counter IS NULL", f) for f in fields]
        queues.append(("target_counter = ?", counter))
        for where, value in queues:
            for priority in (1, 0):
                row = self.db.execute(
                    f"SELECT * FROM tickets WHERE status = 'waiting' AND day = ? AND {where} "
                    "AND priority = ? AND print_pending = 0 ORDER BY issue_order LIMIT 1",
                    (day.isoformat(), value, priority),
                ).fetchone()
                if row is not None:
                    heads.append(_ticket(row))
        return heads

    def waiting_counts(self, day: date) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT field_id, COUNT(*) FROM tickets WHERE status = 'waiting' AND day = ? GROUP BY field_id",
            (day.isoformat(),),
        )
        return {r[0]: int(r[1]) for r in rows}

    def count_waiting_before(self, ticket: Ticket, priority_only: bool) -> int:
        row = self.db.execute(
            "SELECT COUNT(*) FROM tickets WHERE status = 'waiting' AND day = ? AND field_id = ? "
            "AND target_counter IS ? AND issue_order < ? "
            + ("AND priority = 1" if priority_only else ""),
            (ticket.day.isoformat(), ticket.field_id, ticket.target_counter, ticket.order),
        ).fetchone()
        return int(row[0])

    def serving(self, day: date) -> dict[int, Ticket]:
        rows = self.db.execute(
            "SELECT * FROM tickets WHERE status = 'called' AND day = ?", (day.isoformat(),)
        )
        return {r["counter"]: _ticket(r) for r in rows}

    def open_tickets_before(self, day: date) -> list[Ticket]:
        rows = self.db.execute(
            "SELECT * FROM tickets WHERE status IN ('waiting', 'called') AND day < ?",
            (day.isoformat(),),
        )
        return [_ticket(r) for r in rows]

    def unconfirmed_prints(self) -> list[Ticket]:
        rows = self.db.execute(
            "SELECT * FROM tickets WHERE print_pending = 1 AND status IN ('waiting', 'called') "
            "ORDER BY issue_order"
        )
        return [_ticket(r) for r in rows]

    def append(self, event: Event) -> int:
        self.appended.append((event.kind.value, event.ticket_id))
        cur = self.db.execute(
            "INSERT INTO events (at, day, kind, ticket_id, field_id, counter, staff, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                event.at.timestamp(), event.day.isoformat(), event.kind.value, event.ticket_id,
                event.field_id, event.counter, event.staff,
                json.dumps(event.data, ensure_ascii=False, separators=(",", ":")),
            ),
        )
        return int(cur.lastrowid or 0)

    def priority_streak(self, day: date, field_id: str, limit: int) -> int:
        # Latest calls first, in commit order (event ids), never by their wall-clock time. A call
        # logged with `"guarded": false` was a priority call made while no ordinary ticket
        # waited: the guard does not count it, and the streak starts after it. (Calls logged
        # before that flag existed count, as they did then.)
        rows = self.db.execute(
            "SELECT t.priority, json_extract(e.data, '$.guarded') FROM events e "
            "JOIN tickets t ON t.id = e.ticket_id "
            "WHERE e.day = ? AND e.field_id = ? AND e.kind = 'called' ORDER BY e.id DESC LIMIT ?",
            (day.isoformat(), field_id, limit),
        ).fetchall()
        streak = 0
        for priority, guarded in rows:
            if not priority or guarded == 0:
                break
            streak += 1
        return streak

    def service_durations(self, day: date, field_id: str, limit: int) -> list[float]:
        # The latest finished visits in commit order; a duration the clock made negative (it
        # stepped back during the visit) is not a measurement and is left out.
        rows = self.db.execute(
            "SELECT (t.finished_at - t.called_at) / 60.0 FROM events e "
            "JOIN tickets t ON t.id = e.ticket_id "
            "WHERE e.day = ? AND e.field_id = ? AND e.kind = 'finished' AND t.status = 'done' "
            "AND t.called_at IS NOT NULL AND t.finished_at >= t.called_at "
            "ORDER BY e.id DESC LIMIT ?",
            (day.isoformat(), field_id, limit),
        ).fetchall()
        return [float(r[0]) for r in rows]

    def counter_states(self) -> dict[int, CounterState]:
        rows = self.db.execute("SELECT * FROM counter_states")
        return {
            r["counter"]: CounterState(
                r["counter"], CounterStatus(r["status"]), r["reason"], r["note"],
                _dt(r["since"]), _dt(r["until"]),
            )
            for r in rows
        }

    def save_counter_state(self, state: CounterState) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO counter_states (counter, status, reason, note, since, until) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (state.number, state.status.value, state.reason, state.note, _ts(state.since),
             _ts(state.until)),
        )

    def recent_calls(self, day: date, limit: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT e.at, e.counter, e.kind, t.number, t.field_id FROM events e "
            "JOIN tickets t ON t.id = e.ticket_id "
            "WHERE e.day = ? AND e.kind IN ('called', 'recalled') ORDER BY e.id DESC LIMIT ?",
            (day.isoformat(), limit),
        )
        return [
            {"number": r["number"], "counter": r["counter"], "service": r["field_id"],
             "called_at": _dt(r["at"]).isoformat(),  # type: ignore[union-attr]
             "recall": r["kind"] == "recalled"}
            for r in rows
        ]

    def last_event_id(self) -> int:
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
        return int(row[0]) if row else 0

    def served_counts(self, day: date) -> dict[int, int]:
        rows = self.db.execute(
            "SELECT counter, COUNT(*) FROM tickets WHERE day = ? AND status = 'done' "
            "AND counter IS NOT NULL GROUP BY counter", (day.isoformat(),))
        return {int(r[0]): int(r[1]) for r in rows}

    def last_finished(self, day: date, counter: int) -> Ticket | None:
        # The visit this counter finished last, in commit order (not by finished_at: the clock
        # may have stepped back in between).
        row = self.db.execute(
            "SELECT t.* FROM events e JOIN tickets t ON t.id = e.ticket_id "
            "WHERE e.day = ? AND e.counter = ? AND e.kind = 'finished' ORDER BY e.id DESC LIMIT 1",
            (day.isoformat(), counter)).fetchone()
        return _ticket(row) if row is not None and row["status"] == "done" else None

    def latest_service_day(self) -> date | None:
        row = self.db.execute("SELECT MAX(day) FROM service_days").fetchone()
        return date.fromisoformat(row[0]) if row and row[0] else None

    def add_service_day(self, day: date, opened_at: datetime) -> None:
        self.db.execute("INSERT OR IGNORE INTO service_days (day, opened_at) VALUES (?, ?)",
                        (day.isoformat(), opened_at.timestamp()))

    def staffed_counters(self, day: date) -> set[int]:
        rows = self.db.execute(
            "SELECT DISTINCT counter FROM events WHERE day = ? AND kind = 'called' "
            "AND counter IS NOT NULL", (day.isoformat(),))
        return {int(r[0]) for r in rows}

    # -- reporting reads (statistics are derived from tickets and the event log)
    def tickets_between(self, first: date, last: date) -> list[Ticket]:
        rows = self.db.execute(
            "SELECT * FROM tickets WHERE day BETWEEN ? AND ? ORDER BY issue_order",
            (first.isoformat(), last.isoformat()),
        )
        return [_ticket(r) for r in rows]

    def events_for(self, ticket_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT * FROM events WHERE ticket_id = ? ORDER BY id", (ticket_id,)
        )
        return [
            {"id": r["id"], "kind": r["kind"], "at": _dt(r["at"]).isoformat(),  # type: ignore[union-attr]
             "counter": r["counter"], "staff": r["staff"], "field": r["field_id"],
             "data": json.loads(r["data"])}
            for r in rows
        ]

    def events_between(self, first: date, last: date, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
        marks = ", ".join("?" for _ in kinds)
        rows = self.db.execute(
            f"SELECT * FROM events WHERE day BETWEEN ? AND ? AND kind IN ({marks}) ORDER BY id",
            (first.isoformat(), last.isoformat(), *kinds),
        )
        return [
            {"kind": r["kind"], "at": _dt(r["at"]), "ticket_id": r["ticket_id"],
             "field": r["field_id"], "counter": r["counter"], "staff": r["staff"],
             "data": json.loads(r["data"])}
            for r in rows
        ]

    # -- the counter panel's reads (no-shows, call by number, what a counter can call)
    def tickets_numbered(self, day: date, number: str) -> list[Ticket]:
        """Tickets of `day` whose printed number is `number` (one per field at most), in issue order."""
        rows = self.db.execute(
            "SELECT * FROM tickets WHERE day = ? AND number = ? ORDER BY issue_order",
            (day.isoformat(), number))
        return [_ticket(r) for r in rows]

    def waiting_by_target(self, day: date) -> list[tuple[str, int | None, int]]:
        """Waiting tickets of `day` counted per (field, reserved counter or None)."""
        rows = self.db.execute(
            "SELECT field_id, target_counter, COUNT(*) FROM tickets WHERE status = 'waiting' AND print_pending = 0 "
            "AND day = ? GROUP BY field_id, target_counter", (day.isoformat(),))
        return [(r[0], None if r[1] is None else int(r[1]), int(r[2])) for r in rows]

    def no_shows(self, day: date) -> list[Ticket]:
        """The no-show tickets of `day`, most recently marked first."""
        rows = self.db.execute(
            "SELECT * FROM tickets WHERE status = 'no_show' AND day = ? ORDER BY finished_at DESC",
            (day.isoformat(),))
        return [_ticket(r) for r in rows]


class SqliteStore:
    """Owns the database file of one center (and the lock on its data folder)."""

    def __init__(self, path: Path, lock_folder: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = None
        if lock_folder:
            self._lock_file = open(self.path.parent / "hub.lock", "w")  # noqa: SIM115
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                self._lock_file.close()
                raise StoreLocked(
                    f"another queue-server already uses {self.path.parent}; stop it first"
                ) from exc
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                  timeout=10.0)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = FULL")
        self.db.execute("PRAGMA foreign_keys = ON")
        self._mutex = threading.RLock()
        self._scopes = threading.local()
        self._uow = SqliteUnitOfWork(self.db)
        # The reason the last write failed (full disk, I/O error…), None once a write succeeds.
        self.last_write_error: str | None = None
        self.migrate()

    def migrate(self) -> None:
        with self._mutex:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema v{version}, newer than this program (v{SCHEMA_VERSION}); "
                    "upgrade the program, do not downgrade the data"
                )
            for number in range(version, SCHEMA_VERSION):
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _statements(MIGRATIONS[number]):
                        self.db.execute(statement)
                    self.db.execute(f"PRAGMA user_version = {number + 1}")
                    self.db.execute("COMMIT")
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise

    @property
    def schema_version(self) -> int:
        with self._mutex:
            return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _write(self) -> Iterator[None]:
        """Remember whether a write reached the database (see `last_write_error`): a storage
        error is a write failure; any other exception (a refusal of the rules) leaves it as is."""
        try:
            yield
        except sqlite3.Error as exc:
            self.last_write_error = f"{type(exc).__name__}: {exc}"
            raise
        self.last_write_error = None

    @contextmanager
    def transaction(self) -> Iterator[SqliteUnitOfWork]:
        """BEGIN IMMEDIATE … COMMIT; any exception rolls everything back. A storage error
        (`sqlite3.Error`) is remembered as the last write failure; a refusal of the rules is
        not a write failure and leaves that as it was."""
        with self._mutex, self._write():
            self.db.execute("BEGIN IMMEDIATE")
            self._uow.appended = []
            try:
                yield self._uow
                self._record_idempotency(self._uow.appended)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    # -- Idempotency-Key (counter actions and ratings; api.py `once`)
    @contextmanager
    def idempotent(self, principal: str, key: str, route: str) -> Iterator[IdempotencyScope]:
        """Within this block (in this thread), the first transaction that logs an event of the
        action (not the day's close) also stores `key` with those events, in that transaction:
        the action and its key are kept together or not at all. A second store of the same
        (principal, key) fails the transaction (PRIMARY KEY), so the action cannot happen twice
        even if two requests race."""
        scope = IdempotencyScope(principal, key, route)
        self._scopes.scope = scope
        try:
            yield scope
        finally:
            self._scopes.scope = None

    def _record_idempotency(self, appended: list[tuple[str, str | None]]) -> None:
        scope: IdempotencyScope | None = getattr(self._scopes, "scope", None)
        if scope is None or scope.recorded:
            return
        events = [e for e in appended if e[0] != "closed_at_day_end"]
        if not events:
            return
        self._insert_idempotency(scope, events)

    def _insert_idempotency(self, scope: IdempotencyScope, events: list[tuple[str, str | None]]) -> None:
        now = datetime.now(timezone.utc).timestamp()
        self.db.execute("DELETE FROM idempotency WHERE created_at < ?", (now - IDEMPOTENCY_KEEP_S,))
        self.db.execute("INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)",
                        (scope.principal, scope.key, scope.route,
                         json.dumps(events, separators=(",", ":")), now))
        scope.recorded = True

    def record_idempotency(self, scope: IdempotencyScope) -> None:
        """Store a key whose action logged no event (e.g. 'next' with nobody waiting), so a
        retry does not do later what the first request did not."""
        if scope.recorded:
            return
        with self._mutex, self._write():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._insert_idempotency(scope, [])
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def idempotency_record(self, principal: str, key: str) -> tuple[str, list[tuple[str, str | None]]] | None:
        """(route, events) stored for this caller's key, or None."""
        with self._mutex:
            row = self.db.execute("SELECT route, events, created_at FROM idempotency "
                                  "WHERE principal = ? AND key = ?", (principal, key)).fetchone()
        if row is None or row[2] < datetime.now(timezone.utc).timestamp() - IDEMPOTENCY_KEEP_S:
            return None
        return row[0], [tuple(e) for e in json.loads(row[1])]  # type: ignore[misc]

    @contextmanager
    def reading(self) -> Iterator[SqliteUnitOfWork]:
        """A consistent read (one snapshot of the WAL)."""
        with self._mutex:
            self.db.execute("BEGIN")
            try:
                yield self._uow
            finally:
                self.db.execute("COMMIT")

    # -- login sessions (tokens are stored hashed)
    def add_session(self, token_hash: str, username: str, expires_at: float) -> None:
        with self._mutex, self._write():
            self.db.execute("DELETE FROM sessions WHERE expires_at < ?", (expires_at - 7 * 86400,))
            self.db.execute("INSERT INTO sessions VALUES (?, ?, ?)", (token_hash, username, expires_at))

    def session(self, token_hash: str) -> tuple[str, float] | None:
        with self._mutex:
            row = self.db.execute(
                "SELECT username, expires_at FROM sessions WHERE token_hash = ?", (token_hash,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def drop_session(self, token_hash: str) -> None:
        with self._mutex, self._write():
            self.db.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    # -- login lockouts (kind "account" or "address"; see auth.LoginThrottle)
    def lockouts(self) -> list[tuple[str, str, int, float, float]]:
        """Every stored lockout: (kind, key, strikes, locked_until, updated_at), epoch seconds."""
        with self._mutex:
            rows = self.db.execute(
                "SELECT kind, key, strikes, locked_until, updated_at FROM login_lockouts").fetchall()
        return [(r[0], r[1], int(r[2]), float(r[3]), float(r[4])) for r in rows]

    def save_lockout(self, kind: str, key: str, strikes: int, locked_until: float,
                     updated_at: float) -> None:
        with self._mutex:
            self.db.execute("INSERT OR REPLACE INTO login_lockouts VALUES (?, ?, ?, ?, ?)",
                            (kind, key, strikes, locked_until, updated_at))

    def drop_lockout(self, kind: str, key: str) -> None:
        with self._mutex:
            self.db.execute("DELETE FROM login_lockouts WHERE kind = ? AND key = ?", (kind, key))

    def drop_lockouts_before(self, updated_before: float) -> None:
        """Forget lockouts (and their strike counts) untouched since `updated_before`."""
        with self._mutex:
            self.db.execute("DELETE FROM login_lockouts WHERE updated_at < ?", (updated_before,))

    # -- configuration edited in the browser (settings.py) and its audit log
    def config_sections(self) -> dict[str, Any]:
        """The config sections saved from the browser: {section name: its TOML-shaped value}."""
        with self._mutex:
            rows = self.db.execute("SELECT section, value FROM config_sections").fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    def save_config_section(self, section: str, value: Any, actor: str, at: float,
                            audit: list[tuple[str, str, Any, Any]]) -> None:
        """Store one section (`value`, JSON-able; None removes it, the file's applies again) and
        its audit entries [(action, target, before, after)] in one durable transaction."""
        with self._mutex, self._write():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                if value is None:
                    self.db.execute("DELETE FROM config_sections WHERE section = ?", (section,))
                else:
                    self.db.execute("INSERT OR REPLACE INTO config_sections VALUES (?, ?, ?, ?)",
                                    (section, json.dumps(value, ensure_ascii=False), at, actor))
                for action, target, before, after in audit:
                    self.db.execute(
                        "INSERT INTO config_audit (at, actor, action, target, before, after) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (at, actor, action, target,
                         None if before is None else json.dumps(before, ensure_ascii=False),
                         None if after is None else json.dumps(after, ensure_ascii=False)))
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def config_audit(self, limit: int = 200) -> list[dict[str, Any]]:
        """The newest `limit` audit entries, newest first: {id, at (epoch s), actor, action,
        target, before, after}."""
        with self._mutex:
            rows = self.db.execute(
                "SELECT id, at, actor, action, target, before, after FROM config_audit "
                "ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [{"id": r[0], "at": r[1], "actor": r[2], "action": r[3], "target": r[4],
                 "before": json.loads(r[5]) if r[5] is not None else None,
                 "after": json.loads(r[6]) if r[6] is not None else None} for r in rows]

    def active_sessions(self, now: float) -> dict[str, float]:
        """Who is logged in: {username: latest expiry (epoch s)} of sessions not expired at `now`."""
        with self._mutex:
            rows = self.db.execute("SELECT username, MAX(expires_at) FROM sessions "
                                   "WHERE expires_at >= ? GROUP BY username", (now,)).fetchall()
        return {r[0]: float(r[1]) for r in rows}

    def oldest_waiting(self, day: date) -> dict[str, float]:
        """{field id: issued_at (epoch s) of its longest-waiting ticket} on `day` (the tickets
        `waiting_counts` counts)."""
        with self._mutex:
            rows = self.db.execute(
                "SELECT field_id, MIN(issued_at) FROM tickets WHERE status = 'waiting' AND day = ? "
                "GROUP BY field_id", (day.isoformat(),)).fetchall()
        return {r[0]: float(r[1]) for r in rows}

    def ping(self) -> bool:
        with self._mutex:
            return self.db.execute("SELECT 1").fetchone()[0] == 1

    def close(self) -> None:
        with self._mutex:
            self.db.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None


def _statements(script: str) -> list[str]:
    """Split a migration into statements (triggers contain ';' inside BEGIN … END)."""
    out: list[str] = []
    buf = ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def default_db_path(data_dir: Path) -> Path:
    return Path(data_dir) / "queue.sqlite3"


__all__ = ["SqliteStore", "SqliteUnitOfWork", "StoreLocked", "default_db_path", "SCHEMA_VERSION"]
