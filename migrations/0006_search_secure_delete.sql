-- A deleted (or edited) message's words leave the search index at once.
-- Migration 5's index took deletions as DELETE statements
-- (`contentless_delete`), which only record the row as gone and keep its
-- words in the index's segments until a merge rewrites them: a quiet
-- database may never do that. Rebuilt as a plain contentless index, a
-- deletion names the words that were indexed (the row's old values, with
-- FTS5's 'delete' command), and with secure-delete (SQLite 3.44 or later;
-- the bundled one is newer) FTS5 takes them out of the segments at once;
-- `secure_delete` zeroes the space that frees.
DROP TRIGGER search_index;
DROP TRIGGER search_reindex;
DROP TRIGGER search_forget;
DROP TABLE search_fts;

CREATE VIRTUAL TABLE search_fts USING fts5(
    body,
    content = '',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO search_fts (search_fts, rank) VALUES ('secure-delete', 1);

CREATE TRIGGER search_index AFTER INSERT ON messages
WHEN NEW.target IS NULL AND NEW.content <> ''
BEGIN
    INSERT INTO search_docs (channel, seq, sender, ts_ms)
    VALUES (NEW.channel, NEW.seq, NEW.sender, NEW.ts_ms);
    INSERT INTO search_fts (rowid, body)
    VALUES (last_insert_rowid(), coalesce(NEW.search_text, NEW.content));
END;

-- An edit indexes the new words in place of the old; a deletion (empty
-- text) takes the old ones out.
CREATE TRIGGER search_reindex AFTER UPDATE OF content, search_text ON messages
WHEN NEW.target IS NULL
BEGIN
    INSERT INTO search_fts (search_fts, rowid, body)
    SELECT 'delete', id, coalesce(OLD.search_text, OLD.content) FROM search_docs
    WHERE channel = OLD.channel AND seq = OLD.seq AND OLD.content <> '';
    INSERT INTO search_fts (rowid, body)
    SELECT id, coalesce(NEW.search_text, NEW.content) FROM search_docs
    WHERE channel = NEW.channel AND seq = NEW.seq AND NEW.content <> '';
END;

-- Retention's deletions take the message out of the index.
CREATE TRIGGER search_forget AFTER DELETE ON messages
WHEN OLD.target IS NULL
BEGIN
    INSERT INTO search_fts (search_fts, rowid, body)
    SELECT 'delete', id, coalesce(OLD.search_text, OLD.content) FROM search_docs
    WHERE channel = OLD.channel AND seq = OLD.seq AND OLD.content <> '';
    DELETE FROM search_docs WHERE channel = OLD.channel AND seq = OLD.seq;
END;

-- The messages there are, as they are now.
INSERT INTO search_fts (rowid, body)
SELECT d.id, coalesce(m.search_text, m.content) FROM search_docs d
JOIN messages m ON m.channel = d.channel AND m.seq = d.seq
WHERE m.content <> '';
