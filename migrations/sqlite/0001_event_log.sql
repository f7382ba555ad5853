-- The Terminagent event log on SQLite (the embedded default).
--
-- SQLite admits one writer at a time, so AUTOINCREMENT positions are handed
-- out in commit order: a reader of `position > N` can never skip an event.
-- (Postgres needs a sequencer for the same guarantee; see its migration.)

CREATE TABLE events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL UNIQUE,
    event_type     TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    streams        TEXT NOT NULL,  -- JSON array of stream names
    recorded_at    TEXT NOT NULL,  -- RFC 3339, UTC
    correlation_id TEXT,
    causation_id   TEXT,
    data           TEXT NOT NULL   -- JSON
);

CREATE TABLE stream_events (
    stream   TEXT NOT NULL,
    version  INTEGER NOT NULL,
    position INTEGER NOT NULL REFERENCES events (position),
    PRIMARY KEY (stream, version)
) WITHOUT ROWID;

-- Per-citizen keys of the personal-data envelopes, outside the event log.
CREATE TABLE personal_data_keys (
    envelope_id TEXT PRIMARY KEY,
    key         BLOB NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
