//! Logging and tracing for every Postern binary: `tracing` to stderr as readable lines or
//! JSON, and OpenTelemetry export over OTLP/HTTP when, and only when, a collector endpoint
//! is configured.
//!
//! Call [`init`] once in `main` and keep the [`TelemetryGuard`] until exit; dropping it
//! flushes the spans still buffered. Trace context crosses process boundaries (the event
//! bus) as W3C `traceparent` entries: [`current_trace_context`] captures it into an event
//! envelope, [`set_parent`] continues it in the consumer.

mod context;
mod error;
mod init;

pub use context::{current_trace_context, set_parent};
pub use error::TelemetryError;
pub use init::{TelemetryGuard, init};
