-- When each call display last held its live stream open, so staff see a
-- display that has gone silent. Beside the log: a heartbeat every few
-- seconds is no event of the office's day.
CREATE TABLE device_presence (
    device_id  text PRIMARY KEY,
    office     text NOT NULL,
    -- While the stream is open, refreshed with every heartbeat.
    last_seen  timestamptz NOT NULL,
    connected  boolean NOT NULL
);
CREATE INDEX device_presence_by_office ON device_presence (office);
