-- Git URLs with credentials (https://user:token@host/repo.git) were written to the audit log
-- in project.create / project.update before/after. The API now writes them without userinfo;
-- this removes what older rows hold. The log is append-only: its update trigger is set aside
-- for this one statement only, in this migration's transaction.
ALTER TABLE "AuditEvent" DISABLE TRIGGER audit_event_no_update;

UPDATE "AuditEvent"
SET "before" = regexp_replace("before"::text, '(https?://)[^/@\s"]+@', '\1', 'gi')::jsonb,
    "after" = regexp_replace("after"::text, '(https?://)[^/@\s"]+@', '\1', 'gi')::jsonb
WHERE "before"::text ~* 'https?://[^/@\s"]+@' OR "after"::text ~* 'https?://[^/@\s"]+@';

ALTER TABLE "AuditEvent" ENABLE TRIGGER audit_event_no_update;
