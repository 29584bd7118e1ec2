-- The Postgres event store's statements, each after a `-- name:` line. `{schema}` is the store's
-- schema (a plain identifier, checked before it gets here) and `{event}` the columns of an event
-- as the store reads them, by these names:
--   position, tenant, stream_id, stream_version, event_id, event_type, event_version, payload (text),
--   metadata (text), recorded_at, transaction_id (bigint)
-- `xid8` has no cast to `bigint`; through `text` it is exact (an `xid8` stays below 2^63 for as
-- long as the epoch is below 2^31).

-- name: append_one
-- Most commands record one event: scalars spare the arrays' encoding and the `UNNEST` of the
-- general statement below (measured: a tenth of a single client's appends per second). The WHERE
-- guard and the unique (tenant, stream_id, stream_version) key make it all-or-nothing under
-- concurrency. $9 is the tenant.
INSERT INTO "{schema}".chronicle_events
    (tenant, stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id)
SELECT $9, $1, $2 + 1, $4, $5, $6, $7::jsonb, $8::jsonb, $3
WHERE (SELECT COALESCE(MAX(stream_version), 0) FROM "{schema}".chronicle_events
       WHERE tenant = $9 AND stream_id = $1) = $2
RETURNING tenant, stream_id, position, stream_version, transaction_id::text::bigint AS transaction_id, recorded_at

-- name: append_many
-- The general append: the events of one command or of a group of commands (group commit), one
-- row per event with its tenant ($10) and stream, the version its command expects and its place
-- in the command.
-- Each stream's events are inserted only if the stream is still at that version; the others'
-- are inserted regardless, so a stale stream answers with a conflict without failing the rest.
INSERT INTO "{schema}".chronicle_events
    (tenant, stream_id, stream_version, event_id, event_type, event_version, payload, metadata, command_id)
SELECT e.tenant, e.stream_id, e.expected + e.ord, e.event_id, e.event_type, e.event_version,
       e.payload, e.metadata, e.command_id
FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::uuid[], $5::uuid[], $6::text[],
            $7::int[], $8::text[]::jsonb[], $9::text[]::jsonb[], $10::text[])
    WITH ORDINALITY AS e(stream_id, expected, ord, command_id, event_id, event_type,
                         event_version, payload, metadata, tenant, n)
WHERE (SELECT COALESCE(MAX(stream_version), 0) FROM "{schema}".chronicle_events s
       WHERE s.tenant = e.tenant AND s.stream_id = e.stream_id) = e.expected
ORDER BY e.n
RETURNING tenant, stream_id, position, stream_version, transaction_id::text::bigint AS transaction_id, recorded_at

-- name: stored_event_ids
-- Which of these event ids are stored: after a duplicate-key error, which event collided.
SELECT event_id FROM "{schema}".chronicle_events WHERE event_id = ANY($1::uuid[])

-- name: read_stream
-- A stream of tenant $3.
SELECT {event} FROM "{schema}".chronicle_events
WHERE tenant = $3 AND stream_id = $1 AND stream_version > $2
ORDER BY stream_version

-- name: read_stream_payloads
-- A stream of tenant $3 as a load applies it (`StreamEvent`): no metadata, ids or tenant, which
-- are most of a row's bytes and of the server's text conversion. Read by column index, in this
-- order (`rows::stream_row`).
SELECT position, stream_version, event_type, event_version, payload::text AS payload, recorded_at
FROM "{schema}".chronicle_events
WHERE tenant = $3 AND stream_id = $1 AND stream_version > $2
ORDER BY stream_version

-- name: read_all
-- The whole log, for a store bound to no tenant.
SELECT {event} FROM "{schema}".chronicle_events
WHERE position > $1
ORDER BY position
LIMIT $2

-- name: read_tenant
-- The log of tenant $3, by its index (tenant, position).
SELECT {event} FROM "{schema}".chronicle_events
WHERE tenant = $3 AND position > $1
ORDER BY position
LIMIT $2

-- name: list_streams
-- A page of tenant $4's streams whose id starts with $1, after $2, in the order of the stream
-- index (the database's collation), which serves both the order and the grouping.
SELECT stream_id, max(stream_version) AS version, max(recorded_at) AS last_recorded_at
FROM "{schema}".chronicle_events
WHERE tenant = $4 AND stream_id > $2 AND starts_with(stream_id, $1)
GROUP BY stream_id
ORDER BY stream_id
LIMIT $3

-- name: find_command
-- A command of tenant $2.
SELECT stream_id, stream_version, position FROM "{schema}".chronicle_events
WHERE command_id = $1 AND tenant = $2
ORDER BY position DESC
LIMIT 1

-- name: read_by_correlation
-- Of tenant $2, or of every tenant when $2 is NULL (a store bound to none).
SELECT {event} FROM "{schema}".chronicle_events
WHERE metadata->>'correlation_id' = $1 AND ($2::text IS NULL OR tenant = $2)
ORDER BY position

-- name: read_batch
-- Events after a checkpoint, of some types (all when the list is empty), whose writer is older
-- than every running transaction, so that nothing can commit before them any more. One
-- statement, so the horizon and the rows come from the same snapshot; the lateral join yields
-- one row of NULL events when nothing is visible. Comparing rows keeps it an index condition on
-- (transaction_id, position). The order is on `xid`, the table's column: `transaction_id` here
-- would name the `bigint` output column, which no index serves, and every batch would sort the
-- rest of the log. The join keeps the index order, so no outer `ORDER BY` makes the server sort
-- the batch again before sending its first row; the reader checks the order.
-- The partition placeholder after `h.xmin` is empty, or (one partition of a partitioned
-- projection) the condition on the row's partition, `partition_key % <count> = <index>` with
-- both numbers written in, which the index of that count serves in every plan.
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin)
SELECT h.xmin::text::bigint AS horizon, e.*
FROM h LEFT JOIN LATERAL (
    SELECT {event}, transaction_id AS xid FROM "{schema}".chronicle_events
    WHERE (transaction_id, position) > ($1::bigint::text::xid8, $2::bigint)
      AND (cardinality($3::text[]) = 0 OR event_type = ANY($3::text[]))
      AND transaction_id < h.xmin{partition}
    ORDER BY xid, position
    LIMIT $4
) e ON true

-- name: head
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon, e.position, e.recorded_at
FROM (SELECT) AS one LEFT JOIN LATERAL (
    SELECT position, recorded_at FROM "{schema}".chronicle_events ORDER BY position DESC LIMIT 1
) e ON true

-- name: progress
-- Where a subscriber at a checkpoint stands, in one snapshot: the highest position at or before
-- it (scanning down from the newest event: few rows when it is caught up), the events of its
-- types it can read and has not, and those committed but held back by an older open
-- transaction, with what that transaction is when there are any. The partition placeholders as
-- in `read_batch`.
WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
     c AS (SELECT $1::bigint::text::xid8 AS xid, $2::bigint AS position)
SELECT
    (SELECT e.position FROM "{schema}".chronicle_events e, c
     WHERE (e.transaction_id, e.position) <= (c.xid, c.position)
     ORDER BY e.position DESC LIMIT 1) AS position,
    (SELECT count(*) FROM "{schema}".chronicle_events e, c
     WHERE (e.transaction_id, e.position) > (c.xid, c.position) AND e.transaction_id < h.xmin
       AND (cardinality($3::text[]) = 0 OR e.event_type = ANY($3::text[])){partition}) AS readable,
    (SELECT e.recorded_at FROM "{schema}".chronicle_events e, c
     WHERE (e.transaction_id, e.position) > (c.xid, c.position) AND e.transaction_id < h.xmin
       AND (cardinality($3::text[]) = 0 OR e.event_type = ANY($3::text[])){partition}
     ORDER BY e.transaction_id, e.position LIMIT 1) AS oldest_readable_at,
    held.count AS held_back,
    CASE WHEN held.count > 0 THEN COALESCE(
        (SELECT format('transaction %s of session %s (%s, open for %s): %s',
                       a.backend_xid, a.pid, a.state, date_trunc('second', now() - a.xact_start),
                       left(a.query, 80))
         FROM pg_stat_activity a
         WHERE a.backend_xid::text::bigint = h.xmin::text::bigint % 4294967296 LIMIT 1),
        (SELECT format('prepared transaction %s (%L, prepared %s ago)', p.transaction, p.gid,
                       date_trunc('second', now() - p.prepared))
         FROM pg_prepared_xacts p
         WHERE p.transaction::text::bigint = h.xmin::text::bigint % 4294967296 LIMIT 1),
        format('transaction %s, still open', h.xmin))
    END AS held_back_by
FROM h, LATERAL (
    SELECT count(*) AS count FROM "{schema}".chronicle_events e, c
    WHERE (e.transaction_id, e.position) > (c.xid, c.position) AND e.transaction_id >= h.xmin
      AND (cardinality($3::text[]) = 0 OR e.event_type = ANY($3::text[])){partition}
) held

-- name: partition_index
-- What one partition of `{count}` reads by: its rows in subscription order.
CREATE INDEX IF NOT EXISTS chronicle_events_partitions_{count}_idx
    ON "{schema}".chronicle_events ((partition_key % {count}), transaction_id, position)

-- name: any_between
SELECT EXISTS (
    SELECT 1 FROM "{schema}".chronicle_events
    WHERE (transaction_id, position) > ($1::bigint::text::xid8, $2::bigint)
      AND (transaction_id, position) <= ($3::bigint::text::xid8, $4::bigint)
) AS found

-- name: checkpoint_of
SELECT transaction_id::text::bigint AS transaction_id FROM "{schema}".chronicle_events WHERE position = $1

-- name: read_snapshot
SELECT stream_id, aggregate_type, snapshot_version, stream_version, state::text AS state, taken_at
FROM "{schema}".chronicle_snapshots
WHERE tenant = $2 AND stream_id = $1

-- name: write_snapshot
-- The newest per stream: a snapshot further along is kept, whatever its shape, so a late write
-- never replaces a newer one.
INSERT INTO "{schema}".chronicle_snapshots AS s
    (stream_id, aggregate_type, snapshot_version, stream_version, state, taken_at, tenant)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
ON CONFLICT (tenant, stream_id) DO UPDATE SET aggregate_type = excluded.aggregate_type,
    snapshot_version = excluded.snapshot_version, stream_version = excluded.stream_version,
    state = excluded.state, taken_at = excluded.taken_at
WHERE s.stream_version <= excluded.stream_version

-- name: inline_transaction
-- The first statement of an append that applies inline projections: their handlers see the
-- store's schema and only it, and the shared lock keeps appends out while `migrate` prepares an
-- inline read model.
SELECT set_config('search_path', '"{schema}"', true),
       pg_advisory_xact_lock_shared(hashtext('chronicle.inline'), hashtext('{schema}'))

-- name: inline_prepare
-- The first statement of `migrate`'s preparation of inline read models: the same schema, and the
-- exclusive lock.
SELECT set_config('search_path', '"{schema}"', true),
       pg_advisory_xact_lock(hashtext('chronicle.inline'), hashtext('{schema}'))

-- name: inline_prepared_version
SELECT version FROM "{schema}".chronicle_inline_projections WHERE projection = $1

-- name: inline_mark_prepared
INSERT INTO "{schema}".chronicle_inline_projections (projection, version) VALUES ($1, $2)
ON CONFLICT (projection) DO UPDATE SET version = excluded.version, prepared_at = now()

-- name: inline_replay
-- The events an inline read model is prepared from, in log order.
SELECT {event} FROM "{schema}".chronicle_events
WHERE position > $1 AND event_type = ANY($2::text[])
ORDER BY position
LIMIT $3
