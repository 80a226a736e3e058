-- Moderation (src/server/rooms/sanctions.rs): who may not post in a room
-- (a mute) or be in it (a ban) until when, and what moderators did.
CREATE TABLE room_sanctions (
    room       TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    -- 'mute' or 'ban'.
    kind       TEXT    NOT NULL,
    -- NULL: until lifted.
    until_ms   INTEGER,
    by_user    TEXT    NOT NULL,
    reason     TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (room, user_id, kind)
) WITHOUT ROWID;

-- Every moderation action, for the room's owners and moderators and the
-- server's operator: who did what to whom, when, and why.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    room     TEXT    NOT NULL,
    actor    TEXT    NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT    NOT NULL,
    reason   TEXT    NOT NULL,
    until_ms INTEGER,
    at_ms    INTEGER NOT NULL
);

CREATE INDEX audit_log_by_room ON audit_log (room, id);
