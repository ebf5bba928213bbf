-- Per-center per-day rollup of `slots` and `slot_ratings`, rewritten by the ingest in the same
-- transaction as the slots of that center and day (issue 12 benchmark: a national view over half a
-- million slot rows took 37 s; over the rollup it reads one row per center and day).
CREATE TABLE center_days (
    center_id TEXT NOT NULL REFERENCES centers (id),
    day DATE NOT NULL,
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
    wait_hist BIGINT[] NOT NULL,
    service_count INTEGER NOT NULL,
    service_sum_s DOUBLE PRECISION NOT NULL,
    service_hist BIGINT[] NOT NULL,
    clock_anomalies INTEGER NOT NULL,
    PRIMARY KEY (day, center_id)
);

CREATE TABLE center_day_ratings (
    center_id TEXT NOT NULL REFERENCES centers (id),
    day DATE NOT NULL,
    level SMALLINT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (day, center_id, level)
);

INSERT INTO center_days
SELECT s.center_id, s.day, SUM(issued), SUM(served), SUM(no_show), SUM(cancelled),
       SUM(closed_at_day_end), SUM(print_failed), SUM(open), SUM(dossiers), SUM(wait_count),
       SUM(wait_sum_s), SUM(wait_within_target),
       (SELECT array_agg(t ORDER BY i) FROM (SELECT u.i, SUM(u.n) AS t FROM slots x,
            unnest(x.wait_hist) WITH ORDINALITY AS u(n, i)
            WHERE x.center_id = s.center_id AND x.day = s.day GROUP BY u.i) h),
       SUM(service_count), SUM(service_sum_s),
       (SELECT array_agg(t ORDER BY i) FROM (SELECT u.i, SUM(u.n) AS t FROM slots x,
            unnest(x.service_hist) WITH ORDINALITY AS u(n, i)
            WHERE x.center_id = s.center_id AND x.day = s.day GROUP BY u.i) h),
       SUM(clock_anomalies)
FROM slots s GROUP BY s.center_id, s.day;

INSERT INTO center_day_ratings
SELECT center_id, day, level, SUM(count) FROM slot_ratings GROUP BY center_id, day, level;
