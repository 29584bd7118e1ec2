//! Chronicle's metrics through a real recorder, the Prometheus exporter's, read back from the
//! text it renders: commands counted by outcome exactly as each was caused, appends timed, a
//! runner's applied events, lag and dead letters, a relay's published events and lag.
//!
//! The recorder is global to the test process, so no two tests here share a label: only the
//! first executes the bank's commands (and appends to `bank.Account` streams); the others write
//! orders and name their projection and relay themselves.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chronicle::prelude::*;
use chronicle::sqlx::PgConnection;
use chronicle::{RabbitMqPublisher, Relay, RetryPolicy};
use chronicle_tests::brokers::{rabbitmq_url, unique, Rabbit};
use chronicle_tests::counts::{good_metadata, insert_raw};
use chronicle_tests::support::{self, PgBank};
use chronicle_tests::wait::{eventually, until, DEADLINE};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::sync::Semaphore;

/// The recorder of this test process, installed by the first test that asks.
fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .install_recorder()
            .expect("the only recorder of this test process");
        chronicle::describe_metrics();
        handle
    })
}

/// The value of the series `name` with exactly these labels in what the recorder renders now.
fn sample(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<&str, &str> = labels.iter().copied().collect();
    prometheus()
        .render()
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            let found: BTreeMap<&str, &str> = rest
                .strip_suffix('}')?
                .split(',')
                .filter(|pair| !pair.is_empty())
                .filter_map(|pair| {
                    let (key, value) = pair.split_once('=')?;
                    Some((key, value.trim_matches('"')))
                })
                .collect();
            (metric == name && found == wanted).then(|| value.parse().expect("a number"))
        })
}

/// `chronicle_commands_total` for command type `C` and `outcome`, 0 when never counted.
fn commands<C>(outcome: &str) -> f64 {
    let command = std::any::type_name::<C>();
    sample(
        "chronicle_commands_total",
        &[("command", command), ("outcome", outcome)],
    )
    .unwrap_or(0.0)
}

#[tokio::test]
async fn commands_are_counted_by_outcome_and_their_appends_timed() {
    prometheus();
    let PgBank { store, bank } = PgBank::new().await;
    let deposit = |account: &str| bank::Deposit {
        account_id: account.into(),
        amount: 10,
    };
    // Another writer that always reads the stream, and one that gives up at the first conflict.
    let other = Chronicle::new(store.clone()).with_cache_capacity(0);
    let impatient = Chronicle::new(store.clone()).with_max_attempts(1);

    let opening = bank::OpenAccount {
        account_id: "m-1".into(),
        owner: "Ada".into(),
        overdraft_limit: 0,
    };
    bank.execute(opening).await.expect("open");
    bank.execute(deposit("m-1")).await.expect("deposit");
    other.execute(deposit("m-1")).await.expect("deposit");
    // Decided on the cached state, which `other` made stale: a conflict, then a retry.
    bank.execute(deposit("m-1"))
        .await
        .expect("deposit on the second attempt");
    impatient.execute(deposit("m-1")).await.expect("deposit");
    other.execute(deposit("m-1")).await.expect("deposit");
    // Its cached state is stale now, and it has no second attempt.
    let conflicted = impatient.execute(deposit("m-1")).await;
    assert!(
        matches!(conflicted, Err(CommandError::Concurrency { attempts: 1, .. })),
        "{conflicted:?}"
    );
    let second = bank::OpenAccount {
        account_id: "m-2".into(),
        owner: "Grace".into(),
        overdraft_limit: 0,
    };
    other.execute(second).await.expect("open");
    let rejected = other
        .execute(bank::Withdraw {
            account_id: "m-2".into(),
            amount: 1_000_000,
        })
        .await;
    assert!(matches!(rejected, Err(CommandError::Rejected(_))), "{rejected:?}");
    let failed = bank.execute(deposit(&"x".repeat(2_000))).await;
    assert!(matches!(failed, Err(CommandError::Store(_))), "{failed:?}");

    assert_eq!(commands::<bank::OpenAccount>("appended"), 2.0);
    assert_eq!(commands::<bank::Deposit>("appended"), 5.0);
    assert_eq!(commands::<bank::Deposit>("retried"), 1.0);
    assert_eq!(commands::<bank::Deposit>("conflicted"), 1.0);
    assert_eq!(commands::<bank::Deposit>("failed"), 1.0);
    assert_eq!(commands::<bank::Deposit>("rejected"), 0.0);
    assert_eq!(commands::<bank::Withdraw>("rejected"), 1.0);
    assert_eq!(commands::<bank::Withdraw>("appended"), 0.0);
    // Every append reached the store: 2 openings, 5 deposits, 2 refused for a conflict.
    let appends = &[("aggregate", "bank.Account")];
    assert_eq!(
        sample("chronicle_append_duration_seconds_count", appends),
        Some(9.0)
    );
    let seconds = sample("chronicle_append_duration_seconds_sum", appends).expect("a sum");
    assert!(seconds > 0.0, "{seconds}");
    let help = prometheus().render();
    assert!(
        help.contains("# HELP chronicle_commands_total Commands by type and outcome"),
        "{help}"
    );
}

/// Counts nothing: lets each order event through once it has a permit, so that the test holds
/// the runner between its batches.
struct Gated {
    permits: Arc<Semaphore>,
}

impl Gated {
    async fn pass(&self) -> Result<(), HandlerError> {
        self.permits.acquire().await.map_err(HandlerError::new)?.forget();
        Ok(())
    }
}

#[projection(name = "test.metrics_gated", version = 1)]
impl Gated {
    #[on]
    async fn created(
        &self,
        _event: &orders::domain::OrderCreated,
        _db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        self.pass().await
    }

    #[on]
    async fn item_added(
        &self,
        _event: &orders::domain::ItemAdded,
        _db: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        self.pass().await
    }
}

fn order(id: &str) -> orders::domain::CreateOrder {
    orders::domain::CreateOrder {
        order_id: id.into(),
        customer: "Ada".into(),
    }
}

fn item(id: &str) -> orders::domain::AddItem {
    orders::domain::AddItem {
        order_id: id.into(),
        sku: "tea".into(),
        quantity: 1,
        unit_price_cents: 250,
    }
}

#[tokio::test]
async fn a_runner_counts_what_it_applies_and_dead_letters_and_its_lag_goes_to_zero() {
    prometheus();
    let store = support::postgres_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    let shop = Chronicle::new(store.clone());
    shop.execute(order("o-1")).await.expect("create");
    shop.execute(item("o-1")).await.expect("add");
    shop.execute(order("o-2")).await.expect("create");
    shop.execute(item("o-2")).await.expect("add");
    // An item no handler can read: a poison event, dead-lettered at once.
    let poison = insert_raw(
        &store,
        "shop.Order-o-3",
        1,
        "shop.ItemAdded",
        1,
        r#"{"not": "an item"}"#,
        &good_metadata(),
    )
    .await;
    let last = shop.execute(order("o-4")).await.expect("create");
    assert_eq!((poison, last.position), (5, Some(6)));

    // Batches of 2, and permits for the first only: the runner applies it and waits.
    let permits = Arc::new(Semaphore::new(2));
    let gated = Gated {
        permits: permits.clone(),
    };
    let handle = ProjectionRunner::new(store.clone(), read, gated)
        .batch_size(2)
        .retry(RetryPolicy::new(2, std::time::Duration::from_millis(5)))
        .on_poison(OnPoison::DeadLetter)
        .spawn();
    let projection = &[("projection", "test.metrics_gated")];
    let behind = eventually("the lag after the first batch", DEADLINE, || async {
        sample("chronicle_projection_lag_events", projection)
    })
    .await;
    // From the first batch's last event (position 2) to the head (6).
    assert_eq!(behind, 4.0);
    let seconds = sample("chronicle_projection_lag_seconds", projection).expect("the lag in seconds");
    assert!(seconds > 0.0, "{seconds}");
    assert_eq!(
        sample("chronicle_projection_events_applied_total", projection),
        Some(2.0)
    );

    permits.add_permits(1_000);
    handle.wait_for(last.position, DEADLINE).await.expect("caught up");
    until("no lag", DEADLINE, || {
        sample("chronicle_projection_lag_events", projection) == Some(0.0)
            && sample("chronicle_projection_lag_seconds", projection) == Some(0.0)
    })
    .await;
    assert_eq!(
        sample("chronicle_projection_events_applied_total", projection),
        Some(5.0)
    );
    assert_eq!(
        sample("chronicle_projection_dead_letters_total", projection),
        Some(1.0)
    );
    assert_eq!(handle.dead_letters().await.expect("dead letters").len(), 1);
    handle.stop().await.into_result().expect("a clean stop");
}

#[tokio::test]
async fn a_relay_counts_what_the_broker_confirmed_and_its_lag_goes_to_zero() {
    prometheus();
    let store = support::postgres_store().await;
    let read = support::postgres_read_store_beside(&store).await;
    let exchange = unique("chronicle_metrics");
    let publisher = RabbitMqPublisher::new(rabbitmq_url()).exchange(&exchange);
    publisher.connect().await.expect("RabbitMQ answers");
    let rabbit = Rabbit::connect().await;
    let queue = rabbit.bound_queue(&exchange, "#").await;
    let shop = Chronicle::new(store.clone());
    shop.execute(order("r-1")).await.expect("create");
    shop.execute(item("r-1")).await.expect("add");
    let last = shop.execute(order("r-2")).await.expect("create");

    let relay = Relay::new("test.metrics_relay", publisher);
    let handle = ProjectionRunner::new(store.clone(), read, relay)
        .batch_size(2)
        .spawn();
    handle.wait_for(last.position, DEADLINE).await.expect("published");
    assert_eq!(rabbit.take_n(&queue, 3, DEADLINE).await.len(), 3);
    assert_eq!(
        sample(
            "chronicle_relay_events_published_total",
            &[("relay", "test.metrics_relay")]
        ),
        Some(3.0)
    );
    let relay_lag = &[("projection", "test.metrics_relay")];
    until("no relay lag", DEADLINE, || {
        sample("chronicle_projection_lag_events", relay_lag) == Some(0.0)
            && sample("chronicle_projection_lag_seconds", relay_lag) == Some(0.0)
    })
    .await;
    assert_eq!(
        sample("chronicle_projection_events_applied_total", relay_lag),
        Some(3.0)
    );
    handle.stop().await.into_result().expect("a clean stop");
}
