//! Parsing of the reports Postern ingests: DMARC aggregate reports (RFC 7489, RFC 9990
//! and the drafts between), DMARC failure reports (RFC 6591 ARF / RFC 9991) and SMTP TLS
//! reports (RFC 8460).
//!
//! Pure: bytes in, reports out, no I/O, no clock. The type of an input is sniffed from
//! its content (never a file name): plain XML or JSON, gzip (any number of members,
//! nested), zip (every entry) and RFC 5322 messages with attachments in any transfer
//! encoding, nested up to [`Limits::max_nesting`]. Aggregate reports are parsed as a
//! stream and their records handed to a [`ReportSink`] in batches, so memory stays
//! bounded whatever the report size; decompression is held to
//! [`Limits::max_decompressed_bytes`] and DTD entity declarations are refused.
//!
//! A parser returns what it understood plus a list of problems: one bad record does not
//! fail its report. Every input yields at least one callback (a report or a
//! [`Rejection`] with a stable [`RejectReason::code`]), and no input makes it panic.
//!
//! [`spf`] evaluates SPF (RFC 7208) over a `postern_dns::Resolver`: parsing with error
//! positions, `check_host()` with the include/redirect tree and lookup counts, posture
//! findings, and a runner for the OpenSPF test suite.

mod aggregate;
mod container;
mod detect;
mod email;
mod failure;
mod limits;
pub mod posture;
mod rejection;
mod sink;
pub mod spf;
mod tls;
mod transcode;

pub use limits::Limits;
pub use rejection::{RejectReason, Rejection};
pub use sink::{AggregateEnd, Extracted, Location, ReportSink};

/// Parses one input and reports everything found to `sink`, in input order.
pub fn extract(bytes: &[u8], limits: &Limits, sink: &mut dyn ReportSink) {
    container::run(bytes, limits, sink);
}

/// Parses one input and collects everything found (for tests and benchmarks; it holds
/// all records in memory).
pub fn extract_all(bytes: &[u8], limits: &Limits) -> Vec<Extracted> {
    let mut collector = sink::Collector::default();
    extract(bytes, limits, &mut collector);
    collector.found
}
