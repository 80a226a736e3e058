-- Facts about this database. 'epoch' names its numbering: a random id made
-- when the database is created, so a client that saw sequence numbers from
-- another database (a deleted file, a restored backup) knows to start over.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
