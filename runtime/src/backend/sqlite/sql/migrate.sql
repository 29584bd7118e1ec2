-- The SQLite event store's tables, created if missing by `SqliteStore::migrate`, in one
-- transaction holding the write lock. (An event table of layout 1, without tenants, is upgraded
-- first by the `upgrade_tenants` statements of `events.sql`.)
CREATE TABLE IF NOT EXISTS chronicle_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL DEFAULT '',
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL CHECK (stream_version > 0),
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    event_version INTEGER NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT NOT NULL,
    command_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (tenant, stream_id, stream_version)
) STRICT;

CREATE INDEX IF NOT EXISTS chronicle_events_command_id_idx ON chronicle_events (command_id);
CREATE INDEX IF NOT EXISTS chronicle_events_correlation_id_idx
    ON chronicle_events (json_extract(metadata, '$.correlation_id'));
-- One tenant's log in order (its `read_all`); its streams are read by the unique key.
CREATE INDEX IF NOT EXISTS chronicle_events_tenant_position_idx ON chronicle_events (tenant, position);

CREATE TABLE IF NOT EXISTS chronicle_snapshots (
    tenant TEXT NOT NULL DEFAULT '',
    stream_id TEXT NOT NULL,
    aggregate_type TEXT NOT NULL,
    snapshot_version INTEGER NOT NULL,
    stream_version INTEGER NOT NULL CHECK (stream_version > 0),
    state TEXT NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (tenant, stream_id)
) STRICT;

CREATE TRIGGER IF NOT EXISTS chronicle_events_no_update BEFORE UPDATE ON chronicle_events
BEGIN
    SELECT RAISE(ABORT, 'chronicle_events is append-only: UPDATE is not allowed');
END;

CREATE TRIGGER IF NOT EXISTS chronicle_events_no_delete BEFORE DELETE ON chronicle_events
BEGIN
    SELECT RAISE(ABORT, 'chronicle_events is append-only: DELETE is not allowed');
END;
