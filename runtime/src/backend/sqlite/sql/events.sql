-- The SQLite event store's statements, each after a `-- name:` line. `{event}` is the columns of
-- an event as the store reads them, by these names:
--   position, stream_id, stream_version, event_id (text), event_type, event_version, payload,
--   metadata, recorded_at (RFC 3339 text)
-- Lists of event types are bound as JSON arrays, for `json_each`.

-- name: current_version
SELECT COALESCE(MAX(stream_version), 0) AS version FROM chronicle_events WHERE stream_id = ?1

-- name: stored_event_ids
-- Which of these event ids (a JSON array) are stored: after a unique violation, which collided.
SELECT event_id FROM chronicle_events WHERE event_id IN (SELECT value FROM json_each(?1))

-- name: read_stream
SELECT {event} FROM chronicle_events
WHERE stream_id = ?1 AND stream_version > ?2
ORDER BY stream_version

-- name: list_streams
-- A page of streams whose id starts with ?1, after ?2, in byte order (the stream index's).
-- Times are RFC 3339 text of one width, so the greatest is the newest.
SELECT stream_id, max(stream_version) AS version, max(recorded_at) AS last_recorded_at
FROM chronicle_events
WHERE stream_id > ?2 AND substr(stream_id, 1, length(?1)) = ?1
GROUP BY stream_id
ORDER BY stream_id
LIMIT ?3

-- name: read_all
SELECT {event} FROM chronicle_events
WHERE position > ?1
ORDER BY position
LIMIT ?2

-- name: find_command
SELECT stream_id, stream_version, position FROM chronicle_events
WHERE command_id = ?1
ORDER BY position DESC
LIMIT 1

-- name: read_by_correlation
SELECT {event} FROM chronicle_events
WHERE json_extract(metadata, '$.correlation_id') = ?1
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
FROM chronicle_snapshots WHERE stream_id = ?1

-- name: write_snapshot
-- The newest per stream: a snapshot further along is kept, whatever its shape, so a late write
-- never replaces a newer one.
INSERT INTO chronicle_snapshots AS s
    (stream_id, aggregate_type, snapshot_version, stream_version, state, taken_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (stream_id) DO UPDATE SET aggregate_type = excluded.aggregate_type,
    snapshot_version = excluded.snapshot_version, stream_version = excluded.stream_version,
    state = excluded.state, taken_at = excluded.taken_at
WHERE s.stream_version <= excluded.stream_version
