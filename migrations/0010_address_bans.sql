-- Bans that follow a banned user's address (src/server/rooms/sanctions.rs):
-- new guest identities from `address` (an IPv4 address, or an IPv6 /64) may
-- not be in `room` ('*': on the server) until `until_ms`. Written when the
-- banned user is seen connected from it; lifted with the user's ban.
CREATE TABLE address_bans (
    room       TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    until_ms   INTEGER NOT NULL,
    -- Whose ban it follows.
    user_id    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL,
    -- One row per banned user: lifting one's ban leaves another's.
    PRIMARY KEY (room, address, user_id)
) WITHOUT ROWID;

-- The message a moderator deleted, for the audit log.
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
