-- Accounts and their sessions (src/server/accounts/). An account is a user
-- id, the guest's own when a guest signs up, so their name, rooms and
-- history stay theirs.
CREATE TABLE accounts (
    user_id    TEXT    PRIMARY KEY,
    -- In lower case, after NFKC normalization.
    username   TEXT    NOT NULL,
    -- What look-alike usernames share (NFKC, lower case, UTS #39 skeleton):
    -- one account per key.
    username_key TEXT  NOT NULL UNIQUE,
    -- Argon2id, as a PHC string with its salt and parameters.
    password   TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- One signed-in browser or device of an account. A token names its
-- session; once revoked or expired, the token lets nobody in.
CREATE TABLE sessions (
    id         TEXT    PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES accounts (user_id),
    created_ms INTEGER NOT NULL,
    -- Last signed in or connected with (kept to the hour).
    seen_ms    INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    revoked_ms INTEGER,
    -- What it is, for its owner's list: the browser that signed in.
    label      TEXT    NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_by_user ON sessions (user_id);
