-- The Terminagent event log on Postgres.
--
-- `events` has one row per (stream, version): an event indexed under k
-- streams has k rows. The first of them (its home row) carries the event;
-- the others only index it under another stream. The primary key on
-- (stream, version) is the whole consistency check: two appends conflict
-- only when they touch the same stream, and no lock is global. A
-- single-stream append is one INSERT of one row.
--
-- Global order is assigned afterwards by the sequencer (`sequence_events`):
-- sequence values handed out at insert become visible at commit, so a reader
-- that trusted `seq` would skip events of slow transactions. The log order is
-- (transaction id, seq). Each sequencer sweep takes the events after the last
-- segment whose transaction is older than every running transaction (xid8
-- watermark) — nothing can ever appear among them again — and records them as
-- one segment: positions first..last are the events between two (tx, seq)
-- bounds. Positions are dense (1, 2, 3, …), committed in order, and never
-- change; reading the log is one ordered index scan of `events`.

CREATE SEQUENCE events_seq;

-- Ids are ULIDs stored as uuid (16 bytes, compared as bytes); stream names
-- compare bytewise ("C"): no locale rules on the hot index.
CREATE TABLE events (
    stream         text COLLATE "C" NOT NULL,
    version        bigint  NOT NULL,
    event_id       uuid    NOT NULL,
    home           boolean NOT NULL,
    -- The rest is set on home rows only.
    seq            bigint,
    -- The writer's transaction id (xid8 as bigint: compact, compares as xid8).
    tx             bigint DEFAULT pg_current_xact_id()::text::bigint,
    event_type     text,
    schema_version integer,
    streams        text[],
    recorded_at    timestamptz,
    correlation_id uuid,
    causation_id   uuid,
    data           jsonb,
    CONSTRAINT events_pkey PRIMARY KEY (stream, version)
);

-- A retried append is recognised by its event ids.
CREATE UNIQUE INDEX events_event_id_unique ON events (event_id) WHERE home;
CREATE INDEX events_event_id_links ON events (event_id) WHERE NOT home;
-- The log order: the sequencer and every reader of the whole log walk it.
CREATE INDEX events_log_order ON events (tx, seq) WHERE home;

CREATE TABLE log_segments (
    first_position bigint PRIMARY KEY,
    last_position  bigint NOT NULL,
    first_tx       bigint NOT NULL,
    first_seq      bigint NOT NULL,
    last_tx        bigint NOT NULL,
    last_seq       bigint NOT NULL,
    CHECK (last_position >= first_position)
);

-- Records the next segment of the log; one sequencer at a time (advisory
-- lock), any process may run it. Wakes subscribers in other processes with one
-- NOTIFY per segment (never one per event: NOTIFY serialises committers on a
-- global lock).
CREATE FUNCTION sequence_events(p_batch integer)
RETURNS TABLE (sequenced bigint, head bigint)
LANGUAGE plpgsql AS $$
DECLARE
    last_position bigint;
    after_tx bigint;
    after_seq bigint;
    numbered bigint;
    lo bigint[];
    hi bigint[];
BEGIN
    PERFORM pg_advisory_xact_lock(7361626173); -- the log's sequencer lock
    SELECT s.last_position, s.last_tx, s.last_seq INTO last_position, after_tx, after_seq
    FROM log_segments s ORDER BY s.first_position DESC LIMIT 1;
    IF NOT FOUND THEN
        last_position := 0; after_tx := 0; after_seq := 0;
    END IF;

    SELECT count(*), min(ARRAY[b.tx, b.seq]), max(ARRAY[b.tx, b.seq]) INTO numbered, lo, hi
    FROM (
        SELECT e.tx, e.seq FROM events e
        WHERE e.home
          AND (e.tx, e.seq) > (after_tx, after_seq)
          AND e.tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
        ORDER BY e.tx, e.seq
        LIMIT p_batch
    ) b;

    IF numbered > 0 THEN
        INSERT INTO log_segments VALUES (last_position + 1, last_position + numbered, lo[1], lo[2], hi[1], hi[2]);
        PERFORM pg_notify('terminagent_log', (last_position + numbered)::text);
    END IF;
    sequenced := numbered;
    head := last_position + numbered;
    RETURN NEXT;
END;
$$;

-- Per-citizen keys of the personal-data envelopes. Kept outside the event log:
-- deleting a row erases that citizen's name, e-mail and phone everywhere
-- (crypto-shredding) while the log and its replay stay intact.
CREATE TABLE personal_data_keys (
    envelope_id text PRIMARY KEY,
    key         bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
