-- Rooms' settings and roles, and invites to private rooms
-- (src/server/rooms/). A room without a row has no owner yet: its next
-- joiner claims it. Rooms with history from before ownership get a row
-- with nobody in charge but the server's admins.
CREATE TABLE rooms (
    name       TEXT    PRIMARY KEY,
    topic      TEXT    NOT NULL DEFAULT '',
    -- 1: left out of the lobby; only its members may join, read or search.
    is_private INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    -- The user who claimed it, if any.
    created_by TEXT
) WITHOUT ROWID;

INSERT INTO rooms (name, created_ms)
    SELECT substr(channel, 3), 0 FROM channels WHERE channel LIKE 'r:%';

-- People with a standing in a room: its owners and moderators, and every
-- member of a private room (kept while they are offline).
CREATE TABLE room_members (
    room      TEXT    NOT NULL,
    user_id   TEXT    NOT NULL,
    -- 'owner', 'moderator' or 'member'.
    role      TEXT    NOT NULL,
    joined_ms INTEGER NOT NULL,
    PRIMARY KEY (room, user_id)
) WITHOUT ROWID;

CREATE INDEX room_members_by_user ON room_members (user_id);

-- Links that let someone into a private room (`/i/<code>`).
CREATE TABLE invites (
    code       TEXT    PRIMARY KEY,
    room       TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    max_uses   INTEGER,
    uses       INTEGER NOT NULL DEFAULT 0,
    revoked_ms INTEGER
) WITHOUT ROWID;

CREATE INDEX invites_by_room ON invites (room);
