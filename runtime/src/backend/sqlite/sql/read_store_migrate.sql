-- The SQLite read store's tables, created if missing by `SqliteReadStore::migrate`, in one
-- transaction holding the write lock. (A dead-letter table of layout 1, without versions, is
-- upgraded first by the `upgrade_dead_letters` statements of `read_store.sql`.)
CREATE TABLE IF NOT EXISTS chronicle_checkpoints (
    projection TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    transaction_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE IF NOT EXISTS chronicle_dead_letters (
    projection TEXT NOT NULL,
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    transaction_id INTEGER NOT NULL,
    event_id TEXT,
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    error TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    retry_requested_at TEXT,
    PRIMARY KEY (projection, version, position)
) STRICT;

CREATE TABLE IF NOT EXISTS chronicle_leases (
    projection TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- What read models fed from a message broker keep: how far each consumer got, and the version of
-- each stream's last event it applied (what tells a redelivered message from a new one).
CREATE TABLE IF NOT EXISTS chronicle_consumers (
    consumer TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    transaction_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    broker_sequence INTEGER NOT NULL,
    last_recorded_at TEXT,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

CREATE TABLE IF NOT EXISTS chronicle_consumed_streams (
    consumer TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (consumer, stream_id)
) STRICT;
