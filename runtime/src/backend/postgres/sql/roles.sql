-- Chronicle's roles of least privilege on Postgres, set up by `PostgresStore::migrate_roles` (or
-- printed by `Roles::sql` for a DBA's own run), after both stores are migrated. Idempotent.
-- `{schema}` is the event store's schema, `{read}` the read store's (the same one for a read
-- model in the event store's schema); `{owner}`, `{writer}`, `{projector}` and `{reader}` the
-- roles' names. Every name is a plain identifier, checked before it gets here.
--
-- One transaction (one simple-protocol message); roles are the cluster's, so concurrent runs
-- take turns on a lock.
SELECT pg_advisory_xact_lock(hashtext('chronicle.roles'), 0);

-- The owner cannot log in: it owns the schemas and Chronicle's tables, so only it (and a
-- superuser) can alter them, disable their triggers or drop them. The three others log in
-- (give each a password, or map them in pg_hba.conf) and own nothing of Chronicle's.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{owner}') THEN
        CREATE ROLE "{owner}" NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{writer}') THEN
        CREATE ROLE "{writer}" LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{projector}') THEN
        CREATE ROLE "{projector}" LOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{reader}') THEN
        CREATE ROLE "{reader}" LOGIN;
    END IF;
END
$do$;

-- The event store: owned by the owner, the append-only triggers with it.
ALTER SCHEMA "{schema}" OWNER TO "{owner}";
ALTER TABLE "{schema}".chronicle_events OWNER TO "{owner}";
ALTER TABLE "{schema}".chronicle_snapshots OWNER TO "{owner}";
ALTER TABLE "{schema}".chronicle_inline_projections OWNER TO "{owner}";
ALTER TABLE "{schema}".chronicle_subject_keys OWNER TO "{owner}";
ALTER FUNCTION "{schema}".chronicle_events_append_only() OWNER TO "{owner}";
REVOKE ALL ON "{schema}".chronicle_events, "{schema}".chronicle_snapshots,
    "{schema}".chronicle_inline_projections, "{schema}".chronicle_subject_keys FROM PUBLIC;

-- The writer (command processing): appends and reads events, and keeps snapshots; nothing else.
GRANT USAGE ON SCHEMA "{schema}" TO "{writer}";
GRANT SELECT, INSERT ON "{schema}".chronicle_events TO "{writer}";
GRANT SELECT, INSERT, UPDATE ON "{schema}".chronicle_snapshots TO "{writer}";
GRANT SELECT ON "{schema}".chronicle_inline_projections TO "{writer}";
-- The subjects' keys of `#[pii]` fields: created on first use, destroyed by `forget` (a tombstone
-- left: UPDATE), which also deletes the snapshots holding a forgotten subject's data.
GRANT SELECT, INSERT, UPDATE ON "{schema}".chronicle_subject_keys TO "{writer}";
GRANT DELETE ON "{schema}".chronicle_snapshots TO "{writer}";

-- The projector (runners): reads events; writes Chronicle's read-store tables and the read
-- models it creates in the read schema.
GRANT USAGE ON SCHEMA "{schema}" TO "{projector}";
GRANT SELECT ON "{schema}".chronicle_events TO "{projector}";
-- The keys, to open `#[pii]` fields for the read models (a relay publishes them sealed, but
-- shares the projector's role).
GRANT SELECT ON "{schema}".chronicle_subject_keys TO "{projector}";
ALTER SCHEMA "{read}" OWNER TO "{owner}";
ALTER TABLE "{read}".chronicle_checkpoints OWNER TO "{owner}";
ALTER TABLE "{read}".chronicle_dead_letters OWNER TO "{owner}";
ALTER TABLE "{read}".chronicle_consumers OWNER TO "{owner}";
ALTER TABLE "{read}".chronicle_consumed_streams OWNER TO "{owner}";
REVOKE ALL ON "{read}".chronicle_checkpoints, "{read}".chronicle_dead_letters,
    "{read}".chronicle_consumers, "{read}".chronicle_consumed_streams FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA "{read}" TO "{projector}";
GRANT SELECT, INSERT, UPDATE, DELETE ON "{read}".chronicle_checkpoints, "{read}".chronicle_dead_letters,
    "{read}".chronicle_consumers, "{read}".chronicle_consumed_streams TO "{projector}";

-- The reader (queries): the read models, and the checkpoints read-your-writes waits on, with the
-- two columns of the events it compares them with (where an event is in the log); not the events'
-- payloads or metadata, not the dead letters, not the subjects' keys.
GRANT USAGE ON SCHEMA "{schema}" TO "{reader}";
GRANT SELECT (position, transaction_id) ON "{schema}".chronicle_events TO "{reader}";
GRANT USAGE ON SCHEMA "{read}" TO "{reader}";
GRANT SELECT ON "{read}".chronicle_checkpoints TO "{reader}";
ALTER DEFAULT PRIVILEGES FOR ROLE "{projector}" IN SCHEMA "{read}" GRANT SELECT ON TABLES TO "{reader}";
DO $do$
DECLARE
    model record;
BEGIN
    -- Read models the projector created before this ran.
    FOR model IN SELECT tablename FROM pg_tables WHERE schemaname = '{read}' AND tableowner = '{projector}' LOOP
        EXECUTE format('GRANT SELECT ON %I.%I TO %I', '{read}', model.tablename, '{reader}');
    END LOOP;
END
$do$;
