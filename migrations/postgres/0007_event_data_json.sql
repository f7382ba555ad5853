-- Event data as `json`, not `jsonb`: the log never looks inside an event's
-- data in SQL, it only stores the text and hands it back. `json` keeps the
-- writer's text as it is (one validating pass on insert) and returns it as it
-- is, where `jsonb` parsed it into a tree on every insert and printed it back
-- to text on every read — the most expensive step of reading the log.
ALTER TABLE events ALTER COLUMN data TYPE json USING data::json;
