//! The DMARC record (RFC 9989 §4.7, with the RFC 7489 tags `pct`, `rf` and `ri`): parsing
//! into typed tags plus the problems found, each at a byte position.

use crate::posture::tags::{Tag, parse_tag_list};
use serde::Serialize;

/// A parsed DMARC record. Values that could not be read are `None` (the receiver's
/// default applies) and named in `problems`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DmarcRecord {
    /// The record as published.
    pub text: String,
    /// Every well-formed tag as written, in order (the base of fixed records).
    pub tags: Vec<(String, String)>,
    /// `p`: the domain's policy.
    pub policy: Option<DmarcPolicy>,
    /// `sp`: the policy for existing subdomains.
    pub subdomain_policy: Option<DmarcPolicy>,
    /// `np`: the policy for non-existent subdomains.
    pub nonexistent_policy: Option<DmarcPolicy>,
    /// `psd`: whether the domain is a public suffix domain.
    pub psd: Option<Psd>,
    /// `t=y`: testing mode (the policy is not applied in full).
    pub testing: Option<bool>,
    /// `adkim`: DKIM alignment mode.
    pub adkim: Option<Alignment>,
    /// `aspf`: SPF alignment mode.
    pub aspf: Option<Alignment>,
    /// `rua`: aggregate report destinations.
    pub rua: Vec<ReportUri>,
    /// `ruf`: failure report destinations.
    pub ruf: Vec<ReportUri>,
    /// `fo`: failure reporting options.
    pub fo: Vec<String>,
    /// `pct` (RFC 7489 only).
    pub pct: Option<u8>,
    /// `rf` (RFC 7489 only).
    pub rf: Option<String>,
    /// `ri` (RFC 7489 only).
    pub ri: Option<u32>,
    /// Tags DMARC does not define (receivers ignore them).
    pub unknown_tags: Vec<String>,
    /// Syntax problems and values that were ignored.
    pub problems: Vec<DmarcProblem>,
}

/// A policy value (`p`, `sp`, `np`), weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

/// The `psd` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Psd {
    /// `psd=y`: a public suffix domain.
    Yes,
    /// `psd=n`: an organizational domain.
    No,
    /// `psd=u`: not said (the default).
    Unknown,
}

/// An alignment mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alignment {
    Relaxed,
    Strict,
}

/// One `rua`/`ruf` URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportUri {
    /// As written.
    pub uri: String,
    /// Byte position in the record.
    pub position: usize,
    /// The mailbox (`local@domain`) when the URI is a valid `mailto:`.
    pub address: Option<String>,
    /// The mailbox's domain, lower case.
    pub domain: Option<String>,
    /// The `!size` suffix, as written.
    pub size_limit: Option<String>,
    /// Why the URI is unusable, if it is.
    pub problem: Option<String>,
}

/// A problem in a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DmarcProblem {
    /// The tag it concerns, if one.
    pub tag: Option<String>,
    /// Byte position in the record.
    pub position: usize,
    /// For people.
    pub message: String,
}

/// Why a text is not a DMARC record at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmarcParseError {
    /// The record does not start with `v=DMARC1` (receivers discard it).
    #[error("not a DMARC record at {position}: {reason}")]
    NotDmarc {
        /// Byte position of the problem.
        position: usize,
        /// What is wrong.
        reason: String,
    },
}

impl DmarcPolicy {
    /// The tag value (`none`, `quarantine`, `reject`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Quarantine => "quarantine",
            Self::Reject => "reject",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "none" => Some(Self::None),
            "quarantine" => Some(Self::Quarantine),
            "reject" => Some(Self::Reject),
            _ => None,
        }
    }
}

impl DmarcRecord {
    /// True when receivers apply the policy in full: `p` is quarantine or reject, `pct`
    /// is absent or 100 and `t=y` is not set (what BIMI requires).
    pub fn is_enforced(&self) -> bool {
        matches!(
            self.policy,
            Some(DmarcPolicy::Quarantine | DmarcPolicy::Reject)
        ) && self.pct.is_none_or(|p| p == 100)
            && self.testing != Some(true)
    }

    /// The usable aggregate report destinations.
    pub fn valid_rua(&self) -> impl Iterator<Item = &ReportUri> {
        self.rua.iter().filter(|u| u.problem.is_none())
    }

    fn problem(&mut self, tag: &Tag<'_>, message: impl Into<String>) {
        self.problems.push(DmarcProblem {
            tag: Some(tag.name.to_ascii_lowercase()),
            position: tag.value_at,
            message: format!("{}: {}", tag.name, message.into()),
        });
    }

    fn read(&mut self, tag: &Tag<'_>) {
        let value = tag.value;
        let lower = value.to_ascii_lowercase();
        match tag.name.to_ascii_lowercase().as_str() {
            "v" => self.problem(tag, "v must be the first tag"),
            "p" | "sp" | "np" => match DmarcPolicy::parse(value) {
                Some(policy) => match tag.name.to_ascii_lowercase().as_str() {
                    "p" => self.policy = Some(policy),
                    "sp" => self.subdomain_policy = Some(policy),
                    _ => self.nonexistent_policy = Some(policy),
                },
                None => self.problem(tag, format!("{value:?} is not none, quarantine or reject")),
            },
            "psd" => match lower.as_str() {
                "y" => self.psd = Some(Psd::Yes),
                "n" => self.psd = Some(Psd::No),
                "u" => self.psd = Some(Psd::Unknown),
                _ => self.problem(tag, format!("{value:?} is not y, n or u")),
            },
            "t" => match lower.as_str() {
                "y" => self.testing = Some(true),
                "n" => self.testing = Some(false),
                _ => self.problem(tag, format!("{value:?} is not y or n")),
            },
            "adkim" | "aspf" => {
                let mode = match lower.as_str() {
                    "r" => Alignment::Relaxed,
                    "s" => Alignment::Strict,
                    _ => return self.problem(tag, format!("{value:?} is not r or s")),
                };
                if tag.name.eq_ignore_ascii_case("adkim") {
                    self.adkim = Some(mode);
                } else {
                    self.aspf = Some(mode);
                }
            }
            "rua" | "ruf" => {
                let uris = parse_uris(value, tag.value_at);
                if uris.is_empty() {
                    self.problem(tag, "no URI");
                }
                if tag.name.eq_ignore_ascii_case("rua") {
                    self.rua = uris;
                } else {
                    self.ruf = uris;
                }
            }
            "fo" => {
                let options: Vec<String> = value.split(':').map(|o| o.trim().to_owned()).collect();
                match options
                    .iter()
                    .find(|o| !matches!(o.as_str(), "0" | "1" | "d" | "s"))
                {
                    Some(bad) => self.problem(tag, format!("{bad:?} is not 0, 1, d or s")),
                    None => self.fo = options,
                }
            }
            "pct" => match value.parse::<u8>() {
                Ok(pct) if pct <= 100 => self.pct = Some(pct),
                _ => self.problem(tag, format!("{value:?} is not a percentage 0-100")),
            },
            "rf" => {
                if value
                    .split(':')
                    .all(|f| f.trim().eq_ignore_ascii_case("afrf"))
                {
                    self.rf = Some(value.to_owned());
                } else {
                    self.problem(tag, format!("{value:?}: the only report format is afrf"));
                }
            }
            "ri" => match value.parse::<u32>() {
                Ok(ri) => self.ri = Some(ri),
                Err(_) => self.problem(tag, format!("{value:?} is not a number of seconds")),
            },
            _ => self.unknown_tags.push(tag.name.to_owned()),
        }
    }
}

/// True when `text` starts with a `v=DMARC1` tag (any case, white space allowed): the
/// records receivers consider at a `_dmarc` name.
pub fn is_dmarc1(text: &str) -> bool {
    let list = parse_tag_list(text);
    list.tags.first().is_some_and(|t| {
        t.name == "v" && t.span.start == 0 && t.value.eq_ignore_ascii_case("DMARC1")
    })
}

/// Parses a DMARC record. Fails only when the text does not start with `v=DMARC1`;
/// every other problem is kept in [`DmarcRecord::problems`] and the tag concerned left
/// unset.
pub fn parse_dmarc(text: &str) -> Result<DmarcRecord, DmarcParseError> {
    let list = parse_tag_list(text);
    let Some(first) = list.tags.first() else {
        return Err(DmarcParseError::NotDmarc {
            position: 0,
            reason: "no tags".to_owned(),
        });
    };
    if first.name != "v" || !first.value.eq_ignore_ascii_case("DMARC1") {
        return Err(DmarcParseError::NotDmarc {
            position: first.name_at,
            reason: "the first tag must be v=DMARC1".to_owned(),
        });
    }
    if let Some(problem) = list.problems.iter().find(|p| p.position < first.name_at) {
        return Err(DmarcParseError::NotDmarc {
            position: problem.position,
            reason: problem.message.clone(),
        });
    }
    let mut record = DmarcRecord {
        text: text.to_owned(),
        tags: list
            .tags
            .iter()
            .map(|t| (t.name.to_owned(), t.value.to_owned()))
            .collect(),
        policy: None,
        subdomain_policy: None,
        nonexistent_policy: None,
        psd: None,
        testing: None,
        adkim: None,
        aspf: None,
        rua: Vec::new(),
        ruf: Vec::new(),
        fo: Vec::new(),
        pct: None,
        rf: None,
        ri: None,
        unknown_tags: Vec::new(),
        problems: list
            .problems
            .iter()
            .map(|p| DmarcProblem {
                tag: None,
                position: p.position,
                message: p.message.clone(),
            })
            .collect(),
    };
    if first.value != "DMARC1" {
        record.problem(first, "the version is DMARC1, in upper case");
    }
    for tag in list.tags.iter().skip(1) {
        record.read(tag);
    }
    if record.policy.is_none()
        && !record
            .problems
            .iter()
            .any(|p| p.tag.as_deref() == Some("p"))
    {
        record.problems.push(DmarcProblem {
            tag: Some("p".to_owned()),
            position: text.len(),
            message: "no p= tag".to_owned(),
        });
    }
    record.problems.sort_by_key(|p| p.position);
    Ok(record)
}

/// Splits a `rua`/`ruf` value into URIs (comma-separated) and checks each.
fn parse_uris(value: &str, value_at: usize) -> Vec<ReportUri> {
    let mut out = Vec::new();
    let mut offset = 0;
    for raw in value.split(',') {
        let lead = raw.len() - raw.trim_start().len();
        let uri = raw.trim();
        let position = value_at + offset + lead;
        offset += raw.len() + 1;
        if uri.is_empty() {
            continue;
        }
        out.push(parse_uri(uri, position));
    }
    out
}

fn parse_uri(uri: &str, position: usize) -> ReportUri {
    let mut report = ReportUri {
        uri: uri.to_owned(),
        position,
        address: None,
        domain: None,
        size_limit: None,
        problem: None,
    };
    let (body, size) = match uri.rsplit_once('!') {
        Some((body, size)) => (body, Some(size)),
        None => (uri, None),
    };
    if let Some(size) = size {
        let digits = size.trim_end_matches(['k', 'm', 'g', 't', 'K', 'M', 'G', 'T']);
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || size.len() - digits.len() > 1
        {
            report.problem = Some(format!(
                "size limit {size:?} is not digits with an optional k, m, g or t"
            ));
            return report;
        }
        report.size_limit = Some(size.to_owned());
    }
    let Some(scheme_end) = body.find(':') else {
        report.problem = Some("not a URI (no scheme)".to_owned());
        return report;
    };
    if !body[..scheme_end].eq_ignore_ascii_case("mailto") {
        report.problem = Some(format!(
            "{} URIs are not supported; DMARC reports are sent to mailto: URIs",
            &body[..scheme_end]
        ));
        return report;
    }
    let mailbox = body[scheme_end + 1..]
        .split('?')
        .next()
        .unwrap_or_default()
        .replace("%40", "@");
    match mailbox.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && valid_domain(domain) => {
            report.domain = Some(domain.to_ascii_lowercase());
            report.address = Some(mailbox.clone());
        }
        _ => report.problem = Some(format!("{mailbox:?} is not an email address")),
    }
    report
}

/// A host name of at least two labels of letters, digits and inner hyphens.
pub(crate) fn valid_domain(domain: &str) -> bool {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    domain.len() <= 253
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_is_read() {
        let r = parse_dmarc(
            "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=n; t=y; adkim=s; aspf=r; \
             rua=mailto:agg@example.com,mailto:x@reports.example.net!10m; \
             ruf=mailto:f@example.com; fo=1:d; pct=50; rf=afrf; ri=3600",
        )
        .unwrap();
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.policy, Some(DmarcPolicy::Reject));
        assert_eq!(r.subdomain_policy, Some(DmarcPolicy::Quarantine));
        assert_eq!(r.nonexistent_policy, Some(DmarcPolicy::Reject));
        assert_eq!(r.psd, Some(Psd::No));
        assert_eq!(r.testing, Some(true));
        assert_eq!(
            (r.adkim, r.aspf),
            (Some(Alignment::Strict), Some(Alignment::Relaxed))
        );
        assert_eq!(r.rua.len(), 2);
        assert_eq!(r.rua[1].domain.as_deref(), Some("reports.example.net"));
        assert_eq!(r.rua[1].size_limit.as_deref(), Some("10m"));
        assert_eq!(r.ruf[0].address.as_deref(), Some("f@example.com"));
        assert_eq!(r.fo, ["1", "d"]);
        assert_eq!(
            (r.pct, r.rf.as_deref(), r.ri),
            (Some(50), Some("afrf"), Some(3600))
        );
        assert!(!r.is_enforced());
    }

    #[test]
    fn v_must_come_first() {
        assert!(matches!(
            parse_dmarc("p=reject; v=DMARC1"),
            Err(DmarcParseError::NotDmarc { position: 0, .. })
        ));
        assert!(parse_dmarc("").is_err());
        assert!(parse_dmarc("v=spf1 -all").is_err());
        assert!(!is_dmarc1("p=reject; v=DMARC1"));
        assert!(is_dmarc1("v = DMARC1 ;p=none"));
        assert!(!is_dmarc1(" garbage; v=DMARC1"));
    }

    #[test]
    fn bad_values_are_problems_at_their_position() {
        let text = "v=DMARC1; p=block; pct=150; rua=https://example.com/r; x=1; p=none";
        let r = parse_dmarc(text).unwrap();
        assert_eq!(r.policy, None);
        let positions: Vec<_> = r.problems.iter().map(|p| p.position).collect();
        assert_eq!(
            positions,
            [
                text.find("block").unwrap(),
                text.find("150").unwrap(),
                text.rfind("p=none").unwrap(),
            ]
        );
        assert_eq!(r.unknown_tags, ["x"]);
        assert!(r.rua[0].problem.as_deref().unwrap().contains("https"));
    }

    #[test]
    fn report_uris_are_checked() {
        let r = parse_dmarc(
            "v=DMARC1; p=none; rua=mailto:ok@example.com!20k, mailto:nope, mailto:a@b.example!big, mailto:c@example.org?subject=x",
        )
        .unwrap();
        let problems: Vec<_> = r.rua.iter().map(|u| u.problem.is_some()).collect();
        assert_eq!(problems, [false, true, true, false]);
        assert_eq!(r.rua[3].address.as_deref(), Some("c@example.org"));
        assert_eq!(r.valid_rua().count(), 2);
    }

    #[test]
    fn a_missing_p_is_a_problem() {
        let r = parse_dmarc("v=DMARC1; rua=mailto:a@example.com").unwrap();
        assert_eq!(r.problems[0].tag.as_deref(), Some("p"));
    }
}
