-- Where each background consumer of the log (mail relay, mailer, matcher)
-- has got to: a restart resumes here instead of at position 0.
CREATE TABLE consumer_checkpoints (
    consumer text PRIMARY KEY,
    position bigint NOT NULL
);

-- The mailer's ledger: one row per mail handled, keyed by what caused it
-- (the event id), so a redelivered message never sends a second mail.
CREATE TABLE sent_mails (
    mail_key    text PRIMARY KEY,
    outcome     text NOT NULL,
    recorded_at timestamptz NOT NULL
);
