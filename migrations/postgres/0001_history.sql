-- History in PostgreSQL, shared by every node of a cluster: the same tables
-- as SQLite's migrations 0001 and 0002, in PostgreSQL's types.

-- Messages of rooms and direct conversations, numbered per channel without
-- gaps. A channel is 'r:<room>' or 'd:<user id>:<user id>' (ids sorted).
CREATE TABLE messages (
    channel     TEXT    NOT NULL,
    seq         BIGINT  NOT NULL,
    sender      TEXT    NOT NULL,
    -- The sender's display name when the message was sent.
    sender_name TEXT    NOT NULL,
    -- Direct messages only.
    recipient   TEXT,
    content     TEXT    NOT NULL,
    ts_ms       BIGINT  NOT NULL,
    -- The sender's own id for the message, to make resends idempotent.
    client_id   TEXT,
    PRIMARY KEY (channel, seq)
);

-- A client id is the sender's, within one room or conversation.
CREATE UNIQUE INDEX messages_by_client_id
    ON messages (channel, sender, client_id) WHERE client_id IS NOT NULL;

-- Retention by age walks messages oldest first.
CREATE INDEX messages_by_time ON messages (ts_ms);

-- The last sequence number handed out per channel. A committing transaction
-- locks its channels' rows (in channel order, so two nodes never deadlock)
-- before it numbers anything: numbering is serialized per channel across
-- nodes, and a rolled-back batch spends no number. Kept apart from the
-- messages so that pruning a whole channel never lets a number be reused.
CREATE TABLE channels (
    channel TEXT   PRIMARY KEY,
    head    BIGINT NOT NULL
);

-- Display names chosen by users; a user without a row is `guest-xxxx`.
CREATE TABLE users (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL
);

-- Facts about this database. 'epoch' names its numbering (see SQLite's
-- 0002_epoch.sql).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
