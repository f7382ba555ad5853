-- The log's hash chain (eventstore/src/chain.rs; ARCHITECTURE.md "The hash
-- chain"): SHA-256 over the event and its predecessor's hash, written with
-- the event by the one writer. Events stored before this migration keep NULL
-- until the store hashes them right after migrating.
ALTER TABLE events ADD COLUMN hash BLOB;
-- Finds the events still to hash at once; appends write their hash, so after
-- the first hashing this index is empty and costs appends nothing.
CREATE INDEX events_unhashed ON events (position) WHERE hash IS NULL;
