-- The raw-event stream of centers with `[reporting] raw_events = true` (batch version 2; issue 12).
-- One row per (center, the center's event id): a batch sent twice, or two batches overlapping,
-- store each event once (INSERT ... ON CONFLICT DO NOTHING in the batch's transaction). No
-- personal data: no ticket id or number, no free text; `visit` is the center's pseudonymous
-- reference of the visit (docs/reporting.md). Not partitioned: at national scale (~3,300
-- centers, ~6 million events a day) partition by month of `day` (the primary key then has to
-- include `day`, which a given event never changes) — docs/reporting.md, "National scale".
CREATE TABLE raw_events (
    center_id TEXT NOT NULL REFERENCES centers (id),
    event_id BIGINT NOT NULL,
    kind TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    day DATE NOT NULL,
    field_id TEXT,
    counter INTEGER,
    staff TEXT,
    visit TEXT,
    data JSONB NOT NULL DEFAULT '{}',
    batch_key UUID NOT NULL,
    PRIMARY KEY (center_id, event_id)
);
CREATE INDEX raw_events_day ON raw_events (day, center_id);
CREATE INDEX raw_events_visit ON raw_events (center_id, visit) WHERE visit IS NOT NULL;

-- Per center and day, how many raw events are stored (the province view's count, without
-- counting the big table), added to by the ingest with each newly stored event.
CREATE TABLE center_day_events (
    center_id TEXT NOT NULL REFERENCES centers (id),
    day DATE NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (day, center_id)
);

ALTER TABLE batches ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
