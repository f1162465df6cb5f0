//! Where a received message goes: DMARC and TLS reports to report ingestion, everything
//! else (bounces, DSNs, complaints, and mail that is none of these, kept as unclassified)
//! to bounce ingestion. Decided by content; the intake address breaks a tie.

use super::server::{MailSink, ReceivedMail};
use crate::bounce::{BOUNCE_LOCAL_PART, MailEnvelope};
use crate::error::IngestError;
use crate::pipeline::{Ingestor, Source};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postern_domain::{AggregateHeader, FailureReport, RawInputId, TenantScope, TlsReport};
use postern_mailauth::{AggregateEnd, Limits, Location, Rejection, ReportSink};

/// Hands received messages to the [`Ingestor`].
#[derive(Clone)]
pub struct IngestRouter {
    ingestor: Ingestor,
}

/// Which ingestion a message goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Report,
    Bounce,
}

/// A report sink that only notes whether any report is there (aggregate records are
/// skipped, not collected).
#[derive(Default)]
struct Detector {
    found: bool,
}

impl IngestRouter {
    pub fn new(ingestor: Ingestor) -> Self {
        Self { ingestor }
    }
}

impl IngestRouter {
    /// Routes one received message by its content (the envelope's addresses break a tie)
    /// to report or bounce ingestion and stores it: the one path of the SMTP listener and
    /// the IMAP pull. `uploader` limits the reports to what that scope reaches. `Err` only
    /// when storing failed.
    pub(crate) async fn dispatch(
        &self,
        bytes: Vec<u8>,
        envelope: MailEnvelope,
        source: Source,
        uploader: Option<TenantScope>,
        received_at: DateTime<Utc>,
    ) -> Result<(Route, RawInputId), IngestError> {
        let hint = address_hint(&envelope.rcpt_to);
        let limits = self.ingestor.settings().limits.clone();
        let (bytes, route) = tokio::task::spawn_blocking(move || {
            let route = route(&bytes, &limits, hint);
            (bytes, route)
        })
        .await
        .map_err(|e| IngestError::Parser(e.to_string()))?;
        let id = match route {
            Route::Report => {
                self.ingestor
                    .ingest(bytes, None, source, uploader, received_at)
                    .await?
                    .input
                    .id
            }
            Route::Bounce => {
                self.ingestor
                    .ingest_bounce_mail(bytes, &envelope, source, received_at)
                    .await?
                    .input
                    .id
            }
        };
        Ok((route, id))
    }
}

#[async_trait]
impl MailSink for IngestRouter {
    async fn deliver(&self, mail: ReceivedMail) -> Result<String, IngestError> {
        let source = Source::Mail(format!("smtp:{}", mail.peer.ip()));
        let envelope = MailEnvelope {
            mail_from: (!mail.mail_from.is_empty()).then_some(mail.mail_from),
            rcpt_to: mail.rcpt_to,
        };
        let (_, id) = self
            .dispatch(mail.bytes, envelope, source, None, mail.received_at)
            .await?;
        Ok(id.to_string())
    }
}

impl ReportSink for Detector {
    fn aggregate_begin(&mut self, _: &Location, _: &AggregateHeader) -> bool {
        self.found = true;
        false
    }
    fn aggregate_records(&mut self, _: Vec<postern_domain::AggregateRecord>) {}
    fn aggregate_end(&mut self, _: AggregateEnd) {}
    fn failure(&mut self, _: &Location, _: FailureReport, _: Vec<String>) {
        self.found = true;
    }
    fn tls(&mut self, _: &Location, _: TlsReport, _: Vec<String>) {
        self.found = true;
    }
    fn rejected(&mut self, _: &Location, _: Rejection) {}
}

/// What the recipient addresses suggest: `bounces+key@` → bounce; `dmarc@`, `reports@`,
/// `rua@`, `ruf@`, `tlsrpt@` → report.
pub(crate) fn address_hint(rcpt_to: &[String]) -> Option<Route> {
    rcpt_to.iter().find_map(|address| {
        let local = address
            .rsplit_once('@')
            .map_or(address.as_str(), |(l, _)| l);
        let base = local
            .split('+')
            .next()
            .unwrap_or(local)
            .to_ascii_lowercase();
        match base.as_str() {
            b if b == BOUNCE_LOCAL_PART || b == "bounce" => Some(Route::Bounce),
            "dmarc" | "reports" | "rua" | "ruf" | "tlsrpt" | "dmarc-reports" => Some(Route::Report),
            _ => None,
        }
    })
}

/// Decides by content: a message holding a report goes to report ingestion, unless it is
/// also a bounce (a DSN returning a report it could not deliver), where the address
/// decides and bounce wins without one. DMARC failure reports are ARF messages the bounce
/// parser reads as `auth-failure` feedback; they count as reports.
pub(crate) fn route(bytes: &[u8], limits: &Limits, hint: Option<Route>) -> Route {
    let mut detector = Detector::default();
    postern_mailauth::extract(bytes, limits, &mut detector);
    if !detector.found {
        return Route::Bounce;
    }
    let is_bounce = postern_bounce::classify_message(bytes).is_ok_and(|bounces| {
        bounces
            .iter()
            .any(|b| b.feedback_type.as_deref() != Some("auth-failure"))
    });
    match (is_bounce, hint) {
        (false, _) | (true, Some(Route::Report)) => Route::Report,
        (true, _) => Route::Bounce,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn corpus(rel: &str) -> Vec<u8> {
        let root = std::env::var_os("POSTERN_CORPORA").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"),
            PathBuf::from,
        );
        std::fs::read(root.join(rel)).unwrap()
    }

    #[test]
    fn reports_go_to_report_ingestion_whatever_the_address() {
        let limits = Limits::default();
        for rel in [
            "parsedmarc-samples/samples/aggregate/twilight.eml",
            "parsedmarc-samples/samples/smtp_tls/google.com_smtp_tls_report.eml",
        ] {
            let bytes = corpus(rel);
            assert_eq!(route(&bytes, &limits, None), Route::Report, "{rel}");
            assert_eq!(
                route(&bytes, &limits, Some(Route::Bounce)),
                Route::Report,
                "{rel}"
            );
        }
    }

    #[test]
    fn bounces_and_other_mail_go_to_bounce_ingestion() {
        let limits = Limits::default();
        let dsn = corpus("sisimai-set-of-emails/maildir/bsd/lhost-postfix-01.eml");
        assert_eq!(route(&dsn, &limits, Some(Route::Report)), Route::Bounce);
        let plain = b"From: a@b.example\r\nSubject: hello\r\n\r\nhi\r\n";
        assert_eq!(route(plain, &limits, Some(Route::Report)), Route::Bounce);
    }

    #[test]
    fn the_address_hints_by_its_local_part() {
        let hint = |a: &str| address_hint(&[a.to_owned()]);
        assert_eq!(hint("bounces+k3y@intake.example"), Some(Route::Bounce));
        assert_eq!(hint("DMARC@intake.example"), Some(Route::Report));
        assert_eq!(hint("tlsrpt+acme@intake.example"), Some(Route::Report));
        assert_eq!(hint("someone@intake.example"), None);
        assert_eq!(hint("postmaster"), None);
    }
}
