//! Parsing of the MTA-STS TXT record (RFC 8461 §3.1) and policy file (§3.2), and MX
//! pattern matching (§4.1). Pure functions: no DNS, no HTTP.

use serde::Serialize;

/// Largest `max_age` allowed: one year in seconds (RFC 8461 §3.2).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

/// A `_mta-sts` TXT record that begins with `v=STSv1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StsRecord {
    /// The `id` field, when present (valid or not).
    pub id: Option<String>,
    /// Problems: (byte position, message). Empty for a valid record.
    #[serde(skip)]
    pub problems: Vec<(usize, String)>,
    /// Empty fields (`;;`) the lenient readers accept and strict ones reject: positions.
    #[serde(skip)]
    pub empty_fields: Vec<usize>,
}

/// True when the record begins with the version field `v=STSv1` (followed by `;`, blanks
/// or the end), as senders require before reading it (RFC 8461 §3.1).
pub fn is_sts_record(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("v=STSv1") else {
        return false;
    };
    rest.trim_start_matches([' ', '\t']).is_empty() || rest.trim_start().starts_with(';')
}

/// Parses a record that [`is_sts_record`] accepted: `;`-separated `name=value` fields, of
/// which `id` (1 to 32 letters and digits) is required.
pub fn parse_record(text: &str) -> StsRecord {
    let mut record = StsRecord {
        id: None,
        problems: Vec::new(),
        empty_fields: Vec::new(),
    };
    let mut offset = 0;
    for (index, field) in text.split(';').enumerate() {
        let at = offset;
        offset += field.len() + 1;
        let trimmed = field.trim_matches([' ', '\t']);
        let lead = field.len() - field.trim_start_matches([' ', '\t']).len();
        if trimmed.is_empty() {
            // The last field may be empty: a trailing `;` is allowed.
            if offset <= text.len() {
                record.empty_fields.push(at);
            }
            continue;
        }
        if index == 0 {
            continue; // the version, already checked
        }
        let Some((name, value)) = trimmed.split_once('=') else {
            record
                .problems
                .push((at + lead, format!("field {trimmed:?} is not name=value")));
            continue;
        };
        if name == "id" {
            if record.id.is_some() {
                record
                    .problems
                    .push((at + lead, "the id field appears twice".to_owned()));
                continue;
            }
            if value.is_empty()
                || value.len() > 32
                || !value.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                record.problems.push((
                    at + lead + 3,
                    format!("id {value:?} must be 1 to 32 letters and digits"),
                ));
            }
            record.id = Some(value.to_owned());
        } else if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        {
            record
                .problems
                .push((at + lead, format!("field name {name:?} is not valid")));
        }
    }
    if record.id.is_none() {
        record
            .problems
            .push((text.len(), "the required id field is missing".to_owned()));
    }
    record
}

/// The `mode` of a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Senders refuse to deliver over unauthenticated TLS.
    Enforce,
    /// Senders deliver anyway and report failures.
    Testing,
    /// The domain withdrew its policy.
    None,
}

/// A policy file as read, before its values are judged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// `version` value.
    pub version: Option<String>,
    /// `mode` value, verbatim.
    pub mode: Option<String>,
    /// `max_age` value, verbatim.
    pub max_age: Option<String>,
    /// `mx` values in order.
    pub mx: Vec<String>,
    /// Lines that are not `key: value`: (line number from 1, line).
    #[serde(skip)]
    pub bad_lines: Vec<(usize, String)>,
    /// Keys given more than once (other than `mx`).
    #[serde(skip)]
    pub repeated: Vec<String>,
}

/// Reads a policy file: lines ending in LF or CRLF, each `key: value` (RFC 8461 §3.2).
/// Unknown keys are extensions and are skipped; the first of a repeated key counts.
pub fn parse_policy(text: &str) -> Policy {
    let mut policy = Policy::default();
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            policy.bad_lines.push((index + 1, line.to_owned()));
            continue;
        };
        let key = key.trim_matches([' ', '\t']);
        let value = value.trim_matches([' ', '\t']).to_owned();
        if key.is_empty() || key.contains([' ', '\t']) {
            policy.bad_lines.push((index + 1, line.to_owned()));
            continue;
        }
        let slot = match key {
            "mx" => {
                policy.mx.push(value);
                continue;
            }
            "version" => &mut policy.version,
            "mode" => &mut policy.mode,
            "max_age" => &mut policy.max_age,
            _ => continue,
        };
        if slot.is_some() {
            policy.repeated.push(key.to_owned());
        } else {
            *slot = Some(value);
        }
    }
    policy
}

/// The mode named by `value`, if it is one of the three.
pub fn parse_mode(value: &str) -> Option<Mode> {
    match value {
        "enforce" => Some(Mode::Enforce),
        "testing" => Some(Mode::Testing),
        "none" => Some(Mode::None),
        _ => None,
    }
}

/// `max_age` as seconds: 1 to 10 digits (RFC 8461 §3.2), any value; the caller judges the
/// limit.
pub fn parse_max_age(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Why an `mx` pattern is invalid, if it is: a host name, optionally starting with `*.`.
pub fn mx_pattern_problem(pattern: &str) -> Option<&'static str> {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    if host.is_empty() {
        return Some("empty pattern");
    }
    if host.contains('*') {
        return Some("a wildcard is allowed only as the whole first label (*.example.net)");
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    for label in host.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Some("labels must be 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Some("only letters, digits and hyphens are allowed in host names");
        }
    }
    None
}

/// True when `host` matches `pattern` (RFC 8461 §4.1): equal ignoring case and a trailing
/// dot, or `*.rest` where the wildcard stands for exactly one leftmost label.
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => pattern == host,
    }
}

/// True when the Content-Type names `text/plain` (any case, any parameters).
pub fn is_text_plain(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("");
    essence.trim().eq_ignore_ascii_case("text/plain")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_records_must_start_with_the_version() {
        assert!(is_sts_record("v=STSv1; id=1"));
        assert!(is_sts_record("v=STSv1 ;id=1"));
        assert!(!is_sts_record("id=1; v=STSv1;"));
        assert!(!is_sts_record("v=STSv12;id=1"));
        assert!(!is_sts_record(" v=STSv1;id=1"));
    }

    #[test]
    fn record_ids_are_letters_and_digits_up_to_32() {
        assert!(
            parse_record("v=STSv1; id=20160831085700Z;")
                .problems
                .is_empty()
        );
        assert!(!parse_record("v=STSv1; id=2016-08").problems.is_empty());
        assert!(
            !parse_record(&format!("v=STSv1; id={}", "a".repeat(33)))
                .problems
                .is_empty()
        );
        assert!(!parse_record("v=STSv1;").problems.is_empty());
        let lenient = parse_record("v=STSv1; id=1;;;");
        assert!(lenient.problems.is_empty());
        assert_eq!(lenient.empty_fields.len(), 2);
    }

    #[test]
    fn policies_read_keys_values_and_repeated_mx() {
        let p = parse_policy(
            "version: STSv1\r\nmode: enforce\nmx: a.example\nmx: *.b.example\nmax_age: 86400\nfoo: bar\n",
        );
        assert_eq!(p.version.as_deref(), Some("STSv1"));
        assert_eq!(p.mode.as_deref(), Some("enforce"));
        assert_eq!(p.max_age.as_deref(), Some("86400"));
        assert_eq!(p.mx, ["a.example", "*.b.example"]);
        assert!(p.bad_lines.is_empty());
        assert_eq!(parse_policy("garbage").bad_lines.len(), 1);
    }

    #[test]
    fn wildcards_match_exactly_one_label() {
        assert!(mx_matches("*.example.net", "mx1.example.net"));
        assert!(mx_matches("*.example.net", "MX1.Example.Net."));
        assert!(!mx_matches("*.example.net", "example.net"));
        assert!(!mx_matches("*.example.net", "a.b.example.net"));
        assert!(mx_matches("mail.example.com", "mail.example.com."));
        assert!(!mx_matches("mail.example.com", "mail2.example.com"));
    }

    #[test]
    fn bad_mx_patterns_are_named() {
        assert!(mx_pattern_problem("*.example.net").is_none());
        assert!(mx_pattern_problem("*mail.example.net").is_some());
        assert!(mx_pattern_problem("mail.*.net").is_some());
        assert!(mx_pattern_problem("").is_some());
    }

    #[test]
    fn max_age_is_at_most_ten_digits() {
        assert_eq!(parse_max_age("86400"), Some(86400));
        assert_eq!(parse_max_age("xxx"), None);
        assert_eq!(parse_max_age("12345678901"), None);
    }
}
