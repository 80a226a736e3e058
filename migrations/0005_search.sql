-- Full-text search over messages as they are now (not changes): an FTS5
-- index kept by triggers, so every write path keeps it right, and an edit
-- or a deletion changes what is found in the same transaction. The index
-- holds no copy of the text ('contentless'); search_docs gives each
-- indexed message the integer key FTS5 needs (messages has none), with
-- what searches filter on.

-- The words a reader sees, as the server's Markdown parser reads them
-- (`markup::plain`), when they differ from the text as written.
ALTER TABLE messages ADD COLUMN search_text TEXT;
CREATE TABLE search_docs (
    id      INTEGER PRIMARY KEY,
    channel TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    sender  TEXT    NOT NULL,
    ts_ms   INTEGER NOT NULL,
    UNIQUE (channel, seq)
);

-- Words are letters and digits, case and accents folded: 'Café' is found
-- by 'cafe'. Markup (**, _, `, >) is punctuation to the tokenizer.
CREATE VIRTUAL TABLE search_fts USING fts5(
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

CREATE TRIGGER search_index AFTER INSERT ON messages
WHEN NEW.target IS NULL AND NEW.content <> ''
BEGIN
    INSERT INTO search_docs (channel, seq, sender, ts_ms)
    VALUES (NEW.channel, NEW.seq, NEW.sender, NEW.ts_ms);
    INSERT INTO search_fts (rowid, body)
    SELECT id, coalesce(NEW.search_text, NEW.content) FROM search_docs
    WHERE channel = NEW.channel AND seq = NEW.seq;
END;

-- An edit indexes the new words; a deletion (empty text) none.
CREATE TRIGGER search_reindex AFTER UPDATE OF content, search_text ON messages
WHEN NEW.target IS NULL
BEGIN
    DELETE FROM search_fts WHERE rowid =
        (SELECT id FROM search_docs WHERE channel = NEW.channel AND seq = NEW.seq);
    INSERT INTO search_fts (rowid, body)
    SELECT id, coalesce(NEW.search_text, NEW.content) FROM search_docs
    WHERE channel = NEW.channel AND seq = NEW.seq AND NEW.content <> '';
END;

-- Retention's deletions take the message out of the index.
CREATE TRIGGER search_forget AFTER DELETE ON messages
WHEN OLD.target IS NULL
BEGIN
    DELETE FROM search_fts WHERE rowid =
        (SELECT id FROM search_docs WHERE channel = OLD.channel AND seq = OLD.seq);
    DELETE FROM search_docs WHERE channel = OLD.channel AND seq = OLD.seq;
END;

-- What was stored before this migration, oldest first.
INSERT INTO search_docs (channel, seq, sender, ts_ms)
SELECT channel, seq, sender, ts_ms FROM messages
WHERE target IS NULL AND content <> ''
ORDER BY ts_ms, channel, seq;
INSERT INTO search_fts (rowid, body)
SELECT d.id, m.content FROM search_docs d
JOIN messages m ON m.channel = d.channel AND m.seq = d.seq;
