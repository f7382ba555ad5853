-- Where each background consumer of the log has got to (see the Postgres migration).
CREATE TABLE consumer_checkpoints (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL
);

-- The mailer's ledger of mails handled, keyed by the causing event's id.
CREATE TABLE sent_mails (
    mail_key    TEXT PRIMARY KEY,
    outcome     TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
