-- The SQLite read store's statements, each after a `-- name:` line. Every backend's checkpoint
-- and consumer statements bind and return the same types (see `backend/sql/checkpoints.rs`,
-- `consumers.rs`).

-- name: dead_letters_have_versions
SELECT COUNT(*) AS found FROM pragma_table_info('chronicle_dead_letters') WHERE name = 'version'

-- name: upgrade_dead_letters
-- Layout 1 kept no version and keyed dead letters on the event id: its rows get the version of
-- their projection's checkpoint, and the table the new key (which SQLite changes only by
-- copying the table).
CREATE TABLE chronicle_dead_letters_layout_2 (
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
    PRIMARY KEY (projection, version, position)
) STRICT;
INSERT INTO chronicle_dead_letters_layout_2
    (projection, version, position, transaction_id, event_id, stream_id, stream_version, event_type,
     error, recorded_at)
SELECT d.projection,
       COALESCE((SELECT c.version FROM chronicle_checkpoints c WHERE c.projection = d.projection), 1),
       d.position, d.transaction_id, d.event_id, d.stream_id, d.stream_version, d.event_type, d.error,
       d.recorded_at
FROM chronicle_dead_letters d;
DROP TABLE chronicle_dead_letters;
ALTER TABLE chronicle_dead_letters_layout_2 RENAME TO chronicle_dead_letters;

-- name: load_checkpoint
SELECT version, transaction_id, position FROM chronicle_checkpoints WHERE projection = ?1

-- name: list_checkpoints
SELECT projection, version, transaction_id, position FROM chronicle_checkpoints ORDER BY projection

-- name: insert_checkpoint
INSERT INTO chronicle_checkpoints (projection, version, transaction_id, position)
VALUES (?1, ?2, ?3, ?4) ON CONFLICT (projection) DO NOTHING

-- name: update_checkpoint
UPDATE chronicle_checkpoints
SET version = ?2, transaction_id = ?3, position = ?4,
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE projection = ?1 AND version = ?5 AND transaction_id = ?6 AND position = ?7

-- name: record_dead_letter
INSERT INTO chronicle_dead_letters
    (projection, version, position, transaction_id, event_id, stream_id, stream_version, event_type,
     error, recorded_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (projection, version, position) DO UPDATE SET error = excluded.error,
    recorded_at = excluded.recorded_at, retry_requested_at = NULL

-- name: delete_dead_letters_at
DELETE FROM chronicle_dead_letters
WHERE projection = ?1 AND position IN (SELECT value FROM json_each(?2))

-- name: delete_dead_letters_not_of
DELETE FROM chronicle_dead_letters WHERE projection = ?1 AND version <> ?2

-- name: dead_letters
SELECT projection, version, position, transaction_id, event_id, stream_id, stream_version,
       event_type, error, recorded_at, retry_requested_at
FROM chronicle_dead_letters
WHERE projection = ?1 AND version = ?2
ORDER BY transaction_id, position

-- name: request_retry
UPDATE chronicle_dead_letters SET retry_requested_at = ?4
WHERE projection = ?1 AND version = ?2 AND position = ?3

-- name: dead_letters_have_retries
SELECT COUNT(*) AS found FROM pragma_table_info('chronicle_dead_letters') WHERE name = 'retry_requested_at'

-- name: add_retries_to_dead_letters
-- Layouts before 3 had no retries: an operator's request for one is kept on the letter.
ALTER TABLE chronicle_dead_letters ADD COLUMN retry_requested_at TEXT

-- name: take_lease
-- Takes the lease if it is free, expired, or already ours.
INSERT INTO chronicle_leases (projection, owner, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (projection) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
WHERE chronicle_leases.owner = excluded.owner OR chronicle_leases.expires_at <= ?4

-- name: renew_lease
UPDATE chronicle_leases SET expires_at = ?3 WHERE projection = ?1 AND owner = ?2

-- name: release_lease
DELETE FROM chronicle_leases WHERE projection = ?1 AND owner = ?2

-- name: lease_holder
-- The owner of a lease that has not expired (at ?2).
SELECT owner FROM chronicle_leases WHERE projection = ?1 AND expires_at > ?2

-- name: load_consumer
SELECT version, transaction_id, position, broker_sequence, last_recorded_at
FROM chronicle_consumers WHERE consumer = ?1

-- name: insert_consumer
INSERT INTO chronicle_consumers
    (consumer, version, transaction_id, position, broker_sequence, last_recorded_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (consumer) DO NOTHING

-- name: update_consumer
UPDATE chronicle_consumers
SET version = ?2, transaction_id = ?3, position = ?4, broker_sequence = ?5, last_recorded_at = ?6,
    updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
WHERE consumer = ?1 AND version = ?7 AND transaction_id = ?8 AND position = ?9
  AND broker_sequence = ?10

-- name: consumed_version
SELECT version FROM chronicle_consumed_streams WHERE consumer = ?1 AND stream_id = ?2

-- name: save_consumed_version
INSERT INTO chronicle_consumed_streams (consumer, stream_id, version) VALUES (?1, ?2, ?3)
ON CONFLICT (consumer, stream_id) DO UPDATE SET version = excluded.version

-- name: forget_consumed
DELETE FROM chronicle_consumed_streams WHERE consumer = ?1

-- name: delete_checkpoint
-- The registration of a dropped blue/green location.
DELETE FROM chronicle_checkpoints WHERE projection = ?1
