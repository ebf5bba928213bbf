"""The province's central reporting backend (SPEC §8, §9; issue 12): a second entry point of the
same code base, `queue-server central --database DSN --centers FILE [--host H] [--port N]`.

Its own Flask application (never served by a center's hub), on PostgreSQL through psycopg 3 and
psycopg_pool, served by gunicorn's gthread workers:

- `registry`  — the centers file: `[[centers]]` (id, name, token) and `[[readers]]` (name, token).
- `db`        — the connection pool and the schema migrations (versioned SQL files in
  `migrations/`, applied in order under an advisory lock, each in its own transaction).
- `ingest`    — `POST /api/v1/ingest`: authenticate the center, verify the body's HMAC, check the
  batch against `batch-v1.schema.json`, store it — deduplicated by its idempotency key in the
  same transaction (a primary key and `INSERT … ON CONFLICT`), slots merged by revision.
- `province`  — the province view: per center and totals over a date range, percentiles merged
  from histogram buckets, centers that stopped reporting flagged; XLSX/CSV exports.
- `web`       — the Flask app; `cli` — the command and its gunicorn application.
"""
