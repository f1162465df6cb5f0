//! The shape every DNS posture check answers with: a [`CheckReport`] per check (SPF,
//! DMARC, DKIM, MTA-STS, TLS-RPT, BIMI, MX), each with a status, the raw records it read,
//! its findings (stable dotted codes, severity, a message for people and, where there is
//! one, the exact record to publish) and check-specific details as JSON.
//!
//! Each check lives in its own module and is a plain `async fn` over a
//! [`postern_dns::Resolver`]; `postern check` and the analysis service run them side by
//! side and keep the reports as a snapshot.

pub mod bimi;
mod counting;
pub mod dkim;
pub mod dmarc;
mod domain;
pub mod mtasts;
pub mod mx;
pub mod spf;
mod tags;
pub mod tlsrpt;

pub use domain::{PostureOptions, PostureReport, check_domain};

use serde::Serialize;

/// Which check a report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    Spf,
    Dmarc,
    Dkim,
    MtaSts,
    TlsRpt,
    Bimi,
    Mx,
}

impl CheckKind {
    /// Every check, in the order reports are shown.
    pub const ALL: [CheckKind; 7] = [
        CheckKind::Mx,
        CheckKind::Spf,
        CheckKind::Dmarc,
        CheckKind::Dkim,
        CheckKind::MtaSts,
        CheckKind::TlsRpt,
        CheckKind::Bimi,
    ];

    /// The lower-case name, also the prefix of the check's finding codes (`mta_sts` →
    /// `mtasts.`).
    pub fn as_str(self) -> &'static str {
        match self {
            CheckKind::Spf => "spf",
            CheckKind::Dmarc => "dmarc",
            CheckKind::Dkim => "dkim",
            CheckKind::MtaSts => "mta_sts",
            CheckKind::TlsRpt => "tls_rpt",
            CheckKind::Bimi => "bimi",
            CheckKind::Mx => "mx",
        }
    }

    /// The area prefix of the check's finding codes (`spf`, `dmarc`, `dkim`, `mtasts`,
    /// `tlsrpt`, `bimi`, `mx`).
    pub fn code_area(self) -> &'static str {
        match self {
            CheckKind::MtaSts => "mtasts",
            CheckKind::TlsRpt => "tlsrpt",
            other => other.as_str(),
        }
    }
}

/// The overall verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    /// Published and right.
    Pass,
    /// Published and working, with findings worth fixing.
    Warn,
    /// Published but broken (receivers will ignore it or it does harm).
    Fail,
    /// Not published.
    Missing,
    /// Could not be determined (DNS timeout, server failure, fetch failed): never read as
    /// pass or missing.
    Unknown,
}

/// How bad a finding is; the same scale as issues and rule findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// The exact DNS record change that fixes a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordFix {
    /// Owner name, absolute without the trailing dot (`_dmarc.example.com`).
    pub name: String,
    /// Record type (`TXT`, `MX`, `CNAME`, ...).
    pub rtype: String,
    /// The record published now, when there is one to replace.
    pub current: Option<String>,
    /// The record to publish; `None` means delete `current`.
    pub suggested: Option<String>,
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostureFinding {
    /// Stable dotted code starting with the check's area (`dmarc.policy_none`,
    /// `dkim.key_too_short`, `mtasts.mx_not_covered`).
    pub code: String,
    pub severity: Severity,
    /// For people: what is wrong and why it matters.
    pub message: String,
    /// The record (or policy line) the finding is about, verbatim, when it is about one.
    pub subject: Option<String>,
    /// Byte position in `subject`, where one applies (syntax errors).
    pub position: Option<usize>,
    /// The record to publish instead, when the fix is a DNS change.
    pub fix: Option<RecordFix>,
}

impl PostureFinding {
    /// A finding without subject, position or fix.
    pub fn new(code: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            severity,
            message: message.into(),
            subject: None,
            position: None,
            fix: None,
        }
    }

    /// With the record the finding is about.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// With a byte position in the subject.
    pub fn at(mut self, position: usize) -> Self {
        self.position = Some(position);
        self
    }

    /// With the record change that fixes it.
    pub fn fix(mut self, fix: RecordFix) -> Self {
        self.fix = Some(fix);
        self
    }
}

/// What one check says about one domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckReport {
    pub check: CheckKind,
    pub status: CheckStatus,
    /// The raw records (or policy text) the check read, verbatim.
    pub records: Vec<String>,
    /// Most severe first.
    pub findings: Vec<PostureFinding>,
    /// Check-specific structured details (parsed tags, lookup counts, keys, MX hosts, ...).
    pub details: serde_json::Value,
    /// DNS queries (and HTTPS fetches) the check made.
    pub queries: u32,
}

impl CheckReport {
    /// A report with no records or findings yet.
    pub fn new(check: CheckKind) -> Self {
        Self {
            check,
            status: CheckStatus::Pass,
            records: Vec::new(),
            findings: Vec::new(),
            details: serde_json::Value::Null,
            queries: 0,
        }
    }

    /// Sorts findings most severe first and derives the status from them unless it was set
    /// to `Missing`, `Unknown` or `Fail` explicitly: any `High`/`Critical` finding → `Fail`,
    /// any `Low`/`Medium` → `Warn`, otherwise `Pass`.
    pub fn finish(mut self) -> Self {
        self.findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        if matches!(self.status, CheckStatus::Pass | CheckStatus::Warn) {
            let worst = self.findings.iter().map(|f| f.severity).max();
            self.status = match worst {
                Some(Severity::High | Severity::Critical) => CheckStatus::Fail,
                Some(Severity::Low | Severity::Medium) => CheckStatus::Warn,
                _ => CheckStatus::Pass,
            };
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_orders_findings_and_derives_the_status() {
        let mut report = CheckReport::new(CheckKind::Dmarc);
        report
            .findings
            .push(PostureFinding::new("dmarc.a", Severity::Low, "a"));
        report
            .findings
            .push(PostureFinding::new("dmarc.b", Severity::High, "b"));
        let report = report.finish();
        assert_eq!(report.status, CheckStatus::Fail);
        assert_eq!(report.findings[0].code, "dmarc.b");
    }

    #[test]
    fn finish_keeps_an_explicit_missing_or_unknown() {
        let mut report = CheckReport::new(CheckKind::Bimi);
        report.status = CheckStatus::Missing;
        assert_eq!(report.finish().status, CheckStatus::Missing);
        let mut report = CheckReport::new(CheckKind::Mx);
        report.status = CheckStatus::Unknown;
        report
            .findings
            .push(PostureFinding::new("mx.lookup_failed", Severity::Info, "x"));
        assert_eq!(report.finish().status, CheckStatus::Unknown);
    }

    #[test]
    fn code_areas_match_the_finding_prefixes() {
        assert_eq!(CheckKind::MtaSts.code_area(), "mtasts");
        assert_eq!(CheckKind::TlsRpt.code_area(), "tlsrpt");
        assert_eq!(CheckKind::Spf.code_area(), "spf");
    }
}
