-- Rooms' settings and roles, and invites: SQLite's migration 0008, in
-- PostgreSQL's types.
CREATE TABLE rooms (
    name       TEXT    PRIMARY KEY,
    topic      TEXT    NOT NULL DEFAULT '',
    is_private BOOLEAN NOT NULL DEFAULT FALSE,
    created_ms BIGINT  NOT NULL,
    created_by TEXT
);

INSERT INTO rooms (name, created_ms)
    SELECT substring(channel FROM 3), 0 FROM channels WHERE channel LIKE 'r:%';

CREATE TABLE room_members (
    room      TEXT   NOT NULL,
    user_id   TEXT   NOT NULL,
    role      TEXT   NOT NULL,
    joined_ms BIGINT NOT NULL,
    PRIMARY KEY (room, user_id)
);

CREATE INDEX room_members_by_user ON room_members (user_id);

CREATE TABLE invites (
    code       TEXT   PRIMARY KEY,
    room       TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    max_uses   BIGINT,
    uses       BIGINT NOT NULL DEFAULT 0,
    revoked_ms BIGINT
);

CREATE INDEX invites_by_room ON invites (room);
