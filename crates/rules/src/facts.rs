//! The facts a rule reads: a plain Rust mirror of `domain-facts` in `proto/wit/rules.wit`.
//! Times are unix seconds, as in the WIT.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::wit::types as w;

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

impl DomainFacts {
    pub(crate) fn to_wit(&self) -> w::DomainFacts {
        let d = &self.dmarc;
        w::DomainFacts {
            domain: self.domain.clone(),
            now: self.now,
            window_start: self.window_start,
            window_end: self.window_end,
            dmarc: w::DmarcSummary {
                messages: d.messages,
                dmarc_pass: d.dmarc_pass,
                dmarc_fail: d.dmarc_fail,
                spf_aligned_pass: d.spf_aligned_pass,
                dkim_aligned_pass: d.dkim_aligned_pass,
                disposition_none: d.disposition_none,
                disposition_quarantine: d.disposition_quarantine,
                disposition_reject: d.disposition_reject,
                disposition_pass: d.disposition_pass,
            },
            sources: self
                .sources
                .iter()
                .map(|s| w::Source {
                    ip: ip_text(s.ip),
                    messages: s.messages,
                    dmarc_pass: s.dmarc_pass,
                    spf_aligned_pass: s.spf_aligned_pass,
                    dkim_aligned_pass: s.dkim_aligned_pass,
                    first_seen: s.first_seen,
                    last_seen: s.last_seen,
                    reverse_dns: s.reverse_dns.clone(),
                })
                .collect(),
            policy: self.policy.as_ref().map(|p| w::PublishedPolicy {
                p: p.p.clone(),
                sp: p.sp.clone(),
                np: p.np.clone(),
                pct: p.pct,
                adkim: p.adkim.clone(),
                aspf: p.aspf.clone(),
                testing: p.testing.clone(),
            }),
            tls: self.tls.as_ref().map(|t| w::TlsSummary {
                successful: t.successful,
                failed: t.failed,
                failures: t
                    .failures
                    .iter()
                    .map(|f| w::TlsFailure {
                        result_type: f.result_type.clone(),
                        sessions: f.sessions,
                    })
                    .collect(),
            }),
        }
    }
}

/// `ip` as text, exactly as its `Display` writes it. IPv4 addresses, nearly all sources, are
/// written by hand: `Display` (through the formatting machinery) was a tenth of the host's
/// time per evaluation.
fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut text = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn ip_text_is_what_display_writes() {
        for octets in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [192, 0, 2, 1],
            [10, 99, 100, 9],
        ] {
            let ip = IpAddr::V4(Ipv4Addr::from(octets));
            assert_eq!(ip_text(ip), ip.to_string());
        }
        for a in 0..=255u8 {
            let ip = IpAddr::V4(Ipv4Addr::new(a, a.wrapping_mul(7), 255 - a, a / 3));
            assert_eq!(ip_text(ip), ip.to_string());
        }
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(ip_text(v6), "2001:db8::1");
    }
}
