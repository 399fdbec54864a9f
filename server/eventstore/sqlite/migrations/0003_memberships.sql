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
CREATE TRIGGER events_org_member_added AFTER INSERT ON events
WHEN NEW.aggregate_type = 'org' AND NEW.type = 'org.member.added' AND json_valid(CAST(NEW.payload AS TEXT))
BEGIN
    INSERT INTO docs (kind, id, owner, data)
    SELECT 'membership', m.member || '/' || NEW.aggregate_id, m.member, NULL
    FROM (SELECT json_extract(CAST(NEW.payload AS TEXT), '$.userId') AS member) AS m
    WHERE typeof(m.member) = 'text' AND NOT EXISTS
        (SELECT 1 FROM docs WHERE kind = 'membership' AND id = m.member || '/' || NEW.aggregate_id);
END;

INSERT INTO docs (kind, id, owner, data)
SELECT DISTINCT 'membership', m.member || '/' || m.org, m.member, NULL
FROM (SELECT aggregate_id AS org, json_extract(CAST(payload AS TEXT), '$.userId') AS member
      FROM events
      WHERE aggregate_type = 'org' AND type = 'org.member.added' AND json_valid(CAST(payload AS TEXT))) AS m
WHERE typeof(m.member) = 'text' AND NOT EXISTS
    (SELECT 1 FROM docs WHERE kind = 'membership' AND id = m.member || '/' || m.org);
