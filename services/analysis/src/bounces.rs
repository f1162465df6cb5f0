//! The bounce facts of a domain for the rules: its bounces over the window grouped by
//! recipient domain (with the provider family of the recipient's mail system) and by
//! sending address, and the sent volume they are a share of. The grouping is
//! [`postern_bounce::triage`]; this module reads the rows and looks MX records up.
//!
//! Provider family comes from the host that answered for the recipient domain (the DSN's
//! remote MTA, i.e. the recipient's MX), when that is missing from the recipient domain's
//! MX records ([`MxFamilies`], cached per domain), and failing both from the diagnostic
//! text: `*.mail.protection.outlook.com` is Microsoft 365, `*.google.com` Google,
//! `*.yahoodns.net` Yahoo, `*.mail.icloud.com` Apple, `*.pphosted.com` Proofpoint,
//! `*.mimecast.com` Mimecast. Sent volume comes from ESP delivery events or MTA logs when
//! any were recorded for the domain, else from the DMARC aggregate volume of the same
//! window (marked as such), else it is unknown.

use crate::error::AnalysisError;
use chrono::{DateTime, Utc};
use postern_bounce::{MxInfo, ProviderFamily, TriageKind, TriageRecord, triage};
use postern_dns::{Lookup, Resolver};
use postern_rules::{
    BounceFacts, BounceGroup, BounceSample, BounceSentBasis, BounceSource, ReasonCount,
};
use postern_store::{BounceKind, BounceRecord, Domain, Store};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bounces read per domain and window, newest first.
const MAX_BOUNCES: u64 = 100_000;
/// Groups and sources handed to the rules, largest first.
const MAX_GROUPS: usize = 200;
/// Recipient domains (those with most bounces and no answering host) whose MX is looked up
/// per evaluation; the others stay `unknown` until a later evaluation.
const MAX_MX_LOOKUPS: usize = 50;
/// MX lookups in flight at once.
const MX_CONCURRENCY: usize = 8;

/// Provider families from recipient domains' MX records, through the posture checks'
/// resolver, cached per domain (answers for `ttl`, failures for a minute).
pub struct MxFamilies {
    resolver: Arc<dyn Resolver>,
    ttl: Duration,
    cache: Mutex<HashMap<String, (Instant, MxInfo)>>,
}

/// One stored bounce as triage reads it (the sending address parsed once).
struct Row<'a> {
    record: &'a BounceRecord,
    ip: Option<IpAddr>,
}

impl MxFamilies {
    /// Looks MX records up through `resolver`, keeping answers for `ttl`.
    pub fn new(resolver: Arc<dyn Resolver>, ttl: Duration) -> Self {
        MxFamilies {
            resolver,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// What the MX records of `domain` say: the provider family of its exchanges (`other`
    /// when they name no known provider), and whether it has any (a null MX counts as none).
    /// A DNS failure is no family and an unknown `has_mx`, kept for a minute.
    pub async fn lookup(&self, domain: &str) -> MxInfo {
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some((until, info)) = cache.get(domain)
            && *until > now
        {
            return *info;
        }
        let (info, keep) = match self.resolver.mx(domain).await {
            Ok(Lookup::Found(records)) => {
                let hosts: Vec<&str> = records
                    .iter()
                    .map(|m| m.exchange.as_str())
                    .filter(|h| !h.is_empty())
                    .collect();
                (
                    MxInfo {
                        family: ProviderFamily::of_mx_hosts(hosts.iter().copied()),
                        has_mx: Some(!hosts.is_empty()),
                    },
                    self.ttl,
                )
            }
            Ok(Lookup::NoData | Lookup::NxDomain) => (
                MxInfo {
                    family: None,
                    has_mx: Some(false),
                },
                self.ttl,
            ),
            Err(error) => {
                tracing::debug!(%error, "mx lookup for a recipient domain failed");
                (MxInfo::default(), Duration::from_secs(60))
            }
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() > 100_000 {
                cache.retain(|_, (until, _)| *until > now);
            }
            cache.insert(domain.to_owned(), (now + keep, info));
        }
        info
    }

    /// The MX answers of the recipient domains of `bounces` whose bounces name no answering
    /// host, those with most bounces first, at most [`MAX_MX_LOOKUPS`], [`MX_CONCURRENCY`]
    /// at a time.
    async fn for_bounces(&self, bounces: &[BounceRecord]) -> HashMap<String, MxInfo> {
        let wanted = hostless_domains(bounces);
        let mut out = HashMap::with_capacity(wanted.len());
        for chunk in wanted.chunks(MX_CONCURRENCY) {
            let answers = futures::future::join_all(chunk.iter().map(|d| self.lookup(d))).await;
            out.extend(chunk.iter().cloned().zip(answers));
        }
        out
    }
}

impl TriageRecord for Row<'_> {
    fn recipient(&self) -> &str {
        &self.record.recipient
    }
    fn recipient_domain(&self) -> &str {
        &self.record.recipient_domain
    }
    fn kind(&self) -> TriageKind {
        match self.record.kind {
            BounceKind::Bounced => TriageKind::Bounced,
            BounceKind::Deferred => TriageKind::Deferred,
            BounceKind::Complained => TriageKind::Complained,
        }
    }
    fn hard(&self) -> bool {
        self.record.hard
    }
    fn reason(&self) -> &str {
        &self.record.reason
    }
    fn remote_host(&self) -> Option<&str> {
        self.record.remote_host.as_deref()
    }
    fn diagnostic(&self) -> &str {
        &self.record.diagnostic
    }
    fn sending_ip(&self) -> Option<IpAddr> {
        self.ip
    }
    fn campaign(&self) -> Option<&str> {
        self.record.campaign.as_deref()
    }
}

/// The recipient domains none of whose bounces names an answering host, most bounces first,
/// at most [`MAX_MX_LOOKUPS`].
fn hostless_domains(bounces: &[BounceRecord]) -> Vec<String> {
    let mut hostless: HashMap<&str, u64> = HashMap::new();
    let mut with_host: HashSet<&str> = HashSet::new();
    for b in bounces {
        if b.remote_host.as_deref().is_some_and(|h| !h.is_empty()) {
            with_host.insert(b.recipient_domain.as_str());
        } else {
            *hostless.entry(b.recipient_domain.as_str()).or_default() += 1;
        }
    }
    let mut wanted: Vec<(&str, u64)> = hostless
        .into_iter()
        .filter(|(d, _)| !with_host.contains(d))
        .collect();
    wanted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    wanted
        .into_iter()
        .take(MAX_MX_LOOKUPS)
        .map(|(d, _)| d.to_owned())
        .collect()
}

/// The provider family of a recipient's mail system from a host name or text naming it
/// (see [`ProviderFamily::of_host`]).
pub fn provider_family(text: &str) -> Option<&'static str> {
    ProviderFamily::of_host(text).map(ProviderFamily::as_str)
}

/// The bounce facts of `domain` over [`from`, `to`); `None` when it has no bounces there.
/// `dmarc_messages` is the DMARC aggregate volume of the window (the fallback sent count);
/// `mx` names the provider family of recipient domains whose bounces name no host.
pub async fn bounce_facts(
    store: &Store,
    domain: &Domain,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    dmarc_messages: u64,
    mx: Option<&MxFamilies>,
) -> Result<Option<BounceFacts>, AnalysisError> {
    let system = store.system();
    let bounces = system.domain_bounces(domain, from, to, MAX_BOUNCES).await?;
    if bounces.is_empty() {
        return Ok(None);
    }
    let delivered = system.domain_delivered(domain, from, to).await?;
    let answers = match mx {
        Some(mx) => mx.for_bounces(&bounces).await,
        None => HashMap::new(),
    };
    Ok(Some(aggregate(&bounces, delivered, dmarc_messages, |d| {
        answers.get(d).copied()
    })))
}

/// Groups `bounces` (newest first) into the rules' facts with [`postern_bounce::triage`]:
/// `delivered` is the recorded sent volume and its providers, `dmarc_messages` the DMARC
/// volume used when none was recorded, `mx` the MX answer of a recipient domain whose
/// bounces name no host. The analysis service and `postern-bench bounces` call this.
pub fn aggregate(
    bounces: &[BounceRecord],
    delivered: Option<(u64, Vec<String>)>,
    dmarc_messages: u64,
    mx: impl Fn(&str) -> Option<MxInfo>,
) -> BounceFacts {
    let rows: Vec<Row<'_>> = bounces
        .iter()
        .map(|record| Row {
            record,
            ip: record.sending_ip.as_deref().and_then(|ip| ip.parse().ok()),
        })
        .collect();
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
    let t = triage(&rows, sent, mx);
    let groups = t
        .domains
        .iter()
        .take(MAX_GROUPS)
        .map(|g| BounceGroup {
            recipient_domain: g.recipient_domain.to_owned(),
            provider_family: g.family.as_str().to_owned(),
            has_mx: g.has_mx,
            addresses: u32::try_from(g.addresses).unwrap_or(u32::MAX),
            hard: g.hard,
            soft: g.soft,
            reasons: g
                .reasons
                .iter()
                .map(|r| ReasonCount {
                    reason: r.reason.to_owned(),
                    count: r.count,
                })
                .collect(),
            sample: g.sample.map(|row| sample(row.record)),
        })
        .collect();
    let sources = t
        .sources
        .iter()
        .take(MAX_GROUPS)
        .map(|s| BounceSource {
            sending_ip: s.key,
            hard: s.hard,
            soft: s.soft,
            recipient_domains: u32::try_from(s.recipient_domains).unwrap_or(u32::MAX),
            provider_families: s.families.iter().map(|f| f.as_str().to_owned()).collect(),
        })
        .collect();
    BounceFacts {
        sent,
        sent_basis,
        hard: t.hard,
        soft: t.soft,
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
            |_| None,
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
        let esp = aggregate(&b, Some((500, vec!["ses".to_owned()])), 1000, |_| None);
        assert_eq!(
            (esp.sent, esp.sent_basis),
            (Some(500), BounceSentBasis::EspEvents)
        );
        let mta = aggregate(&b, Some((400, vec!["postfix".to_owned()])), 1000, |_| None);
        assert_eq!(mta.sent_basis, BounceSentBasis::MtaLog);
        let none = aggregate(&b, None, 0, |_| None);
        assert_eq!(
            (none.sent, none.sent_basis),
            (None, BounceSentBasis::Unknown)
        );
    }

    #[tokio::test]
    async fn mx_records_name_the_family_of_recipient_domains_without_a_remote_host() {
        let zone = postern_dns::ZoneResolver::from_zone_text(
            "corp.example MX 10 corp-example.mail.protection.outlook.com.\n\
             plain.example MX 10 mx.plain.example.\n\
             broken.example SERVFAIL\n\
             answered.example MX 10 mx0a.pphosted.com.\n",
        )
        .unwrap();
        let zone = Arc::new(zone);
        let mx = MxFamilies::new(zone.clone(), Duration::from_secs(3600));
        let bounces = [
            bounce("a@corp.example", true, "rejected", None),
            bounce("b@corp.example", true, "rejected", None),
            bounce("c@plain.example", true, "userunknown", None),
            bounce("d@broken.example", true, "userunknown", None),
            bounce("e@gone.example", true, "userunknown", None),
            bounce(
                "f@answered.example",
                true,
                "rejected",
                Some("mx.answered.example"),
            ),
        ];
        let answers = mx.for_bounces(&bounces).await;
        let facts = aggregate(&bounces, None, 0, |d| answers.get(d).copied());
        let group = |d: &str| {
            facts
                .groups
                .iter()
                .find(|g| g.recipient_domain == d)
                .unwrap()
        };
        assert_eq!(group("corp.example").provider_family, "microsoft365");
        assert_eq!(group("corp.example").has_mx, Some(true));
        assert_eq!(group("plain.example").provider_family, "other");
        assert_eq!(group("broken.example").provider_family, "unknown");
        assert_eq!(group("broken.example").has_mx, None);
        assert_eq!(group("gone.example").has_mx, Some(false));
        // A domain whose bounce names the answering host is not looked up.
        assert_eq!(group("answered.example").provider_family, "other");
        assert!(!answers.contains_key("answered.example"));
        // Cached: a second round asks DNS nothing.
        zone.clear_queries();
        mx.for_bounces(&bounces).await;
        assert_eq!(zone.queries().len(), 0);
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
