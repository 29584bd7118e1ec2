-- The MariaDB read store's statements, each after a `-- name:` line; parameters are `?`, bound in
-- order. Every backend's checkpoint and consumer statements bind and return the same types (see
-- `backend/sql/checkpoints.rs`, `consumers.rs`): `BIGINT` numbers, UUIDs as text, lists as JSON
-- text. Binary name columns are read back as utf8mb4 text.

-- name: session_read_only
-- Run once on every connection of the query pool: each transaction on it, including what runs
-- after a DDL statement's implicit commit, is read-only.
SET SESSION TRANSACTION READ ONLY

-- name: begin_read_only
-- Repeatable read (MariaDB's default) from the first statement: an answer of several statements
-- sees one snapshot.
START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT

-- name: lock_name
-- Not a statement: the name of a projection's named lock (`?` is the projection), which the
-- three below share. A name is at most 64 characters: the start of the database's name (so that
-- `information_schema.metadata_lock_info` tells whose it is), then a hash of the whole database
-- name and the projection, so that two databases of one server never share a lock. `DATABASE()`
-- is `utf8mb3`: converted to `utf8mb4`, it concatenates with a projection name holding a character
-- outside the Basic Multilingual Plane (an ASCII database name has the same bytes either way).
CONCAT(LEFT(CONVERT(COALESCE(DATABASE(), '') USING utf8mb4), 20), ':',
       LEFT(SHA2(CONCAT(CONVERT(COALESCE(DATABASE(), '') USING utf8mb4), ':', ?), 256), 43))

-- name: try_lead
-- 1 taken, 0 held by another session; the lock lives as long as the session.
SELECT GET_LOCK({lock_name}, 0) AS taken

-- name: keep_lead
SELECT COALESCE(IS_USED_LOCK({lock_name}) = CONNECTION_ID(), 0) AS held

-- name: release_lead
SELECT RELEASE_LOCK({lock_name}) AS released

-- name: holder
-- The session holding the lock (its locks name no owner), with where it connects from.
SELECT CONCAT('connection ', p.ID, ' from ', p.HOST) AS holder
FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK({lock_name})

-- name: migrate_lock
-- Concurrent migrations of one database wait for each other (up to a minute).
SELECT GET_LOCK(CONCAT('chronicle.migrate:', LEFT(SHA2(COALESCE(DATABASE(), ''), 256), 40)), 60) AS taken

-- name: migrate_unlock
SELECT RELEASE_LOCK(CONCAT('chronicle.migrate:', LEFT(SHA2(COALESCE(DATABASE(), ''), 256), 40))) AS released

-- name: load_checkpoint
SELECT CAST(version AS SIGNED) AS version, transaction_id, position
FROM chronicle_checkpoints WHERE projection = ?

-- name: list_checkpoints
-- Names are bytes here; ordered as bytes, which is how the other stores order them too.
SELECT CONVERT(projection USING utf8mb4) AS projection, CAST(version AS SIGNED) AS version,
       transaction_id, position
FROM chronicle_checkpoints ORDER BY chronicle_checkpoints.projection

-- name: insert_checkpoint
-- Nothing if a row exists (`INSERT IGNORE` would also silence truncations, and `ON DUPLICATE KEY
-- UPDATE` counts an unchanged row as affected when, as with sqlx, found rows are counted).
INSERT INTO chronicle_checkpoints (projection, version, transaction_id, position)
SELECT n.projection, n.version, n.transaction_id, n.position
FROM (SELECT ? AS projection, ? AS version, ? AS transaction_id, ? AS position) AS n
WHERE NOT EXISTS (SELECT 1 FROM chronicle_checkpoints c WHERE c.projection = n.projection)

-- name: update_checkpoint
-- The values joined in as a row, since `?` parameters bind in order and the projection comes
-- first. sqlx counts found rows, so a row set to the values it holds counts as updated.
UPDATE chronicle_checkpoints c
JOIN (SELECT ? AS projection, ? AS version, ? AS transaction_id, ? AS position, ? AS old_version,
             ? AS old_transaction_id, ? AS old_position) AS n
  ON c.projection = n.projection AND c.version = n.old_version
 AND c.transaction_id = n.old_transaction_id AND c.position = n.old_position
SET c.version = n.version, c.transaction_id = n.transaction_id, c.position = n.position,
    c.updated_at = CURRENT_TIMESTAMP(6)

-- name: record_dead_letter
INSERT INTO chronicle_dead_letters
    (projection, version, position, transaction_id, event_id, stream_id, stream_version, event_type,
     error, recorded_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON DUPLICATE KEY UPDATE error = VALUES(error), recorded_at = VALUES(recorded_at),
    retry_requested_at = NULL

-- name: delete_dead_letters_at
DELETE FROM chronicle_dead_letters
WHERE projection = ?
  AND position IN (SELECT p.position FROM JSON_TABLE(?, '$[*]' COLUMNS (position BIGINT PATH '$')) AS p)

-- name: delete_dead_letters_not_of
DELETE FROM chronicle_dead_letters WHERE projection = ? AND version <> ?

-- name: dead_letters
SELECT CONVERT(projection USING utf8mb4) AS projection, CAST(version AS SIGNED) AS version, position,
       transaction_id, CONVERT(event_id USING utf8mb4) AS event_id,
       CONVERT(stream_id USING utf8mb4) AS stream_id, stream_version, event_type, error, recorded_at,
       retry_requested_at
FROM chronicle_dead_letters
WHERE projection = ? AND version = ?
ORDER BY transaction_id, position

-- name: request_retry
-- The values joined in as a row, since `?` parameters bind in order and the time comes last.
UPDATE chronicle_dead_letters d
JOIN (SELECT ? AS projection, ? AS version, ? AS position, ? AS requested_at) AS n
  ON d.projection = n.projection AND d.version = n.version AND d.position = n.position
SET d.retry_requested_at = n.requested_at

-- name: load_consumer
SELECT CAST(version AS SIGNED) AS version, transaction_id, position, broker_sequence, last_recorded_at
FROM chronicle_consumers WHERE consumer = ?

-- name: insert_consumer
INSERT INTO chronicle_consumers
    (consumer, version, transaction_id, position, broker_sequence, last_recorded_at)
SELECT n.consumer, n.version, n.transaction_id, n.position, n.broker_sequence, n.last_recorded_at
FROM (SELECT ? AS consumer, ? AS version, ? AS transaction_id, ? AS position, ? AS broker_sequence,
             ? AS last_recorded_at) AS n
WHERE NOT EXISTS (SELECT 1 FROM chronicle_consumers c WHERE c.consumer = n.consumer)

-- name: update_consumer
UPDATE chronicle_consumers c
JOIN (SELECT ? AS consumer, ? AS version, ? AS transaction_id, ? AS position, ? AS broker_sequence,
             ? AS last_recorded_at, ? AS old_version, ? AS old_transaction_id, ? AS old_position,
             ? AS old_broker_sequence) AS n
  ON c.consumer = n.consumer AND c.version = n.old_version
 AND c.transaction_id = n.old_transaction_id AND c.position = n.old_position
 AND c.broker_sequence = n.old_broker_sequence
SET c.version = n.version, c.transaction_id = n.transaction_id, c.position = n.position,
    c.broker_sequence = n.broker_sequence, c.last_recorded_at = n.last_recorded_at,
    c.updated_at = CURRENT_TIMESTAMP(6)

-- name: consumed_version
SELECT version FROM chronicle_consumed_streams WHERE consumer = ? AND stream_id = ?

-- name: save_consumed_version
INSERT INTO chronicle_consumed_streams (consumer, stream_id, version) VALUES (?, ?, ?)
ON DUPLICATE KEY UPDATE version = VALUES(version)

-- name: forget_consumed
DELETE FROM chronicle_consumed_streams WHERE consumer = ?

-- name: delete_checkpoint
-- The registration of a dropped blue/green location.
DELETE FROM chronicle_checkpoints WHERE projection = ?

-- name: create_location
-- `{location}` is a name `location_identifier` derived: `[a-z0-9_]` only.
CREATE DATABASE IF NOT EXISTS `{location}`

-- name: drop_location
DROP DATABASE IF EXISTS `{location}`
