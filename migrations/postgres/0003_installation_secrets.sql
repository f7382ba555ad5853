-- Secrets of this installation, outside the event log: e.g. the key mail-link
-- tokens are derived from, so the mailer can rebuild a link from the log
-- while the log itself holds only the token's hash.
CREATE TABLE installation_secrets (
    name   text PRIMARY KEY,
    secret bytea NOT NULL
);
