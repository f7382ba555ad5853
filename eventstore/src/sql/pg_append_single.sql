-- Appends one event in one stream: a plain INSERT of one row. $1 event id,
-- $2 type, $3 schema version, $4 recorded at, $5 correlation, $6 causation,
-- $7 data, $8 stream, $9 the version the stream must be at now (-1: no
-- condition), $10 the actor. Answers (stream, version), or nothing when the condition failed.
INSERT INTO events (stream, version, event_id, home, seq, event_type, schema_version, streams,
                    recorded_at, correlation_id, causation_id, data, actor)
SELECT $8::text, coalesce(max(e.version), 0) + 1, $1::uuid, true, nextval('events_seq'), $2::text, $3::int4,
       ARRAY[$8::text], $4::timestamptz, $5::uuid, $6::uuid, $7::text::json, $10::text
FROM events e WHERE e.stream = $8::text
HAVING $9::int8 < 0 OR coalesce(max(e.version), 0) = $9::int8
RETURNING events.stream, events.version
