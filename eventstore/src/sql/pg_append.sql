-- Appends one batch in one statement (one round trip, no PL/pgSQL).
-- $1..$7: per event (id, type, schema version, recorded at, correlation,
-- causation, data); $8/$9: per (event, stream) link, 1-based event index and
-- stream, the event's first link being its home row; $10/$11: conditions
-- (stream, version it must be at now); $12: per event, its actor.
-- Answers one row per appended stream (stream, last version), or — when a
-- condition fails — one row naming it, and then nothing was written.
WITH input AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::timestamptz[], $5::uuid[], $6::uuid[], $7::text[], $12::text[])
        WITH ORDINALITY AS i(event_id, event_type, schema_version, recorded_at, correlation_id, causation_id, data, actor, ord)
), links AS (
    SELECT * FROM unnest($8::int4[], $9::text[]) WITH ORDINALITY AS l(ord, stream, link)
), bases AS MATERIALIZED (
    SELECT s.stream, coalesce((SELECT max(e.version) FROM events e WHERE e.stream = s.stream), 0) AS base
    FROM (SELECT DISTINCT links.stream FROM links) s
), failed AS MATERIALIZED (
    SELECT c.stream, c.expected, b.base AS actual
    FROM unnest($10::text[], $11::int8[]) AS c(stream, expected)
    JOIN bases b ON b.stream = c.stream
    WHERE b.base <> c.expected
    LIMIT 1
), sequenced AS MATERIALIZED (
    SELECT o.ord, nextval('events_seq') AS seq
    FROM (SELECT input.ord FROM input WHERE NOT EXISTS (SELECT 1 FROM failed) ORDER BY input.ord) o
), streams_of AS (
    SELECT links.ord, array_agg(links.stream ORDER BY links.stream) AS streams FROM links GROUP BY links.ord
), numbered AS (
    SELECT l.ord, l.stream,
           b.base + row_number() OVER (PARTITION BY l.stream ORDER BY l.ord) AS version,
           l.link = min(l.link) OVER (PARTITION BY l.ord) AS home
    FROM links l JOIN bases b ON b.stream = l.stream
), inserted AS (
    INSERT INTO events (stream, version, event_id, home, seq, event_type, schema_version, streams,
                        recorded_at, correlation_id, causation_id, data, actor)
    SELECT n.stream, n.version, i.event_id, n.home,
           CASE WHEN n.home THEN s.seq END,
           CASE WHEN n.home THEN i.event_type END,
           CASE WHEN n.home THEN i.schema_version END,
           CASE WHEN n.home THEN so.streams END,
           CASE WHEN n.home THEN i.recorded_at END,
           CASE WHEN n.home THEN i.correlation_id END,
           CASE WHEN n.home THEN i.causation_id END,
           CASE WHEN n.home THEN i.data::json END,
           CASE WHEN n.home THEN i.actor END
    FROM numbered n
    JOIN sequenced s ON s.ord = n.ord
    JOIN input i ON i.ord = n.ord
    JOIN streams_of so ON so.ord = n.ord
    RETURNING events.stream, events.version
)
SELECT false AS conflict, inserted.stream, max(inserted.version) AS version, NULL::int8 AS expected
FROM inserted GROUP BY inserted.stream
UNION ALL
SELECT true, failed.stream, failed.actual, failed.expected FROM failed
