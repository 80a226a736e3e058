-- Room history: one row per message, numbered per room without gaps.
CREATE TABLE room_messages (
    room        TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    sender      TEXT    NOT NULL,
    content     TEXT    NOT NULL,
    ts_ms       INTEGER NOT NULL,
    -- The sender's own id for the message, to make resends idempotent.
    client_id   TEXT,
    PRIMARY KEY (room, seq)
) WITHOUT ROWID;

CREATE UNIQUE INDEX room_messages_by_client_id
    ON room_messages (sender, client_id) WHERE client_id IS NOT NULL;

-- Retention by age walks messages oldest first.
CREATE INDEX room_messages_by_time ON room_messages (ts_ms);
