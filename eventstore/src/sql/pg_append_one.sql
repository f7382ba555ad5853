-- Appends one event — the shape of nearly every command — in one lean
-- statement. $1 event id, $2 type, $3 schema version, $4 recorded at,
-- $5 correlation, $6 causation, $7 data, $8 the event's streams (the first
-- gets the home row), $9 per stream the version it must be at now (-1: no
-- condition), $10 the streams sorted (stored with the event), $11 the actor.
-- Answers the appended (stream, version) rows; none when a condition failed.
WITH bases AS MATERIALIZED (
    SELECT s.stream, s.expected, s.link,
           coalesce((SELECT max(e.version) FROM events e WHERE e.stream = s.stream), 0) AS base
    FROM unnest($8::text[], $9::int8[]) WITH ORDINALITY AS s(stream, expected, link)
)
INSERT INTO events (stream, version, event_id, home, seq, event_type, schema_version, streams,
                    recorded_at, correlation_id, causation_id, data, actor)
SELECT b.stream, b.base + 1, $1::uuid, b.link = 1,
       CASE WHEN b.link = 1 THEN nextval('events_seq') END,
       CASE WHEN b.link = 1 THEN $2::text END,
       CASE WHEN b.link = 1 THEN $3::int4 END,
       CASE WHEN b.link = 1 THEN $10::text[] END,
       CASE WHEN b.link = 1 THEN $4::timestamptz END,
       CASE WHEN b.link = 1 THEN $5::uuid END,
       CASE WHEN b.link = 1 THEN $6::uuid END,
       CASE WHEN b.link = 1 THEN $7::text::json END,
       CASE WHEN b.link = 1 THEN $11::text END
FROM bases b
WHERE NOT EXISTS (SELECT 1 FROM bases f WHERE f.expected >= 0 AND f.expected <> f.base)
RETURNING events.stream, events.version
