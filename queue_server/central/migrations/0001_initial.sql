-- The central backend's first schema (issue 12). One row per (center, day, field, 15-minute
-- slot): the slot's figures at the highest revision received (merge = replace by revision).
CREATE TABLE centers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    rating_levels JSONB,
    last_batch_at TIMESTAMPTZ,
    last_sequence BIGINT
);

-- Every batch taken, by its idempotency key: the unique key is the deduplication, inside the
-- transaction that stores the batch's slots.
CREATE TABLE batches (
    center_id TEXT NOT NULL REFERENCES centers (id),
    idempotency_key UUID NOT NULL,
    body_sha256 BYTEA NOT NULL,
    sequence BIGINT NOT NULL,
    slots INTEGER NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, idempotency_key)
);

CREATE TABLE slots (
    center_id TEXT NOT NULL REFERENCES centers (id),
    day DATE NOT NULL,
    field_id TEXT NOT NULL,
    slot_start TIMESTAMPTZ NOT NULL,
    revision BIGINT NOT NULL,
    issued INTEGER NOT NULL,
    served INTEGER NOT NULL,
    no_show INTEGER NOT NULL,
    cancelled INTEGER NOT NULL,
    closed_at_day_end INTEGER NOT NULL,
    print_failed INTEGER NOT NULL,
    open INTEGER NOT NULL,
    dossiers INTEGER NOT NULL,
    wait_count INTEGER NOT NULL,
    wait_sum_s DOUBLE PRECISION NOT NULL,
    wait_within_target INTEGER NOT NULL,
    wait_hist INTEGER[] NOT NULL,
    service_count INTEGER NOT NULL,
    service_sum_s DOUBLE PRECISION NOT NULL,
    service_hist INTEGER[] NOT NULL,
    clock_anomalies INTEGER NOT NULL,
    batch_key UUID NOT NULL,
    PRIMARY KEY (center_id, day, field_id, slot_start)
);
CREATE INDEX slots_day ON slots (day, center_id);

-- Ratings per level per staff of a slot, replaced together with the slot's row.
CREATE TABLE slot_ratings (
    center_id TEXT NOT NULL,
    day DATE NOT NULL,
    field_id TEXT NOT NULL,
    slot_start TIMESTAMPTZ NOT NULL,
    staff TEXT NOT NULL,
    level SMALLINT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (center_id, day, field_id, slot_start, staff, level),
    FOREIGN KEY (center_id, day, field_id, slot_start)
        REFERENCES slots (center_id, day, field_id, slot_start) ON DELETE CASCADE
);
CREATE INDEX slot_ratings_day ON slot_ratings (day, center_id);

-- Refused requests (bad token, bad signature, a replayed key with a changed body…), for the
-- province's administrator.
CREATE TABLE refusals (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    center_id TEXT,
    idempotency_key TEXT,
    status INTEGER NOT NULL,
    code TEXT NOT NULL,
    remote_addr TEXT
);
