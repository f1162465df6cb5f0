//! The DNS Tree Walk of RFC 9989 §4.10: policy discovery and the organizational domain,
//! from `_dmarc` TXT records alone (no public suffix list).

use super::record::{DmarcRecord, Psd, is_dmarc1, parse_dmarc};
use postern_dns::{DnsError, Lookup, Resolver};
use serde::Serialize;

/// At most this many `_dmarc` queries per walk (RFC 9989 bounds the walk at 8).
pub(crate) const MAX_WALK_QUERIES: usize = 8;
/// Past this many labels the walk jumps to the last four (RFC 9989 §4.10 step 5).
const JUMP_LABELS: usize = 4;

/// One query of the walk and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WalkStep {
    /// The domain whose `_dmarc` name was asked for.
    pub domain: String,
    /// `record`, `none` (no DMARC record), `multiple` (all discarded) or `error: ...`.
    pub outcome: String,
}

/// A DMARC record found on the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The domain it was found for.
    pub(crate) domain: String,
    /// The record.
    pub(crate) record: DmarcRecord,
}

/// The whole walk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Walk {
    /// The queries in order.
    pub(crate) steps: Vec<WalkStep>,
    /// Every TXT record at the first name (`_dmarc.<domain>`), verbatim.
    pub(crate) own_texts: Vec<String>,
    /// How many of those start with `v=DMARC1`.
    pub(crate) own_candidates: usize,
    /// The valid records found, in walk order.
    pub(crate) found: Vec<Found>,
    /// The lookup failure that ended the walk early, and whether it hit the first name.
    pub(crate) failure: Option<(DnsError, bool)>,
}

impl Walk {
    /// The policy record: the first valid record found (RFC 9989 §4.10.1).
    pub(crate) fn policy(&self) -> Option<&Found> {
        self.found.first()
    }

    /// The organizational domain (RFC 9989 §4.10.2): the domain of a record with
    /// `psd=n`; else one label below a record with `psd=y` other than the first;
    /// else the domain with the fewest labels that has a record; else `domain`.
    /// `None` when the walk was cut short by a lookup failure before it could decide.
    pub(crate) fn org_domain(&self, domain: &str) -> Option<String> {
        if let Some(f) = self.found.iter().find(|f| f.record.psd == Some(Psd::No)) {
            return Some(f.domain.clone());
        }
        if let Some(f) = self
            .found
            .iter()
            .find(|f| f.record.psd == Some(Psd::Yes) && f.domain != domain)
        {
            return Some(one_label_below(domain, &f.domain));
        }
        if self.failure.is_some() {
            return None;
        }
        Some(
            self.found
                .iter()
                .min_by_key(|f| f.domain.split('.').count())
                .map_or_else(|| domain.to_owned(), |f| f.domain.clone()),
        )
    }
}

/// Walks from `domain` toward the root (RFC 9989 §4.10).
pub(crate) async fn walk(resolver: &dyn Resolver, domain: &str) -> Walk {
    let mut walk = Walk::default();
    for (index, target) in targets(domain).into_iter().enumerate() {
        let first = index == 0;
        let answer = resolver.txt(&format!("_dmarc.{target}")).await;
        let texts: Vec<String> = match answer {
            Ok(Lookup::Found(records)) => records
                .iter()
                .map(|t| String::from_utf8_lossy(&t.joined()).into_owned())
                .collect(),
            Ok(Lookup::NoData | Lookup::NxDomain) => Vec::new(),
            Err(error) => {
                walk.steps.push(WalkStep {
                    domain: target,
                    outcome: format!("error: {error}"),
                });
                walk.failure = Some((error, first));
                break;
            }
        };
        let candidates: Vec<&String> = texts.iter().filter(|t| is_dmarc1(t)).collect();
        let outcome = match candidates.as_slice() {
            [] => "none",
            [_] => "record",
            _ => "multiple",
        };
        let mut stop = false;
        if let [text] = candidates.as_slice()
            && let Ok(record) = parse_dmarc(text)
        {
            stop = match record.psd {
                Some(Psd::No) => true,
                Some(Psd::Yes) => !first,
                _ => false,
            };
            walk.found.push(Found {
                domain: target.clone(),
                record,
            });
        }
        if first {
            walk.own_candidates = candidates.len();
            walk.own_texts = texts;
        }
        walk.steps.push(WalkStep {
            domain: target,
            outcome: outcome.to_owned(),
        });
        if stop {
            break;
        }
    }
    walk
}

/// The domains the walk asks about, in order: the domain, then (past four labels) its
/// last four labels, then one label fewer each time down to one label.
fn targets(domain: &str) -> Vec<String> {
    let bare = domain.trim_end_matches('.').to_ascii_lowercase();
    let labels: Vec<&str> = bare.split('.').collect();
    let mut out = vec![bare.clone()];
    let mut keep = labels.len().saturating_sub(1).min(JUMP_LABELS);
    while keep >= 1 && out.len() < MAX_WALK_QUERIES {
        out.push(labels[labels.len() - keep..].join("."));
        keep -= 1;
    }
    out
}

/// The ancestor of `domain` one label longer than `psd`.
fn one_label_below(domain: &str, psd: &str) -> String {
    let labels: Vec<&str> = domain.split('.').collect();
    let keep = (psd.split('.').count() + 1).min(labels.len());
    labels[labels.len() - keep..].join(".")
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_dns::ZoneResolver;

    #[test]
    fn targets_jump_to_four_labels_then_climb() {
        assert_eq!(targets("example.com"), ["example.com", "com"]);
        assert_eq!(
            targets("a.b.c.d.e.example.com"),
            [
                "a.b.c.d.e.example.com",
                "d.e.example.com",
                "e.example.com",
                "example.com",
                "com"
            ]
        );
        assert_eq!(targets("com"), ["com"]);
    }

    #[tokio::test]
    async fn the_walk_finds_the_org_record_for_a_subdomain() {
        let zone = ZoneResolver::from_zone_text("_dmarc.example.com TXT \"v=DMARC1; p=reject\"\n")
            .unwrap();
        let walk = walk(&zone, "mail.example.com").await;
        assert_eq!(walk.policy().unwrap().domain, "example.com");
        assert_eq!(
            walk.org_domain("mail.example.com").as_deref(),
            Some("example.com")
        );
        let asked: Vec<_> = walk.steps.iter().map(|s| s.domain.as_str()).collect();
        assert_eq!(asked, ["mail.example.com", "example.com", "com"]);
    }

    #[tokio::test]
    async fn psd_tags_stop_the_walk_and_pick_the_org_domain() {
        let zone = ZoneResolver::from_zone_text(
            "_dmarc.gov.example TXT \"v=DMARC1; p=reject; psd=y\"\n\
             _dmarc.agency.gov.example TXT \"v=DMARC1; p=none; psd=n\"\n",
        )
        .unwrap();
        let w = walk(&zone, "a.b.city.gov.example").await;
        assert_eq!(w.policy().unwrap().domain, "gov.example");
        assert_eq!(
            w.org_domain("a.b.city.gov.example").as_deref(),
            Some("city.gov.example")
        );
        assert_eq!(w.steps.len(), 4);
        let w = walk(&zone, "x.agency.gov.example").await;
        assert_eq!(w.policy().unwrap().domain, "agency.gov.example");
        assert_eq!(
            w.org_domain("x.agency.gov.example").as_deref(),
            Some("agency.gov.example")
        );
        // psd=n stops the walk: the PSD record is never asked for.
        assert_eq!(w.steps.len(), 2);
    }

    #[tokio::test]
    async fn multiple_records_are_discarded_and_failures_stop_the_walk() {
        let zone = ZoneResolver::from_zone_text(
            "_dmarc.two.example TXT \"v=DMARC1; p=none\"\n\
             _dmarc.two.example TXT \"v=DMARC1; p=reject\"\n\
             _dmarc.slow.example TIMEOUT\n",
        )
        .unwrap();
        let w = walk(&zone, "two.example").await;
        assert!(w.found.is_empty());
        assert_eq!(w.own_candidates, 2);
        assert_eq!(w.steps[0].outcome, "multiple");
        let w = walk(&zone, "slow.example").await;
        assert!(matches!(w.failure, Some((_, true))));
        assert_eq!(w.org_domain("slow.example"), None);
    }
}
