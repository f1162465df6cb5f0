//! The facts as rule code reads them: the WIT's `domain-facts` with every `ip-address` turned
//! into a [`std::net::IpAddr`]. Records without an address are the generated ones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bindings::exports::postern::rules::plugin as w;
use crate::{
    BlocklistEntry, BounceSentBasis, DmarcSummary, DnsFacts, PublishedPolicy, ReasonCount,
    TlsSummary,
};

/// A snapshot of everything Postern knows about one domain (WIT `domain-facts`; see the
/// doc comments there, field by field).
#[derive(Clone, Debug)]
pub struct DomainFacts {
    /// The domain, lower case, without a trailing dot.
    pub domain: String,
    /// The time of the evaluation (unix seconds). Rules never read a clock.
    pub now: i64,
    /// Start of the window the counts cover (unix seconds, inclusive).
    pub window_start: i64,
    /// End of the window (unix seconds, exclusive).
    pub window_end: i64,
    /// DMARC counts over the window.
    pub dmarc: DmarcSummary,
    /// Sending sources over the window, most messages first.
    pub sources: Vec<Source>,
    /// The published DMARC policy, if any aggregate report echoed one.
    pub policy: Option<PublishedPolicy>,
    /// TLS-RPT counts, if any TLS report arrived.
    pub tls: Option<TlsSummary>,
    /// The DNS checks of the domain, if they have run.
    pub dns: Option<DnsFacts>,
    /// What blocklists say about the domain and its sending addresses.
    pub blocklists: Vec<BlocklistEntry>,
    /// Bounces of the domain's outgoing mail, if any bounce data arrived.
    pub bounces: Option<BounceFacts>,
}

/// One sending source seen for the domain over the window (WIT `source`).
#[derive(Clone, Debug)]
pub struct Source {
    /// The source's address; `Display` writes its usual text (`192.0.2.1`, `2001:db8::1`).
    pub ip: IpAddr,
    /// Messages from this source.
    pub messages: u64,
    /// Of those, messages that passed DMARC.
    pub dmarc_pass: u64,
    /// Of those, messages with aligned SPF pass.
    pub spf_aligned_pass: u64,
    /// Of those, messages with aligned DKIM pass.
    pub dkim_aligned_pass: u64,
    /// First time seen within the window (unix seconds).
    pub first_seen: i64,
    /// Last time seen within the window (unix seconds).
    pub last_seen: i64,
    /// The reverse DNS name of the address, when known.
    pub reverse_dns: Option<String>,
}

/// Bounces of the domain's outgoing mail over the window (WIT `bounce-facts`).
#[derive(Clone, Debug)]
pub struct BounceFacts {
    /// Messages sent over the window, when known.
    pub sent: Option<u64>,
    /// Where `sent` comes from.
    pub sent_basis: BounceSentBasis,
    /// Hard bounces in total.
    pub hard: u64,
    /// Soft bounces in total.
    pub soft: u64,
    /// By recipient domain, most bounces first.
    pub groups: Vec<BounceGroup>,
    /// By sending IP address, most bounces first.
    pub sources: Vec<BounceSource>,
}

/// Bounces of mail to one recipient domain (WIT `bounce-group`).
#[derive(Clone, Debug)]
pub struct BounceGroup {
    /// The recipient domain, lower case.
    pub recipient_domain: String,
    /// `microsoft365`, `google`, `yahoo`, `apple`, `proofpoint`, `mimecast`, `other` or
    /// `unknown`.
    pub provider_family: String,
    /// Whether the recipient domain has MX records, when checked.
    pub has_mx: Option<bool>,
    /// Distinct recipient addresses that bounced.
    pub addresses: u32,
    /// Hard bounces.
    pub hard: u64,
    /// Soft bounces.
    pub soft: u64,
    /// By classified reason, most first.
    pub reasons: Vec<ReasonCount>,
    /// A representative bounce, when one was kept.
    pub sample: Option<BounceSample>,
}

/// One representative bounce (WIT `bounce-sample`).
#[derive(Clone, Debug)]
pub struct BounceSample {
    /// The recipient address that bounced.
    pub recipient: String,
    /// The enhanced status code, e.g. `5.1.1`.
    pub status: Option<String>,
    /// The SMTP reply code, e.g. 550.
    pub reply_code: Option<u16>,
    /// The receiver's diagnostic text.
    pub diagnostic: String,
    /// The receiving host that answered.
    pub remote_host: Option<String>,
    /// The address the message was sent from.
    pub sending_ip: Option<IpAddr>,
    /// When the bounce happened (unix seconds).
    pub time: i64,
    /// The Message-ID of the bounced message.
    pub message_id: Option<String>,
    /// Where the sample came from.
    pub evidence: Option<String>,
}

/// Bounces of mail sent from one address (WIT `bounce-source`).
#[derive(Clone, Debug)]
pub struct BounceSource {
    /// The sending IP address.
    pub sending_ip: IpAddr,
    /// Hard bounces of its mail.
    pub hard: u64,
    /// Soft bounces of its mail.
    pub soft: u64,
    /// Distinct recipient domains that bounced its mail.
    pub recipient_domains: u32,
    /// The provider families that bounced its mail.
    pub provider_families: Vec<String>,
}

impl From<w::IpAddress> for IpAddr {
    fn from(ip: w::IpAddress) -> Self {
        match ip {
            w::IpAddress::V4(bits) => IpAddr::V4(Ipv4Addr::from(bits)),
            w::IpAddress::V6((high, low)) => {
                IpAddr::V6(Ipv6Addr::from((u128::from(high) << 64) | u128::from(low)))
            }
        }
    }
}

impl From<IpAddr> for w::IpAddress {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => w::IpAddress::V4(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                #[allow(clippy::cast_possible_truncation)] // the two halves, on purpose
                w::IpAddress::V6(((bits >> 64) as u64, bits as u64))
            }
        }
    }
}

impl From<w::DomainFacts> for DomainFacts {
    fn from(f: w::DomainFacts) -> Self {
        Self {
            domain: f.domain,
            now: f.now,
            window_start: f.window_start,
            window_end: f.window_end,
            dmarc: f.dmarc,
            sources: f.sources.into_iter().map(Source::from).collect(),
            policy: f.policy,
            tls: f.tls,
            dns: f.dns,
            blocklists: f.blocklists,
            bounces: f.bounces.map(BounceFacts::from),
        }
    }
}

impl From<w::Source> for Source {
    fn from(s: w::Source) -> Self {
        Self {
            ip: s.ip.into(),
            messages: s.messages,
            dmarc_pass: s.dmarc_pass,
            spf_aligned_pass: s.spf_aligned_pass,
            dkim_aligned_pass: s.dkim_aligned_pass,
            first_seen: s.first_seen,
            last_seen: s.last_seen,
            reverse_dns: s.reverse_dns,
        }
    }
}

impl From<w::BounceFacts> for BounceFacts {
    fn from(b: w::BounceFacts) -> Self {
        Self {
            sent: b.sent,
            sent_basis: b.sent_basis,
            hard: b.hard,
            soft: b.soft,
            groups: b.groups.into_iter().map(BounceGroup::from).collect(),
            sources: b
                .sources
                .into_iter()
                .map(|s| BounceSource {
                    sending_ip: s.sending_ip.into(),
                    hard: s.hard,
                    soft: s.soft,
                    recipient_domains: s.recipient_domains,
                    provider_families: s.provider_families,
                })
                .collect(),
        }
    }
}

impl From<w::BounceGroup> for BounceGroup {
    fn from(g: w::BounceGroup) -> Self {
        Self {
            recipient_domain: g.recipient_domain,
            provider_family: g.provider_family,
            has_mx: g.has_mx,
            addresses: g.addresses,
            hard: g.hard,
            soft: g.soft,
            reasons: g.reasons,
            sample: g.sample.map(|s| BounceSample {
                recipient: s.recipient,
                status: s.status,
                reply_code: s.reply_code,
                diagnostic: s.diagnostic,
                remote_host: s.remote_host,
                sending_ip: s.sending_ip.map(IpAddr::from),
                time: s.time,
                message_id: s.message_id,
                evidence: s.evidence,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_the_wit_numbers() {
        for text in [
            "192.0.2.1",
            "0.0.0.0",
            "255.255.255.255",
            "2001:db8::1",
            "::",
            "fe80::1:2",
        ] {
            let ip: IpAddr = text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let wire = w::IpAddress::from(ip);
            assert_eq!(IpAddr::from(wire).to_string(), text);
        }
        assert!(matches!(
            w::IpAddress::from(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            w::IpAddress::V4(0xc000_0201)
        ));
    }
}
