-- Membership documents: one per organization membership, kind
-- 'membership', id '<user>/<org>', owned by the member, without data, so
-- that the organizations a user is a member of can be listed (the domain
-- checks them before it issues a credential for a machine user). The
-- domain writes one with every org.member.added event; the trigger writes
-- it for every other writer of the database too (an older binary during a
-- rolling upgrade, an operator's SQL), and the INSERT below for the events
-- stored before this migration. The member is the payload's "userId" (that
-- exact key); a payload that is not JSON names no member, and neither
-- stops a write nor this migration.
CREATE FUNCTION fg_payload_member(payload bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN convert_from(payload, 'UTF8')::jsonb ->> 'userId';
EXCEPTION WHEN others THEN
    RETURN NULL;
END;
$$;

CREATE FUNCTION fg_events_org_member_added() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    member text := fg_payload_member(NEW.payload);
BEGIN
    IF member IS NOT NULL THEN
        INSERT INTO docs (kind, id, owner, data)
        VALUES ('membership', member || '/' || NEW.aggregate_id, member, NULL)
        ON CONFLICT (kind, id) DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER events_org_member_added AFTER INSERT ON events
FOR EACH ROW
WHEN (NEW.aggregate_type = 'org' AND NEW.type = 'org.member.added')
EXECUTE FUNCTION fg_events_org_member_added();

INSERT INTO docs (kind, id, owner, data)
SELECT DISTINCT 'membership', m.member || '/' || m.org, m.member, NULL::bytea
FROM (SELECT aggregate_id AS org, fg_payload_member(payload) AS member
      FROM events
      WHERE aggregate_type = 'org' AND type = 'org.member.added') AS m
WHERE m.member IS NOT NULL
ON CONFLICT (kind, id) DO NOTHING;
