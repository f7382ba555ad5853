-- Appends a batch whose events all belong to one stream and to no other (an
-- import, a history written at once): the stream's versions and the log
-- order both follow the batch order, so no links, windows or joins are needed.
-- $1..$7 per event (id, type, schema version, recorded at, correlation,
-- causation, data), $8 the stream, $9 the version it must be at now (-1: no
-- condition), $10 per event its actor. Answers the appended versions, or nothing when the condition
-- failed.
WITH base AS MATERIALIZED (
    SELECT coalesce(max(e.version), 0) AS version FROM events e WHERE e.stream = $8::text
)
INSERT INTO events (stream, version, event_id, home, seq, event_type, schema_version, streams,
                    recorded_at, correlation_id, causation_id, data, actor)
SELECT $8::text, b.version + i.ord, i.event_id, true, nextval('events_seq'), i.event_type, i.schema_version,
       ARRAY[$8::text], i.recorded_at, i.correlation_id, i.causation_id, i.data::json, i.actor
FROM base b,
     LATERAL (
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::timestamptz[], $5::uuid[], $6::uuid[], $7::text[], $10::text[])
            WITH ORDINALITY AS u(event_id, event_type, schema_version, recorded_at, correlation_id, causation_id, data, actor, ord)
        ORDER BY u.ord
     ) i
WHERE $9::int8 < 0 OR b.version = $9::int8
RETURNING events.version
