//! What the parser hands out: the [`ReportSink`] callbacks, and [`Extracted`] for callers
//! that simply want everything in a `Vec`.

use crate::rejection::Rejection;
use postern_domain::{AggregateHeader, AggregateRecord, FailureReport, TlsReport};

/// Where in the input a report or rejection was found: `body`, `body/gzip`,
/// `body/part 2 (report.xml.gz)/gzip`, `body/zip entry a.xml`, …
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location(pub String);

/// How an aggregate report ended. Every [`ReportSink::aggregate_begin`] is followed by
/// exactly one `aggregate_end`.
#[derive(Clone, Debug, PartialEq)]
pub enum AggregateEnd {
    /// The report was read to its end. `records` and `messages` count the records handed
    /// to the sink and the sum of their counts; `problems` lists what was skipped or
    /// not understood. After `aggregate_begin` returned `false` this comes at once with
    /// zero counts and nothing more of the report is read.
    Complete {
        records: u64,
        messages: u64,
        problems: Vec<String>,
    },
    /// A structural error after `aggregate_begin` (truncated stream, invalid XML, too many
    /// records, a decompression limit): the sink must discard what it got for this report.
    /// The rejection is not reported again through [`ReportSink::rejected`].
    Aborted(Rejection),
}

/// Receives what [`crate::extract`] finds, in input order. An aggregate report arrives as
/// `aggregate_begin`, zero or more `aggregate_records` batches, then `aggregate_end`;
/// nothing else is called in between.
pub trait ReportSink {
    /// The header of an aggregate report was read (and at least one usable record, or the
    /// report's end). Return `false` to skip its records (a duplicate, say).
    fn aggregate_begin(&mut self, at: &Location, header: &AggregateHeader) -> bool;
    /// A batch of at most [`crate::Limits::record_batch`] records.
    fn aggregate_records(&mut self, records: Vec<AggregateRecord>);
    /// The report ended; see [`AggregateEnd`].
    fn aggregate_end(&mut self, end: AggregateEnd);
    /// A failure report (RFC 6591 ARF / RFC 9991) with the problems met reading it.
    fn failure(&mut self, at: &Location, report: FailureReport, problems: Vec<String>);
    /// An SMTP TLS report (RFC 8460) with the problems met reading it.
    fn tls(&mut self, at: &Location, report: TlsReport, problems: Vec<String>);
    /// An input or a part of it is not a usable report.
    fn rejected(&mut self, at: &Location, rejection: Rejection);
}

/// One thing [`crate::extract_all`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum Extracted {
    Aggregate {
        at: Location,
        header: AggregateHeader,
        records: Vec<AggregateRecord>,
        problems: Vec<String>,
    },
    Failure {
        at: Location,
        report: FailureReport,
        problems: Vec<String>,
    },
    Tls {
        at: Location,
        report: TlsReport,
        problems: Vec<String>,
    },
    /// Also what an aborted aggregate report becomes.
    Rejected { at: Location, rejection: Rejection },
}

/// The sink behind [`crate::extract_all`].
#[derive(Default)]
pub(crate) struct Collector {
    pub(crate) found: Vec<Extracted>,
    open: Option<(Location, AggregateHeader, Vec<AggregateRecord>)>,
}

impl Location {
    pub(crate) fn body() -> Self {
        Location("body".to_owned())
    }

    /// The location of something inside this one.
    pub(crate) fn child(&self, segment: &str) -> Self {
        Location(format!("{}/{}", self.0, segment))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl ReportSink for Collector {
    fn aggregate_begin(&mut self, at: &Location, header: &AggregateHeader) -> bool {
        self.open = Some((at.clone(), header.clone(), Vec::new()));
        true
    }

    fn aggregate_records(&mut self, mut records: Vec<AggregateRecord>) {
        if let Some((_, _, all)) = self.open.as_mut() {
            all.append(&mut records);
        }
    }

    fn aggregate_end(&mut self, end: AggregateEnd) {
        let Some((at, header, records)) = self.open.take() else {
            return;
        };
        self.found.push(match end {
            AggregateEnd::Complete { problems, .. } => Extracted::Aggregate {
                at,
                header,
                records,
                problems,
            },
            AggregateEnd::Aborted(rejection) => Extracted::Rejected { at, rejection },
        });
    }

    fn failure(&mut self, at: &Location, report: FailureReport, problems: Vec<String>) {
        self.found.push(Extracted::Failure {
            at: at.clone(),
            report,
            problems,
        });
    }

    fn tls(&mut self, at: &Location, report: TlsReport, problems: Vec<String>) {
        self.found.push(Extracted::Tls {
            at: at.clone(),
            report,
            problems,
        });
    }

    fn rejected(&mut self, at: &Location, rejection: Rejection) {
        self.found.push(Extracted::Rejected {
            at: at.clone(),
            rejection,
        });
    }
}
