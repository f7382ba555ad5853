-- Staff passwords and page sessions, beside the log and never in it: an
-- Argon2id PHC string per account, and only the SHA-256 of each session
-- cookie. Accounts and roles themselves are events (`staff-directory`).
CREATE TABLE staff_credentials (
    staff_id      text PRIMARY KEY,
    password_hash text NOT NULL,
    -- A password handed out (e.g. by `terminagent staff add`) must be
    -- replaced at the first sign-in.
    one_time      boolean NOT NULL DEFAULT false,
    changed_at    timestamptz NOT NULL
);

CREATE TABLE staff_sessions (
    session_hash text PRIMARY KEY,
    staff_id     text NOT NULL,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id);
