-- The MariaDB read store's tables, created if missing by `MySqlReadStore::migrate`, one statement
-- at a time (each is DDL, which MariaDB commits on its own), while the migrating connection holds
-- the named lock `migrate_lock` of `read_store.sql`, so that concurrent migrations take turns.
--
-- Names and stream ids are `VARBINARY`: compared byte for byte whatever the database's default
-- collation (case-insensitive by default), and sized in bytes like the limits of `core/limits.rs`
-- (a stream id is at most 1024 bytes). Statements read them back converted to utf8mb4. Times are
-- `DATETIME(6)` in UTC (sqlx sets the session's `time_zone` to `+00:00`). Numbers are signed
-- `BIGINT`, bound and read as `i64` like on the other engines.
CREATE TABLE IF NOT EXISTS chronicle_checkpoints (
    projection VARBINARY(512) NOT NULL PRIMARY KEY,
    version INT NOT NULL,
    transaction_id BIGINT NOT NULL,
    position BIGINT NOT NULL,
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS chronicle_dead_letters (
    projection VARBINARY(512) NOT NULL,
    version INT NOT NULL,
    position BIGINT NOT NULL,
    transaction_id BIGINT NOT NULL,
    event_id CHAR(36) CHARACTER SET ascii NULL,
    stream_id VARBINARY(1024) NOT NULL,
    stream_version BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    error MEDIUMTEXT NOT NULL,
    recorded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    retry_requested_at DATETIME(6) NULL,
    PRIMARY KEY (projection, version, position)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

-- Layouts before 3 had no retries: an operator's request for one is kept on the letter.
ALTER TABLE chronicle_dead_letters ADD COLUMN IF NOT EXISTS retry_requested_at DATETIME(6) NULL;

-- What read models fed from a message broker keep: how far each consumer got, and the version of
-- each stream's last event it applied (what tells a redelivered message from a new one).
CREATE TABLE IF NOT EXISTS chronicle_consumers (
    consumer VARBINARY(512) NOT NULL PRIMARY KEY,
    version INT NOT NULL,
    transaction_id BIGINT NOT NULL,
    position BIGINT NOT NULL,
    broker_sequence BIGINT NOT NULL,
    last_recorded_at DATETIME(6) NULL,
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS chronicle_consumed_streams (
    consumer VARBINARY(512) NOT NULL,
    stream_id VARBINARY(1024) NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (consumer, stream_id)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
