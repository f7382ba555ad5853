-- The envelope and key of the citizen with e-mail hash $1; for a new citizen
-- both are created (envelope $2, key $3) in the same statement. No row: a
-- racing first seal of the same citizen claimed the envelope meanwhile.
WITH known AS (
    SELECT e.envelope_id, k.key
    FROM citizen_envelopes e
    LEFT JOIN personal_data_keys k ON k.envelope_id = e.envelope_id
    WHERE e.email_hash = $1::bytea
),
claimed AS (
    INSERT INTO citizen_envelopes (email_hash, envelope_id)
    SELECT $1::bytea, $2::text
    WHERE NOT EXISTS (SELECT 1 FROM known)
    ON CONFLICT (email_hash) DO NOTHING
    RETURNING envelope_id
),
keyed AS (
    INSERT INTO personal_data_keys (envelope_id, key)
    SELECT envelope_id, $3::bytea FROM claimed
    RETURNING envelope_id, key
)
SELECT envelope_id, key FROM known
UNION ALL
SELECT envelope_id, key FROM keyed
