-- Staff passwords and page sessions, beside the log and never in it: an
-- Argon2id PHC string per account, and only the SHA-256 of each session
-- cookie. Accounts and roles themselves are events (`staff-directory`).
CREATE TABLE staff_credentials (
    staff_id      TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    -- A password handed out (e.g. by `terminagent staff add`) must be
    -- replaced at the first sign-in.
    one_time      INTEGER NOT NULL DEFAULT 0,
    changed_at    TEXT NOT NULL
);

CREATE TABLE staff_sessions (
    session_hash TEXT PRIMARY KEY,
    staff_id     TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id);
