-- The citizen index is keyed: an entry is HMAC-SHA256, under the
-- installation secret `citizen-index` (installation_secrets), of the SHA-256
-- of the normalised address, so a copy of the index alone cannot confirm
-- addresses from a list. Rows written before are marked unkeyed here; SQL
-- cannot compute the HMAC, so the Rust step `rekey_email_index` (run by
-- every process right after the migrations, idempotent) rekeys them. Rows
-- written from now on are keyed when inserted.
ALTER TABLE citizen_envelopes ADD COLUMN keyed boolean NOT NULL DEFAULT false;
ALTER TABLE citizen_envelopes ALTER COLUMN keyed SET DEFAULT true;
