-- What each member of a room has read (src/server/rooms/records.rs): the
-- highest number they were shown there, so that another device of theirs
-- can say how many messages came since.
ALTER TABLE room_members ADD COLUMN read_seq INTEGER NOT NULL DEFAULT 0;
