-- The SQLite event store's statements, each after a `-- name:` line. `{event}` is the columns of
-- an event as the store reads them, by these names:
--   position, tenant, stream_id, stream_version, event_id (text), event_type, event_version, payload,
--   metadata, recorded_at (RFC 3339 text)
-- Lists of event types are bound as JSON arrays, for `json_each`.

-- name: has_tenants
-- Whether the event table is missing or has its tenant column (layout 2).
SELECT NOT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chronicle_events')
    OR EXISTS (SELECT 1 FROM pragma_table_info('chronicle_events') WHERE name = 'tenant') AS found

-- name: upgrade_tenants
-- Layout 1 kept no tenant: its rows become tenant '' (none), and the stream key leads with the
-- tenant, which SQLite changes only by copying the table. Positions are copied, and so is the
-- position counter, so none is reused. The indexes and triggers go with the old table; the
-- migration that follows creates them again. Snapshots are disposable: they are dropped and the
-- migration creates their new table.
CREATE TABLE chronicle_events_layout_2 (
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
INSERT INTO chronicle_events_layout_2
    (position, tenant, stream_id, stream_version, event_id, event_type, event_version, payload,
     metadata, command_id, recorded_at)
SELECT position, '', stream_id, stream_version, event_id, event_type, event_version, payload,
       metadata, command_id, recorded_at
FROM chronicle_events ORDER BY position;
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'chronicle_events')
WHERE name = 'chronicle_events_layout_2'
  AND seq < (SELECT seq FROM sqlite_sequence WHERE name = 'chronicle_events');
DROP TABLE chronicle_events;
DELETE FROM sqlite_sequence WHERE name = 'chronicle_events';
ALTER TABLE chronicle_events_layout_2 RENAME TO chronicle_events;
DROP TABLE IF EXISTS chronicle_snapshots;

-- name: current_version
SELECT COALESCE(MAX(stream_version), 0) AS version FROM chronicle_events
WHERE tenant = ?2 AND stream_id = ?1

-- name: stored_event_ids
-- Which of these event ids (a JSON array) are stored: after a unique violation, which collided.
SELECT event_id FROM chronicle_events WHERE event_id IN (SELECT value FROM json_each(?1))

-- name: read_stream
-- A stream of tenant ?3.
SELECT {event} FROM chronicle_events
WHERE tenant = ?3 AND stream_id = ?1 AND stream_version > ?2
ORDER BY stream_version

-- name: read_stream_payloads
-- A stream of tenant ?3 as a load applies it (`StreamEvent`), without metadata, ids or tenant.
-- Read by column index, in this order (`reads::stream_row`).
SELECT position, stream_version, event_type, event_version, payload, recorded_at
FROM chronicle_events
WHERE tenant = ?3 AND stream_id = ?1 AND stream_version > ?2
ORDER BY stream_version

-- name: list_streams
-- A page of tenant ?4's streams whose id starts with ?1, after ?2, in byte order (the stream
-- index's). Times are RFC 3339 text of one width, so the greatest is the newest.
SELECT stream_id, max(stream_version) AS version, max(recorded_at) AS last_recorded_at
FROM chronicle_events
WHERE tenant = ?4 AND stream_id > ?2 AND substr(stream_id, 1, length(?1)) = ?1
GROUP BY stream_id
ORDER BY stream_id
LIMIT ?3

-- name: read_all
-- Of tenant ?3, or of every tenant when ?3 is NULL (a store bound to none).
SELECT {event} FROM chronicle_events
WHERE position > ?1 AND (?3 IS NULL OR tenant = ?3)
ORDER BY position
LIMIT ?2

-- name: find_command
SELECT stream_id, stream_version, position FROM chronicle_events
WHERE command_id = ?1 AND tenant = ?2
ORDER BY position DESC
LIMIT 1

-- name: read_by_correlation
SELECT {event} FROM chronicle_events
WHERE json_extract(metadata, '$.correlation_id') = ?1 AND (?2 IS NULL OR tenant = ?2)
ORDER BY position

-- name: read_batch
-- Events after a position, of the types in a JSON array (all when it is empty), with the highest
-- position stored at the time of the read: one statement, so both come from one snapshot. The
-- outer join yields one row of NULL events when there is none.
SELECT h.head AS head, e.* FROM
    (SELECT COALESCE(MAX(position), 0) AS head FROM chronicle_events) AS h
    LEFT JOIN (SELECT {event} FROM chronicle_events
               WHERE position > ?1
                 AND (json_array_length(?2) = 0 OR event_type IN (SELECT value FROM json_each(?2)))
               ORDER BY position LIMIT ?3) AS e ON 1
ORDER BY e.position

-- name: head
SELECT position, recorded_at FROM chronicle_events ORDER BY position DESC LIMIT 1

-- name: progress
-- Writers take turns, so nothing is ever held back: how many events of the types lie after the
-- position, and when the first of them was recorded.
SELECT COUNT(*) AS readable, MIN(recorded_at) AS oldest_readable_at FROM chronicle_events
WHERE position > ?1
  AND (json_array_length(?2) = 0 OR event_type IN (SELECT value FROM json_each(?2)))

-- name: any_between
SELECT EXISTS (SELECT 1 FROM chronicle_events WHERE position > ?1 AND position <= ?2) AS found

-- name: checkpoint_of
SELECT position FROM chronicle_events WHERE position = ?1

-- name: read_snapshot
SELECT stream_id, aggregate_type, snapshot_version, stream_version, state, taken_at
FROM chronicle_snapshots WHERE tenant = ?2 AND stream_id = ?1

-- name: write_snapshot
-- The newest per stream: a snapshot further along is kept, whatever its shape, so a late write
-- never replaces a newer one.
INSERT INTO chronicle_snapshots AS s
    (stream_id, aggregate_type, snapshot_version, stream_version, state, taken_at, tenant)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (tenant, stream_id) DO UPDATE SET aggregate_type = excluded.aggregate_type,
    snapshot_version = excluded.snapshot_version, stream_version = excluded.stream_version,
    state = excluded.state, taken_at = excluded.taken_at
WHERE s.stream_version <= excluded.stream_version
