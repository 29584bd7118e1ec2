-- The Postgres read store's tables, created or upgraded in place by `PostgresReadStore::migrate`.
-- `{schema}` is the store's schema (a plain identifier, checked before it gets here). One
-- simple-protocol message, so one transaction; concurrent migrations take turns on the lock.
SELECT pg_advisory_xact_lock(hashtext('chronicle.migrate'), hashtext('{schema}'));

DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = '{schema}') THEN
        CREATE SCHEMA "{schema}";
    END IF;
END
$do$;

CREATE TABLE IF NOT EXISTS "{schema}".chronicle_checkpoints (
    projection text PRIMARY KEY,
    version int NOT NULL,
    transaction_id bigint NOT NULL,
    position bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS "{schema}".chronicle_dead_letters (
    projection text NOT NULL,
    version int NOT NULL,
    position bigint NOT NULL,
    transaction_id bigint NOT NULL,
    event_id uuid,
    stream_id text NOT NULL,
    stream_version bigint NOT NULL,
    event_type text NOT NULL,
    error text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    retry_requested_at timestamptz NULL,
    CONSTRAINT chronicle_dead_letters_key PRIMARY KEY (projection, version, position)
);

-- Layout 1 kept no version and keyed dead letters on the event id (which an unreadable row may
-- not have): give its rows the version of their projection's checkpoint, and the new key.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = '{schema}' AND table_name = 'chronicle_dead_letters'
                     AND column_name = 'version') THEN
        ALTER TABLE "{schema}".chronicle_dead_letters ADD COLUMN version int;
        UPDATE "{schema}".chronicle_dead_letters d
            SET version = COALESCE((SELECT c.version FROM "{schema}".chronicle_checkpoints c
                                    WHERE c.projection = d.projection), 1);
        ALTER TABLE "{schema}".chronicle_dead_letters ALTER COLUMN version SET NOT NULL;
        ALTER TABLE "{schema}".chronicle_dead_letters DROP CONSTRAINT IF EXISTS chronicle_dead_letters_pkey;
        ALTER TABLE "{schema}".chronicle_dead_letters ALTER COLUMN event_id DROP NOT NULL;
        ALTER TABLE "{schema}".chronicle_dead_letters
            ADD CONSTRAINT chronicle_dead_letters_key PRIMARY KEY (projection, version, position);
    END IF;
END
$do$;

-- Layouts before 3 had no retries: an operator's request for one is kept on the letter.
ALTER TABLE "{schema}".chronicle_dead_letters ADD COLUMN IF NOT EXISTS retry_requested_at timestamptz NULL;

-- What read models fed from a message broker keep: how far each consumer got, and the version of
-- each stream's last event it applied (what tells a redelivered message from a new one).
CREATE TABLE IF NOT EXISTS "{schema}".chronicle_consumers (
    consumer text PRIMARY KEY,
    version int NOT NULL,
    transaction_id bigint NOT NULL,
    position bigint NOT NULL,
    broker_sequence bigint NOT NULL,
    last_recorded_at timestamptz NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS "{schema}".chronicle_consumed_streams (
    consumer text NOT NULL,
    stream_id text NOT NULL,
    version bigint NOT NULL,
    PRIMARY KEY (consumer, stream_id)
);

-- The marker `PostgresReadStore::migrate` looks for, so that a role without DDL rights (the
-- projector of `Roles`) may call it once the tables are complete; change it whenever this file
-- changes.
COMMENT ON TABLE "{schema}".chronicle_checkpoints IS 'Chronicle read store. Table layout 3.';
