//! The conformance suite: what every event store must do, written once, generic over the store,
//! and run on every store of the matrix.
//!
//! Each module holds the scenarios of one concern, as `pub async fn scenario<S>(store: S)` on a
//! fresh, migrated, empty store. [`conformance_suite!`](crate::conformance_suite) crosses them
//! with the matrix ([`backends`]): one `#[tokio::test]` per store and scenario, named
//! `<backend>::<module>::<scenario>` (`cargo test --test conformance postgres_inline::` runs one
//! store, `-- ::limits::` one concern everywhere).
//!
//! What only one backend does (SQLite's busy timeout and files, Postgres's out-of-order commits,
//! its xmin fence, dropped connections, layout upgrades) is tested in that backend's own file
//! under `tests/tests/backends/`.

pub mod audit;
pub mod backends;
pub mod cache;
pub mod contention;
pub mod events;
pub mod forgetting;
pub mod limits;
pub mod snapshots;
pub mod store;
pub mod stream_identity;
pub mod subscription;
pub mod tailer;
pub mod tenants;
pub mod time_travel;
pub mod upcasting;
pub mod write;

/// Expands to the whole conformance suite: a module per store of the matrix, in it a module per
/// concern, in that a test per scenario. Invoke it once, in a test binary of its own.
///
/// **The matrix.** A backend gets every scenario by one line below, naming the module its
/// tests go in and the `async fn` in [`backends`] that opens it fresh for one test.
///
/// **The scenarios.** A new scenario is a `pub async fn` in its concern's module and its name in
/// the list below.
#[macro_export]
macro_rules! conformance_suite {
    () => {
        $crate::conformance_suite! { @matrix
            memory => $crate::conformance::backends::memory,
            sqlite => $crate::conformance::backends::sqlite,
            sqlite_in_memory => $crate::conformance::backends::sqlite_in_memory,
            postgres => $crate::conformance::backends::postgres,
            postgres_group_commit => $crate::conformance::backends::postgres_group_commit,
            postgres_inline => $crate::conformance::backends::postgres_inline,
        }
    };

    (@matrix $($backend:ident => $open:path,)*) => {
        $(
            mod $backend {
                $crate::conformance_suite! { @scenarios $open;
                    store: [
                        roundtrip,
                        the_light_stream_read_matches_the_whole_one,
                        empty_append_touches_nothing,
                        stale_expected_version_conflicts,
                        expected_version_ahead_conflicts,
                        duplicate_event_id_is_refused,
                        two_events_with_one_id_in_one_append_are_refused,
                        a_large_command_is_appended_whole_or_not_at_all,
                        find_command,
                        read_all_in_order_with_limit,
                        racing_writers_one_wins,
                        the_snapshot_table_keeps_the_newest_per_stream,
                    ],
                    subscription: [
                        batches_in_order_with_limits,
                        type_filter_runs_in_the_store_and_still_advances,
                        the_type_filter_takes_odd_type_names_literally,
                        paging_reaches_everything_exactly_once,
                        head_count_and_checkpoint_of,
                        a_subscriber_tailing_concurrent_writers_sees_every_event_once,
                        a_listener_wakes_on_append,
                        a_listener_times_out_without_appends,
                    ],
                    write: [
                        append_and_load,
                        a_rejected_command_appends_nothing,
                        two_concurrent_commands_both_succeed_by_retrying,
                        a_resubmitted_command_is_executed_once,
                        bad_rows_give_typed_errors,
                        decoded_events_round_trip,
                    ],
                    contention: [
                        fifty_tasks_on_five_aggregates_all_succeed_with_the_default_attempts,
                        two_write_sides_on_five_aggregates_all_succeed_when_retried,
                    ],
                    cache: [
                        a_hot_aggregate_is_read_once_then_served_from_memory,
                        a_stale_entry_is_caught_by_the_append_and_decided_again,
                        a_rejection_on_a_stale_entry_is_checked_before_it_is_returned,
                        a_creating_command_reads_no_stream_for_a_new_aggregate,
                        a_creating_command_on_an_existing_aggregate_is_decided_on_its_real_state,
                    ],
                    snapshots: [
                        snapshots_are_taken_every_n_events_and_used_when_loading,
                        a_snapshot_of_another_version_is_ignored_and_replaced,
                        an_unreadable_snapshot_is_ignored_and_replaced,
                        time_travel_uses_a_snapshot_only_at_or_before_the_version,
                        writing_a_snapshot_never_fails_or_holds_up_a_command,
                    ],
                    upcasting: [
                        version_1_and_2_rows_are_read_through_the_version_3_type,
                        a_version_without_an_upcast_path_is_a_typed_error,
                        renaming_a_struct_keeps_reading_old_rows_when_its_name_is_pinned,
                    ],
                    audit: [
                        history_lists_every_event_with_its_metadata_in_order,
                        read_by_correlation_finds_everything_one_request_caused,
                    ],
                    time_travel: [
                        load_at_version_replays_that_many_events,
                        load_as_of_replays_the_events_recorded_by_then,
                    ],
                    stream_identity: [
                        aggregates_whose_stream_ids_look_alike_replay_only_their_own_events,
                        ids_with_dashes_round_trip,
                    ],
                    tenants: [
                        the_same_stream_in_two_tenants_is_two_streams,
                        a_bound_store_cannot_write_or_read_another_tenants_stream,
                        snapshots_are_kept_per_tenant,
                        identical_commands_in_two_tenants_stay_apart,
                        the_subscription_reads_every_tenant_with_its_tenant,
                        hostile_tenant_ids_are_refused,
                    ],
                    forgetting: [
                        personal_fields_are_stored_sealed_and_read_back_in_the_clear,
                        a_forgotten_subject_reads_redacted_everywhere,
                        an_altered_envelope_is_a_typed_error,
                        a_subject_id_in_two_tenants_is_two_subjects,
                    ],
                    limits: [
                        stream_ids_no_store_keeps_are_refused_before_the_store,
                        events_no_store_keeps_are_refused_before_the_store,
                        the_longest_stream_id_unicode_and_quotes_work_everywhere,
                        large_payloads_and_odd_text_round_trip_or_fail_alike,
                    ],
                }
            }
        )*
    };

    (@scenarios $open:path; $($concern:ident: [$($scenario:ident),* $(,)?],)*) => {
        $(
            mod $concern {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        let fixture = $open().await;
                        $crate::conformance::$concern::$scenario(fixture.store()).await;
                        fixture.close().await;
                    }
                )*
            }
        )*
    };
}
