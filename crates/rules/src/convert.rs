//! Between the host's types and the bindings' types of each WIT version: facts into the
//! guest (`v1`: 0.1.0 shape, the IP address as text; `v2`: 0.2.0, numbers and the new
//! areas), findings out of it (the same shape in both versions).

use std::net::IpAddr;

use crate::areas::{
    BlocklistEntry, BlocklistState, BlocklistTargetKind, BounceFacts, BounceSentBasis,
    DnsCheckStatus, DnsFacts,
};
use crate::facts::DomainFacts;

/// Generates, for one version's bindings `w`, the conversion of the facts fields both
/// versions share and of the findings.
macro_rules! common {
    () => {
        use postern_domain::{
            DnsRecordChange, Evidence, Finding, FixStep, FixStepKind, Severity, Verification,
        };

        use crate::error::FailureReason;
        use crate::facts::{DmarcSummary, PublishedPolicy, TlsSummary};

        pub(crate) fn dmarc(d: &DmarcSummary) -> w::DmarcSummary {
            w::DmarcSummary {
                messages: d.messages,
                dmarc_pass: d.dmarc_pass,
                dmarc_fail: d.dmarc_fail,
                spf_aligned_pass: d.spf_aligned_pass,
                dkim_aligned_pass: d.dkim_aligned_pass,
                disposition_none: d.disposition_none,
                disposition_quarantine: d.disposition_quarantine,
                disposition_reject: d.disposition_reject,
                disposition_pass: d.disposition_pass,
            }
        }

        pub(crate) fn policy(p: &PublishedPolicy) -> w::PublishedPolicy {
            w::PublishedPolicy {
                p: p.p.clone(),
                sp: p.sp.clone(),
                np: p.np.clone(),
                pct: p.pct,
                adkim: p.adkim.clone(),
                aspf: p.aspf.clone(),
                testing: p.testing.clone(),
            }
        }

        pub(crate) fn tls(t: &TlsSummary) -> w::TlsSummary {
            w::TlsSummary {
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
            }
        }

        /// The bytes of text in a returned finding (for the output cap).
        pub(crate) fn output_bytes(f: &w::Finding) -> usize {
            f.code.len()
                + f.title.len()
                + f.explanation.len()
                + f.verification.description.len()
                + f.evidence
                    .iter()
                    .map(|e| e.label.len() + e.value.len())
                    .sum::<usize>()
                + f.fix_steps
                    .iter()
                    .map(|s| {
                        s.title.len()
                            + s.detail.len()
                            + s.record.as_ref().map_or(0, |r| {
                                r.name.len()
                                    + r.record_type.len()
                                    + r.current.as_ref().map_or(0, String::len)
                                    + r.proposed.len()
                            })
                    })
                    .sum::<usize>()
        }

        /// A returned finding as the domain's type, refused if its code is invalid.
        pub(crate) fn finding(f: w::Finding) -> Result<Finding, FailureReason> {
            if !Finding::valid_code(&f.code) {
                return Err(FailureReason::InvalidCode(f.code));
            }
            Ok(Finding {
                code: f.code,
                severity: match f.severity {
                    w::Severity::Info => Severity::Info,
                    w::Severity::Low => Severity::Low,
                    w::Severity::Medium => Severity::Medium,
                    w::Severity::High => Severity::High,
                    w::Severity::Critical => Severity::Critical,
                },
                title: f.title,
                explanation: f.explanation,
                evidence: f
                    .evidence
                    .into_iter()
                    .map(|e| Evidence {
                        label: e.label,
                        value: e.value,
                    })
                    .collect(),
                fix_steps: f
                    .fix_steps
                    .into_iter()
                    .map(|s| FixStep {
                        kind: match s.kind {
                            w::FixStepKind::ChangeDnsRecord => FixStepKind::ChangeDnsRecord,
                            w::FixStepKind::UpgradePolicy => FixStepKind::UpgradePolicy,
                            w::FixStepKind::FixSendingSource => FixStepKind::FixSendingSource,
                            w::FixStepKind::ContactRecipientAdmin => {
                                FixStepKind::ContactRecipientAdmin
                            }
                            w::FixStepKind::SuppressAddresses => FixStepKind::SuppressAddresses,
                            w::FixStepKind::PauseSegment => FixStepKind::PauseSegment,
                            w::FixStepKind::Investigate => FixStepKind::Investigate,
                        },
                        title: s.title,
                        detail: s.detail,
                        record: s.record.map(|r| DnsRecordChange {
                            name: r.name,
                            record_type: r.record_type,
                            current: r.current,
                            proposed: r.proposed,
                        }),
                    })
                    .collect(),
                verification: Verification {
                    description: f.verification.description,
                },
            })
        }
    };
}

/// `postern:rules@0.1.0`.
pub(crate) mod v1 {
    use super::{DomainFacts, ip_text};
    use crate::wit::v1::types as w;

    common!();

    /// The 0.1.0 shape of `f`: the IP address as text, no DNS, blocklist or bounce facts.
    pub(crate) fn facts(f: &DomainFacts) -> w::DomainFacts {
        w::DomainFacts {
            domain: f.domain.clone(),
            now: f.now,
            window_start: f.window_start,
            window_end: f.window_end,
            dmarc: dmarc(&f.dmarc),
            sources: f
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
            policy: f.policy.as_ref().map(policy),
            tls: f.tls.as_ref().map(tls),
        }
    }
}

/// `postern:rules@0.2.0`.
pub(crate) mod v2 {
    use std::net::IpAddr;

    use super::{
        BlocklistEntry, BlocklistState, BlocklistTargetKind, BounceFacts, BounceSentBasis,
        DnsCheckStatus, DnsFacts, DomainFacts,
    };
    use crate::wit::v2::types as w;

    common!();

    /// The 0.2.0 shape of `f`.
    pub(crate) fn facts(f: &DomainFacts) -> w::DomainFacts {
        w::DomainFacts {
            domain: f.domain.clone(),
            now: f.now,
            window_start: f.window_start,
            window_end: f.window_end,
            dmarc: dmarc(&f.dmarc),
            sources: f
                .sources
                .iter()
                .map(|s| w::Source {
                    ip: ip(s.ip),
                    messages: s.messages,
                    dmarc_pass: s.dmarc_pass,
                    spf_aligned_pass: s.spf_aligned_pass,
                    dkim_aligned_pass: s.dkim_aligned_pass,
                    first_seen: s.first_seen,
                    last_seen: s.last_seen,
                    reverse_dns: s.reverse_dns.clone(),
                })
                .collect(),
            policy: f.policy.as_ref().map(policy),
            tls: f.tls.as_ref().map(tls),
            dns: f.dns.as_ref().map(dns),
            blocklists: f.blocklists.iter().map(blocklist).collect(),
            bounces: f.bounces.as_ref().map(bounces),
        }
    }

    pub(crate) fn ip(ip: IpAddr) -> w::IpAddress {
        match ip {
            IpAddr::V4(v4) => w::IpAddress::V4(u32::from(v4)),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                // Truncation intended: the two halves of the address.
                #[allow(clippy::cast_possible_truncation)]
                let halves = ((bits >> 64) as u64, bits as u64);
                w::IpAddress::V6(halves)
            }
        }
    }

    fn severity(s: Severity) -> w::Severity {
        match s {
            Severity::Info => w::Severity::Info,
            Severity::Low => w::Severity::Low,
            Severity::Medium => w::Severity::Medium,
            Severity::High => w::Severity::High,
            Severity::Critical => w::Severity::Critical,
        }
    }

    fn dns(d: &DnsFacts) -> w::DnsFacts {
        w::DnsFacts {
            checked_at: d.checked_at,
            checks: d
                .checks
                .iter()
                .map(|c| w::DnsCheck {
                    check: c.check.clone(),
                    status: match c.status {
                        DnsCheckStatus::Pass => w::DnsCheckStatus::Pass,
                        DnsCheckStatus::Warn => w::DnsCheckStatus::Warn,
                        DnsCheckStatus::Fail => w::DnsCheckStatus::Fail,
                        DnsCheckStatus::Missing => w::DnsCheckStatus::Missing,
                        DnsCheckStatus::Unknown => w::DnsCheckStatus::Unknown,
                    },
                    records: c.records.clone(),
                    findings: c
                        .findings
                        .iter()
                        .map(|f| w::DnsFinding {
                            code: f.code.clone(),
                            severity: severity(f.severity),
                            message: f.message.clone(),
                            subject: f.subject.clone(),
                            fix: f.fix.as_ref().map(|r| w::DnsRecordChange {
                                name: r.name.clone(),
                                record_type: r.record_type.clone(),
                                current: r.current.clone(),
                                proposed: r.proposed.clone(),
                            }),
                        })
                        .collect(),
                })
                .collect(),
            spf_lookups: d.spf_lookups,
            spf_void_lookups: d.spf_void_lookups,
        }
    }

    fn blocklist(b: &BlocklistEntry) -> w::BlocklistEntry {
        w::BlocklistEntry {
            target: b.target.clone(),
            target_kind: match b.target_kind {
                BlocklistTargetKind::Ip => w::BlocklistTargetKind::Ip,
                BlocklistTargetKind::Domain => w::BlocklistTargetKind::Domain,
            },
            list_id: b.list_id.clone(),
            list_name: b.list_name.clone(),
            state: match b.state {
                BlocklistState::Listed => w::BlocklistState::Listed,
                BlocklistState::Clear => w::BlocklistState::Clear,
                BlocklistState::Unknown => w::BlocklistState::Unknown,
            },
            return_codes: b.return_codes.clone(),
            meaning: b.meaning.clone(),
            delist_url: b.delist_url.clone(),
            since: b.since,
        }
    }

    fn bounces(b: &BounceFacts) -> w::BounceFacts {
        w::BounceFacts {
            sent: b.sent,
            sent_basis: match b.sent_basis {
                BounceSentBasis::EspEvents => w::BounceSentBasis::EspEvents,
                BounceSentBasis::MtaLog => w::BounceSentBasis::MtaLog,
                BounceSentBasis::DmarcReports => w::BounceSentBasis::DmarcReports,
                BounceSentBasis::Unknown => w::BounceSentBasis::Unknown,
            },
            hard: b.hard,
            soft: b.soft,
            groups: b
                .groups
                .iter()
                .map(|g| w::BounceGroup {
                    recipient_domain: g.recipient_domain.clone(),
                    provider_family: g.provider_family.clone(),
                    has_mx: g.has_mx,
                    addresses: g.addresses,
                    hard: g.hard,
                    soft: g.soft,
                    reasons: g
                        .reasons
                        .iter()
                        .map(|r| w::ReasonCount {
                            reason: r.reason.clone(),
                            count: r.count,
                        })
                        .collect(),
                    sample: g.sample.as_ref().map(|s| w::BounceSample {
                        recipient: s.recipient.clone(),
                        status: s.status.clone(),
                        reply_code: s.reply_code,
                        diagnostic: s.diagnostic.clone(),
                        remote_host: s.remote_host.clone(),
                        sending_ip: s.sending_ip.map(ip),
                        time: s.time,
                        message_id: s.message_id.clone(),
                        evidence: s.evidence.clone(),
                    }),
                })
                .collect(),
            sources: b
                .sources
                .iter()
                .map(|s| w::BounceSource {
                    sending_ip: ip(s.sending_ip),
                    hard: s.hard,
                    soft: s.soft,
                    recipient_domains: s.recipient_domains,
                    provider_families: s.provider_families.clone(),
                })
                .collect(),
        }
    }
}

/// `ip` as text, exactly as its `Display` writes it (the 0.1.0 facts). IPv4 addresses, nearly
/// all sources, are written by hand: `Display` (through the formatting machinery) was a tenth
/// of the host's time per evaluation.
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
    use crate::wit::v2::types as w;
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

    #[test]
    fn ip_addresses_become_numbers_most_significant_first() {
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert!(matches!(v2::ip(v4), w::IpAddress::V4(0xc000_0201)));
        let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert!(matches!(
            v2::ip(v6),
            w::IpAddress::V6((0x2001_0db8_0000_0000, 1))
        ));
    }
}
