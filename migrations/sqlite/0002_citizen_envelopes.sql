-- Which envelope is a citizen's: looked up by the SHA-256 of the normalised
-- e-mail address (see the Postgres migration for why). Erasure deletes it.
CREATE TABLE citizen_envelopes (
    email_hash  BLOB PRIMARY KEY,
    envelope_id TEXT NOT NULL UNIQUE
);
