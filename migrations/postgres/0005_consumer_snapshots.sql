-- A consumer's folded state at a log position (the matcher's waitlist), so a
-- restart loads it and reads only the log after it instead of replaying
-- from position 0. The data is the consumer's own format; one row each.
CREATE TABLE consumer_snapshots (
    consumer text PRIMARY KEY,
    position bigint NOT NULL,
    format   text NOT NULL,
    taken_at timestamptz NOT NULL,
    data     bytea NOT NULL
);
