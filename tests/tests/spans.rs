//! The spans a command leaves, from its execution to the projection batch that applies its
//! events: names and fields, captured by a subscriber layer for the whole test process (the
//! runner's tasks run on other threads), with the command and correlation ids to follow it by.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bank::views::AccountBalances;
use chronicle::{CommandContext, ProjectionRunner, SqlReadStore};
use chronicle_tests::wait::eventually;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use uuid::Uuid;

/// A closed span: its name and fields.
type Closed = (String, BTreeMap<String, String>);

#[derive(Default, Clone)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// Keeps every closed span's name and fields.
struct Capture(Arc<Mutex<Vec<Closed>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attributes.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            let fields = span.extensions().get::<Fields>().cloned().unwrap_or_default();
            self.0.lock().unwrap().push((span.name().to_owned(), fields.0));
        }
    }
}

fn captured() -> Arc<Mutex<Vec<Closed>>> {
    static SPANS: OnceLock<Arc<Mutex<Vec<Closed>>>> = OnceLock::new();
    SPANS
        .get_or_init(|| {
            let spans = Arc::new(Mutex::new(Vec::new()));
            let subscriber = tracing_subscriber::registry().with(Capture(spans.clone()));
            tracing::subscriber::set_global_default(subscriber)
                .expect("the only subscriber of this test process");
            spans
        })
        .clone()
}

fn spans_named(spans: &Arc<Mutex<Vec<Closed>>>, name: &str) -> Vec<BTreeMap<String, String>> {
    spans
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, fields)| fields.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_followed_from_its_execution_to_the_batch_that_applies_it() {
    let spans = captured();
    let store = chronicle::SqliteStore::in_memory().await.unwrap();
    store.migrate().await.unwrap();
    let bank = chronicle::Chronicle::new(store.clone());
    let correlation = Uuid::new_v4();
    let receipt = bank
        .execute_with(
            bank::OpenAccount {
                account_id: "traced".into(),
                owner: "someone".into(),
                overdraft_limit: 10,
            },
            CommandContext::new().correlation_id(correlation),
        )
        .await
        .unwrap();
    let rejected = bank
        .execute(bank::Withdraw {
            account_id: "traced".into(),
            amount: 1_000,
        })
        .await;
    assert!(rejected.is_err());

    let execute = spans_named(&spans, "chronicle.execute");
    let opened = execute
        .iter()
        .find(|f| f.get("correlation_id") == Some(&correlation.to_string()))
        .expect("the opening's span");
    assert_eq!(opened["aggregate"], "bank.Account");
    assert_eq!(opened["id"], "traced");
    assert!(opened["command"].ends_with("OpenAccount"), "{opened:?}");
    assert_eq!(opened["attempts"], "1");
    assert_eq!(opened["outcome"], "appended");
    assert!(Uuid::parse_str(&opened["command_id"]).is_ok(), "{opened:?}");
    // A span is captured when its last handle is dropped, which was seen to come a moment after
    // the rejected command returned (under load), so the test waits for it.
    let withdrawal = eventually("the withdrawal's span", Duration::from_secs(10), || async {
        spans_named(&spans, "chronicle.execute")
            .into_iter()
            .find(|f| f.get("command").is_some_and(|c| c.ends_with("Withdraw")))
    })
    .await;
    assert_eq!(withdrawal["outcome"], "rejected");
    let appends = spans_named(&spans, "chronicle.append");
    assert!(
        appends
            .iter()
            .any(|f| f.get("stream_id") == Some(&receipt.stream_id)),
        "{appends:?}"
    );

    // The batch that applies the opening names its correlation id.
    let read = SqlReadStore::temporary().await.unwrap();
    let runner = ProjectionRunner::new(store.clone(), read.clone(), AccountBalances).spawn();
    runner
        .wait_until_caught_up(Duration::from_secs(30))
        .await
        .unwrap();
    runner.stop().await.into_result().unwrap();
    let batches = spans_named(&spans, "chronicle.batch");
    let batch = batches
        .iter()
        .find(|f| {
            f.get("correlation_ids")
                .is_some_and(|ids| ids.contains(&correlation.to_string()))
        })
        .unwrap_or_else(|| panic!("no batch names {correlation}: {batches:?}"));
    assert_eq!(batch["first_position"], receipt.position.unwrap().to_string());
}
