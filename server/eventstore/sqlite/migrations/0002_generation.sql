-- The generation document (eventstore.GenerationKind): every change of a
-- document of a watched kind gives the document ('$generation', 'watched')
-- a new random value in the same transaction. Triggers keep the rule, so
-- every writer of the file keeps it, whatever its version. Store.Watch
-- adds kinds to watched_kinds; none is ever removed.
CREATE TABLE watched_kinds (
    kind TEXT NOT NULL PRIMARY KEY
) STRICT, WITHOUT ROWID;

-- An upsert that updates fires the UPDATE trigger. A document's kind never
-- changes in practice; the OLD.kind test is there for a writer that would.
CREATE TRIGGER docs_generation_insert AFTER INSERT ON docs
WHEN NEW.kind IN (SELECT kind FROM watched_kinds)
BEGIN
    INSERT INTO docs (kind, id, owner, data) VALUES ('$generation', 'watched', '', randomblob(16))
    ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data;
END;

CREATE TRIGGER docs_generation_update AFTER UPDATE ON docs
WHEN NEW.kind IN (SELECT kind FROM watched_kinds)
    OR (OLD.kind <> NEW.kind AND OLD.kind IN (SELECT kind FROM watched_kinds))
BEGIN
    INSERT INTO docs (kind, id, owner, data) VALUES ('$generation', 'watched', '', randomblob(16))
    ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data;
END;

CREATE TRIGGER docs_generation_delete AFTER DELETE ON docs
WHEN OLD.kind IN (SELECT kind FROM watched_kinds)
BEGIN
    INSERT INTO docs (kind, id, owner, data) VALUES ('$generation', 'watched', '', randomblob(16))
    ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data;
END;
