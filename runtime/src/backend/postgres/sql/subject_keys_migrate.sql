-- The key table of crypto-shredding beside the events, created by `PostgresStore::migrate`: a key
-- per data subject of a tenant ('' for none), or its tombstone once the subject was forgotten
-- (key NULL). Kept apart from
-- the event table, never published by a relay, and not readable by the reader role.
-- `{schema}` is the event store's schema (a plain identifier, checked before it gets here).
SELECT pg_advisory_xact_lock(hashtext('chronicle.migrate'), hashtext('{schema}'));

CREATE TABLE IF NOT EXISTS "{schema}".chronicle_subject_keys (
    tenant text NOT NULL,
    subject text NOT NULL,
    key bytea CHECK (octet_length(key) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    forgotten_at timestamptz,
    CHECK ((key IS NULL) = (forgotten_at IS NOT NULL)),
    PRIMARY KEY (tenant, subject)
);

COMMENT ON TABLE "{schema}".chronicle_subject_keys IS 'Chronicle subject keys. Table layout 1.';
