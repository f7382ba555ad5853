-- Proof-of-work solutions already spent (API.md: "A challenge is good
-- once"), by the challenge's signature, until the challenge expires: every
-- API process of an installation refuses a solution another one accepted.
-- Rows past their expiry are deleted now and then; an expired challenge is
-- refused for its age anyway.
CREATE TABLE spent_proofs (
    signature text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX spent_proofs_by_expiry ON spent_proofs (expires_at);

-- The bookings each client network holds pending (awaiting confirmation),
-- for `--max-pending-bookings-per-network` across all API processes. The
-- network is a /24 or /64 prefix, never a whole address; a row is dropped
-- once its confirm-by time passed.
CREATE TABLE pending_by_network (
    booking text PRIMARY KEY,
    network text NOT NULL,
    until timestamptz NOT NULL
);
CREATE INDEX pending_by_network_network ON pending_by_network (network, until);
