//! The fact areas of `postern:rules@0.2.0` beyond DMARC and TLS-RPT: DNS checks, blocklists
//! and bounces. Plain Rust mirrors of the WIT records of the same names (see their doc
//! comments in `proto/wit/rules-0.2.0.wit`); all of them are empty by default, and a facts
//! JSON file may leave any of them out.

use std::net::IpAddr;

use postern_domain::{DnsRecordChange, Severity};
use serde::{Deserialize, Serialize};

/// What the DNS checks of the domain saw the last time they ran.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsFacts {
    /// When the checks ran (unix seconds).
    pub checked_at: i64,
    /// One per kind of check that ran.
    pub checks: Vec<DnsCheck>,
    /// DNS lookups the SPF record needs, when counted.
    pub spf_lookups: Option<u32>,
    /// Of those, lookups with no answer, when counted.
    pub spf_void_lookups: Option<u32>,
}

/// One DNS check of the domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsCheck {
    /// `spf`, `dmarc`, `dkim`, `mta_sts`, `tls_rpt`, `bimi` or `mx`.
    pub check: String,
    pub status: DnsCheckStatus,
    /// The records read, as published.
    #[serde(default)]
    pub records: Vec<String>,
    /// What the check found wrong, worst first.
    #[serde(default)]
    pub findings: Vec<DnsFinding>,
}

/// How one DNS check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsCheckStatus {
    Pass,
    Warn,
    Fail,
    Missing,
    Unknown,
}

/// One thing a DNS check found wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsFinding {
    /// Dotted code, e.g. `dmarc.policy_none`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// What it is about when not the whole record (a selector, an MX host, an include).
    #[serde(default)]
    pub subject: Option<String>,
    /// The change that fixes it (an empty `proposed` removes the record).
    #[serde(default)]
    pub fix: Option<DnsRecordChange>,
}

/// Whether a blocklist entry is about an IP address or a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlocklistTargetKind {
    Ip,
    Domain,
}

/// What a blocklist said.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlocklistState {
    Listed,
    Clear,
    Unknown,
}

/// The answer of one blocklist about one target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlocklistEntry {
    /// The address or domain looked up, as text.
    pub target: String,
    pub target_kind: BlocklistTargetKind,
    /// e.g. `spamhaus-zen`.
    pub list_id: String,
    /// e.g. "Spamhaus ZEN".
    pub list_name: String,
    pub state: BlocklistState,
    /// Raw answers (`127.0.0.2`), empty unless listed.
    #[serde(default)]
    pub return_codes: Vec<String>,
    /// What the return codes mean, empty if unknown.
    #[serde(default)]
    pub meaning: String,
    #[serde(default)]
    pub delist_url: Option<String>,
    /// Listed since (unix seconds), when known.
    #[serde(default)]
    pub since: Option<i64>,
}

/// Where the count of sent messages comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BounceSentBasis {
    EspEvents,
    MtaLog,
    DmarcReports,
    #[default]
    Unknown,
}

/// Bounces of the domain's outgoing mail over the window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BounceFacts {
    /// Messages sent, when known.
    pub sent: Option<u64>,
    pub sent_basis: BounceSentBasis,
    pub hard: u64,
    pub soft: u64,
    /// By recipient domain, most bounces first.
    pub groups: Vec<BounceGroup>,
    /// By sending IP address, most bounces first.
    pub sources: Vec<BounceSource>,
}

/// Bounces of mail to one recipient domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BounceGroup {
    pub recipient_domain: String,
    /// `microsoft365`, `google`, `yahoo`, `apple`, `proofpoint`, `mimecast`, `other` or
    /// `unknown`.
    pub provider_family: String,
    #[serde(default)]
    pub has_mx: Option<bool>,
    /// Distinct recipient addresses that bounced.
    pub addresses: u32,
    pub hard: u64,
    pub soft: u64,
    /// By classified reason, most first.
    #[serde(default)]
    pub reasons: Vec<ReasonCount>,
    #[serde(default)]
    pub sample: Option<BounceSample>,
}

/// How often one bounce reason occurred.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonCount {
    pub reason: String,
    pub count: u64,
}

/// One representative bounce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BounceSample {
    pub recipient: String,
    /// Enhanced status code, e.g. `5.1.1`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reply_code: Option<u16>,
    pub diagnostic: String,
    #[serde(default)]
    pub remote_host: Option<String>,
    #[serde(default)]
    pub sending_ip: Option<IpAddr>,
    /// Unix seconds.
    pub time: i64,
    #[serde(default)]
    pub message_id: Option<String>,
    #[serde(default)]
    pub evidence: Option<String>,
}

/// Bounces of mail sent from one IP address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BounceSource {
    pub sending_ip: IpAddr,
    pub hard: u64,
    pub soft: u64,
    pub recipient_domains: u32,
    #[serde(default)]
    pub provider_families: Vec<String>,
}

#[cfg(test)]
mod tests {
    use crate::DomainFacts;

    #[test]
    fn facts_json_without_the_new_areas_reads_them_as_empty() {
        let facts: DomainFacts = serde_json::from_str(
            r#"{"domain":"example.com","now":10,"window_start":0,"window_end":10,
                "dmarc":{"messages":1}}"#,
        )
        .unwrap();
        assert_eq!(facts.dns, None);
        assert!(facts.blocklists.is_empty());
        assert_eq!(facts.bounces, None);
    }

    #[test]
    fn facts_json_with_the_new_areas_round_trips() {
        let json = r#"{"domain":"example.com","now":10,"window_start":0,"window_end":10,
            "dmarc":{"messages":1},
            "dns":{"checked_at":9,"checks":[{"check":"spf","status":"fail",
                "records":["v=spf1 -all"],"findings":[{"code":"spf.too_many_lookups",
                "severity":"high","message":"12 lookups","fix":{"name":"example.com",
                "record_type":"TXT","current":"v=spf1 -all","proposed":""}}]}],
                "spf_lookups":12},
            "blocklists":[{"target":"192.0.2.1","target_kind":"ip","list_id":"zen",
                "list_name":"ZEN","state":"unknown"}],
            "bounces":{"sent_basis":"esp_events","hard":2,"groups":[{"recipient_domain":"x.example",
                "provider_family":"google","addresses":2,"hard":2,"soft":0,
                "sample":{"recipient":"a@x.example","diagnostic":"550","time":5,
                "sending_ip":"2001:db8::1"}}],
                "sources":[{"sending_ip":"192.0.2.9","hard":2,"soft":0,"recipient_domains":1}]}}"#;
        let facts: DomainFacts = serde_json::from_str(json).unwrap();
        let dns = facts.dns.as_ref().unwrap();
        assert_eq!(dns.spf_lookups, Some(12));
        assert_eq!(dns.checks[0].findings[0].fix.as_ref().unwrap().proposed, "");
        assert_eq!(facts.blocklists[0].meaning, "");
        let bounces = facts.bounces.as_ref().unwrap();
        assert_eq!(bounces.sent, None);
        assert_eq!(bounces.groups[0].sample.as_ref().unwrap().reply_code, None);
        let again: DomainFacts =
            serde_json::from_str(&serde_json::to_string(&facts).unwrap()).unwrap();
        assert_eq!(again, facts);
        assert!(
            serde_json::from_str::<DomainFacts>(&json.replace("\"fail\"", "\"broken\"")).is_err()
        );
    }
}
