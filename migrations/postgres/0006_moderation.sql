-- Moderation: SQLite's migration 0009, in PostgreSQL's types.
CREATE TABLE room_sanctions (
    room       TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    until_ms   BIGINT,
    by_user    TEXT   NOT NULL,
    reason     TEXT   NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (room, user_id, kind)
);

CREATE TABLE audit_log (
    id       BIGSERIAL PRIMARY KEY,
    room     TEXT   NOT NULL,
    actor    TEXT   NOT NULL,
    action   TEXT   NOT NULL,
    target   TEXT   NOT NULL,
    reason   TEXT   NOT NULL,
    until_ms BIGINT,
    at_ms    BIGINT NOT NULL
);

CREATE INDEX audit_log_by_room ON audit_log (room, id);
