-- What each member of a room has read: SQLite's migration 0011, in
-- PostgreSQL's types.
ALTER TABLE room_members ADD COLUMN read_seq BIGINT NOT NULL DEFAULT 0;
