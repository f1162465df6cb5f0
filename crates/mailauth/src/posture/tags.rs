//! The tag-list syntax shared by DKIM key records, DMARC, TLS-RPT, BIMI and MTA-STS TXT
//! records (RFC 6376 §3.2): `name=value` pairs separated by `;`, with optional white
//! space around names, `=` and values.

use std::collections::HashSet;
use std::ops::Range;

/// One `name=value` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tag<'a> {
    /// The name as written.
    pub(crate) name: &'a str,
    /// The value, without surrounding white space.
    pub(crate) value: &'a str,
    /// Byte position of the name.
    pub(crate) name_at: usize,
    /// Byte position of the value (of where it would start when empty).
    pub(crate) value_at: usize,
    /// The whole tag-spec, white space included, without the `;`.
    pub(crate) span: Range<usize>,
}

/// A syntax problem, at a byte position of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TagProblem {
    pub(crate) position: usize,
    pub(crate) message: String,
}

/// What the parser understood, and the problems it skipped over.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TagList<'a> {
    pub(crate) tags: Vec<Tag<'a>>,
    pub(crate) problems: Vec<TagProblem>,
}

impl<'a> TagList<'a> {
    /// The first tag named `name` (case-insensitive).
    pub(crate) fn get(&self, name: &str) -> Option<&Tag<'a>> {
        self.tags.iter().find(|t| t.name.eq_ignore_ascii_case(name))
    }
}

/// Parses a tag-list. Never fails: a spec without `=`, a bad name, a value with
/// characters outside printable ASCII, or a name given twice is a [`TagProblem`]; the
/// other tags are kept (for a duplicate, the first).
pub(crate) fn parse_tag_list(text: &str) -> TagList<'_> {
    let mut list = TagList::default();
    let mut seen = HashSet::new();
    let mut start = 0;
    for spec in text.split(';') {
        let end = start + spec.len();
        parse_spec(text, start..end, &mut list, &mut seen);
        start = end + 1;
    }
    list
}

fn parse_spec<'a>(
    text: &'a str,
    span: Range<usize>,
    list: &mut TagList<'a>,
    seen: &mut HashSet<String>,
) {
    let spec = &text[span.clone()];
    if spec.trim_matches(is_fws).is_empty() {
        // Empty specs (`;;`, a trailing `;`) carry nothing; receivers skip them.
        return;
    }
    let Some(eq) = spec.find('=') else {
        let lead = spec.len() - spec.trim_start_matches(is_fws).len();
        list.problems.push(TagProblem {
            position: span.start + lead,
            message: format!("{:?} is not name=value", spec.trim_matches(is_fws)),
        });
        return;
    };
    let raw_name = &spec[..eq];
    let name = raw_name.trim_matches(is_fws);
    let name_at = span.start + (raw_name.len() - raw_name.trim_start_matches(is_fws).len());
    let raw_value = &spec[eq + 1..];
    let value = raw_value.trim_matches(is_fws);
    let value_at =
        span.start + eq + 1 + (raw_value.len() - raw_value.trim_start_matches(is_fws).len());
    if !valid_name(name) {
        list.problems.push(TagProblem {
            position: name_at,
            message: format!("{name:?} is not a tag name (a letter, then letters, digits or _)"),
        });
        return;
    }
    if let Some((offset, c)) = value
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_graphic() || is_fws(*c)))
    {
        list.problems.push(TagProblem {
            position: value_at + offset,
            message: format!("tag {name}: character {c:?} is not allowed in a tag value"),
        });
    }
    if !seen.insert(name.to_ascii_lowercase()) {
        list.problems.push(TagProblem {
            position: name_at,
            message: format!("tag {name} is given more than once"),
        });
        return;
    }
    list.tags.push(Tag {
        name,
        value,
        name_at,
        value_at,
        span,
    });
}

fn is_fws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Rebuilds a record from its tags with `changes` applied: each `(name, Some(value))`
/// replaces the tag's value in place (or appends the tag when absent), each
/// `(name, None)` removes it. Tags keep their order and are joined with `"; "`.
pub(crate) fn rewrite(tags: &[(String, String)], changes: &[(&str, Option<String>)]) -> String {
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len() + changes.len());
    for (name, value) in tags {
        match changes.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some((_, Some(new))) => out.push((name.clone(), new.clone())),
            Some((_, None)) => {}
            None => out.push((name.clone(), value.clone())),
        }
    }
    for (name, value) in changes {
        if let Some(value) = value
            && !tags.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            out.push(((*name).to_owned(), value.clone()));
        }
    }
    out.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_keep_names_values_and_positions() {
        let list = parse_tag_list("v=DMARC1;  p = reject ;rua=mailto:a@example.com;");
        assert!(list.problems.is_empty());
        let names: Vec<_> = list.tags.iter().map(|t| (t.name, t.value)).collect();
        assert_eq!(
            names,
            [
                ("v", "DMARC1"),
                ("p", "reject"),
                ("rua", "mailto:a@example.com")
            ]
        );
        assert_eq!(list.tags[1].name_at, 11);
        assert_eq!(list.tags[1].value_at, 15);
        assert_eq!(list.get("P").map(|t| t.value), Some("reject"));
    }

    #[test]
    fn bad_specs_are_problems_and_the_rest_is_kept() {
        let list = parse_tag_list("v=DKIM1; garbage; 9x=1; k=rsa; k=ed25519; n=caf\u{e9}");
        let positions: Vec<_> = list.problems.iter().map(|p| p.position).collect();
        assert_eq!(positions, [9, 18, 31, 47]);
        let names: Vec<_> = list.tags.iter().map(|t| t.name).collect();
        assert_eq!(names, ["v", "k", "n"]);
        assert_eq!(list.get("k").map(|t| t.value), Some("rsa"));
    }

    #[test]
    fn rewrite_replaces_in_place_removes_and_appends() {
        let tags = vec![
            ("v".to_owned(), "DMARC1".to_owned()),
            ("p".to_owned(), "none".to_owned()),
            ("pct".to_owned(), "50".to_owned()),
            ("rua".to_owned(), "mailto:a@example.com".to_owned()),
        ];
        let out = rewrite(
            &tags,
            &[
                ("p", Some("quarantine".to_owned())),
                ("pct", None),
                ("t", Some("y".to_owned())),
            ],
        );
        assert_eq!(out, "v=DMARC1; p=quarantine; rua=mailto:a@example.com; t=y");
    }
}
