//! The facts a rule reads: a plain Rust mirror of `domain-facts` in
//! `proto/wit/rules-0.2.0.wit` (the DNS, blocklist and bounce areas are in [`crate::areas`]).
//! Times are unix seconds, as in the WIT. The host turns it into each WIT version's types in
//! `convert.rs`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::areas::{BlocklistEntry, BounceFacts, DnsFacts};

/// A snapshot of one domain, built by analysis from the store's aggregates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainFacts {
    /// Lower case, no trailing dot.
    pub domain: String,
    /// Evaluation time (unix seconds); rules never read a clock.
    pub now: i64,
    /// Window start (inclusive) and end (exclusive), unix seconds.
    pub window_start: i64,
    pub window_end: i64,
    pub dmarc: DmarcSummary,
    /// Most messages first.
    #[serde(default)]
    pub sources: Vec<SourceFacts>,
    /// From the newest aggregate report, if any.
    #[serde(default)]
    pub policy: Option<PublishedPolicy>,
    /// TLS-RPT counts, if any TLS report arrived.
    #[serde(default)]
    pub tls: Option<TlsSummary>,
    /// The DNS checks of the domain, if they ran (0.2.0 plugins only).
    #[serde(default)]
    pub dns: Option<DnsFacts>,
    /// What blocklists say about the domain and its sending addresses (0.2.0 plugins only).
    #[serde(default)]
    pub blocklists: Vec<BlocklistEntry>,
    /// Bounces of the domain's outgoing mail, if any bounce data arrived (0.2.0 plugins only).
    #[serde(default)]
    pub bounces: Option<BounceFacts>,
}

/// DMARC message counts over the window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DmarcSummary {
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

/// One sending source over the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFacts {
    pub ip: IpAddr,
    pub messages: u64,
    pub dmarc_pass: u64,
    pub spf_aligned_pass: u64,
    pub dkim_aligned_pass: u64,
    /// Unix seconds: the first time seen within the facts window.
    pub first_seen: i64,
    pub last_seen: i64,
    #[serde(default)]
    pub reverse_dns: Option<String>,
}

/// The published DMARC policy as the newest aggregate report echoes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedPolicy {
    /// `none`, `quarantine` or `reject`.
    pub p: String,
    #[serde(default)]
    pub sp: Option<String>,
    #[serde(default)]
    pub np: Option<String>,
    #[serde(default)]
    pub pct: Option<u8>,
    /// `r` or `s`.
    pub adkim: String,
    /// `r` or `s`.
    pub aspf: String,
    /// `y` or `n`.
    #[serde(default)]
    pub testing: Option<String>,
}

/// TLS-RPT counts over the window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSummary {
    pub successful: u64,
    pub failed: u64,
    /// Largest first.
    #[serde(default)]
    pub failures: Vec<TlsFailure>,
}

/// Failed sessions of one TLS-RPT result type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFailure {
    pub result_type: String,
    pub sessions: u64,
}
