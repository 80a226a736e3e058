-- Edits, deletions and reactions as rows of the channel's sequence (see
-- SQLite's 0004_changes.sql).
ALTER TABLE messages ADD COLUMN target BIGINT;
ALTER TABLE messages ADD COLUMN extra TEXT;

CREATE INDEX messages_by_target ON messages (channel, target) WHERE target IS NOT NULL;
