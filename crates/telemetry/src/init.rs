//! Installing the global subscriber and, when configured, the OTLP pipeline.

use crate::error::TelemetryError;
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::runtime;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use postern_config::{LogFormat, TelemetryConfig};
use std::io::IsTerminal;
use std::time::Duration;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::{self, MakeWriter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How long dropping the guard waits for buffered spans to be exported.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// Instrumentation scope of Postern's spans.
const TRACER_NAME: &str = "postern";

/// Keeps the OTLP pipeline alive; dropping it exports what is still buffered and shuts the
/// pipeline down (waiting at most a few seconds). Hold it in `main` until exit.
#[must_use = "dropping the guard shuts down trace export"]
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether spans are being exported (an OTLP endpoint is configured).
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            shutdown(provider);
        }
    }
}

/// Installs the global `tracing` subscriber for `service`: logs to stderr, pretty or JSON,
/// filtered by `config.log_filter`; plus an OpenTelemetry layer exporting spans in batches
/// over OTLP/HTTP (protobuf) to `config.otlp_endpoint` if, and only if, one is set. Nothing
/// is exported otherwise, and then [`crate::current_trace_context`] is empty.
///
/// With an endpoint, call it from within a tokio runtime (the batch exporter runs as a task
/// on it; use the multi-threaded runtime so the final flush can proceed while `main`
/// waits). The endpoint is the collector's base URL; `/v1/traces` is appended unless
/// present. `service.name` is `config.service_name`, or `service`.
///
/// A second call fails with [`TelemetryError::AlreadyInitialized`] and changes nothing.
pub fn init(service: &str, config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::builder()
        .parse(&config.log_filter)
        .map_err(TelemetryError::Filter)?;
    let provider = tracer_provider(service, config)?;
    let tracer = provider.as_ref().map(|p| p.tracer(TRACER_NAME));
    let ansi = std::io::stderr().is_terminal();
    let installed = subscriber(config.log_format, filter, std::io::stderr, ansi, tracer).try_init();
    if let Err(e) = installed {
        if let Some(provider) = provider {
            shutdown(provider);
        }
        return Err(TelemetryError::AlreadyInitialized(e));
    }
    if let Some(provider) = &provider {
        global::set_tracer_provider(provider.clone());
    }
    global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(TelemetryGuard { provider })
}

/// The subscriber `init` installs, with the writer and tracer passed in (tests capture the
/// output and use a local tracer).
pub(crate) fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
    tracer: Option<SdkTracer>,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (json, pretty) = match format {
        LogFormat::Json => (
            Some(fmt::layer().json().flatten_event(true).with_writer(writer)),
            None,
        ),
        LogFormat::Pretty => (None, Some(fmt::layer().with_ansi(ansi).with_writer(writer))),
    };
    // Spans of the export path itself (the HTTP client, the SDK) are not exported: at
    // `trace` level they would otherwise feed the exporter its own traffic.
    let not_exporter = Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_targets(
            [
                "hyper",
                "hyper_util",
                "h2",
                "reqwest",
                "tower",
                "opentelemetry",
                "opentelemetry_sdk",
                "opentelemetry_otlp",
                "opentelemetry_http",
            ]
            .map(|t| (t, LevelFilter::OFF)),
        );
    let otel = tracer.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_filter(not_exporter)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(json)
        .with(pretty)
}

/// The OTLP pipeline, or `None` when no endpoint is configured.
pub(crate) fn tracer_provider(
    service: &str,
    config: &TelemetryConfig,
) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    let Some(endpoint) = config.otlp_endpoint.as_deref() else {
        return Ok(None);
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(TelemetryError::NoRuntime);
    }
    // The exporter's reqwest client is built without a TLS crypto provider of its own
    // (one provider, ring, for the whole process): make sure it is installed. Err means
    // one is already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(traces_url(endpoint))
        .build()
        .map_err(TelemetryError::Exporter)?;
    let processor = BatchSpanProcessor::builder(exporter, runtime::Tokio).build();
    let name = config
        .service_name
        .clone()
        .unwrap_or_else(|| service.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(Resource::builder().with_service_name(name).build())
        .build();
    Ok(Some(provider))
}

/// The traces URL for a collector base URL.
fn traces_url(endpoint: &str) -> String {
    let base = endpoint.trim_end_matches('/');
    if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    }
}

/// Flushes and shuts the pipeline down, waiting at most [`SHUTDOWN_TIMEOUT`].
///
/// The batch processor answers from its task on the tokio runtime while the caller blocks.
/// Blocking on a current-thread runtime's own thread would wait forever, so the wait happens
/// on a helper thread and is bounded: the worst case is lost spans, never a hung exit.
fn shutdown(provider: SdkTracerProvider) {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("otel-shutdown".into())
        .spawn(move || {
            // The receiver may be gone after a timeout; nothing is left to tell then.
            let _ = done_tx.send(provider.shutdown());
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "could not flush trace export");
        return;
    }
    match done_rx.recv_timeout(SHUTDOWN_TIMEOUT) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "trace export shutdown failed"),
        Err(_) => tracing::warn!("trace export did not flush in time; spans may be lost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        }
    }

    fn capture(format: LogFormat, filter: &str, f: impl FnOnce()) -> Vec<String> {
        let buf = Buffer::default();
        let writer = buf.clone();
        let filter = EnvFilter::builder().parse(filter).unwrap();
        let sub = subscriber(format, filter, move || writer.clone(), false, None);
        tracing::subscriber::with_default(sub, f);
        buf.lines()
    }

    #[test]
    fn json_format_writes_one_object_per_event() {
        let lines = capture(LogFormat::Json, "info", || {
            let span = tracing::info_span!("ingest.report.parse", report_id = "r1");
            span.in_scope(|| tracing::info!(records = 3, "report parsed"));
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["message"], "report parsed");
        assert_eq!(v["records"], 3);
        assert_eq!(v["span"]["name"], "ingest.report.parse");
        assert_eq!(v["span"]["report_id"], "r1");
    }

    #[test]
    fn pretty_format_writes_readable_lines() {
        let lines = capture(LogFormat::Pretty, "info", || {
            tracing::warn!(client = "c1", "dkim key lookup failed");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("WARN"), "{}", lines[0]);
        assert!(
            lines[0].contains("dkim key lookup failed client=\"c1\""),
            "{}",
            lines[0]
        );
        assert!(serde_json::from_str::<serde_json::Value>(&lines[0]).is_err());
    }

    #[test]
    fn filter_drops_events_below_its_level() {
        let lines = capture(LogFormat::Json, "warn,postern_telemetry=error", || {
            tracing::warn!("dropped: this crate is at error");
            tracing::error!("kept");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("kept"));
    }

    #[test]
    fn bad_filter_is_an_error() {
        let config = TelemetryConfig {
            log_filter: "info,=[".into(),
            ..TelemetryConfig::default()
        };
        assert!(matches!(
            init("test", &config),
            Err(TelemetryError::Filter(_))
        ));
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        let provider = tracer_provider("test", &TelemetryConfig::default()).unwrap();
        assert!(provider.is_none());
    }

    #[test]
    fn export_outside_a_runtime_is_an_error() {
        let config = TelemetryConfig {
            otlp_endpoint: Some("http://127.0.0.1:4318".into()),
            ..TelemetryConfig::default()
        };
        assert!(matches!(
            tracer_provider("test", &config),
            Err(TelemetryError::NoRuntime)
        ));
    }

    #[test]
    fn traces_path_is_appended_once() {
        assert_eq!(traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
        assert_eq!(traces_url("http://c/otlp"), "http://c/otlp/v1/traces");
    }
}
