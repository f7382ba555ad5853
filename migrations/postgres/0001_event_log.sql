-- The Terminagent event log on Postgres.
--
-- Writers never take a global lock: an append inserts into `events` and
-- `stream_events` only. The unique index on (stream, version) is the
-- consistency check — two appends conflict only when they touch the same stream.
--
-- Global order is assigned afterwards by the sequencer (`sequence_events`):
-- sequence values handed out at insert become visible at commit, so a reader
-- that trusted `seq` would skip events of slow transactions. The sequencer only
-- numbers events whose transaction is older than every running transaction
-- (xid8 watermark), in (transaction id, seq) order, into `event_log`. Positions
-- there are dense (1, 2, 3, …), committed in order, and never change.

CREATE TABLE events (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tx             xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       text NOT NULL,
    event_type     text NOT NULL,
    schema_version integer NOT NULL,
    streams        text[] NOT NULL,
    recorded_at    timestamptz NOT NULL,
    correlation_id text,
    causation_id   text,
    data           jsonb NOT NULL,
    CONSTRAINT events_event_id_unique UNIQUE (event_id)
);

-- The sequencer walks unsequenced events in commit-safe order.
CREATE INDEX events_commit_order ON events (tx, seq);

-- One row per (stream, version); no foreign key on purpose: the append
-- function is the only writer, and a key check would lock the event row.
CREATE TABLE stream_events (
    stream    text NOT NULL,
    version   bigint NOT NULL,
    event_seq bigint NOT NULL,
    CONSTRAINT stream_events_pkey PRIMARY KEY (stream, version)
);

CREATE TABLE event_log (
    position  bigint PRIMARY KEY,
    event_seq bigint NOT NULL,
    CONSTRAINT event_log_event_unique UNIQUE (event_seq)
);

-- Appends one batch atomically in one round trip. Conditions name streams and
-- the version each must have now (0 = the stream does not exist yet); a failed
-- condition raises SQLSTATE 'TA409' and nothing is written. Streams of the batch
-- without a condition are appended at their current end. A race between two
-- appends to one stream surfaces as a unique violation on stream_events_pkey.
CREATE FUNCTION append_events(
    p_event_ids       text[],
    p_event_types     text[],
    p_schema_versions integer[],
    p_recorded_at     timestamptz[],
    p_correlation_ids text[],
    p_causation_ids   text[],
    p_data            jsonb[],
    p_link_events     integer[],  -- 1-based index into the event arrays
    p_link_streams    text[],
    p_cond_streams    text[],
    p_cond_versions   bigint[]
) RETURNS TABLE (stream text, version bigint)
LANGUAGE plpgsql AS $$
DECLARE
    failed record;
BEGIN
    SELECT c.stream, c.expected, coalesce(cur.version, 0) AS actual INTO failed
    FROM unnest(p_cond_streams, p_cond_versions) AS c(stream, expected)
    LEFT JOIN LATERAL (
        SELECT max(se.version) AS version FROM stream_events se WHERE se.stream = c.stream
    ) cur ON true
    WHERE coalesce(cur.version, 0) <> c.expected
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'stream % is at version %, expected %', failed.stream, failed.actual, failed.expected
            USING ERRCODE = 'TA409',
                  DETAIL = json_build_object('stream', failed.stream, 'expected', failed.expected, 'actual', failed.actual)::text;
    END IF;

    RETURN QUERY
    WITH input AS (
        SELECT * FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_recorded_at,
                             p_correlation_ids, p_causation_ids, p_data)
            WITH ORDINALITY AS i(event_id, event_type, schema_version, recorded_at,
                                 correlation_id, causation_id, data, ord)
    ),
    links AS (
        SELECT l.ord, l.stream FROM unnest(p_link_events, p_link_streams) AS l(ord, stream)
    ),
    inserted AS (
        INSERT INTO events (event_id, event_type, schema_version, streams, recorded_at,
                            correlation_id, causation_id, data)
        SELECT i.event_id, i.event_type, i.schema_version,
               coalesce((SELECT array_agg(l.stream ORDER BY l.stream) FROM links l WHERE l.ord = i.ord), '{}'),
               i.recorded_at, i.correlation_id, i.causation_id, i.data
        FROM input i
        ORDER BY i.ord
        RETURNING events.seq, events.event_id
    ),
    bases AS (
        SELECT s.stream, coalesce((SELECT max(se.version) FROM stream_events se WHERE se.stream = s.stream), 0) AS base
        FROM (SELECT DISTINCT l.stream FROM links l) s
    ),
    numbered AS (
        SELECT l.stream,
               b.base + row_number() OVER (PARTITION BY l.stream ORDER BY l.ord) AS version,
               ins.seq
        FROM links l
        JOIN input i ON i.ord = l.ord
        JOIN inserted ins ON ins.event_id = i.event_id
        JOIN bases b ON b.stream = l.stream
    ),
    linked AS (
        INSERT INTO stream_events (stream, version, event_seq)
        SELECT n.stream, n.version, n.seq FROM numbered n
        RETURNING stream_events.stream, stream_events.version
    )
    SELECT linked.stream, max(linked.version) FROM linked GROUP BY linked.stream;
END;
$$;

-- Numbers the next events of the log; one sequencer at a time (advisory lock),
-- any process may run it. Wakes subscribers in other processes with one NOTIFY
-- per call that numbered something (never one per event: NOTIFY serialises
-- committers on a global lock).
CREATE FUNCTION sequence_events(p_batch integer)
RETURNS TABLE (sequenced bigint, head bigint)
LANGUAGE plpgsql AS $$
DECLARE
    last_position bigint;
    last_tx xid8;
    last_seq bigint;
    numbered bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7361626173); -- the log's sequencer lock
    SELECT l.position, e.tx, e.seq INTO last_position, last_tx, last_seq
    FROM event_log l JOIN events e ON e.seq = l.event_seq
    ORDER BY l.position DESC LIMIT 1;
    IF NOT FOUND THEN
        last_position := 0; last_tx := '0'::xid8; last_seq := 0;
    END IF;

    WITH batch AS (
        SELECT e.seq, row_number() OVER (ORDER BY e.tx, e.seq) AS n
        FROM events e
        WHERE (e.tx, e.seq) > (last_tx, last_seq)
          AND e.tx < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY e.tx, e.seq
        LIMIT p_batch
    ), ins AS (
        INSERT INTO event_log (position, event_seq)
        SELECT last_position + b.n, b.seq FROM batch b
        RETURNING 1
    )
    SELECT count(*) INTO numbered FROM ins;

    IF numbered > 0 THEN
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
