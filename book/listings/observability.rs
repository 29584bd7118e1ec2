//! The book's metrics and traces (metrics and traces chapter): a Prometheus recorder, and spans
//! exported through OpenTelemetry.

use std::sync::{Arc, Mutex};

use chronicle_tests::wait::{eventually, DEADLINE};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::SpanData;

// ANCHOR: prometheus
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs a Prometheus recorder for the whole process, once, at start-up, and describes
/// Chronicle's metrics to it. `handle.render()` is the text a `/metrics` endpoint serves.
pub fn install_prometheus() -> Result<PrometheusHandle, Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    chronicle::describe_metrics();
    // Without an exporter's own HTTP listener, run its upkeep now and then (it bounds the
    // memory of histograms between scrapes).
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}
// ANCHOR_END: prometheus

// ANCHOR: opentelemetry
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tracing_subscriber::layer::SubscriberExt as _;

/// A subscriber that hands every span to OpenTelemetry, which exports them through `exporter`
/// in batches from a thread of its own. Keep the provider: shutting it down flushes the last
/// batch.
pub fn traced(
    service: &'static str,
    exporter: impl SpanExporter + 'static,
) -> (impl tracing::Subscriber + Send + Sync, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
    (tracing_subscriber::registry().with(layer), provider)
}

/// What a service's `main` does: spans to standard output, for the whole process.
pub fn trace_to_stdout() -> Result<SdkTracerProvider, Box<dyn std::error::Error>> {
    let (subscriber, provider) = traced("bank", opentelemetry_stdout::SpanExporter::default());
    tracing::subscriber::set_global_default(subscriber)?;
    Ok(provider)
}
// ANCHOR_END: opentelemetry

/// An exporter that keeps what it is given, for the test to read.
#[derive(Debug, Clone, Default)]
struct Kept(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Kept {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

#[tokio::test]
async fn a_command_is_counted_and_its_spans_are_exported() {
    let handle = install_prometheus().unwrap();
    let kept = Kept::default();
    let (subscriber, provider) = traced("bank", kept.clone());
    // For the whole test process, as `trace_to_stdout` does for a service (the other tests of
    // this binary are traced into `kept` too; a thread's own default would miss the spans of
    // callsites that other threads met first).
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let bank = chronicle_tests::support::PgBank::new().await;
    let receipt = bank.open("observed").await;
    // A span is exported once closed, when its last clone goes (sqlx's query streams hold one a
    // little past the call's return): flushed until the command's are there.
    let exported = || {
        let kept = kept.0.lock().unwrap();
        let append = kept.iter().find(|span| {
            span.name == "chronicle.append"
                && span
                    .attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "stream_id" && kv.value.as_str() == receipt.stream_id)
        })?;
        let execute = kept
            .iter()
            .find(|span| span.span_context.span_id() == append.parent_span_id)?;
        Some((execute.clone(), append.clone()))
    };
    let (execute, append) = eventually("the command's spans exported", DEADLINE, || {
        provider.force_flush().unwrap();
        std::future::ready(exported())
    })
    .await;
    // One trace: the append is a child of the command.
    assert_eq!(execute.name, "chronicle.execute");
    assert_eq!(append.span_context.trace_id(), execute.span_context.trace_id());
    let attribute = |span: &SpanData, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attribute(&execute, "outcome").as_deref(), Some("appended"));
    assert_eq!(attribute(&execute, "id").as_deref(), Some("observed"));

    let text = handle.render();
    let opened = format!(
        "chronicle_commands_total{{command=\"{}\",outcome=\"appended\"}}",
        std::any::type_name::<bank::OpenAccount>()
    );
    assert!(text.contains(&opened), "{text}");
    assert!(
        text.contains("# TYPE chronicle_append_duration_seconds summary"),
        "{text}"
    );
}
