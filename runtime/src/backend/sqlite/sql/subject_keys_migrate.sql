-- The key table of crypto-shredding beside the events, created if missing by
-- `SqliteStore::migrate`: a key per data subject of a tenant ('' for none), or its tombstone once the subject was forgotten
-- (key NULL). Never published by a relay.
CREATE TABLE IF NOT EXISTS chronicle_subject_keys (
    tenant TEXT NOT NULL,
    subject TEXT NOT NULL,
    key BLOB CHECK (length(key) = 32),
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    forgotten_at TEXT,
    CHECK ((key IS NULL) = (forgotten_at IS NOT NULL)),
    PRIMARY KEY (tenant, subject)
) STRICT;
