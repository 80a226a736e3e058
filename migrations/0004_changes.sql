-- Edits, deletions and reactions are rows of the channel's sequence too,
-- numbered like messages, so that resuming after a number brings them.
-- 'target' is the number of the message a change is to (NULL for a
-- message); 'extra' is JSON: a message's state beyond its text (reply,
-- mentions, edited, deleted, reactions, the text as first sent) or what a
-- change does. A plain message nobody touched has neither.
ALTER TABLE messages ADD COLUMN target INTEGER;
ALTER TABLE messages ADD COLUMN extra TEXT;

-- A deletion blanks the text of the message's edits as well.
CREATE INDEX messages_by_target ON messages (channel, target) WHERE target IS NOT NULL;
