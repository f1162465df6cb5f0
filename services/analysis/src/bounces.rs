//! The bounce facts of a domain for the rules: its bounces over the window grouped by
//! recipient domain (with the provider family of the recipient's mail system) and by
//! sending address, and the sent volume they are a share of.
//!
//! Provider family comes from the host that answered for the recipient domain (the DSN's
//! remote MTA, i.e. the recipient's MX) and, when that is missing, from the diagnostic
//! text: `*.mail.protection.outlook.com` is Microsoft 365, `*.google.com` Google,
//! `*.yahoodns.net` Yahoo, `*.mail.icloud.com` Apple, `*.pphosted.com` Proofpoint,
//! `*.mimecast.com` Mimecast. Sent volume comes from ESP delivery events or MTA logs when
//! any were recorded for the domain, else from the DMARC aggregate volume of the same
//! window (marked as such), else it is unknown.

use crate::error::AnalysisError;
use chrono::{DateTime, Utc};
use postern_rules::{
    BounceFacts, BounceGroup, BounceSample, BounceSentBasis, BounceSource, ReasonCount,
};
use postern_store::{BounceKind, BounceRecord, Domain, Store};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

/// Bounces read per domain and window, newest first.
const MAX_BOUNCES: u64 = 100_000;
/// Groups and sources handed to the rules, largest first.
const MAX_GROUPS: usize = 200;

/// The provider family of a recipient's mail system from a host name or text naming it.
pub fn provider_family(text: &str) -> Option<&'static str> {
    let t = text.to_ascii_lowercase();
    let families: [(&str, &[&str]); 6] = [
        (
            "microsoft365",
            &[
                "mail.protection.outlook.com",
                "outlook.com",
                "protection.office365",
            ],
        ),
        (
            "google",
            &[
                "aspmx.l.google.com",
                ".google.com",
                "googlemail.com",
                "gmail-smtp-in",
            ],
        ),
        ("yahoo", &["yahoodns.net", "yahoo.com"]),
        ("apple", &["mail.icloud.com", "icloud.com", "me.com"]),
        ("proofpoint", &["pphosted.com", "ppe-hosted.com"]),
        ("mimecast", &["mimecast.com", "mimecast-offshore.com"]),
    ];
    families
        .iter()
        .find(|(_, marks)| marks.iter().any(|m| t.contains(m)))
        .map(|(family, _)| *family)
}

/// The bounce facts of `domain` over [`from`, `to`); `None` when it has no bounces there.
/// `dmarc_messages` is the DMARC aggregate volume of the window (the fallback sent count).
pub async fn bounce_facts(
    store: &Store,
    domain: &Domain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    dmarc_messages: u64,
) -> Result<Option<BounceFacts>, AnalysisError> {
    let system = store.system();
    let bounces = system.domain_bounces(domain, from, to, MAX_BOUNCES).await?;
    if bounces.is_empty() {
        return Ok(None);
    }
    let delivered = system.domain_delivered(domain, from, to).await?;
    Ok(Some(aggregate(&bounces, delivered, dmarc_messages)))
}

#[derive(Default)]
struct GroupAcc<'a> {
    addresses: BTreeSet<&'a str>,
    hard: u64,
    soft: u64,
    reasons: BTreeMap<&'a str, u64>,
    family: Option<&'static str>,
    no_mx: bool,
    sample: Option<&'a BounceRecord>,
}

#[derive(Default)]
struct SourceAcc<'a> {
    hard: u64,
    soft: u64,
    domains: BTreeSet<&'a str>,
    families: BTreeSet<&'static str>,
}

/// Groups `bounces` (newest first) into facts.
fn aggregate(
    bounces: &[BounceRecord],
    delivered: Option<(u64, Vec<String>)>,
    dmarc_messages: u64,
) -> BounceFacts {
    let mut groups: HashMap<&str, GroupAcc> = HashMap::new();
    let mut sources: HashMap<IpAddr, SourceAcc> = HashMap::new();
    let (mut hard, mut soft) = (0, 0);
    for b in bounces {
        if b.kind == BounceKind::Complained {
            continue;
        }
        let is_hard = b.hard && b.kind == BounceKind::Bounced;
        let family = b
            .remote_host
            .as_deref()
            .and_then(provider_family)
            .or_else(|| provider_family(&b.diagnostic));
        let g = groups.entry(b.recipient_domain.as_str()).or_default();
        g.addresses.insert(b.recipient.as_str());
        *g.reasons.entry(b.reason.as_str()).or_default() += 1;
        if g.family.is_none() {
            g.family = family;
        }
        if b.reason == "hostunknown" {
            g.no_mx = true;
        }
        if is_hard {
            hard += 1;
            g.hard += 1;
            if g.sample.is_none() {
                g.sample = Some(b);
            }
        } else {
            soft += 1;
            g.soft += 1;
        }
        if let Some(ip) = b
            .sending_ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
        {
            let s = sources.entry(ip).or_default();
            if is_hard {
                s.hard += 1;
            } else {
                s.soft += 1;
            }
            s.domains.insert(b.recipient_domain.as_str());
            s.families.insert(family.unwrap_or("unknown"));
        }
    }
    // Groups without a hard bounce keep their newest bounce as the sample.
    for b in bounces {
        if let Some(g) = groups.get_mut(b.recipient_domain.as_str())
            && g.sample.is_none()
            && b.kind != BounceKind::Complained
        {
            g.sample = Some(b);
        }
    }
    let (sent, sent_basis) = match delivered {
        Some((n, providers)) => {
            let basis = if providers.iter().all(|p| p == "postfix") {
                BounceSentBasis::MtaLog
            } else {
                BounceSentBasis::EspEvents
            };
            (Some(n), basis)
        }
        None if dmarc_messages > 0 => (Some(dmarc_messages), BounceSentBasis::DmarcReports),
        None => (None, BounceSentBasis::Unknown),
    };
    let mut groups: Vec<BounceGroup> = groups
        .into_iter()
        .map(|(domain, g)| {
            let mut reasons: Vec<ReasonCount> = g
                .reasons
                .into_iter()
                .map(|(reason, count)| ReasonCount {
                    reason: reason.to_owned(),
                    count,
                })
                .collect();
            reasons.sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
            BounceGroup {
                recipient_domain: domain.to_owned(),
                provider_family: g
                    .family
                    .unwrap_or(if g.sample.and_then(|s| s.remote_host.as_ref()).is_some() {
                        "other"
                    } else {
                        "unknown"
                    })
                    .to_owned(),
                has_mx: g.no_mx.then_some(false),
                addresses: u32::try_from(g.addresses.len()).unwrap_or(u32::MAX),
                hard: g.hard,
                soft: g.soft,
                reasons,
                sample: g.sample.map(sample),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        (b.hard + b.soft)
            .cmp(&(a.hard + a.soft))
            .then(a.recipient_domain.cmp(&b.recipient_domain))
    });
    groups.truncate(MAX_GROUPS);
    let mut sources: Vec<BounceSource> = sources
        .into_iter()
        .map(|(ip, s)| BounceSource {
            sending_ip: ip,
            hard: s.hard,
            soft: s.soft,
            recipient_domains: u32::try_from(s.domains.len()).unwrap_or(u32::MAX),
            provider_families: s.families.into_iter().map(str::to_owned).collect(),
        })
        .collect();
    sources.sort_by(|a, b| {
        (b.hard + b.soft)
            .cmp(&(a.hard + a.soft))
            .then(a.sending_ip.cmp(&b.sending_ip))
    });
    sources.truncate(MAX_GROUPS);
    BounceFacts {
        sent,
        sent_basis,
        hard,
        soft,
        groups,
        sources,
    }
}

fn sample(b: &BounceRecord) -> BounceSample {
    BounceSample {
        recipient: b.recipient.clone(),
        status: b.status.clone(),
        reply_code: b.reply_code,
        diagnostic: b.diagnostic.clone(),
        remote_host: b.remote_host.clone(),
        sending_ip: b.sending_ip.as_deref().and_then(|ip| ip.parse().ok()),
        time: b.time.timestamp(),
        message_id: b.original_message_id.clone(),
        evidence: b.evidence.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_domain::RawInputId;

    fn bounce(recipient: &str, hard: bool, reason: &str, host: Option<&str>) -> BounceRecord {
        let domain = recipient.rsplit('@').next().unwrap().to_owned();
        BounceRecord {
            id: uuid::Uuid::now_v7(),
            msp_id: None,
            client_id: None,
            domain_id: None,
            raw_input_id: RawInputId::new(),
            unassigned_reason: None,
            kind: if hard {
                BounceKind::Bounced
            } else {
                BounceKind::Deferred
            },
            recipient: recipient.to_owned(),
            recipient_domain: domain,
            status: Some(if hard { "5.4.1" } else { "4.2.2" }.to_owned()),
            reply_code: Some(if hard { 550 } else { 452 }),
            diagnostic: "550 5.4.1 Recipient address rejected: Access denied".to_owned(),
            remote_host: host.map(str::to_owned),
            reporting_mta: None,
            time: Utc::now(),
            original_message_id: Some("m1@sender.example".to_owned()),
            sending_ip: Some("192.0.2.10".to_owned()),
            command: Some("RCPT".to_owned()),
            action: Some("failed".to_owned()),
            evidence: None,
            feedback_type: None,
            hard,
            reason: reason.to_owned(),
            provider: "mail".to_owned(),
            provider_event_id: None,
            campaign: None,
            sender_domain: Some("sender.example".to_owned()),
            received_at: Utc::now(),
        }
    }

    #[test]
    fn bounces_group_by_recipient_domain_with_provider_family_and_sample() {
        let ms = Some("tenant-example.mail.protection.outlook.com");
        let facts = aggregate(
            &[
                bounce("a@tenant.example", true, "rejected", ms),
                bounce("b@tenant.example", true, "rejected", ms),
                bounce("a@tenant.example", true, "rejected", ms),
                bounce(
                    "x@gmail.com",
                    false,
                    "mailboxfull",
                    Some("gmail-smtp-in.l.google.com"),
                ),
                bounce("y@nowhere.example", true, "hostunknown", None),
            ],
            None,
            1000,
        );
        assert_eq!((facts.hard, facts.soft), (4, 1));
        assert_eq!(facts.sent, Some(1000));
        assert_eq!(facts.sent_basis, BounceSentBasis::DmarcReports);
        let tenant = &facts.groups[0];
        assert_eq!(tenant.recipient_domain, "tenant.example");
        assert_eq!(tenant.provider_family, "microsoft365");
        assert_eq!(tenant.addresses, 2);
        assert_eq!(tenant.hard, 3);
        assert_eq!(tenant.reasons[0].reason, "rejected");
        let sample = tenant.sample.as_ref().unwrap();
        assert_eq!(sample.status.as_deref(), Some("5.4.1"));
        assert_eq!(sample.message_id.as_deref(), Some("m1@sender.example"));
        let gmail = facts
            .groups
            .iter()
            .find(|g| g.recipient_domain == "gmail.com")
            .unwrap();
        assert_eq!(gmail.provider_family, "google");
        let nowhere = facts
            .groups
            .iter()
            .find(|g| g.recipient_domain == "nowhere.example")
            .unwrap();
        assert_eq!(nowhere.has_mx, Some(false));
        assert_eq!(nowhere.provider_family, "unknown");
        assert_eq!(facts.sources.len(), 1);
        assert_eq!(facts.sources[0].recipient_domains, 3);
    }

    #[test]
    fn recorded_deliveries_are_the_sent_count_before_dmarc_volume() {
        let b = [bounce("a@x.example", true, "userunknown", None)];
        let esp = aggregate(&b, Some((500, vec!["ses".to_owned()])), 1000);
        assert_eq!(
            (esp.sent, esp.sent_basis),
            (Some(500), BounceSentBasis::EspEvents)
        );
        let mta = aggregate(&b, Some((400, vec!["postfix".to_owned()])), 1000);
        assert_eq!(mta.sent_basis, BounceSentBasis::MtaLog);
        let none = aggregate(&b, None, 0);
        assert_eq!(
            (none.sent, none.sent_basis),
            (None, BounceSentBasis::Unknown)
        );
    }

    #[test]
    fn provider_families_come_from_mx_host_names() {
        assert_eq!(
            provider_family("contoso-com.mail.protection.outlook.com"),
            Some("microsoft365")
        );
        assert_eq!(provider_family("mx0a-001.pphosted.com"), Some("proofpoint"));
        assert_eq!(
            provider_family("eu-smtp-inbound-1.mimecast.com"),
            Some("mimecast")
        );
        assert_eq!(provider_family("mta7.am0.yahoodns.net"), Some("yahoo"));
        assert_eq!(provider_family("mx01.mail.icloud.com"), Some("apple"));
        assert_eq!(provider_family("mail.example.net"), None);
    }
}
