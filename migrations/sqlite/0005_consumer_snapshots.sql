-- A consumer's folded state at a log position (see the Postgres migration).
CREATE TABLE consumer_snapshots (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    format   TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    data     BLOB NOT NULL
);
