//! W3C trace context in and out of event envelopes.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use std::collections::BTreeMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The trace context of the current span as W3C headers (`traceparent`, and `tracestate`
/// when there is one), to put into an outgoing event. Empty when there is no current span
/// or no OpenTelemetry layer (export not configured).
pub fn current_trace_context() -> BTreeMap<String, String> {
    let cx = tracing::Span::current().context();
    let mut carrier = BTreeMap::new();
    if cx.span().span_context().is_valid() {
        TraceContextPropagator::new().inject_context(&cx, &mut Carrier(&mut carrier));
    }
    carrier
}

/// Makes `span` a child of the trace carried in `ctx` (from [`current_trace_context`] in the
/// producing process). Call it before the span is first entered. Does nothing when `ctx`
/// holds no valid trace context or no OpenTelemetry layer is active.
pub fn set_parent(span: &tracing::Span, ctx: &BTreeMap<String, String>) {
    let parent = TraceContextPropagator::new().extract(&CarrierRef(ctx));
    if !parent.span().span_context().is_valid() {
        return;
    }
    if let Err(error) = span.set_parent(parent) {
        tracing::debug!(?error, "trace context not attached to span");
    }
}

struct Carrier<'a>(&'a mut BTreeMap<String, String>);
struct CarrierRef<'a>(&'a BTreeMap<String, String>);

impl Injector for Carrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_ascii_lowercase(), value);
    }
}

impl Extractor for CarrierRef<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use postern_config::LogFormat;
    use tracing_subscriber::EnvFilter;

    /// Runs `f` under the subscriber `init` installs, with an OpenTelemetry layer whose
    /// provider has no processor: spans get ids but go nowhere.
    fn with_otel<R>(f: impl FnOnce() -> R) -> R {
        let provider = SdkTracerProvider::builder().build();
        let subscriber = crate::init::subscriber(
            LogFormat::Json,
            EnvFilter::new("info"),
            std::io::sink,
            false,
            Some(provider.tracer("test")),
        );
        tracing::subscriber::with_default(subscriber, f)
    }

    fn trace_id(span: &tracing::Span) -> opentelemetry::trace::TraceId {
        span.context().span().span_context().trace_id()
    }

    #[test]
    fn context_round_trips_through_an_envelope() {
        with_otel(|| {
            let producer = tracing::info_span!("ingest.report.store");
            let (ctx, producer_trace) =
                producer.in_scope(|| (current_trace_context(), trace_id(&producer)));
            let traceparent = ctx.get("traceparent").expect("traceparent");
            // 00-<32 hex trace id>-<16 hex span id>-<flags>
            assert_eq!(traceparent.len(), 55, "{traceparent}");
            assert!(traceparent.starts_with("00-"), "{traceparent}");
            assert!(traceparent.contains(&producer_trace.to_string()));

            let consumer = tracing::info_span!("analysis.report.consume");
            set_parent(&consumer, &ctx);
            assert_eq!(trace_id(&consumer), producer_trace);
            // An unrelated span starts its own trace.
            assert_ne!(trace_id(&tracing::info_span!("other")), producer_trace);
        });
    }

    #[test]
    fn no_span_means_no_context() {
        with_otel(|| assert!(current_trace_context().is_empty()));
    }

    #[test]
    fn no_otel_layer_means_no_context_and_set_parent_is_harmless() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("x");
            span.in_scope(|| assert!(current_trace_context().is_empty()));
            let mut ctx = BTreeMap::new();
            ctx.insert(
                "traceparent".to_owned(),
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned(),
            );
            set_parent(&tracing::info_span!("y"), &ctx);
        });
    }

    #[test]
    fn garbage_context_is_ignored() {
        with_otel(|| {
            let mut ctx = BTreeMap::new();
            ctx.insert("traceparent".to_owned(), "not a traceparent".to_owned());
            let span = tracing::info_span!("consumer");
            set_parent(&span, &ctx);
            assert!(span.context().span().span_context().is_valid());
            let fresh = trace_id(&span);
            assert_ne!(fresh.to_string(), "00000000000000000000000000000000");
        });
    }
}
