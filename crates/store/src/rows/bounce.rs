//! Rows of bounces, send volume and the suppression list. Ids of bounces and suppressions
//! are plain UUIDv7s (time-ordered); tenants are always the postern-domain newtypes.

use chrono::{DateTime, NaiveDate, Utc};
use postern_domain::{ClientId, DomainId, MspId, RawInputId, UserId};
use serde::Serialize;
use uuid::Uuid;

/// What a bounce row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceKind {
    /// Refused for good (or given up on).
    Bounced,
    /// Refused for now; the sender retries.
    Deferred,
    /// The recipient complained (feedback report, ESP complaint event).
    Complained,
}

/// The client a bounce belongs to, and the client's domain that sent it when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BounceOwner {
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub domain_id: Option<DomainId>,
}

/// A bounce to store (one recipient).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBounce {
    /// A fresh UUIDv7.
    pub id: Uuid,
    /// `None`: kept unassigned, `unassigned_reason` says why.
    pub owner: Option<BounceOwner>,
    pub unassigned_reason: Option<String>,
    pub kind: BounceKind,
    pub recipient: String,
    pub recipient_domain: String,
    pub status: Option<String>,
    pub reply_code: Option<u16>,
    pub diagnostic: String,
    pub remote_host: Option<String>,
    pub reporting_mta: Option<String>,
    pub time: DateTime<Utc>,
    pub original_message_id: Option<String>,
    pub sending_ip: Option<String>,
    pub command: Option<String>,
    pub action: Option<String>,
    pub evidence: Option<String>,
    pub feedback_type: Option<String>,
    pub hard: bool,
    /// Sisimai reason name (`userunknown`, ...).
    pub reason: String,
    /// `mail`, `ses`, `postfix`, ...
    pub provider: String,
    pub provider_event_id: Option<String>,
    pub campaign: Option<String>,
    /// Lower case.
    pub sender_domain: Option<String>,
    /// What makes it the same bounce when it comes again (unique).
    pub dedup_key: String,
    /// Put the recipient on the owner's suppression list at once (hard bounces, complaints).
    pub suppress: bool,
    /// Count it in the owner's send volume (delivery events; not bounce mail).
    pub count_volume: bool,
}

/// A delivery that leaves no bounce row: it only adds to sent volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewDelivery {
    pub dedup_key: String,
    pub owner: Option<BounceOwner>,
    pub sender_domain: Option<String>,
    pub provider: String,
    pub time: DateTime<Utc>,
}

/// Everything one input gave, stored in one transaction.
#[derive(Clone, Debug)]
pub struct BounceBatch {
    pub raw_input_id: RawInputId,
    pub received_at: DateTime<Utc>,
    pub bounces: Vec<NewBounce>,
    pub deliveries: Vec<NewDelivery>,
}

/// What storing a [`BounceBatch`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BatchOutcome {
    /// Ids (from the batch) of the bounces stored; the others were duplicates.
    pub stored: Vec<Uuid>,
    /// Dedup keys of the batch's bounces that were stored before.
    pub duplicates: Vec<String>,
    /// Deliveries counted now, and ones counted before.
    pub deliveries_new: u64,
    pub deliveries_duplicate: u64,
    /// Dedup keys of the batch's deliveries that were counted before.
    pub duplicate_deliveries: Vec<String>,
    /// Addresses put on (or back on) a suppression list.
    pub suppressed: u64,
}

/// A stored bounce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BounceRecord {
    pub id: Uuid,
    pub msp_id: Option<MspId>,
    pub client_id: Option<ClientId>,
    pub domain_id: Option<DomainId>,
    pub raw_input_id: RawInputId,
    pub unassigned_reason: Option<String>,
    pub kind: BounceKind,
    pub recipient: String,
    pub recipient_domain: String,
    pub status: Option<String>,
    pub reply_code: Option<u16>,
    pub diagnostic: String,
    pub remote_host: Option<String>,
    pub reporting_mta: Option<String>,
    pub time: DateTime<Utc>,
    pub original_message_id: Option<String>,
    pub sending_ip: Option<String>,
    pub command: Option<String>,
    pub action: Option<String>,
    pub evidence: Option<String>,
    pub feedback_type: Option<String>,
    pub hard: bool,
    pub reason: String,
    pub provider: String,
    pub provider_event_id: Option<String>,
    pub campaign: Option<String>,
    pub sender_domain: Option<String>,
    pub received_at: DateTime<Utc>,
}

/// Which bounces a list shows. Every field narrows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BounceFilter {
    pub client: Option<ClientId>,
    /// The client's sending domain the bounce was routed by.
    pub domain: Option<DomainId>,
    /// Lower case.
    pub recipient_domain: Option<String>,
    pub reason: Option<String>,
    pub hard: Option<bool>,
    pub kind: Option<BounceKind>,
    /// `time >= since`.
    pub since: Option<DateTime<Utc>>,
    /// `time < until`.
    pub until: Option<DateTime<Utc>>,
}

/// What [`crate::TenantDb::bounce_groups_by`] groups bounces by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum BounceGroupBy {
    /// The recipient's domain.
    #[default]
    RecipientDomain,
    /// The campaign (a configured header of the original message or an ESP tag).
    Campaign,
    /// The address the message was sent from.
    SendingIp,
}

/// Bounces of one recipient domain (or campaign, or sending address) over a window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BounceGroup {
    /// The recipient domain; empty unless grouped by recipient domain.
    pub recipient_domain: String,
    /// The value grouped by: the recipient domain, campaign or sending address; `None` for
    /// the bounces that carry no campaign (or no sending address).
    pub key: Option<String>,
    pub total: u64,
    pub hard: u64,
    pub soft: u64,
    /// Distinct recipient addresses.
    pub addresses: u64,
    /// Distinct recipient domains.
    pub recipient_domains: u64,
    /// One host that answered for the group's recipients (the greatest name), when known.
    pub remote_host: Option<String>,
    /// Reasons, most frequent first.
    pub reasons: Vec<ReasonCount>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// How often one reason occurred.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// Send volume of one client's sender domain on one day from one provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SendVolume {
    pub client_id: ClientId,
    pub sender_domain: String,
    pub day: NaiveDate,
    pub provider: String,
    pub delivered: u64,
    pub deferred: u64,
    pub bounced: u64,
    pub complaints: u64,
}

/// One address of a client's suppression list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Suppression {
    pub id: Uuid,
    pub msp_id: MspId,
    pub client_id: ClientId,
    /// Lower case.
    pub address: String,
    pub reason: String,
    /// The bounce that put it there, if a bounce did.
    pub source_bounce_id: Option<Uuid>,
    pub suppressed_at: DateTime<Utc>,
    pub suppressed_by: Option<UserId>,
    /// `None`: suppressed now.
    pub restored_at: Option<DateTime<Utc>>,
    pub restored_by: Option<UserId>,
    pub restore_reason: Option<String>,
}

/// One entry of a suppression's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SuppressionEvent {
    pub id: Uuid,
    pub suppression_id: Uuid,
    pub address: String,
    /// `suppressed` or `restored`.
    pub action: String,
    pub reason: String,
    pub bounce_id: Option<Uuid>,
    pub actor_id: Option<UserId>,
    pub at: DateTime<Utc>,
}

/// Which suppressions a list shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SuppressionFilter {
    pub client: Option<ClientId>,
    /// Only addresses suppressed now (default) or also restored ones.
    pub include_restored: bool,
    /// Addresses containing this text (case-insensitive).
    pub address_contains: Option<String>,
}

impl BounceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BounceKind::Bounced => "bounced",
            BounceKind::Deferred => "deferred",
            BounceKind::Complained => "complained",
        }
    }

    pub fn parse(s: &str) -> Option<BounceKind> {
        match s {
            "bounced" => Some(BounceKind::Bounced),
            "deferred" => Some(BounceKind::Deferred),
            "complained" => Some(BounceKind::Complained),
            _ => None,
        }
    }
}

impl Suppression {
    /// Suppressed now (not restored).
    pub fn is_active(&self) -> bool {
        self.restored_at.is_none()
    }
}

/// An address as suppression lists keep it: trimmed, without angle brackets, lower case.
/// `None` when it is not `local@domain`.
pub fn normalize_address(address: &str) -> Option<String> {
    let a = address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_lowercase();
    let (local, domain) = a.rsplit_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && a.len() <= 320
        && !a.chars().any(|c| c.is_whitespace() || c.is_control());
    valid.then_some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_and_checked() {
        assert_eq!(
            normalize_address(" <Jane@Example.COM> ").as_deref(),
            Some("jane@example.com")
        );
        assert_eq!(normalize_address("no-at-sign"), None);
        assert_eq!(normalize_address("@example.com"), None);
        assert_eq!(normalize_address("a b@example.com"), None);
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [
            BounceKind::Bounced,
            BounceKind::Deferred,
            BounceKind::Complained,
        ] {
            assert_eq!(BounceKind::parse(kind.as_str()), Some(kind));
        }
    }
}
