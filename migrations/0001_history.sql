-- Messages of rooms and direct conversations, numbered per channel without
-- gaps. A channel is 'r:<room>' or 'd:<user id>:<user id>' (ids sorted).
CREATE TABLE messages (
    channel     TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    sender      TEXT    NOT NULL,
    -- The sender's display name when the message was sent.
    sender_name TEXT    NOT NULL,
    -- Direct messages only.
    recipient   TEXT,
    content     TEXT    NOT NULL,
    ts_ms       INTEGER NOT NULL,
    -- The sender's own id for the message, to make resends idempotent.
    client_id   TEXT,
    PRIMARY KEY (channel, seq)
) WITHOUT ROWID;

-- A client id is the sender's, within one room or conversation.
CREATE UNIQUE INDEX messages_by_client_id
    ON messages (channel, sender, client_id) WHERE client_id IS NOT NULL;

-- Retention by age walks messages oldest first.
CREATE INDEX messages_by_time ON messages (ts_ms);

-- The last sequence number handed out per channel. Kept apart from the
-- messages so that pruning every message of a channel never lets a number
-- be handed out twice.
CREATE TABLE channels (
    channel TEXT    PRIMARY KEY,
    head    INTEGER NOT NULL
) WITHOUT ROWID;

-- Display names chosen by users; a user without a row is `guest-xxxx`.
CREATE TABLE users (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
) WITHOUT ROWID;
