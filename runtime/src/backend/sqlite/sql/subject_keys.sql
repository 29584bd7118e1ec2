-- The key store's statements on `chronicle_subject_keys` (see subject_keys_migrate.sql).

-- name: keys
-- $1: the subjects as a JSON array of [tenant, id] pairs.
SELECT tenant, subject, key FROM chronicle_subject_keys
WHERE (tenant, subject) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each($1)
);

-- name: create_key
-- A subject's key created at most once (a tombstone is kept: the subject stays forgotten).
INSERT INTO chronicle_subject_keys (tenant, subject, key) VALUES ($1, $2, $3)
ON CONFLICT (tenant, subject) DO NOTHING;

-- name: had_key
SELECT key IS NOT NULL AS had_key FROM chronicle_subject_keys WHERE tenant = $1 AND subject = $2;

-- name: forget
INSERT INTO chronicle_subject_keys (tenant, subject, key, forgotten_at)
VALUES ($1, $2, NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
ON CONFLICT (tenant, subject) DO UPDATE SET key = NULL, forgotten_at = COALESCE(forgotten_at, excluded.forgotten_at);

-- name: forget_snapshots
-- The snapshots of tenant $1's streams holding a sealed field of its subject $2 (the decoded
-- state, personal data in the clear): one index lookup per stream that has a snapshot.
DELETE FROM chronicle_snapshots AS s
WHERE s.tenant = $1 AND EXISTS (
    SELECT 1 FROM chronicle_events e, json_each(e.payload) f
    WHERE e.tenant = s.tenant AND e.stream_id = s.stream_id
      AND f.type = 'object'
      AND json_extract(f.value, '$."chronicle:pii".subject') = $2
);
