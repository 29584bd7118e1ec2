//! The Postgres event store's SQL, read from `sql/*.sql` and built once per schema so that no
//! call formats SQL.

use super::schema::channel_name;
use crate::backend::sql::section;
use crate::core::error::StoreError;
use crate::core::partition::Partition;

/// The event table's layout, as the last statement of the migration marks it. Finding the mark
/// means there is nothing to do, which lets an application whose role may not run DDL (`CREATE
/// ... IF NOT EXISTS` checks privileges before existence) call `migrate` at every start.
pub(super) const LAYOUT_MARKER: &str = "Chronicle event log, append-only. Table layout 7.";

const MIGRATE_SQL: &str = include_str!("sql/migrate.sql");
const EVENTS_SQL: &str = include_str!("sql/events.sql");

/// The columns of an event, in the order the store reads them by (`rows::event_row`).
const EVENT_COLUMNS: &str =
    "position, tenant, stream_id, stream_version, event_id, event_type, event_version, \
     payload::text AS payload, metadata::text AS metadata, recorded_at, \
     transaction_id::text::bigint AS transaction_id";

/// The SQL of the reads of one partition count's partitions, built once per count.
///
/// Each partition has statements of its own, its index a literal rather than a parameter:
/// after a few executions Postgres may plan a prepared statement once for any parameter, and
/// such a generic plan cannot use the expression index of `partition_key % count = $n` (it
/// scans the whole log in subscription order and filters, so N partitions would read it N
/// times). With the literal, every plan reads the partition's own index range.
pub(super) struct PartitionStatements {
    /// `read_batch` of each partition, by index.
    read: Vec<String>,
    /// `progress` of each partition, by index.
    progress: Vec<String>,
    /// The index the two read by.
    pub(super) index: String,
}

impl PartitionStatements {
    pub(super) fn new(schema: &str, count: u32) -> Self {
        let statement = |name, filter: &str| {
            section(EVENTS_SQL, name)
                .replace("{schema}", schema)
                .replace("{event}", EVENT_COLUMNS)
                .replace("{partition}", filter)
                .replace("{count}", &count.to_string())
        };
        Self {
            read: (0..count)
                .map(|i| {
                    statement(
                        "read_batch",
                        &format!("\n      AND partition_key % {count} = {i}"),
                    )
                })
                .collect(),
            progress: (0..count)
                .map(|i| statement("progress", &format!(" AND e.partition_key % {count} = {i}")))
                .collect(),
            index: statement("partition_index", ""),
        }
    }

    /// `read_batch` of `partition` (`$1..$4` as the unpartitioned one's); refused when it is
    /// not one of this count's.
    pub(super) fn read(&self, partition: Partition) -> Result<&str, StoreError> {
        self.read
            .get(partition.index as usize)
            .map(String::as_str)
            .ok_or_else(|| partition.invalid())
    }

    /// `progress` of `partition` (`$1..$3` as the unpartitioned one's); refused when it is not
    /// one of this count's.
    pub(super) fn progress(&self, partition: Partition) -> Result<&str, StoreError> {
        self.progress
            .get(partition.index as usize)
            .map(String::as_str)
            .ok_or_else(|| partition.invalid())
    }
}

/// The store's SQL, built once per schema so that no call formats SQL.
pub(super) struct Statements {
    pub(super) schema: String,
    pub(super) migrate: String,
    pub(super) append_one: String,
    pub(super) append_many: String,
    pub(super) stored_event_ids: String,
    pub(super) read_stream: String,
    pub(super) read_stream_payloads: String,
    pub(super) read_all: String,
    pub(super) read_tenant: String,
    pub(super) find_command: String,
    pub(super) read_by_correlation: String,
    pub(super) list_streams: String,
    pub(super) read_batch: String,
    pub(super) head: String,
    pub(super) progress: String,
    pub(super) any_between: String,
    pub(super) checkpoint_of: String,
    pub(super) read_snapshot: String,
    pub(super) write_snapshot: String,
    pub(super) inline_transaction: String,
    pub(super) inline_prepare: String,
    pub(super) inline_prepared_version: String,
    pub(super) inline_mark_prepared: String,
    pub(super) inline_replay: String,
    /// The key table's lookup, for inline projections opening `#[pii]` fields in the append.
    pub(super) subject_keys: String,
    /// The notification channel of the schema's appends.
    pub(super) channel: String,
}

impl Statements {
    pub(super) fn new(schema: &str) -> Self {
        let statement = |name| {
            section(EVENTS_SQL, name)
                .replace("{schema}", schema)
                .replace("{event}", EVENT_COLUMNS)
                .replace("{partition}", "")
        };
        Self {
            migrate: MIGRATE_SQL.replace("{schema}", schema),
            subject_keys: super::keys::keys_statement(schema),
            append_one: statement("append_one"),
            append_many: statement("append_many"),
            stored_event_ids: statement("stored_event_ids"),
            read_stream: statement("read_stream"),
            read_stream_payloads: statement("read_stream_payloads"),
            read_all: statement("read_all"),
            read_tenant: statement("read_tenant"),
            find_command: statement("find_command"),
            read_by_correlation: statement("read_by_correlation"),
            list_streams: statement("list_streams"),
            read_batch: statement("read_batch"),
            head: statement("head"),
            progress: statement("progress"),
            any_between: statement("any_between"),
            checkpoint_of: statement("checkpoint_of"),
            read_snapshot: statement("read_snapshot"),
            write_snapshot: statement("write_snapshot"),
            inline_transaction: statement("inline_transaction"),
            inline_prepare: statement("inline_prepare"),
            inline_prepared_version: statement("inline_prepared_version"),
            inline_mark_prepared: statement("inline_mark_prepared"),
            inline_replay: statement("inline_replay"),
            channel: channel_name(schema),
            schema: schema.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_is_in_the_sql_file() {
        let sql = Statements::new("public");
        for (name, statement) in [
            ("append_one", &sql.append_one),
            ("append_many", &sql.append_many),
            ("stored_event_ids", &sql.stored_event_ids),
            ("read_stream", &sql.read_stream),
            ("read_stream_payloads", &sql.read_stream_payloads),
            ("read_all", &sql.read_all),
            ("read_tenant", &sql.read_tenant),
            ("find_command", &sql.find_command),
            ("read_by_correlation", &sql.read_by_correlation),
            ("list_streams", &sql.list_streams),
            ("read_batch", &sql.read_batch),
            ("head", &sql.head),
            ("progress", &sql.progress),
            ("any_between", &sql.any_between),
            ("checkpoint_of", &sql.checkpoint_of),
            ("read_snapshot", &sql.read_snapshot),
            ("write_snapshot", &sql.write_snapshot),
            ("inline_transaction", &sql.inline_transaction),
            ("inline_prepare", &sql.inline_prepare),
            ("inline_prepared_version", &sql.inline_prepared_version),
            ("inline_mark_prepared", &sql.inline_mark_prepared),
            ("inline_replay", &sql.inline_replay),
        ] {
            assert!(!statement.is_empty(), "no statement `{name}` in events.sql");
            assert!(
                !statement.contains('{'),
                "`{name}` keeps a placeholder: {statement}"
            );
        }
        assert!(sql.migrate.ends_with(&format!("IS '{LAYOUT_MARKER}';\n")));
    }

    #[test]
    fn partition_statements_filter_on_the_count_they_index() {
        let sql = PartitionStatements::new("public", 4);
        for index in 0..4 {
            let partition = Partition { index, count: 4 };
            let read = sql.read(partition).expect("a read per partition");
            let progress = sql.progress(partition).expect("a progress per partition");
            for statement in [read, progress, &sql.index] {
                assert!(!statement.contains('{'), "{statement}");
                assert!(statement.contains("partition_key % 4"), "{statement}");
            }
            assert!(read.contains(&format!("partition_key % 4 = {index}\n")), "{read}");
            assert!(!read.contains("$5"), "{read}");
            assert_eq!(
                progress
                    .matches(&format!("e.partition_key % 4 = {index}"))
                    .count(),
                3
            );
        }
        let beyond = Partition { index: 4, count: 4 };
        assert!(sql.read(beyond).is_err() && sql.progress(beyond).is_err());
        assert!(sql.index.contains("chronicle_events_partitions_4_idx"));
    }
}
