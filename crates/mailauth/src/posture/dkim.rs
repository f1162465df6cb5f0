//! The DKIM posture check: for each known selector, the key record at
//! `<selector>._domainkey.<domain>` (RFC 6376 §3.6.1): present, well-formed, its type and
//! size (RFC 8301: at least 1024 bits, 2048 recommended), revoked, testing, hash algorithms.

use super::counting::Counting;
use super::tags::{TagList, parse_tag_list, rewrite};
use super::{CheckKind, CheckReport, CheckStatus, PostureFinding, RecordFix, Severity};
use base64::Engine;
use postern_dns::{Lookup, Resolver};
use serde::Serialize;

/// RFC 8301 §3.2: verifiers must not accept RSA keys shorter than this.
pub const MIN_RSA_BITS: usize = 1024;
/// RFC 8301 §3.2: signers should use at least this.
pub const RECOMMENDED_RSA_BITS: usize = 2048;

/// What was found for one selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
struct SelectorDetails {
    selector: String,
    name: String,
    /// `found`, `missing`, `multiple` or `error`.
    state: &'static str,
    record: Option<String>,
    key_type: Option<String>,
    key_bits: Option<usize>,
    revoked: bool,
    testing: bool,
}

/// A public key's algorithm and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyInfo {
    Rsa { bits: usize },
    Ed25519,
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyError {
    #[error("p= is not base64")]
    Base64,
    #[error("the key is neither a DER SubjectPublicKeyInfo nor a PKCS#1 RSAPublicKey")]
    Der,
    #[error("the SubjectPublicKeyInfo is not an RSA key")]
    NotRsa,
    #[error("an ed25519 key is 32 octets, this one is {0}")]
    Ed25519Length(usize),
}

/// Checks the DKIM key records of `selectors` under `domain`. Without selectors the
/// status is `Unknown`: selectors are learned from the DKIM results in aggregate reports.
#[tracing::instrument(name = "mailauth.posture.dkim", skip_all, fields(domain = %domain))]
pub async fn check(resolver: &dyn Resolver, domain: &str, selectors: &[String]) -> CheckReport {
    let counting = Counting::new(resolver);
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut report = CheckReport::new(CheckKind::Dkim);
    let mut unique: Vec<String> = Vec::new();
    for selector in selectors {
        let s = selector.trim().trim_end_matches('.').to_ascii_lowercase();
        if !s.is_empty() && !unique.contains(&s) {
            unique.push(s);
        }
    }
    if unique.is_empty() {
        report.status = CheckStatus::Unknown;
        report.findings.push(PostureFinding::new(
            "dkim.no_selectors",
            Severity::Info,
            "no DKIM selectors are known for this domain yet; they are learned from the DKIM \
             results in aggregate reports, so DKIM is checked once reports have arrived",
        ));
        report.details = serde_json::json!({ "selectors": [] });
        return report.finish();
    }
    let lookups = futures::future::join_all(unique.iter().map(|selector| {
        let name = format!("{selector}._domainkey.{domain}");
        let counting = &counting;
        async move {
            let answer = counting.txt(&name).await;
            (selector.clone(), name, answer)
        }
    }))
    .await;
    let mut details = Vec::new();
    let mut failed = 0;
    for (selector, name, answer) in lookups {
        let mut d = SelectorDetails {
            selector: selector.clone(),
            name: name.clone(),
            state: "found",
            record: None,
            key_type: None,
            key_bits: None,
            revoked: false,
            testing: false,
        };
        match answer {
            Err(error) => {
                failed += 1;
                d.state = "error";
                report.findings.push(PostureFinding::new(
                    "dkim.lookup_failed",
                    Severity::Info,
                    format!("selector {selector}: the key could not be looked up: {error}"),
                ));
            }
            Ok(Lookup::NoData | Lookup::NxDomain) => {
                d.state = "missing";
                report.findings.push(PostureFinding::new(
                    "dkim.key_missing",
                    Severity::High,
                    format!(
                        "selector {selector} signs mail for {domain} but {name} has no key \
                         record: its signatures fail"
                    ),
                ));
            }
            Ok(Lookup::Found(records)) => {
                let texts: Vec<String> = records
                    .iter()
                    .map(|t| String::from_utf8_lossy(&t.joined()).into_owned())
                    .collect();
                report.records.extend(texts.iter().cloned());
                if texts.len() > 1 {
                    d.state = "multiple";
                    report.findings.push(PostureFinding::new(
                        "dkim.multiple_records",
                        Severity::High,
                        format!(
                            "{} TXT records at {name}; verifiers may pick either and fail. \
                             Keep exactly one",
                            texts.len()
                        ),
                    ));
                }
                if let Some(text) = texts.first() {
                    d.record = Some(text.clone());
                    key_findings(&selector, &name, text, &mut d, &mut report.findings);
                }
            }
        }
        details.push(d);
    }
    if failed == details.len() {
        report.status = CheckStatus::Unknown;
    } else if details
        .iter()
        .all(|d| d.state == "missing" || d.state == "error")
    {
        report.status = CheckStatus::Missing;
    }
    report.details = serde_json::json!({ "selectors": details });
    report.queries = counting.count();
    report.finish()
}

/// Judges one key record.
fn key_findings(
    selector: &str,
    name: &str,
    text: &str,
    d: &mut SelectorDetails,
    findings: &mut Vec<PostureFinding>,
) {
    let list: TagList<'_> = parse_tag_list(text);
    let finding = |code: &str, severity, message: String| {
        PostureFinding::new(code, severity, format!("selector {selector}: {message}"))
            .subject(text.to_owned())
    };
    for problem in &list.problems {
        findings.push(
            finding("dkim.syntax", Severity::High, problem.message.clone()).at(problem.position),
        );
    }
    if let Some(v) = list.get("v") {
        let first = list
            .tags
            .first()
            .is_some_and(|t| t.name.eq_ignore_ascii_case("v"));
        if !first || v.value != "DKIM1" {
            findings.push(
                finding(
                    "dkim.syntax",
                    Severity::High,
                    "v= must be the first tag and be DKIM1; verifiers reject the key otherwise"
                        .to_owned(),
                )
                .at(v.name_at),
            );
        }
    }
    let key_type = list
        .get("k")
        .map_or("rsa", |k| k.value)
        .to_ascii_lowercase();
    d.key_type = Some(key_type.clone());
    let Some(p) = list.get("p") else {
        findings.push(finding(
            "dkim.syntax",
            Severity::High,
            "no p= tag: the record holds no key".to_owned(),
        ));
        return;
    };
    let tags: Vec<(String, String)> = list
        .tags
        .iter()
        .map(|t| (t.name.to_owned(), t.value.to_owned()))
        .collect();
    if let Some(flags) = list.get("t")
        && flags
            .value
            .split(':')
            .any(|f| f.trim().eq_ignore_ascii_case("y"))
    {
        d.testing = true;
        findings.push(finding(
            "dkim.testing",
            Severity::Low,
            "t=y: the key is in testing mode, verifiers may treat its signatures as unsigned"
                .to_owned(),
        ));
    }
    if let Some(h) = list.get("h") {
        let hashes: Vec<String> = h
            .value
            .split(':')
            .map(|x| x.trim().to_ascii_lowercase())
            .collect();
        if !hashes.iter().any(|x| x == "sha256") {
            findings.push(
                finding(
                    "dkim.sha1_only",
                    Severity::High,
                    format!(
                        "h={} allows no sha256: RFC 8301 forbids sha1, so verifiers fail every \
                         signature made with this key",
                        h.value
                    ),
                )
                .at(h.value_at)
                .fix(RecordFix {
                    name: name.to_owned(),
                    rtype: "TXT".to_owned(),
                    current: Some(text.to_owned()),
                    suggested: Some(rewrite(&tags, &[("h", Some("sha256".to_owned()))])),
                }),
            );
        }
    }
    let encoded: String = p
        .value
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if encoded.is_empty() {
        d.revoked = true;
        findings.push(finding(
            "dkim.revoked",
            Severity::Medium,
            "the key is revoked (empty p=): signatures with this selector fail; stop signing \
             with it or publish a new key"
                .to_owned(),
        ));
        return;
    }
    if !matches!(key_type.as_str(), "rsa" | "ed25519") {
        findings.push(finding(
            "dkim.unknown_key_type",
            Severity::High,
            format!("k={key_type} is not rsa or ed25519"),
        ));
        return;
    }
    match key_info(&key_type, &encoded) {
        Err(error) => findings
            .push(finding("dkim.key_invalid", Severity::High, error.to_string()).at(p.value_at)),
        Ok(KeyInfo::Ed25519) => d.key_bits = Some(256),
        Ok(KeyInfo::Rsa { bits }) => {
            d.key_bits = Some(bits);
            if bits < MIN_RSA_BITS {
                findings.push(finding(
                    "dkim.key_too_short",
                    Severity::High,
                    format!(
                        "a {bits}-bit RSA key: verifiers reject keys under {MIN_RSA_BITS} bits \
                         (RFC 8301); publish a {RECOMMENDED_RSA_BITS}-bit key under a new selector"
                    ),
                ));
            } else if bits < RECOMMENDED_RSA_BITS {
                findings.push(finding(
                    "dkim.key_weak",
                    Severity::Medium,
                    format!(
                        "a {bits}-bit RSA key; {RECOMMENDED_RSA_BITS} bits are recommended \
                         (RFC 8301): rotate to a longer key under a new selector"
                    ),
                ));
            }
        }
    }
}

/// Decodes `p=` and reads the key's size: RSA as a DER SubjectPublicKeyInfo (what
/// everyone publishes) or a bare PKCS#1 RSAPublicKey (what RFC 6376 literally says),
/// ed25519 as the raw 32-octet key (RFC 8463).
pub(crate) fn key_info(key_type: &str, encoded: &str) -> Result<KeyInfo, KeyError> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| KeyError::Base64)?;
    if key_type == "ed25519" {
        return if der.len() == 32 {
            Ok(KeyInfo::Ed25519)
        } else {
            Err(KeyError::Ed25519Length(der.len()))
        };
    }
    let pkcs1_der = match spki::SubjectPublicKeyInfoRef::try_from(der.as_slice()) {
        Ok(info) => {
            if info.algorithm.oid != pkcs1::ALGORITHM_OID {
                return Err(KeyError::NotRsa);
            }
            info.subject_public_key.raw_bytes().to_vec()
        }
        Err(_) => der,
    };
    let key = pkcs1::RsaPublicKey::<pkcs1::UintRef<'_>>::try_from(pkcs1_der.as_slice())
        .map_err(|_| KeyError::Der)?;
    let modulus = key.modulus.as_bytes();
    let bits = match modulus.first() {
        Some(first) => modulus.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    };
    Ok(KeyInfo::Rsa { bits })
}
