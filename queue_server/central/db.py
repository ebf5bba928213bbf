"""PostgreSQL for the central backend: psycopg 3 connections from a psycopg_pool pool, and the
schema migrations.

Migrations are plain versioned SQL files, `migrations/NNNN_name.sql`, applied in order, each in
its own transaction together with its row in `schema_migrations`, under a transaction-scoped
advisory lock so two starting processes never apply one twice. Plain SQL rather than Alembic: the
schema is a handful of tables with no ORM models to diff against, and a DBA reads SQL files as they
are. A database newer than this program (an unknown version applied) is refused.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_LOCK_ID = 0x51_55_41_59  # "QUAY": the advisory lock of the migrations
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration file, in version order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.iterdir()):
        m = _NAME.match(path.name)
        if m:
            found.append((int(m.group(1)), path.name, path.read_text(encoding="utf-8")))
    return found


def migrate(dsn: str) -> int:
    """Bring the database at `dsn` to the newest schema; the version it is at. Raises
    RuntimeError for a database newer than this program, psycopg.Error when it cannot connect."""
    known = migrations()
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                         "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        for version, name, sql in known:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                done = conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s",
                                    (version,)).fetchone()
                if done is None:
                    conn.execute(sql.encode())  # no parameters: several statements in one call
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                 (version, name))
        row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    current = int(row[0]) if row and row[0] is not None else 0
    newest = known[-1][0] if known else 0
    if current > newest:
        raise RuntimeError(f"the database has schema v{current}, newer than this program "
                           f"(v{newest}); upgrade the program")
    return current


def create_pool(dsn: str, size: int, **kwargs: Any) -> ConnectionPool:
    """An open pool of `size` connections (min = max: a fixed set, opened eagerly)."""
    pool = ConnectionPool(dsn, min_size=size, max_size=size, open=False, **kwargs)
    pool.open(wait=True, timeout=30)
    return pool


def sync_centers(dsn: str, centers: list[tuple[str, str]]) -> None:
    """Insert or rename the centers of the centers file (id, name); rows of centers no longer
    listed stay (their data is kept)."""
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO centers (id, name) VALUES (%s, %s) "
                        "ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name", centers)
