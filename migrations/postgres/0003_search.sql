-- Full-text search over messages as they are now (not changes): words of
-- the 'simple' configuration (lower case, no stemming, as SQLite's index),
-- kept by PostgreSQL itself as the text changes, in a GIN index.
-- search_text: the words a reader sees, as the server's Markdown parser
-- reads them, when they differ from the text as written.
ALTER TABLE messages ADD COLUMN search_text TEXT;
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    CASE WHEN target IS NULL THEN to_tsvector('simple', coalesce(search_text, content)) END
) STORED;

CREATE INDEX messages_search ON messages USING GIN (search);
