//! The one error type of the crate.

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `telemetry.log_filter` is not a valid filter.
    #[error("invalid log filter")]
    Filter(#[source] tracing_subscriber::filter::ParseError),
    /// A global subscriber was already installed (telemetry initialised twice).
    #[error("telemetry is already initialised")]
    AlreadyInitialized(#[source] tracing_subscriber::util::TryInitError),
    /// OTLP export was asked for outside a tokio runtime.
    #[error("otlp export needs a tokio runtime: call init from within one")]
    NoRuntime,
    /// The OTLP exporter could not be built (bad endpoint URL, …).
    #[error("cannot set up otlp export")]
    Exporter(#[source] opentelemetry_otlp::ExporterBuildError),
}
