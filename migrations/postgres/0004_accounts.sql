-- Accounts and their sessions: SQLite's migration 0007, in PostgreSQL's
-- types.
CREATE TABLE accounts (
    user_id      TEXT   PRIMARY KEY,
    username     TEXT   NOT NULL,
    username_key TEXT   NOT NULL UNIQUE,
    password     TEXT   NOT NULL,
    created_ms   BIGINT NOT NULL
);

CREATE TABLE sessions (
    id         TEXT   PRIMARY KEY,
    user_id    TEXT   NOT NULL REFERENCES accounts (user_id),
    created_ms BIGINT NOT NULL,
    seen_ms    BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked_ms BIGINT,
    label      TEXT   NOT NULL
);

CREATE INDEX sessions_by_user ON sessions (user_id);
