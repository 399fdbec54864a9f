-- Events: the append-only log. position is the global commit order: it is
-- taken from event_position under that row's lock, which every append holds
-- until it commits, so a later commit always carries larger positions.
CREATE TABLE events (
    position       bigint      NOT NULL PRIMARY KEY,
    aggregate_type text        COLLATE "C" NOT NULL,
    aggregate_id   text        COLLATE "C" NOT NULL,
    sequence       bigint      NOT NULL CHECK (sequence > 0),
    type           text        NOT NULL,
    version        integer     NOT NULL,
    resource_owner text        NOT NULL,
    creator        text        NOT NULL,
    created_at     timestamptz NOT NULL,
    payload        bytea,
    UNIQUE (aggregate_type, aggregate_id, sequence)
);

-- The last position handed out; one row.
CREATE TABLE event_position (
    id   boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (id),
    last bigint  NOT NULL
);
INSERT INTO event_position (id, last) VALUES (true, 0);

-- Claims: unique keys held by one owner each.
CREATE TABLE claims (
    key   text COLLATE "C" NOT NULL PRIMARY KEY,
    owner text COLLATE "C" NOT NULL
);

-- Docs: read-model rows written in the same transaction as the events.
-- COLLATE "C" makes List's id order byte-wise, as the contract wants.
CREATE TABLE docs (
    kind  text COLLATE "C" NOT NULL,
    id    text COLLATE "C" NOT NULL,
    owner text COLLATE "C" NOT NULL,
    data  bytea,
    PRIMARY KEY (kind, id)
);

CREATE INDEX docs_kind_owner_id ON docs (kind, owner, id);

-- fg_fail ends an append whose rule check failed, with SQLSTATE FGCON (an
-- event's sequence is not the next one) or FGCLM (a claim is held by
-- another owner). Raising it inside the append's statements aborts the
-- whole transaction on the server, so the append needs no round trip
-- between its checks and its commit.
CREATE FUNCTION fg_fail(state text, msg text) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = state, MESSAGE = msg;
END
$$;
