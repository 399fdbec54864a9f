-- Events: the append-only log. position is the global commit order
-- (AUTOINCREMENT: never reused, even after the last row is deleted).
CREATE TABLE events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence > 0),
    type           TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    resource_owner TEXT    NOT NULL,
    creator        TEXT    NOT NULL,
    created_at     INTEGER NOT NULL, -- Unix microseconds, UTC
    payload        BLOB,
    UNIQUE (aggregate_type, aggregate_id, sequence)
) STRICT;

-- Claims: unique keys held by one owner each.
CREATE TABLE claims (
    key   TEXT NOT NULL PRIMARY KEY,
    owner TEXT NOT NULL
) STRICT, WITHOUT ROWID;

-- Docs: read-model rows written in the same transaction as the events.
CREATE TABLE docs (
    kind  TEXT NOT NULL,
    id    TEXT NOT NULL,
    owner TEXT NOT NULL,
    data  BLOB,
    PRIMARY KEY (kind, id)
) STRICT;

CREATE INDEX docs_kind_owner_id ON docs (kind, owner, id);
