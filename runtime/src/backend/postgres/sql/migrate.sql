-- The Postgres event store's tables, created or upgraded in place by `PostgresStore::migrate`.
-- `{schema}` is the store's schema (a plain identifier, checked before it gets here).
--
-- Sent as one simple-protocol message, which Postgres runs as one transaction: the advisory lock
-- is held to the end, and a failure leaves nothing half-created. Concurrent `CREATE ... IF NOT
-- EXISTS` of the same object can still fail on the catalog's unique indexes, so concurrent
-- migrations of a schema take turns on the lock.
SELECT pg_advisory_xact_lock(hashtext('chronicle.migrate'), hashtext('{schema}'));

-- Not `CREATE SCHEMA IF NOT EXISTS`: that needs the CREATE right on the database even when the
-- schema exists, which an owner of just the schema (say `public`) does not have.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{schema}') THEN
        CREATE SCHEMA "{schema}";
    END IF;
END
$do$;

CREATE TABLE IF NOT EXISTS "{schema}".chronicle_events (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    tenant text NOT NULL DEFAULT '',
    stream_id text NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    event_version int NOT NULL,
    payload jsonb NOT NULL,
    metadata jsonb NOT NULL,
    command_id uuid NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT chronicle_events_event_id_key UNIQUE (event_id),
    CONSTRAINT chronicle_events_stream_version_key UNIQUE (tenant, stream_id, stream_version)
);

-- Layout 7: the tenant a stream belongs to (`''`: none, every row of an earlier layout), in its
-- own column; a stream is (tenant, stream_id), so its unique version key leads with the tenant.
-- Adding a column with a constant default rewrites no row; the key is built again once.
ALTER TABLE "{schema}".chronicle_events ADD COLUMN IF NOT EXISTS tenant text NOT NULL DEFAULT '';
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"{schema}".chronicle_events'::regclass
                     AND conname = 'chronicle_events_stream_version_key'
                     AND pg_get_constraintdef(oid) = 'UNIQUE (tenant, stream_id, stream_version)') THEN
        ALTER TABLE "{schema}".chronicle_events
            DROP CONSTRAINT IF EXISTS chronicle_events_stream_version_key,
            ADD CONSTRAINT chronicle_events_stream_version_key UNIQUE (tenant, stream_id, stream_version);
    END IF;
END
$do$;

-- Layout 6: each row's partition key, a stable hash of its stream (Rust's `partition_key`), so that
-- one partition of a partitioned projection reads its rows through an index of its own.
ALTER TABLE "{schema}".chronicle_events ADD COLUMN IF NOT EXISTS partition_key integer
    GENERATED ALWAYS AS (('x' || substr(md5(stream_id), 1, 7))::bit(28)::integer) STORED;

CREATE INDEX IF NOT EXISTS chronicle_events_command_id_idx
    ON "{schema}".chronicle_events (command_id);
CREATE INDEX IF NOT EXISTS chronicle_events_transaction_id_idx
    ON "{schema}".chronicle_events (transaction_id, position);
CREATE INDEX IF NOT EXISTS chronicle_events_correlation_id_idx
    ON "{schema}".chronicle_events ((metadata->>'correlation_id'));
-- Since layout 7: one tenant's log in order (its `read_all`); its streams are read by the key.
CREATE INDEX IF NOT EXISTS chronicle_events_tenant_position_idx
    ON "{schema}".chronicle_events (tenant, position);

CREATE TABLE IF NOT EXISTS "{schema}".chronicle_snapshots (
    tenant text NOT NULL DEFAULT '',
    stream_id text NOT NULL,
    aggregate_type text NOT NULL,
    snapshot_version int NOT NULL,
    stream_version bigint NOT NULL CHECK (stream_version > 0),
    state jsonb NOT NULL,
    taken_at timestamptz NOT NULL,
    CONSTRAINT chronicle_snapshots_pkey PRIMARY KEY (tenant, stream_id)
);

-- Layout 7: snapshots are per tenant's stream too.
ALTER TABLE "{schema}".chronicle_snapshots ADD COLUMN IF NOT EXISTS tenant text NOT NULL DEFAULT '';
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conrelid = '"{schema}".chronicle_snapshots'::regclass
                     AND conname = 'chronicle_snapshots_pkey'
                     AND pg_get_constraintdef(oid) = 'PRIMARY KEY (tenant, stream_id)') THEN
        ALTER TABLE "{schema}".chronicle_snapshots
            DROP CONSTRAINT IF EXISTS chronicle_snapshots_pkey,
            ADD CONSTRAINT chronicle_snapshots_pkey PRIMARY KEY (tenant, stream_id);
    END IF;
END
$do$;

-- Since layout 5: which inline projections' read models were prepared, and at which version.
CREATE TABLE IF NOT EXISTS "{schema}".chronicle_inline_projections (
    projection text PRIMARY KEY,
    version int NOT NULL,
    prepared_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION "{schema}".chronicle_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'chronicle_events is append-only: % is not allowed', TG_OP
        USING HINT = 'Events are facts: record a compensating event instead.';
END
$fn$;

-- Created only when missing: re-creating would lock the table against writers at every start.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = '"{schema}".chronicle_events'::regclass
                     AND tgname = 'chronicle_events_append_only') THEN
        CREATE TRIGGER chronicle_events_append_only BEFORE UPDATE OR DELETE ON "{schema}".chronicle_events
            FOR EACH ROW EXECUTE FUNCTION "{schema}".chronicle_events_append_only();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger
                   WHERE tgrelid = '"{schema}".chronicle_events'::regclass
                     AND tgname = 'chronicle_events_no_truncate') THEN
        CREATE TRIGGER chronicle_events_no_truncate BEFORE TRUNCATE ON "{schema}".chronicle_events
            FOR EACH STATEMENT EXECUTE FUNCTION "{schema}".chronicle_events_append_only();
    END IF;
    -- Layouts 2 and 3 notified from a trigger, which serialized concurrent commits.
    IF EXISTS (SELECT 1 FROM pg_trigger
               WHERE tgrelid = '"{schema}".chronicle_events'::regclass
                 AND tgname = 'chronicle_events_notify') THEN
        DROP TRIGGER chronicle_events_notify ON "{schema}".chronicle_events;
    END IF;
END
$do$;
DROP FUNCTION IF EXISTS "{schema}".chronicle_events_notify();

-- The marker `PostgresStore::migrate` looks for; change it whenever this file changes.
COMMENT ON TABLE "{schema}".chronicle_events IS 'Chronicle event log, append-only. Table layout 7.';
