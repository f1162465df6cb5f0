//! The row types of blocklist monitoring: the targets a client watches, each MSP's
//! overrides of the list catalogue, the latest verdict per (target, list), the listing
//! history and the transitions a recorded check produced.
//!
//! Verdict details (codes with meanings, TXT, the reason of an unknown) are JSON the
//! monitor wrote (`postern_blocklist::ListingState` serialized); the store reads only the
//! verdict word.

use chrono::{DateTime, Utc};
use postern_domain::{ClientId, MspId, UserId};
use serde::Serialize;
use std::fmt;
use uuid::Uuid;

/// Whether a target is an IP address or a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum BlocklistTargetKind {
    Ip,
    Domain,
}

/// An IP address or domain a client watches on blocklists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlocklistTarget {
    pub id: Uuid,
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub kind: BlocklistTargetKind,
    /// The address in canonical form, or the lower-case domain without trailing dot.
    pub value: String,
    /// Why it is watched, for people.
    pub note: String,
    pub created_at: DateTime<Utc>,
}

/// A target to add: an IP address or a domain name (kind found from the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBlocklistTarget {
    pub value: String,
    pub note: String,
}

/// A list's verdict, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum BlocklistVerdict {
    Listed,
    Clear,
    /// No trustworthy answer: never read as clear; an open listing stays open.
    Unknown,
}

/// One list's verdict on one target, to record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlocklistObservation {
    pub list_id: String,
    pub verdict: BlocklistVerdict,
    /// Codes with meanings, TXT, reason of unknown (the monitor's JSON).
    pub detail: serde_json::Value,
}

/// The latest verdict of one list on one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlocklistState {
    pub target_id: Uuid,
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub list_id: String,
    pub verdict: BlocklistVerdict,
    pub detail: serde_json::Value,
    /// When the verdict became what it is.
    pub since: DateTime<Utc>,
    /// When it was last confirmed.
    pub checked_at: DateTime<Utc>,
}

/// One period during which a list listed a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlocklistListing {
    pub id: Uuid,
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub target_id: Uuid,
    pub list_id: String,
    pub since: DateTime<Utc>,
    /// `None`: still listed.
    pub until: Option<DateTime<Utc>>,
    /// The verdict's detail when the listing was first seen.
    pub detail: serde_json::Value,
}

/// What changed when a check was recorded: the caller publishes these as events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum BlocklistTransition {
    /// A list started listing the target.
    Listed {
        target: BlocklistTarget,
        listing: BlocklistListing,
    },
    /// A list that listed the target now answers clear (an unknown answer never delists).
    Delisted {
        target: BlocklistTarget,
        listing: BlocklistListing,
    },
}

/// One MSP's override of one catalogue list, without its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlocklistOverride {
    pub msp_id: MspId,
    pub list_id: String,
    /// `None`: the catalogue's choice.
    pub enabled: Option<bool>,
    /// A patch of the list's definition or a whole list of the MSP's own
    /// (`postern_blocklist::ListPatch` as JSON).
    pub patch: Option<serde_json::Value>,
    /// A key of a keyed zone is set (it is never read back through a tenant).
    pub has_key: bool,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

/// An override with its key, for the monitoring job only.
#[derive(Clone, PartialEq, Eq)]
pub struct BlocklistOverrideWithKey {
    pub row: BlocklistOverride,
    pub key: Option<String>,
}

/// What to change of an override; fields left `None` keep their value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetBlocklistOverride {
    pub list_id: String,
    /// `Some(None)`: back to the catalogue's choice.
    pub enabled: Option<Option<bool>>,
    /// `Some(None)`: no patch.
    pub patch: Option<Option<serde_json::Value>>,
    pub key: KeyChange,
}

/// What happens to an override's key.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum KeyChange {
    #[default]
    Keep,
    Set(String),
    Remove,
}

impl BlocklistTargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Domain => "domain",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ip" => Some(Self::Ip),
            "domain" => Some(Self::Domain),
            _ => None,
        }
    }
}

impl BlocklistVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Listed => "listed",
            Self::Clear => "clear",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "listed" => Some(Self::Listed),
            "clear" => Some(Self::Clear),
            "unknown" => Some(Self::Unknown),
            _ => None,
        }
    }
}

impl BlocklistTransition {
    /// The listing opened or closed.
    pub fn listing(&self) -> &BlocklistListing {
        match self {
            Self::Listed { listing, .. } | Self::Delisted { listing, .. } => listing,
        }
    }
}

impl fmt::Debug for BlocklistOverrideWithKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlocklistOverrideWithKey")
            .field("row", &self.row)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl fmt::Debug for KeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keep => "Keep",
            Self::Set(_) => "Set(<redacted>)",
            Self::Remove => "Remove",
        })
    }
}

/// Reads a target: an IP address (canonical form) or a domain name (lower case, no
/// trailing dot, validated like a registered domain).
pub(crate) fn parse_blocklist_target(value: &str) -> Option<(BlocklistTargetKind, String)> {
    let value = value.trim();
    if let Ok(ip) = value.parse::<std::net::IpAddr>() {
        return Some((BlocklistTargetKind::Ip, ip.to_string()));
    }
    let name = postern_domain::DomainName::parse(value).ok()?;
    // `192.0.2.010` is a mistyped address, not a domain.
    if name
        .as_str()
        .split('.')
        .all(|label| label.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some((BlocklistTargetKind::Domain, name.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_as_canonical_ips_or_domains() {
        assert_eq!(
            parse_blocklist_target(" 2001:DB8:0::1 "),
            Some((BlocklistTargetKind::Ip, "2001:db8::1".to_owned()))
        );
        assert_eq!(
            parse_blocklist_target("Mail.Example.COM."),
            Some((BlocklistTargetKind::Domain, "mail.example.com".to_owned()))
        );
        assert_eq!(parse_blocklist_target("not a target"), None);
        assert_eq!(parse_blocklist_target("192.0.2.010"), None);
        assert_eq!(parse_blocklist_target(""), None);
    }

    #[test]
    fn words_round_trip_and_keys_are_never_printed() {
        for v in [
            BlocklistVerdict::Listed,
            BlocklistVerdict::Clear,
            BlocklistVerdict::Unknown,
        ] {
            assert_eq!(BlocklistVerdict::parse(v.as_str()), Some(v));
        }
        assert_eq!(
            BlocklistTargetKind::parse("ip"),
            Some(BlocklistTargetKind::Ip)
        );
        assert_eq!(
            format!("{:?}", KeyChange::Set("secret".into())),
            "Set(<redacted>)"
        );
    }
}
