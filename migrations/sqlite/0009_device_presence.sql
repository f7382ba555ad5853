-- When each call display last held its live stream open, so staff see a
-- display that has gone silent. Beside the log: a heartbeat every few
-- seconds is no event of the office's day.
CREATE TABLE device_presence (
    device_id  TEXT PRIMARY KEY,
    office     TEXT NOT NULL,
    -- While the stream is open, refreshed with every heartbeat.
    last_seen  TEXT NOT NULL,
    connected  INTEGER NOT NULL
);
CREATE INDEX device_presence_by_office ON device_presence (office);
