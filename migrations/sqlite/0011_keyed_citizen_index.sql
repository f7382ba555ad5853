-- The citizen index is keyed (see the Postgres migration 0012): existing
-- rows are marked unkeyed for the Rust step `rekey_email_index`, rows
-- inserted from now on are keyed. SQLite cannot change a column's default,
-- so the table is rebuilt.
CREATE TABLE citizen_envelopes_keyed (
    email_hash  BLOB PRIMARY KEY,
    envelope_id TEXT NOT NULL UNIQUE,
    keyed       BOOLEAN NOT NULL DEFAULT TRUE
);
INSERT INTO citizen_envelopes_keyed (email_hash, envelope_id, keyed)
SELECT email_hash, envelope_id, FALSE FROM citizen_envelopes;
DROP TABLE citizen_envelopes;
ALTER TABLE citizen_envelopes_keyed RENAME TO citizen_envelopes;
