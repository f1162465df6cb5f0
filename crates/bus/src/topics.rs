//! Topic names. Each topic carries exactly one payload message type from [`crate::events`].

/// A report was stored; payload [`crate::events::ReportIngested`].
pub const REPORT_INGESTED: &str = "report.ingested";
/// A client registered a domain; payload [`crate::events::DomainAdded`].
pub const DOMAIN_ADDED: &str = "domain.added";
/// A client removed a domain; payload [`crate::events::DomainRemoved`].
pub const DOMAIN_REMOVED: &str = "domain.removed";
/// An issue changed (one event per history entry); payload [`crate::events::IssueChanged`].
pub const ISSUE_CHANGED: &str = "issue.changed";
/// Bounces or delivery events were stored; payload [`crate::events::BouncesReceived`].
pub const BOUNCES_RECEIVED: &str = "bounces.received";
/// A blocklist started listing a watched target; payload [`crate::events::BlocklistChanged`].
pub const BLOCKLIST_LISTED: &str = "blocklist.listed";
/// A blocklist stopped listing a watched target; payload [`crate::events::BlocklistChanged`].
pub const BLOCKLIST_DELISTED: &str = "blocklist.delisted";
