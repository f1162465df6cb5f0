//! Bridges the synchronous, streaming parser (running on a blocking thread) to the async
//! storage side through a bounded channel, so memory stays bounded whatever the report size.

use postern_domain::{AggregateHeader, AggregateRecord, FailureReport, TlsReport};
use postern_mailauth::{AggregateEnd, Location, Rejection, ReportSink};
use tokio::sync::{mpsc, oneshot};

/// What the parser found, in order.
pub(crate) enum Found {
    Begin {
        at: String,
        header: Box<AggregateHeader>,
        reply: oneshot::Sender<bool>,
    },
    Records(Vec<AggregateRecord>),
    End(AggregateEnd),
    Failure {
        at: String,
        report: Box<FailureReport>,
        problems: Vec<String>,
    },
    Tls {
        at: String,
        report: Box<TlsReport>,
        problems: Vec<String>,
    },
    Rejected {
        at: String,
        rejection: Rejection,
    },
}

/// A [`ReportSink`] that forwards everything to the async side. Used only on a blocking
/// thread (`blocking_send` would panic on the executor).
pub(crate) struct ChannelSink {
    pub(crate) tx: mpsc::Sender<Found>,
}

impl ChannelSink {
    fn send(&self, found: Found) {
        // The receiver only goes away when the storing side failed; the parser then runs
        // to its end with nobody listening, which is harmless.
        let _ = self.tx.blocking_send(found);
    }
}

impl ReportSink for ChannelSink {
    fn aggregate_begin(&mut self, at: &Location, header: &AggregateHeader) -> bool {
        let (reply, answer) = oneshot::channel();
        self.send(Found::Begin {
            at: at.0.clone(),
            header: Box::new(header.clone()),
            reply,
        });
        answer.blocking_recv().unwrap_or(false)
    }

    fn aggregate_records(&mut self, records: Vec<AggregateRecord>) {
        self.send(Found::Records(records));
    }

    fn aggregate_end(&mut self, end: AggregateEnd) {
        self.send(Found::End(end));
    }

    fn failure(&mut self, at: &Location, report: FailureReport, problems: Vec<String>) {
        self.send(Found::Failure {
            at: at.0.clone(),
            report: Box::new(report),
            problems,
        });
    }

    fn tls(&mut self, at: &Location, report: TlsReport, problems: Vec<String>) {
        self.send(Found::Tls {
            at: at.0.clone(),
            report: Box::new(report),
            problems,
        });
    }

    fn rejected(&mut self, at: &Location, rejection: Rejection) {
        self.send(Found::Rejected {
            at: at.0.clone(),
            rejection,
        });
    }
}
