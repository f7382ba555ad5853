-- Secrets of this installation, outside the event log (see the Postgres migration).
CREATE TABLE installation_secrets (
    name   TEXT PRIMARY KEY,
    secret BLOB NOT NULL
);
