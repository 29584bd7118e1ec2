-- The key store's statements on `chronicle_subject_keys` (see subject_keys_migrate.sql).

-- name: keys
-- $1, $2: the subjects' tenants and ids, pairwise.
SELECT tenant, subject, key FROM "{schema}".chronicle_subject_keys
WHERE (tenant, subject) IN (SELECT * FROM unnest($1::text[], $2::text[]));

-- name: create_keys
-- Two writers creating one subject's key at once: the second insert does nothing, and both then
-- read the first one's key. A tombstone is kept (the subject stays forgotten).
INSERT INTO "{schema}".chronicle_subject_keys (tenant, subject, key)
SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
ON CONFLICT (tenant, subject) DO NOTHING;

-- name: forget
-- The key of subject $2 of tenant $1 destroyed, a tombstone left (also for a subject that had no
-- key yet); whether a key was there before.
WITH previous AS (
    SELECT key FROM "{schema}".chronicle_subject_keys WHERE tenant = $1 AND subject = $2 FOR UPDATE
), tombstone AS (
    INSERT INTO "{schema}".chronicle_subject_keys (tenant, subject, key, forgotten_at)
    VALUES ($1, $2, NULL, now())
    ON CONFLICT (tenant, subject) DO UPDATE
    SET key = NULL, forgotten_at = COALESCE(chronicle_subject_keys.forgotten_at, now())
)
SELECT EXISTS (SELECT 1 FROM previous WHERE key IS NOT NULL) AS key_destroyed;

-- name: forget_snapshots
-- The snapshots of tenant $1's streams holding a sealed field of its subject $2: a snapshot is
-- the decoded state, personal data in the clear. One index lookup per stream that has a snapshot.
DELETE FROM "{schema}".chronicle_snapshots s
WHERE s.tenant = $1 AND EXISTS (
    SELECT 1 FROM "{schema}".chronicle_events e, jsonb_each(e.payload) f
    WHERE e.tenant = s.tenant AND e.stream_id = s.stream_id
      AND f.value -> 'chronicle:pii' ->> 'subject' = $2
);
