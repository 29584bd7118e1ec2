//! Tenants (issue 16): a store bound to a tenant writes and reads that tenant's streams only.
//! Two tenants with the same stream ids and the same commands (the same command ids too) never
//! see each other's events, versions, commands, correlations or snapshots, and do not conflict;
//! a store bound to no tenant is the tenant `""` for its streams and reads the whole log; the
//! subscription reads every tenant's events, each with its tenant.

use chronicle::prelude::*;
use chronicle::{Snapshot, StoreError};
use serde_json::json;
use uuid::Uuid;

use super::events::payload_value;
use super::events::{event, metadata};
use super::tailer::Tailer;
use super::write::{Count, Counter};

fn tenant(id: &str) -> Tenant {
    Tenant::new(id).expect("a plain tenant id")
}

fn tenants_of(events: &[RecordedEvent]) -> Vec<&str> {
    events.iter().map(|e| e.tenant.as_str()).collect()
}

/// The same stream id in two tenants is two streams: versions from 1 in each, no conflict, each
/// tenant's reads (stream, log, listing, command, correlation) show its own events only.
pub async fn the_same_stream_in_two_tenants_is_two_streams<S: EventStore>(store: S) {
    let (acme, globex) = (
        store.for_tenant(tenant("acme")),
        store.for_tenant(tenant("globex")),
    );
    assert_eq!(acme.tenant().as_str(), "acme");
    assert!(store.tenant().is_none());
    // One command id and one correlation in both tenants, as two identical requests would have.
    let meta = metadata(Uuid::new_v4());
    let acme_receipt = acme
        .append("Order-1", 0, vec![event(&meta, json!({"t": "acme"}))])
        .await
        .expect("acme's first event");
    let globex_receipt = globex
        .append(
            "Order-1",
            0,
            vec![
                event(&meta, json!({"t": "globex"})),
                event(&meta, json!({"t": "globex"})),
            ],
        )
        .await
        .expect("globex's stream of the same id starts at 0 too");
    assert_eq!(
        (acme_receipt.stream_version, globex_receipt.stream_version),
        (1, 2)
    );

    let acme_events = acme.read_stream("Order-1", 0).await.expect("read");
    let globex_events = globex.read_stream("Order-1", 0).await.expect("read");
    assert_eq!(tenants_of(&acme_events), ["acme"]);
    assert_eq!(tenants_of(&globex_events), ["globex", "globex"]);
    assert_eq!(payload_value(&acme_events[0]), json!({"t": "acme"}));
    assert!(
        store.read_stream("Order-1", 0).await.expect("read").is_empty(),
        "no tenant's Order-1 is a third stream, still empty"
    );

    assert_eq!(
        acme.find_command(meta.command_id).await.expect("find"),
        Some(acme_receipt.clone())
    );
    assert_eq!(
        globex.find_command(meta.command_id).await.expect("find"),
        Some(globex_receipt.clone())
    );
    assert_eq!(store.find_command(meta.command_id).await.expect("find"), None);

    let correlated = acme.read_by_correlation(meta.correlation_id).await.expect("read");
    assert_eq!(tenants_of(&correlated), ["acme"]);
    let everywhere = store
        .read_by_correlation(meta.correlation_id)
        .await
        .expect("read");
    assert_eq!(
        everywhere.len(),
        3,
        "a store bound to no tenant follows a request everywhere"
    );

    let acme_log = acme.read_all(0, 100).await.expect("read");
    assert_eq!(tenants_of(&acme_log), ["acme"]);
    let globex_log = globex.read_all(0, 1).await.expect("read");
    assert_eq!(
        tenants_of(&globex_log),
        ["globex"],
        "the limit counts the tenant's events"
    );
    let whole = store.read_all(0, 100).await.expect("read");
    assert_eq!(tenants_of(&whole), ["acme", "globex", "globex"]);

    let listed = |streams: Vec<chronicle::StreamSummary>| -> Vec<(String, u64)> {
        streams.into_iter().map(|s| (s.stream_id, s.version)).collect()
    };
    assert_eq!(
        listed(acme.list_streams("", "", 10).await.expect("list")),
        [("Order-1".to_owned(), 1)]
    );
    assert_eq!(
        listed(globex.list_streams("Order", "", 10).await.expect("list")),
        [("Order-1".to_owned(), 2)]
    );
    assert!(store.list_streams("", "", 10).await.expect("list").is_empty());
}

/// A store bound to one tenant cannot append to another's stream: it appends to its own stream
/// of that id, so the other's version is a conflict there, and nothing reaches the other tenant.
pub async fn a_bound_store_cannot_write_or_read_another_tenants_stream<S: EventStore>(store: S) {
    let (acme, globex) = (
        store.for_tenant(tenant("acme")),
        store.for_tenant(tenant("globex")),
    );
    acme.append("Order-7", 0, super::events::command(3))
        .await
        .expect("acme's events");
    let error = globex
        .append("Order-7", 3, super::events::command(1))
        .await
        .expect_err("globex's Order-7 is not at acme's version");
    assert!(
        matches!(error, StoreError::Conflict { expected: 3, .. }),
        "{error}"
    );
    assert!(globex.read_stream("Order-7", 0).await.expect("read").is_empty());
    assert!(globex
        .read_stream_payloads("Order-7", 0)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(acme.read_stream("Order-7", 0).await.expect("read").len(), 3);
    // Rebinding a bound store moves it, it does not widen it.
    let back = globex.for_tenant(tenant("acme"));
    assert_eq!(back.read_stream("Order-7", 0).await.expect("read").len(), 3);
}

/// Snapshots are per tenant's stream.
pub async fn snapshots_are_kept_per_tenant<S: EventStore>(store: S) {
    let (acme, globex) = (
        store.for_tenant(tenant("acme")),
        store.for_tenant(tenant("globex")),
    );
    let snapshot = |version: u64| Snapshot {
        stream_id: "c-1".into(),
        aggregate_type: "test.Counter".into(),
        snapshot_version: 1,
        stream_version: version,
        state: serde_json::value::to_raw_value(&json!({ "n": version })).expect("JSON"),
        taken_at: chrono::Utc::now(),
    };
    acme.write_snapshot(snapshot(5)).await.expect("write");
    globex.write_snapshot(snapshot(2)).await.expect("write");
    let read = |store: S| async move {
        store
            .read_snapshot("c-1")
            .await
            .expect("read")
            .map(|s| s.stream_version)
    };
    assert_eq!(read(acme.clone()).await, Some(5));
    assert_eq!(
        read(globex.clone()).await,
        Some(2),
        "acme's later snapshot does not replace it"
    );
    assert_eq!(read(store.clone()).await, None);
}

/// Two `Chronicle` handles of two tenants execute identical commands, with identical command
/// ids, on identical aggregate ids: each succeeds, each tenant's aggregate holds its own
/// events only, and the shared state cache keeps them apart. (A counter, not the bank's
/// account: the inline bank view of one store of the matrix keys balances by account alone.)
pub async fn identical_commands_in_two_tenants_stay_apart<S: EventStore>(store: S) {
    let counters = Chronicle::new(store.clone());
    let (acme, globex) = (
        counters.for_tenant(tenant("acme")),
        counters.for_tenant(tenant("globex")),
    );
    assert_eq!(acme.tenant().as_str(), "acme");
    let count = |by| Count {
        counter_id: "c-1".into(),
        by,
    };
    let first_id = Uuid::new_v4();
    for handle in [&acme, &globex] {
        let receipt = handle
            .execute_with(count(1), CommandContext::new().command_id(first_id))
            .await
            .expect("counted in each tenant");
        assert_eq!(receipt.stream_version, 1);
    }
    acme.execute(count(70)).await.expect("acme counts");
    let again_id = Uuid::new_v4();
    for _ in 0..2 {
        let again = globex
            .execute_with(count(5), CommandContext::new().command_id(again_id))
            .await
            .expect("globex counts once");
        assert_eq!(
            again.stream_version, 2,
            "a re-submitted command is found in its tenant"
        );
    }
    let acme_counter = acme.load::<Counter>("c-1").await.expect("load");
    let globex_counter = globex.load::<Counter>("c-1").await.expect("load");
    assert_eq!((acme_counter.state.total(), acme_counter.version), (71, 2));
    assert_eq!((globex_counter.state.total(), globex_counter.version), (6, 2));
    // Decided on the cached state, which must not be the other tenant's.
    acme.execute(count(100))
        .await
        .expect("acme again, from the cache");
    globex
        .execute(count(1000))
        .await
        .expect("globex again, from the cache");
    assert_eq!(
        acme.load::<Counter>("c-1").await.expect("load").state.total(),
        171
    );
    assert_eq!(
        globex.load::<Counter>("c-1").await.expect("load").state.total(),
        1006
    );
    let untenanted = counters.load::<Counter>("c-1").await.expect("load");
    assert_eq!(untenanted.version, 0, "no tenant's counter never counted");
    let history = globex.history::<Counter>("c-1").await.expect("history");
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|e| e.tenant == "globex"));
}

/// The subscription, what projections read, reads every tenant's events in log order, each
/// carrying its tenant.
pub async fn the_subscription_reads_every_tenant_with_its_tenant<S: EventSource>(store: S) {
    store
        .append("Order-1", 0, super::events::command(1))
        .await
        .expect("no tenant");
    for id in ["acme", "globex"] {
        store
            .for_tenant(tenant(id))
            .append("Order-1", 0, super::events::command(1))
            .await
            .expect("a tenant's event");
    }
    let mut tailer = Tailer::new(store.clone(), &[], 10);
    tailer.until(3).await;
    assert_eq!(tenants_of(&tailer.events), ["", "acme", "globex"]);
    assert!(tailer.events.iter().all(|e| e.stream_id == "Order-1"));
}

/// Tenant ids are plain: hostile ones are refused before any store sees them.
pub async fn hostile_tenant_ids_are_refused<S: EventStore>(store: S) {
    for hostile in [
        "",
        "a'; DROP TABLE chronicle_events; --",
        "a\0b",
        "x' OR '1'='1",
        "ü",
        &"t".repeat(65),
    ] {
        assert!(
            matches!(
                Tenant::new(hostile),
                Err(StoreError::InvalidName { kind: "tenant", .. })
            ),
            "{hostile:?}"
        );
    }
    // And the store is untouched by the attempt.
    assert!(store.read_all(0, 10).await.expect("read").is_empty());
}
