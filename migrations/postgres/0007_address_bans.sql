-- Bans that follow a banned user's address: SQLite's migration 0010, in
-- PostgreSQL's types.
CREATE TABLE address_bans (
    room       TEXT   NOT NULL,
    address    TEXT   NOT NULL,
    until_ms   BIGINT NOT NULL,
    user_id    TEXT   NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (room, address, user_id)
);

ALTER TABLE audit_log ADD COLUMN seq BIGINT;
