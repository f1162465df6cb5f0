//! Bounce triage: a window's bounces of one sending domain grouped by recipient domain (with
//! the provider family that runs the recipient's mail), by provider family, by campaign and
//! by sending IP address, with hard/soft counts, reasons and the hard-bounce rate of the sent
//! volume. Pure: the caller reads the bounces and, for recipient domains whose bounces name
//! no answering host, supplies what the recipient domain's MX says ([`MxInfo`]).
//!
//! Made for a million bounces a window: one pass, no allocation per bounce (keys are
//! borrowed from the records, recipient domains interned to indices, distinct addresses kept
//! per domain as borrowed strings), provider families worked out once per recipient domain
//! and answering host rather than once per bounce.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

/// Who runs a recipient domain's mail, from its MX host names (or the host that answered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProviderFamily {
    /// Exchange Online: `*.mail.protection.outlook.com`.
    Microsoft365,
    /// Google Workspace and Gmail: `aspmx.l.google.com`, `gmail-smtp-in.l.google.com`.
    Google,
    /// Yahoo and AOL: `*.yahoodns.net`.
    Yahoo,
    /// iCloud: `*.mail.icloud.com`.
    Apple,
    /// Proofpoint: `*.pphosted.com`, `*.ppe-hosted.com`.
    Proofpoint,
    /// Mimecast: `*.mimecast.com`.
    Mimecast,
    /// A host is known but belongs to none of the above.
    Other,
    /// No host is known.
    Unknown,
}

/// What a recipient domain's MX lookup said, for [`triage`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MxInfo {
    /// The provider family of the MX hosts; `None` when there are none to tell by.
    pub family: Option<ProviderFamily>,
    /// Whether the domain has MX records; `None` when the lookup failed.
    pub has_mx: Option<bool>,
}

/// What a stored bounce is, for triage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriageKind {
    /// Refused for good (or given up on).
    Bounced,
    /// Refused for now.
    Deferred,
    /// A complaint: not counted as a bounce.
    Complained,
}

/// The fields of one bounce that triage reads; implemented by the store's bounce rows and by
/// the benchmark's generated bounces.
pub trait TriageRecord {
    /// The recipient address.
    fn recipient(&self) -> &str;
    /// The recipient's domain, lower case.
    fn recipient_domain(&self) -> &str;
    /// Bounced, deferred or complained.
    fn kind(&self) -> TriageKind;
    /// Whether the bounce is permanent.
    fn hard(&self) -> bool;
    /// The Sisimai reason name.
    fn reason(&self) -> &str;
    /// The host that answered for the recipient (the DSN's remote MTA), when known.
    fn remote_host(&self) -> Option<&str>;
    /// The receiver's diagnostic text.
    fn diagnostic(&self) -> &str;
    /// The address the message was sent from, when known.
    fn sending_ip(&self) -> Option<IpAddr>;
    /// The campaign (a configured header of the original message or an ESP tag), when known.
    fn campaign(&self) -> Option<&str>;
}

/// How often one reason occurred.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasonTally<'a> {
    /// The Sisimai reason name.
    pub reason: &'a str,
    /// Bounces with it.
    pub count: u64,
}

/// The bounces to one recipient domain.
#[derive(Debug)]
pub struct DomainGroup<'a, B> {
    /// The recipient domain.
    pub recipient_domain: &'a str,
    /// Who runs its mail.
    pub family: ProviderFamily,
    /// Whether it has MX records: `Some(false)` also when its bounces say the host is unknown.
    pub has_mx: Option<bool>,
    /// Distinct recipient addresses that bounced.
    pub addresses: u64,
    /// Hard bounces.
    pub hard: u64,
    /// Soft bounces (deferrals and temporary failures).
    pub soft: u64,
    /// By reason, most first.
    pub reasons: Vec<ReasonTally<'a>>,
    /// A representative bounce: the newest hard one, else the newest one (the input is
    /// newest first).
    pub sample: Option<&'a B>,
}

/// The bounces of one provider family, of one campaign or from one sending address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyGroup<'a, K> {
    /// The family, campaign or address.
    pub key: K,
    /// Hard bounces.
    pub hard: u64,
    /// Soft bounces.
    pub soft: u64,
    /// Distinct recipient domains that bounced.
    pub recipient_domains: u64,
    /// Distinct recipient addresses that bounced (summed over recipient domains).
    pub addresses: u64,
    /// The provider families of those recipient domains.
    pub families: Vec<ProviderFamily>,
    /// By reason, most first.
    pub reasons: Vec<ReasonTally<'a>>,
}

/// A window's bounces, grouped.
#[derive(Debug)]
pub struct Triage<'a, B> {
    /// Messages sent over the window, when known.
    pub sent: Option<u64>,
    /// Hard bounces in total.
    pub hard: u64,
    /// Soft bounces in total.
    pub soft: u64,
    /// Complaints (not counted as bounces).
    pub complaints: u64,
    /// By recipient domain, most bounces first.
    pub domains: Vec<DomainGroup<'a, B>>,
    /// By provider family, most bounces first.
    pub families: Vec<KeyGroup<'a, ProviderFamily>>,
    /// By campaign, most bounces first (bounces without a campaign are left out).
    pub campaigns: Vec<KeyGroup<'a, &'a str>>,
    /// By sending address, most bounces first (bounces without one are left out).
    pub sources: Vec<KeyGroup<'a, IpAddr>>,
}

/// A group while counting: per recipient domain, campaign or source.
#[derive(Default)]
struct Acc<'a> {
    hard: u64,
    soft: u64,
    /// Reason counts; at most the size of the reason vocabulary, so a short list.
    reasons: Vec<ReasonTally<'a>>,
}

struct DomainAcc<'a> {
    name: &'a str,
    counts: Acc<'a>,
    addresses: HashSet<&'a str>,
    family: Option<ProviderFamily>,
    /// The last answering host whose family was looked for (to do it once per host).
    last_host: Option<&'a str>,
    saw_host: bool,
    /// The first diagnostic text of a bounce without a host (the fallback evidence).
    diagnostic: Option<&'a str>,
    host_unknown: bool,
    hard_sample: Option<usize>,
    any_sample: Option<usize>,
}

/// A campaign's or source's recipient domains, as interned indices.
#[derive(Default)]
struct KeyAcc<'a> {
    counts: Acc<'a>,
    domains: HashSet<u32>,
}

impl ProviderFamily {
    /// Every family, in a fixed order.
    pub const ALL: [ProviderFamily; 8] = [
        Self::Microsoft365,
        Self::Google,
        Self::Yahoo,
        Self::Apple,
        Self::Proofpoint,
        Self::Mimecast,
        Self::Other,
        Self::Unknown,
    ];

    /// The name used in facts and the API: `microsoft365`, `google`, `yahoo`, `apple`,
    /// `proofpoint`, `mimecast`, `other`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Microsoft365 => "microsoft365",
            Self::Google => "google",
            Self::Yahoo => "yahoo",
            Self::Apple => "apple",
            Self::Proofpoint => "proofpoint",
            Self::Mimecast => "mimecast",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }

    /// The family a host name (or a text naming one) belongs to; `None` when it names none
    /// of the known providers. Case-insensitive, without allocating.
    pub fn of_host(text: &str) -> Option<ProviderFamily> {
        const MARKS: [(ProviderFamily, &[&str]); 6] = [
            (
                ProviderFamily::Microsoft365,
                &[
                    "mail.protection.outlook.com",
                    "outlook.com",
                    "protection.office365",
                ],
            ),
            (
                ProviderFamily::Google,
                &[
                    "aspmx.l.google.com",
                    ".google.com",
                    "googlemail.com",
                    "gmail-smtp-in",
                ],
            ),
            (ProviderFamily::Yahoo, &["yahoodns.net", "yahoo.com"]),
            (
                ProviderFamily::Apple,
                &["mail.icloud.com", "icloud.com", "me.com"],
            ),
            (
                ProviderFamily::Proofpoint,
                &["pphosted.com", "ppe-hosted.com"],
            ),
            (
                ProviderFamily::Mimecast,
                &["mimecast.com", "mimecast-offshore.com"],
            ),
        ];
        MARKS
            .iter()
            .find(|(_, marks)| marks.iter().any(|m| contains_ignore_case(text, m)))
            .map(|(family, _)| *family)
    }

    /// The family of a domain's MX host names: the first host that names a known provider,
    /// else `Other` when there are hosts, else `None`.
    pub fn of_mx_hosts<'h>(hosts: impl IntoIterator<Item = &'h str>) -> Option<ProviderFamily> {
        let mut any = false;
        for host in hosts {
            any = true;
            if let Some(f) = Self::of_host(host) {
                return Some(f);
            }
        }
        any.then_some(ProviderFamily::Other)
    }
}

impl<'a> Acc<'a> {
    fn add(&mut self, hard: bool, reason: &'a str) {
        if hard {
            self.hard += 1;
        } else {
            self.soft += 1;
        }
        match self.reasons.iter_mut().find(|r| r.reason == reason) {
            Some(r) => r.count += 1,
            None => self.reasons.push(ReasonTally { reason, count: 1 }),
        }
    }

    fn merge(&mut self, other: &Acc<'a>) {
        self.hard += other.hard;
        self.soft += other.soft;
        for r in &other.reasons {
            match self.reasons.iter_mut().find(|x| x.reason == r.reason) {
                Some(x) => x.count += r.count,
                None => self.reasons.push(*r),
            }
        }
    }

    fn sorted_reasons(mut self) -> Vec<ReasonTally<'a>> {
        self.reasons
            .sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(b.reason)));
        self.reasons
    }
}

impl<B> Triage<'_, B> {
    /// The hard-bounce rate of the sent volume in basis points (1/100 of a percent), when the
    /// sent volume is known and not zero.
    pub fn hard_rate_bp(&self) -> Option<u64> {
        let sent = self.sent.filter(|s| *s > 0)?;
        Some(self.hard.saturating_mul(10_000) / sent)
    }
}

/// Groups `bounces` (newest first) of one sending domain over a window. `sent` is the sent
/// volume of the window when known; `mx` answers for a recipient domain whose bounces name no
/// host that tells its provider family (asked once per such domain, so the caller may look
/// it up and cache it).
pub fn triage<'a, B: TriageRecord>(
    bounces: &'a [B],
    sent: Option<u64>,
    mx: impl Fn(&str) -> Option<MxInfo>,
) -> Triage<'a, B> {
    let mut index: HashMap<&'a str, u32> = HashMap::new();
    let mut domains: Vec<DomainAcc<'a>> = Vec::new();
    let mut campaigns: HashMap<&'a str, KeyAcc<'a>> = HashMap::new();
    let mut sources: HashMap<IpAddr, KeyAcc<'a>> = HashMap::new();
    let (mut hard, mut soft, mut complaints) = (0, 0, 0);
    for (i, b) in bounces.iter().enumerate() {
        let kind = b.kind();
        if kind == TriageKind::Complained {
            complaints += 1;
            continue;
        }
        let is_hard = b.hard() && kind == TriageKind::Bounced;
        let reason = b.reason();
        let name = b.recipient_domain();
        let d = match index.get(name) {
            Some(&d) => d,
            None => {
                let d = u32::try_from(domains.len()).unwrap_or(u32::MAX);
                index.insert(name, d);
                domains.push(DomainAcc::new(name));
                d
            }
        };
        let Some(g) = domains.get_mut(d as usize) else {
            continue;
        };
        g.counts.add(is_hard, reason);
        g.addresses.insert(b.recipient());
        g.observe_host(b.remote_host(), b.diagnostic());
        if reason == "hostunknown" {
            g.host_unknown = true;
        }
        if g.any_sample.is_none() {
            g.any_sample = Some(i);
        }
        if is_hard {
            hard += 1;
            if g.hard_sample.is_none() {
                g.hard_sample = Some(i);
            }
        } else {
            soft += 1;
        }
        if let Some(c) = b.campaign().filter(|c| !c.is_empty()) {
            let acc = campaigns.entry(c).or_default();
            acc.counts.add(is_hard, reason);
            acc.domains.insert(d);
        }
        if let Some(ip) = b.sending_ip() {
            let acc = sources.entry(ip).or_default();
            acc.counts.add(is_hard, reason);
            acc.domains.insert(d);
        }
    }

    // One family and MX answer per recipient domain.
    let resolved: Vec<(ProviderFamily, Option<bool>, u64)> = domains
        .iter()
        .map(|g| {
            let asked = if g.saw_host { None } else { mx(g.name) };
            let family = g
                .family
                .or_else(|| asked.and_then(|m| m.family))
                .or_else(|| g.diagnostic.and_then(ProviderFamily::of_host))
                .unwrap_or(if g.saw_host {
                    ProviderFamily::Other
                } else {
                    ProviderFamily::Unknown
                });
            let has_mx = if g.host_unknown {
                Some(false)
            } else {
                asked.and_then(|m| m.has_mx)
            };
            (family, has_mx, g.addresses.len() as u64)
        })
        .collect();

    let mut by_family: HashMap<ProviderFamily, (Acc<'a>, u64, u64)> = HashMap::new();
    for (g, (family, _, addresses)) in domains.iter().zip(&resolved) {
        let (acc, count, addr) = by_family.entry(*family).or_default();
        acc.merge(&g.counts);
        *count += 1;
        *addr += addresses;
    }
    let families = by_family
        .into_iter()
        .map(|(family, (acc, recipient_domains, addresses))| KeyGroup {
            key: family,
            hard: acc.hard,
            soft: acc.soft,
            recipient_domains,
            addresses,
            families: vec![family],
            reasons: acc.sorted_reasons(),
        })
        .collect();
    let keyed = |acc: KeyAcc<'a>| {
        let mut families: Vec<ProviderFamily> = acc
            .domains
            .iter()
            .filter_map(|&d| resolved.get(d as usize).map(|r| r.0))
            .collect();
        families.sort();
        families.dedup();
        let addresses = acc
            .domains
            .iter()
            .filter_map(|&d| resolved.get(d as usize).map(|r| r.2))
            .sum();
        (
            acc.counts.hard,
            acc.counts.soft,
            acc.domains.len() as u64,
            addresses,
            families,
            acc.counts.sorted_reasons(),
        )
    };
    let campaigns = campaigns
        .into_iter()
        .map(|(key, acc)| {
            let (hard, soft, recipient_domains, addresses, families, reasons) = keyed(acc);
            KeyGroup {
                key,
                hard,
                soft,
                recipient_domains,
                addresses,
                families,
                reasons,
            }
        })
        .collect();
    let sources = sources
        .into_iter()
        .map(|(key, acc)| {
            let (hard, soft, recipient_domains, addresses, families, reasons) = keyed(acc);
            KeyGroup {
                key,
                hard,
                soft,
                recipient_domains,
                addresses,
                families,
                reasons,
            }
        })
        .collect();
    let domains = domains
        .into_iter()
        .zip(resolved)
        .map(|(g, (family, has_mx, addresses))| DomainGroup {
            recipient_domain: g.name,
            family,
            has_mx,
            addresses,
            hard: g.counts.hard,
            soft: g.counts.soft,
            reasons: g.counts.sorted_reasons(),
            sample: g.hard_sample.or(g.any_sample).and_then(|i| bounces.get(i)),
        })
        .collect();
    let mut out = Triage {
        sent,
        hard,
        soft,
        complaints,
        domains,
        families,
        campaigns,
        sources,
    };
    out.domains.sort_by(|a, b| {
        (b.hard + b.soft)
            .cmp(&(a.hard + a.soft))
            .then(a.recipient_domain.cmp(b.recipient_domain))
    });
    sort_groups(&mut out.families);
    sort_groups(&mut out.campaigns);
    sort_groups(&mut out.sources);
    out
}

impl<'a> DomainAcc<'a> {
    fn new(name: &'a str) -> Self {
        DomainAcc {
            name,
            counts: Acc::default(),
            addresses: HashSet::new(),
            family: None,
            last_host: None,
            saw_host: false,
            diagnostic: None,
            host_unknown: false,
            hard_sample: None,
            any_sample: None,
        }
    }

    /// Works out the family from the answering host, once per distinct host, until one
    /// names a known provider; keeps the first host-less diagnostic as fallback evidence.
    fn observe_host(&mut self, host: Option<&'a str>, diagnostic: &'a str) {
        if self.family.is_some() {
            return;
        }
        match host.filter(|h| !h.is_empty()) {
            Some(h) => {
                self.saw_host = true;
                if self.last_host != Some(h) {
                    self.last_host = Some(h);
                    self.family = ProviderFamily::of_host(h);
                }
            }
            None => {
                if self.diagnostic.is_none() && !diagnostic.is_empty() {
                    self.diagnostic = Some(diagnostic);
                }
            }
        }
    }
}

fn sort_groups<K: Ord>(groups: &mut [KeyGroup<'_, K>]) {
    groups.sort_by(|a, b| {
        (b.hard + b.soft)
            .cmp(&(a.hard + a.soft))
            .then(a.key.cmp(&b.key))
    });
}

/// Whether `hay` contains `needle` (lower case ASCII), ignoring ASCII case.
fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.len() >= n.len()
        && h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct B {
        recipient: &'static str,
        kind: TriageKind,
        hard: bool,
        reason: &'static str,
        host: Option<&'static str>,
        ip: Option<IpAddr>,
        campaign: Option<&'static str>,
    }

    impl TriageRecord for B {
        fn recipient(&self) -> &str {
            self.recipient
        }
        fn recipient_domain(&self) -> &str {
            self.recipient.rsplit('@').next().unwrap_or_default()
        }
        fn kind(&self) -> TriageKind {
            self.kind
        }
        fn hard(&self) -> bool {
            self.hard
        }
        fn reason(&self) -> &str {
            self.reason
        }
        fn remote_host(&self) -> Option<&str> {
            self.host
        }
        fn diagnostic(&self) -> &str {
            "550 5.4.1 Recipient address rejected: Access denied"
        }
        fn sending_ip(&self) -> Option<IpAddr> {
            self.ip
        }
        fn campaign(&self) -> Option<&str> {
            self.campaign
        }
    }

    fn b(recipient: &'static str, hard: bool, reason: &'static str) -> B {
        B {
            recipient,
            kind: if hard {
                TriageKind::Bounced
            } else {
                TriageKind::Deferred
            },
            hard,
            reason,
            host: None,
            ip: "192.0.2.10".parse().ok(),
            campaign: None,
        }
    }

    #[test]
    fn bounces_group_by_domain_family_campaign_and_source() {
        let ms = Some("tenant-example.mail.protection.outlook.com");
        let other_ip: Option<IpAddr> = "198.51.100.7".parse().ok();
        let bounces = [
            B {
                host: ms,
                campaign: Some("spring"),
                ..b("a@tenant.example", true, "rejected")
            },
            B {
                host: ms,
                campaign: Some("spring"),
                ..b("b@tenant.example", true, "rejected")
            },
            B {
                host: ms,
                ..b("a@tenant.example", true, "rejected")
            },
            B {
                host: Some("gmail-smtp-in.l.google.com"),
                campaign: Some("news"),
                ip: other_ip,
                ..b("x@gmail.com", false, "mailboxfull")
            },
            b("y@nowhere.example", true, "hostunknown"),
            B {
                kind: TriageKind::Complained,
                ..b("z@gmail.com", false, "feedback")
            },
        ];
        let t = triage(&bounces, Some(1000), |_| None);
        assert_eq!((t.hard, t.soft, t.complaints), (4, 1, 1));
        assert_eq!(t.hard_rate_bp(), Some(40));
        let tenant = &t.domains[0];
        assert_eq!(tenant.recipient_domain, "tenant.example");
        assert_eq!(tenant.family, ProviderFamily::Microsoft365);
        assert_eq!((tenant.addresses, tenant.hard), (2, 3));
        assert_eq!(
            tenant.reasons[0],
            ReasonTally {
                reason: "rejected",
                count: 3
            }
        );
        let nowhere = t
            .domains
            .iter()
            .find(|g| g.recipient_domain == "nowhere.example")
            .unwrap();
        assert_eq!(nowhere.has_mx, Some(false));
        assert_eq!(nowhere.family, ProviderFamily::Unknown);
        assert_eq!(t.campaigns.len(), 2);
        assert_eq!((t.campaigns[0].key, t.campaigns[0].hard), ("spring", 2));
        assert_eq!(t.campaigns[1].families, vec![ProviderFamily::Google]);
        assert_eq!(t.sources.len(), 2);
        assert_eq!(t.sources[0].recipient_domains, 2);
        assert_eq!(
            t.sources[0].families,
            vec![ProviderFamily::Microsoft365, ProviderFamily::Unknown]
        );
        assert_eq!(t.families[0].key, ProviderFamily::Microsoft365);
        assert_eq!(t.families[0].hard, 3);
    }

    #[test]
    fn the_mx_answer_names_the_family_of_domains_whose_bounces_name_no_host() {
        let bounces = [
            b("a@corp.example", true, "rejected"),
            b("b@corp.example", true, "rejected"),
        ];
        let asked = std::cell::Cell::new(0);
        let t = triage(&bounces, None, |domain| {
            asked.set(asked.get() + 1);
            assert_eq!(domain, "corp.example");
            Some(MxInfo {
                family: Some(ProviderFamily::Proofpoint),
                has_mx: Some(true),
            })
        });
        assert_eq!(asked.get(), 1);
        assert_eq!(t.domains[0].family, ProviderFamily::Proofpoint);
        assert_eq!(t.domains[0].has_mx, Some(true));
        assert_eq!(t.hard_rate_bp(), None);
        assert_eq!(t.families[0].key, ProviderFamily::Proofpoint);
    }

    #[test]
    fn the_sample_is_the_newest_hard_bounce_else_the_newest() {
        let bounces = [
            b("a@x.example", false, "mailboxfull"),
            b("b@x.example", true, "userunknown"),
            b("c@x.example", true, "userunknown"),
        ];
        let t = triage(&bounces, None, |_| None);
        assert_eq!(
            t.domains[0].sample.map(|s| s.recipient),
            Some("b@x.example")
        );
        let soft = [b("a@y.example", false, "mailboxfull")];
        let t = triage(&soft, None, |_| None);
        assert_eq!(
            t.domains[0].sample.map(|s| s.recipient),
            Some("a@y.example")
        );
    }

    #[test]
    fn provider_families_come_from_mx_host_names() {
        let f = ProviderFamily::of_host;
        assert_eq!(
            f("contoso-com.mail.protection.outlook.com"),
            Some(ProviderFamily::Microsoft365)
        );
        assert_eq!(f("MX0A-001.PPHOSTED.COM"), Some(ProviderFamily::Proofpoint));
        assert_eq!(
            f("eu-smtp-inbound-1.mimecast.com"),
            Some(ProviderFamily::Mimecast)
        );
        assert_eq!(f("mta7.am0.yahoodns.net"), Some(ProviderFamily::Yahoo));
        assert_eq!(f("mx01.mail.icloud.com"), Some(ProviderFamily::Apple));
        assert_eq!(f("mail.example.net"), None);
        assert_eq!(
            ProviderFamily::of_mx_hosts(["mx.example.net", "aspmx.l.google.com"]),
            Some(ProviderFamily::Google)
        );
        assert_eq!(
            ProviderFamily::of_mx_hosts(["mx.example.net"]),
            Some(ProviderFamily::Other)
        );
        assert_eq!(ProviderFamily::of_mx_hosts([]), None);
    }
}
