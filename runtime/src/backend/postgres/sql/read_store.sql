-- The Postgres read store's statements, each after a `-- name:` line; `{schema}` is the store's
-- schema. Every backend's checkpoint and consumer statements bind and return the same types (see
-- `backend/sql/checkpoints.rs`, `consumers.rs`): `bigint` numbers, UUIDs as text, lists as JSON
-- text.

-- name: search_path
-- Handlers and queries see the store's schema, and only it (`pg_catalog` is always searched).
SET search_path TO "{schema}"

-- name: begin_read_only
-- Repeatable read: an answer of several statements sees one snapshot.
BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL search_path TO "{schema}"

-- name: try_lead
-- The claim is an advisory lock of the runner's session. Its lease ($2) is how long the session
-- may stay idle, in a transaction or not, before the server ends it, and the lock with it: a
-- runner that stops answering while its connection stays open (a paused process) loses its
-- claim after that, as a dead one does at once. A live runner touches its session more often.
-- The session's application name ($3, `chronicle:<owner>`) says whose claims it holds.
SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS led,
       set_config('idle_session_timeout', $2, false) AS idle_timeout,
       set_config('idle_in_transaction_session_timeout', $2, false) AS idle_in_transaction_timeout,
       set_config('application_name', $3, false) AS application_name

-- name: holder
-- Who holds the advisory lock of $1 (taken as one bigint key: its high and low halves are
-- `classid` and `objid`, with `objsubid` 1): the application name its session set, or the session.
SELECT COALESCE(NULLIF(a.application_name, ''), format('session %s', l.pid)) AS holder
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)
LIMIT 1

-- name: release_lead
SELECT pg_advisory_unlock(hashtextextended($1, 0))

-- name: load_checkpoint
SELECT version::bigint AS version, transaction_id, position
FROM "{schema}".chronicle_checkpoints WHERE projection = $1

-- name: list_checkpoints
SELECT projection, version::bigint AS version, transaction_id, position
FROM "{schema}".chronicle_checkpoints ORDER BY projection

-- name: insert_checkpoint
INSERT INTO "{schema}".chronicle_checkpoints (projection, version, transaction_id, position)
VALUES ($1, $2, $3, $4) ON CONFLICT (projection) DO NOTHING

-- name: update_checkpoint
UPDATE "{schema}".chronicle_checkpoints
SET version = $2, transaction_id = $3, position = $4, updated_at = now()
WHERE projection = $1 AND version = $5 AND transaction_id = $6 AND position = $7

-- name: record_dead_letter
INSERT INTO "{schema}".chronicle_dead_letters
    (projection, version, position, transaction_id, event_id, stream_id, stream_version, event_type,
     error, recorded_at)
VALUES ($1, $2, $3, $4, $5::uuid, $6, $7, $8, $9, $10)
ON CONFLICT (projection, version, position) DO UPDATE SET error = excluded.error,
    recorded_at = excluded.recorded_at, retry_requested_at = NULL

-- name: delete_dead_letters_at
DELETE FROM "{schema}".chronicle_dead_letters
WHERE projection = $1 AND position IN (SELECT value::bigint FROM jsonb_array_elements_text($2::jsonb))

-- name: delete_dead_letters_not_of
DELETE FROM "{schema}".chronicle_dead_letters WHERE projection = $1 AND version <> $2

-- name: dead_letters
SELECT projection, version::bigint AS version, position, transaction_id, event_id::text AS event_id,
       stream_id, stream_version, event_type, error, recorded_at, retry_requested_at
FROM "{schema}".chronicle_dead_letters
WHERE projection = $1 AND version = $2
ORDER BY transaction_id, position

-- name: request_retry
UPDATE "{schema}".chronicle_dead_letters SET retry_requested_at = $4
WHERE projection = $1 AND version = $2 AND position = $3

-- name: load_consumer
SELECT version::bigint AS version, transaction_id, position, broker_sequence, last_recorded_at
FROM "{schema}".chronicle_consumers WHERE consumer = $1

-- name: insert_consumer
INSERT INTO "{schema}".chronicle_consumers
    (consumer, version, transaction_id, position, broker_sequence, last_recorded_at)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (consumer) DO NOTHING

-- name: update_consumer
UPDATE "{schema}".chronicle_consumers
SET version = $2, transaction_id = $3, position = $4, broker_sequence = $5, last_recorded_at = $6,
    updated_at = now()
WHERE consumer = $1 AND version = $7 AND transaction_id = $8 AND position = $9
  AND broker_sequence = $10

-- name: consumed_version
SELECT version FROM "{schema}".chronicle_consumed_streams WHERE consumer = $1 AND stream_id = $2

-- name: save_consumed_version
INSERT INTO "{schema}".chronicle_consumed_streams (consumer, stream_id, version) VALUES ($1, $2, $3)
ON CONFLICT (consumer, stream_id) DO UPDATE SET version = excluded.version

-- name: forget_consumed
DELETE FROM "{schema}".chronicle_consumed_streams WHERE consumer = $1

-- name: delete_checkpoint
-- The registration of a dropped blue/green location.
DELETE FROM "{schema}".chronicle_checkpoints WHERE projection = $1

-- name: drop_location
-- `{location}` is a name `location_identifier` derived: `[a-z0-9_]` only.
DROP SCHEMA IF EXISTS "{location}" CASCADE
