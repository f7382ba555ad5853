-- The log's hash chain (eventstore/src/chain.rs; ARCHITECTURE.md "The hash
-- chain"): per position, SHA-256 over the event and its predecessor's hash.
-- The sequencer writes a segment's hashes in the transaction that numbers it,
-- under its advisory lock, so a position and its hash become visible together
-- and one writer extends the chain at a time. A log numbered before this
-- migration is hashed by the store right after migrating (positions without a
-- row here, from the first on). A table of its own: `events` has one row per
-- (stream, version) and no position column, and hashing must not touch it.
CREATE TABLE event_hashes (
    position bigint PRIMARY KEY,
    hash     bytea  NOT NULL CHECK (octet_length(hash) = 32)
);
