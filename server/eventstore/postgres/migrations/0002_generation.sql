-- The generation document (eventstore.GenerationKind): every change of a
-- document of a watched kind gives the document ('$generation', 'watched')
-- a new random value in the same transaction. A trigger keeps the rule, so
-- every writer of the database keeps it, whatever its version (replicas
-- during a rolling upgrade). Store.Watch adds kinds to watched_kinds; none
-- is ever removed. Appends that write events already queue on the
-- event_position row, so the generation row adds no new wait for them.
CREATE TABLE watched_kinds (
    kind text COLLATE "C" NOT NULL PRIMARY KEY
);

CREATE FUNCTION fg_docs_generation() RETURNS trigger
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF (TG_OP <> 'DELETE' AND EXISTS (SELECT 1 FROM watched_kinds WHERE kind = NEW.kind))
        OR (TG_OP <> 'INSERT' AND EXISTS (SELECT 1 FROM watched_kinds WHERE kind = OLD.kind)) THEN
        INSERT INTO docs (kind, id, owner, data)
        VALUES ('$generation', 'watched', '', uuid_send(gen_random_uuid()))
        ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER docs_generation AFTER INSERT OR UPDATE OR DELETE ON docs
FOR EACH ROW EXECUTE FUNCTION fg_docs_generation();
