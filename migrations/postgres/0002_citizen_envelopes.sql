-- Which envelope is a citizen's: looked up by the SHA-256 of the normalised
-- e-mail address, so decisions about "the same citizen" (open bookings,
-- duplicate wishes) never need an address in the log. Erasure deletes the
-- row with the key: afterwards the address leads nowhere.
CREATE TABLE citizen_envelopes (
    email_hash  bytea PRIMARY KEY,
    envelope_id text NOT NULL UNIQUE
);
