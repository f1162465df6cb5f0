//! `init` in a process of its own: the global subscriber can be installed once.

use postern_config::{LogFormat, TelemetryConfig};
use postern_telemetry::{TelemetryError, current_trace_context, init};

#[test]
fn json_init_works_once_and_a_second_init_is_an_error() {
    let config = TelemetryConfig {
        log_format: LogFormat::Json,
        log_filter: "debug".into(),
        ..TelemetryConfig::default()
    };
    let guard = init("postern-test", &config).unwrap();
    assert!(!guard.exporting());
    tracing::info!(answer = 42, "telemetry up");
    // Without an endpoint there is no OpenTelemetry layer, so no context to propagate.
    tracing::info_span!("x").in_scope(|| assert!(current_trace_context().is_empty()));

    let again = init("postern-test", &TelemetryConfig::default());
    assert!(matches!(again, Err(TelemetryError::AlreadyInitialized(_))));
    drop(guard);
}
