//! The plain row types of the public API, pagination and filters. No sea-orm type appears
//! here; `entity` converts.

use chrono::{DateTime, NaiveDate, Utc};
use postern_domain::{
    AggregateHeader, AggregateRecord, ApiTokenId, ClientId, DomainId, DomainName, EventId,
    FailureReport, MspId, RawInputId, RejectionId, ReportId, ReportKind, Role, TlsReport, UserId,
};
use serde::Serialize;
use std::net::IpAddr;
use uuid::Uuid;

mod blocklist;
mod bounce;
mod issue;
pub mod notify;
mod plugin;
mod posture;

pub(crate) use blocklist::parse_blocklist_target;
pub use blocklist::{
    BlocklistListing, BlocklistObservation, BlocklistOverride, BlocklistOverrideWithKey,
    BlocklistState, BlocklistTarget, BlocklistTargetKind, BlocklistTransition, BlocklistVerdict,
    KeyChange, NewBlocklistTarget, SetBlocklistOverride,
};
pub use bounce::{
    BatchOutcome, BounceBatch, BounceFilter, BounceGroup, BounceGroupBy, BounceKind, BounceOwner,
    BounceRecord, NewBounce, NewDelivery, ReasonCount, SendVolume, Suppression, SuppressionEvent,
    SuppressionFilter, normalize_address,
};
pub use issue::{Issue, IssueEvent, IssueEventKind, IssueFilter, IssueOutbox, ReconcileOutcome};
pub use plugin::{
    MAX_PLUGIN_BYTES, NewPluginFailure, NewRulePlugin, PluginFailureFilter, PluginFailureRecord,
    PluginUpload, RuleConfig, RulePlugin, RuleSetting,
};
pub use posture::{DnsSnapshot, NewDnsSnapshot};

/// The largest page a list returns, whatever the request asks for.
pub const MAX_PAGE_SIZE: u64 = 10_000;

/// One page of a list, newest first unless the method says otherwise.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// More rows follow the last item.
    pub has_next: bool,
}

/// Keyset pagination on ids (UUIDv7, so creation order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The last id of the previous page; `None` for the first page.
    pub after: Option<Uuid>,
    /// Rows wanted (capped at [`MAX_PAGE_SIZE`]).
    pub limit: u64,
}

impl PageRequest {
    /// The first `limit` rows.
    pub fn first(limit: u64) -> Self {
        Self { after: None, limit }
    }

    /// The `limit` rows after `id`.
    pub fn after(id: Uuid, limit: u64) -> Self {
        Self {
            after: Some(id),
            limit,
        }
    }

    pub(crate) fn capped(&self) -> u64 {
        self.limit.min(MAX_PAGE_SIZE)
    }

    /// Rows to fetch: one more than wanted tells whether a next page exists.
    pub(crate) fn fetch(&self) -> u64 {
        self.capped() + 1
    }

    /// Cuts rows fetched with [`fetch`](Self::fetch) into a page.
    pub(crate) fn page<T>(&self, mut rows: Vec<T>) -> Page<T> {
        let wanted = usize::try_from(self.capped()).unwrap_or(usize::MAX);
        let has_next = rows.len() > wanted;
        rows.truncate(wanted);
        Page {
            items: rows,
            has_next,
        }
    }
}

/// An MSP: the top of the tenancy tree.
#[derive(Clone, Debug, Serialize)]
pub struct Msp {
    pub id: MspId,
    pub name: String,
    /// Operates the installation: its owners and admins see unassigned input.
    pub operator: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Client {
    pub id: ClientId,
    pub msp_id: MspId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Domain {
    pub id: DomainId,
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub name: DomainName,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: UserId,
    /// Lower case.
    pub email: String,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Membership {
    /// The membership's own id (the cursor of member lists).
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub msp_id: MspId,
    /// `None`: the membership spans the whole MSP.
    pub client_id: Option<ClientId>,
    pub role: Role,
}

/// An API token without its hash.
#[derive(Clone, Debug, Serialize)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub msp_id: MspId,
    pub client_id: Option<ClientId>,
    pub role: Role,
    pub name: String,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What every kind of report has in common.
#[derive(Clone, Debug, Serialize)]
pub struct ReportSummary {
    pub id: ReportId,
    pub kind: ReportKind,
    /// `None` (with `client_id`): unassigned, nobody registered the domain yet.
    pub msp_id: Option<MspId>,
    pub client_id: Option<ClientId>,
    /// The policy domain the report is about (lower case).
    pub domain: String,
    pub domain_id: Option<DomainId>,
    pub org_name: String,
    /// The reporter's report id.
    pub external_id: String,
    pub date_begin: DateTime<Utc>,
    pub date_end: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// Aggregate: records; TLS: policies; failure: 1.
    pub record_count: u64,
    /// Aggregate: messages; TLS: sessions; failure: 1.
    pub message_count: u64,
    pub raw_input_id: RawInputId,
}

#[derive(Clone, Debug, Serialize)]
pub struct AggregateDetail {
    pub header: AggregateHeader,
    /// What the parser noticed but did not reject.
    pub problems: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StoredRecord {
    pub id: Uuid,
    pub record: AggregateRecord,
}

#[derive(Clone, Debug, Serialize)]
pub struct FailureDetail {
    pub report: FailureReport,
}

#[derive(Clone, Debug, Serialize)]
pub struct TlsDetail {
    pub report: TlsReport,
}

/// A part of an input that could not be stored as a report, with why.
#[derive(Clone, Debug, Serialize)]
pub struct Rejection {
    pub id: RejectionId,
    pub raw_input_id: RawInputId,
    pub msp_id: Option<MspId>,
    pub client_id: Option<ClientId>,
    /// The policy domain, when the input got far enough to name one.
    pub domain: Option<String>,
    pub source: String,
    pub location: String,
    /// A stable reason code.
    pub reason: String,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

/// Metadata of stored input bytes (the bytes come separately).
#[derive(Clone, Debug, Serialize)]
pub struct RawInput {
    pub id: RawInputId,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    pub size: u64,
    pub first_received_at: DateTime<Utc>,
    pub content_type: Option<String>,
    /// Where the bytes first came from.
    pub source: String,
}

/// Message counts of a domain over some days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DailySummary {
    pub messages: u64,
    pub dmarc_pass: u64,
    pub dmarc_fail: u64,
    pub spf_aligned_pass: u64,
    pub dkim_aligned_pass: u64,
    pub disposition_none: u64,
    pub disposition_quarantine: u64,
    pub disposition_reject: u64,
    pub disposition_pass: u64,
}

impl DailySummary {
    /// Adds `other` field by field (saturating).
    pub fn add(&mut self, other: &DailySummary) {
        self.messages = self.messages.saturating_add(other.messages);
        self.dmarc_pass = self.dmarc_pass.saturating_add(other.dmarc_pass);
        self.dmarc_fail = self.dmarc_fail.saturating_add(other.dmarc_fail);
        self.spf_aligned_pass = self.spf_aligned_pass.saturating_add(other.spf_aligned_pass);
        self.dkim_aligned_pass = self
            .dkim_aligned_pass
            .saturating_add(other.dkim_aligned_pass);
        self.disposition_none = self.disposition_none.saturating_add(other.disposition_none);
        self.disposition_quarantine = self
            .disposition_quarantine
            .saturating_add(other.disposition_quarantine);
        self.disposition_reject = self
            .disposition_reject
            .saturating_add(other.disposition_reject);
        self.disposition_pass = self.disposition_pass.saturating_add(other.disposition_pass);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DaySummary {
    pub day: NaiveDate,
    pub summary: DailySummary,
}

/// A sending source of a domain over some days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SourceStats {
    pub source_ip: IpAddr,
    pub messages: u64,
    pub dmarc_pass: u64,
    pub spf_aligned_pass: u64,
    pub dkim_aligned_pass: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub reverse_dns: Option<String>,
}

/// What one report adds to a source's day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SourceDelta {
    pub messages: u64,
    pub dmarc_pass: u64,
    pub spf_aligned_pass: u64,
    pub dkim_aligned_pass: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl SourceDelta {
    /// Adds the counters of `other` and widens the seen period to cover both.
    pub fn add(&mut self, other: &SourceDelta) {
        self.messages = self.messages.saturating_add(other.messages);
        self.dmarc_pass = self.dmarc_pass.saturating_add(other.dmarc_pass);
        self.spf_aligned_pass = self.spf_aligned_pass.saturating_add(other.spf_aligned_pass);
        self.dkim_aligned_pass = self
            .dkim_aligned_pass
            .saturating_add(other.dkim_aligned_pass);
        self.first_seen = self.first_seen.min(other.first_seen);
        self.last_seen = self.last_seen.max(other.last_seen);
    }
}

/// TLS-RPT session counts of a domain over a window (all policies of its TLS reports).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TlsTotals {
    /// TLS reports counted.
    pub reports: u64,
    pub successful: u64,
    pub failed: u64,
    /// Failed sessions by result type, most first.
    pub failures: Vec<TlsFailureTotal>,
}

/// Failed TLS sessions of one result type (`certificate-expired`, …).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TlsFailureTotal {
    pub result_type: String,
    pub sessions: u64,
}

/// An event for the bus, written in the same transaction as its data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxEvent {
    pub id: EventId,
    pub topic: String,
    /// Opaque bytes (encoded by postern-bus).
    pub payload: Vec<u8>,
}

/// Which reports a list shows. All fields narrow the list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFilter {
    pub client: Option<ClientId>,
    /// Policy domain name (case-insensitive).
    pub domain: Option<String>,
    /// Reports whose period `[date_begin, date_end]` overlaps `[from, to]`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<ReportKind>,
}

/// Canonical form of a domain as reports name it: trimmed, lower case, no trailing dot.
pub(crate) fn normalize_domain(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_reports_a_next_page_only_when_rows_remain() {
        let request = PageRequest::first(2);
        assert_eq!(request.fetch(), 3);
        let page = request.page(vec![1, 2, 3]);
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.has_next);
        let page = request.page(vec![1, 2]);
        assert!(!page.has_next);
    }

    #[test]
    fn page_of_zero_rows_still_says_whether_rows_exist() {
        let request = PageRequest::first(0);
        let page = request.page(vec![1]);
        assert!(page.items.is_empty());
        assert!(page.has_next);
    }

    #[test]
    fn page_size_is_capped() {
        assert_eq!(PageRequest::first(u64::MAX).fetch(), MAX_PAGE_SIZE + 1);
    }

    #[test]
    fn source_delta_widens_the_seen_period() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let mut a = SourceDelta {
            messages: 1,
            dmarc_pass: 1,
            spf_aligned_pass: 0,
            dkim_aligned_pass: 1,
            first_seen: t(100),
            last_seen: t(200),
        };
        a.add(&SourceDelta {
            messages: 2,
            dmarc_pass: 0,
            spf_aligned_pass: 2,
            dkim_aligned_pass: 0,
            first_seen: t(50),
            last_seen: t(150),
        });
        assert_eq!((a.messages, a.spf_aligned_pass), (3, 2));
        assert_eq!((a.first_seen, a.last_seen), (t(50), t(200)));
    }

    #[test]
    fn domains_are_normalized_like_domain_names() {
        assert_eq!(normalize_domain(" Example.COM. "), "example.com");
    }
}
