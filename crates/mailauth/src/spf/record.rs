//! SPF record syntax (RFC 7208 §4.6, §5, §6, §7.1) and its parser, which reports the
//! position of the first error.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;

/// A parsed `v=spf1` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfRecord {
    /// Every term in record order, with its byte span in the record text.
    pub terms: Vec<Term>,
}

/// One term: a directive or a modifier, where it stands in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Byte offsets in the record text.
    pub span: Range<usize>,
    /// The term as written.
    pub text: String,
    /// What it is.
    pub kind: TermKind,
}

/// Directive or modifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermKind {
    /// A mechanism with its qualifier.
    Directive(Qualifier, Mechanism),
    /// `redirect=<domain-spec>`.
    Redirect(MacroString),
    /// `exp=<domain-spec>`.
    Explanation(MacroString),
    /// A syntactically valid modifier RFC 7208 does not define (ignored).
    Unknown {
        /// Its name, as written.
        name: String,
    },
}

/// A directive's qualifier (`+` by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `+`
    Pass,
    /// `-`
    Fail,
    /// `~`
    SoftFail,
    /// `?`
    Neutral,
}

/// A mechanism (RFC 7208 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `all`
    All,
    /// `include:<domain-spec>`
    Include(MacroString),
    /// `a[:<domain-spec>][/<ip4-cidr>][//<ip6-cidr>]`
    A {
        /// Target; the current domain when absent.
        domain: Option<MacroString>,
        /// IPv4 prefix length (32 by default).
        cidr4: u8,
        /// IPv6 prefix length (128 by default).
        cidr6: u8,
    },
    /// `mx[:<domain-spec>][/<ip4-cidr>][//<ip6-cidr>]`
    Mx {
        /// Target; the current domain when absent.
        domain: Option<MacroString>,
        /// IPv4 prefix length (32 by default).
        cidr4: u8,
        /// IPv6 prefix length (128 by default).
        cidr6: u8,
    },
    /// `ptr[:<domain-spec>]` (RFC 7208 says do not use).
    Ptr(Option<MacroString>),
    /// `ip4:<network>[/<cidr>]`
    Ip4 {
        /// Network address.
        addr: Ipv4Addr,
        /// Prefix length.
        prefix: u8,
    },
    /// `ip6:<network>[/<cidr>]`
    Ip6 {
        /// Network address.
        addr: Ipv6Addr,
        /// Prefix length.
        prefix: u8,
    },
    /// `exists:<domain-spec>`
    Exists(MacroString),
}

/// A macro-string (RFC 7208 §7.1): literals and macros, expanded at evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacroString {
    /// The parts in order.
    pub parts: Vec<MacroPart>,
}

/// A piece of a [`MacroString`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacroPart {
    /// Literal text (`%%`, `%_` and `%-` are already turned into `%`, ` ` and `%20`).
    Literal(String),
    /// `%{<letter><digits>[r]<delimiters>}`.
    Macro(Macro),
}

/// One `%{…}` macro.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Macro {
    /// The letter, lower case.
    pub letter: char,
    /// An upper-case letter: URL-escape the result (RFC 7208 §7.3).
    pub escape: bool,
    /// Keep this many right-hand parts (non-zero).
    pub keep: Option<usize>,
    /// Reverse the parts first.
    pub reverse: bool,
    /// Characters to split on (`.` when empty).
    pub delimiters: String,
}

/// Where parsing stopped and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} at column {}", .position + 1)]
pub struct ParseError {
    /// Byte offset in the record text.
    pub position: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// The kinds of SPF syntax error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The record does not start with `v=spf1` followed by a space or its end.
    #[error("record does not start with v=spf1")]
    NotSpf1,
    /// A character outside printable US-ASCII and space.
    #[error("character {0:?} is not allowed in an SPF record")]
    BadCharacter(char),
    /// A mechanism name RFC 7208 does not define.
    #[error("unknown mechanism {0:?}")]
    UnknownMechanism(String),
    /// A mechanism with an argument it does not take, or without one it needs.
    #[error("bad argument for {0}")]
    BadArgument(&'static str),
    /// An IPv4 or IPv6 network that does not parse.
    #[error("bad IP network {0:?}")]
    BadNetwork(String),
    /// A prefix length out of range or with a leading zero.
    #[error("bad CIDR length {0:?}")]
    BadCidr(String),
    /// A domain-spec that does not end in a valid top label or a macro.
    #[error("bad domain-spec {0:?}")]
    BadDomainSpec(String),
    /// A malformed macro.
    #[error("bad macro: {0}")]
    BadMacro(&'static str),
    /// `redirect` or `exp` given twice.
    #[error("modifier {0} appears more than once")]
    DuplicateModifier(&'static str),
    /// A modifier without a name or with an invalid one.
    #[error("bad modifier name {0:?}")]
    BadModifierName(String),
}

impl fmt::Display for Qualifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pass => "+",
            Self::Fail => "-",
            Self::SoftFail => "~",
            Self::Neutral => "?",
        })
    }
}

impl Mechanism {
    /// The mechanism's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::All => "all",
            Self::Include(_) => "include",
            Self::A { .. } => "a",
            Self::Mx { .. } => "mx",
            Self::Ptr(_) => "ptr",
            Self::Ip4 { .. } => "ip4",
            Self::Ip6 { .. } => "ip6",
            Self::Exists(_) => "exists",
        }
    }

    /// True for the mechanisms RFC 7208 §4.6.4 counts against the 10-lookup limit.
    pub fn queries_dns(&self) -> bool {
        matches!(
            self,
            Self::Include(_) | Self::A { .. } | Self::Mx { .. } | Self::Ptr(_) | Self::Exists(_)
        )
    }
}

impl SpfRecord {
    /// The `redirect=` target, if any.
    pub fn redirect(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|t| match &t.kind {
            TermKind::Redirect(target) => Some(target),
            _ => None,
        })
    }

    /// The `exp=` target, if any.
    pub fn explanation(&self) -> Option<&MacroString> {
        self.terms.iter().find_map(|t| match &t.kind {
            TermKind::Explanation(target) => Some(target),
            _ => None,
        })
    }

    /// The directives in order, with their terms.
    pub fn directives(&self) -> impl Iterator<Item = (&Term, Qualifier, &Mechanism)> {
        self.terms.iter().filter_map(|t| match &t.kind {
            TermKind::Directive(q, m) => Some((t, *q, m)),
            _ => None,
        })
    }
}

/// True when `text` is an SPF version 1 record: `v=spf1` (any case) followed by a space
/// or the end (RFC 7208 §4.5).
pub fn is_spf1(text: &[u8]) -> bool {
    text.len() >= 6
        && text[..6].eq_ignore_ascii_case(b"v=spf1")
        && (text.len() == 6 || text[6] == b' ')
}

/// Parses a record. The whole record is checked before anything is evaluated, so an
/// error anywhere is a permerror (RFC 7208 §4.6).
pub fn parse_record(text: &str) -> Result<SpfRecord, ParseError> {
    if !is_spf1(text.as_bytes()) {
        return Err(ParseError {
            position: 0,
            kind: ParseErrorKind::NotSpf1,
        });
    }
    if let Some((position, c)) = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_graphic() || *c == ' '))
    {
        return Err(ParseError {
            position,
            kind: ParseErrorKind::BadCharacter(c),
        });
    }
    let mut terms = Vec::new();
    let mut offset = 6;
    let (mut redirects, mut exps) = (0, 0);
    for piece in text[6..].split(' ') {
        let start = offset;
        offset += piece.len() + 1;
        if piece.is_empty() {
            continue;
        }
        let kind = parse_term(piece).map_err(|(at, kind)| ParseError {
            position: start + at,
            kind,
        })?;
        let duplicate = match kind {
            TermKind::Redirect(_) => {
                redirects += 1;
                (redirects > 1).then_some("redirect")
            }
            TermKind::Explanation(_) => {
                exps += 1;
                (exps > 1).then_some("exp")
            }
            _ => None,
        };
        if let Some(name) = duplicate {
            return Err(ParseError {
                position: start,
                kind: ParseErrorKind::DuplicateModifier(name),
            });
        }
        terms.push(Term {
            span: start..start + piece.len(),
            text: piece.to_owned(),
            kind,
        });
    }
    Ok(SpfRecord { terms })
}

type TermError = (usize, ParseErrorKind);

fn parse_term(term: &str) -> Result<TermKind, TermError> {
    // A modifier: name "=" macro-string, name = ALPHA *(ALPHA / DIGIT / "-" / "_" / ".").
    let name_len = term
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(term.len());
    if term[name_len..].starts_with('=') {
        let name = &term[..name_len];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err((0, ParseErrorKind::BadModifierName(name.to_owned())));
        }
        let value_at = name_len + 1;
        let value = &term[value_at..];
        return if name.eq_ignore_ascii_case("redirect") {
            Ok(TermKind::Redirect(
                domain_spec(value, false).map_err(|(at, k)| (value_at + at, k))?,
            ))
        } else if name.eq_ignore_ascii_case("exp") {
            Ok(TermKind::Explanation(
                domain_spec(value, false).map_err(|(at, k)| (value_at + at, k))?,
            ))
        } else {
            parse_macro_string(value, true).map_err(|(at, k)| (value_at + at, k))?;
            Ok(TermKind::Unknown {
                name: name.to_owned(),
            })
        };
    }
    let (qualifier, body_at) = match term.as_bytes()[0] {
        b'+' => (Qualifier::Pass, 1),
        b'-' => (Qualifier::Fail, 1),
        b'~' => (Qualifier::SoftFail, 1),
        b'?' => (Qualifier::Neutral, 1),
        _ => (Qualifier::Pass, 0),
    };
    let body = &term[body_at..];
    let name_len = body
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(body.len());
    let (name, rest) = body.split_at(name_len);
    let rest_at = body_at + name_len;
    let shift = |(at, k): TermError| (rest_at + at, k);
    let mechanism = match name.to_ascii_lowercase().as_str() {
        "all" if rest.is_empty() => Mechanism::All,
        "all" => return Err((rest_at, ParseErrorKind::BadArgument("all"))),
        "include" => Mechanism::Include(required_domain(rest, "include").map_err(shift)?),
        "exists" => Mechanism::Exists(required_domain(rest, "exists").map_err(shift)?),
        "ptr" => Mechanism::Ptr(optional_domain(rest, "ptr").map_err(shift)?),
        "a" | "mx" => {
            let (spec, cidr4, cidr6) = dual_cidr(rest).map_err(shift)?;
            let label = if name.eq_ignore_ascii_case("a") {
                "a"
            } else {
                "mx"
            };
            let domain = optional_domain(spec, label).map_err(shift)?;
            if label == "a" {
                Mechanism::A {
                    domain,
                    cidr4,
                    cidr6,
                }
            } else {
                Mechanism::Mx {
                    domain,
                    cidr4,
                    cidr6,
                }
            }
        }
        "ip4" => {
            let arg = rest
                .strip_prefix(':')
                .ok_or((rest_at, ParseErrorKind::BadArgument("ip4")))?;
            let (net, prefix) = match arg.split_once('/') {
                Some((net, cidr)) => (
                    net,
                    cidr_len(cidr, 32).map_err(|k| (rest_at + 1 + net.len(), k))?,
                ),
                None => (arg, 32),
            };
            let addr =
                parse_ip4(net).ok_or((rest_at + 1, ParseErrorKind::BadNetwork(net.into())))?;
            Mechanism::Ip4 { addr, prefix }
        }
        "ip6" => {
            let arg = rest
                .strip_prefix(':')
                .ok_or((rest_at, ParseErrorKind::BadArgument("ip6")))?;
            let (net, prefix) = match arg.split_once('/') {
                Some((net, cidr)) => (
                    net,
                    cidr_len(cidr, 128).map_err(|k| (rest_at + 1 + net.len(), k))?,
                ),
                None => (arg, 128),
            };
            let addr = net
                .parse::<Ipv6Addr>()
                .map_err(|_| (rest_at + 1, ParseErrorKind::BadNetwork(net.into())))?;
            Mechanism::Ip6 { addr, prefix }
        }
        _ => {
            return Err((
                body_at,
                ParseErrorKind::UnknownMechanism(body[..name_len.max(1).min(body.len())].into()),
            ));
        }
    };
    Ok(TermKind::Directive(qualifier, mechanism))
}

/// A strict dotted quad (no leading zeros beyond a lone `0`, no port, four parts).
fn parse_ip4(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() != 4
        || parts
            .iter()
            .any(|p| p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    text.parse().ok()
}

/// `"/" ("0" / %x31-39 0*2DIGIT)` up to `max`.
fn cidr_len(text: &str, max: u8) -> Result<u8, ParseErrorKind> {
    let bad = || ParseErrorKind::BadCidr(text.to_owned());
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
        || text.len() > 3
    {
        return Err(bad());
    }
    let value: u8 = text.parse().map_err(|_| bad())?;
    if value > max {
        return Err(bad());
    }
    Ok(value)
}

/// Splits `[:domain][/cidr4][//cidr6]` into the domain part and the two lengths. Only a
/// trailing `/digits` or `//digits` is a CIDR length: a domain-spec may contain `/`.
fn dual_cidr(rest: &str) -> Result<(&str, u8, u8), TermError> {
    fn digit_suffix<'s>(text: &'s str, marker: &str) -> Option<(&'s str, &'s str)> {
        let at = text.rfind(marker)?;
        let digits = &text[at + marker.len()..];
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| (&text[..at], digits))
    }
    let mut spec = rest;
    let mut cidr6 = 128;
    if let Some((before, digits)) = digit_suffix(spec, "//") {
        cidr6 = cidr_len(digits, 128).map_err(|k| (before.len(), k))?;
        spec = before;
    }
    let mut cidr4 = 32;
    if let Some((before, digits)) = digit_suffix(spec, "/")
        && !before.ends_with('/')
    {
        cidr4 = cidr_len(digits, 32).map_err(|k| (before.len(), k))?;
        spec = before;
    }
    Ok((spec, cidr4, cidr6))
}

fn required_domain(rest: &str, mechanism: &'static str) -> Result<MacroString, TermError> {
    let spec = rest
        .strip_prefix(':')
        .ok_or((0, ParseErrorKind::BadArgument(mechanism)))?;
    domain_spec(spec, false).map_err(|(at, k)| (at + 1, k))
}

fn optional_domain(rest: &str, mechanism: &'static str) -> Result<Option<MacroString>, TermError> {
    if rest.is_empty() {
        return Ok(None);
    }
    required_domain(rest, mechanism).map(Some)
}

/// A domain-spec: a macro-string ending in `.toplabel[.]` or a macro (RFC 7208 §7.1).
fn domain_spec(text: &str, allow_exp_letters: bool) -> Result<MacroString, TermError> {
    let (parsed, ends_with_macro) = parse_macro_string(text, allow_exp_letters)?;
    let bad = || Err((0, ParseErrorKind::BadDomainSpec(text.to_owned())));
    if text.is_empty() {
        return bad();
    }
    if ends_with_macro {
        return Ok(parsed);
    }
    let tail = match parsed.parts.last() {
        Some(MacroPart::Literal(tail)) => tail.as_str(),
        _ => return bad(),
    };
    let tail = tail.strip_suffix('.').unwrap_or(tail);
    let Some(dot) = tail.rfind('.') else {
        return bad();
    };
    if !is_toplabel(&tail[dot + 1..]) {
        return bad();
    }
    Ok(parsed)
}

/// `toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )`
fn is_toplabel(label: &str) -> bool {
    let bytes = label.as_bytes();
    if bytes.is_empty()
        || !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    {
        return false;
    }
    if bytes.contains(&b'-') {
        bytes[0].is_ascii_alphanumeric() && bytes[bytes.len() - 1].is_ascii_alphanumeric()
    } else {
        bytes.iter().any(u8::is_ascii_alphabetic)
    }
}

/// Parses a macro-string; also says whether it ends with a macro-expand. The letters
/// `c`, `r` and `t` are allowed only in explanation strings.
pub(crate) fn parse_macro_string(
    text: &str,
    allow_exp_letters: bool,
) -> Result<(MacroString, bool), TermError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut ends_with_macro = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c != b'%' {
            if !((0x21..=0x7e).contains(&c) || (allow_exp_letters && c == b' ')) {
                return Err((i, ParseErrorKind::BadCharacter(char::from(c))));
            }
            literal.push(char::from(c));
            ends_with_macro = false;
            i += 1;
            continue;
        }
        ends_with_macro = true;
        match bytes.get(i + 1) {
            Some(b'%') => literal.push('%'),
            Some(b'_') => literal.push(' '),
            Some(b'-') => literal.push_str("%20"),
            Some(b'{') => {
                let close = text[i..]
                    .find('}')
                    .map(|j| i + j)
                    .ok_or((i, ParseErrorKind::BadMacro("unterminated %{")))?;
                let body = &text[i + 2..close];
                let parsed = parse_macro(body, allow_exp_letters).map_err(|k| (i, k))?;
                if !literal.is_empty() {
                    parts.push(MacroPart::Literal(std::mem::take(&mut literal)));
                }
                parts.push(MacroPart::Macro(parsed));
                i = close + 1;
                continue;
            }
            _ => {
                return Err((
                    i,
                    ParseErrorKind::BadMacro("% must be followed by {, %, _ or -"),
                ));
            }
        }
        i += 2;
    }
    if !literal.is_empty() {
        parts.push(MacroPart::Literal(literal));
    }
    Ok((MacroString { parts }, ends_with_macro))
}

fn parse_macro(body: &str, allow_exp_letters: bool) -> Result<Macro, ParseErrorKind> {
    let mut chars = body.chars();
    let letter = chars.next().ok_or(ParseErrorKind::BadMacro("empty %{}"))?;
    let lower = letter.to_ascii_lowercase();
    let allowed = matches!(lower, 's' | 'l' | 'o' | 'd' | 'i' | 'p' | 'h' | 'v')
        || (allow_exp_letters && matches!(lower, 'c' | 'r' | 't'));
    if !allowed {
        return Err(ParseErrorKind::BadMacro("unknown macro letter"));
    }
    let rest = chars.as_str();
    let digits_len = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let keep = if digits_len == 0 {
        None
    } else {
        let n: usize = rest[..digits_len]
            .parse()
            .map_err(|_| ParseErrorKind::BadMacro("transformer too large"))?;
        if n == 0 {
            return Err(ParseErrorKind::BadMacro(
                "transformer digit must be non-zero",
            ));
        }
        Some(n)
    };
    let mut rest = &rest[digits_len..];
    let reverse = if let Some(r) = rest.strip_prefix(['r', 'R']) {
        rest = r;
        true
    } else {
        false
    };
    if let Some(bad) = rest.chars().find(|c| !".-+,/_=".contains(*c)) {
        let _ = bad;
        return Err(ParseErrorKind::BadMacro("bad delimiter"));
    }
    Ok(Macro {
        letter: lower,
        escape: letter.is_ascii_uppercase(),
        keep,
        reverse,
        delimiters: rest.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(record: &str) -> ParseError {
        parse_record(record).unwrap_err()
    }

    #[test]
    fn parses_every_mechanism_and_modifier() {
        let record = parse_record(
            "v=spf1 +a -mx:mail.example.com/24//64 ~ptr ?include:_spf.example.net \
             ip4:192.0.2.0/24 ip6:2001:db8::/32 exists:%{i}.bl.example a//48 \
             redirect=_spf.example.org exp=why.example.com foo=bar -all",
        )
        .unwrap();
        let names: Vec<&str> = record.directives().map(|(_, _, m)| m.name()).collect();
        assert_eq!(
            names,
            [
                "a", "mx", "ptr", "include", "ip4", "ip6", "exists", "a", "all"
            ]
        );
        assert!(record.redirect().is_some() && record.explanation().is_some());
        let (term, q, m) = record.directives().nth(1).unwrap();
        assert_eq!(q, Qualifier::Fail);
        assert_eq!(term.span, 10..37);
        assert!(matches!(
            m,
            Mechanism::Mx {
                cidr4: 24,
                cidr6: 64,
                ..
            }
        ));
        let (_, _, a) = record.directives().nth(7).unwrap();
        assert!(matches!(
            a,
            Mechanism::A {
                domain: None,
                cidr4: 32,
                cidr6: 48
            }
        ));
    }

    #[test]
    fn errors_carry_the_position_of_the_bad_term() {
        let e = err("v=spf1 ip4:192.0.2.1 foo:bar -all");
        assert_eq!(e.position, 21);
        assert!(matches!(e.kind, ParseErrorKind::UnknownMechanism(_)));
        assert_eq!(e.to_string(), "unknown mechanism \"foo\" at column 22");

        let e = err("v=spf1 ip4:192.0.2.1/33");
        assert_eq!(e.position, 20);
        assert!(matches!(e.kind, ParseErrorKind::BadCidr(_)));

        let e = err("v=spf1 a:example.com/024");
        assert!(matches!(e.kind, ParseErrorKind::BadCidr(_)));

        let e = err("v=spf1 -all redirect=a.example redirect=b.example");
        assert_eq!(e.position, 31);
        assert_eq!(e.kind, ParseErrorKind::DuplicateModifier("redirect"));

        let e = err("v=spf1 include:%{x}.example.com");
        assert_eq!(e.position, 15);

        let e = err("v=spf1 a:b.example\u{7f}");
        assert_eq!(e.position, 18);
    }

    #[test]
    fn domain_specs_need_a_top_label_or_a_macro() {
        assert!(parse_record("v=spf1 a:museum").is_err());
        assert!(parse_record("v=spf1 a:museum.").is_err());
        assert!(parse_record("v=spf1 a:example.123").is_err());
        assert!(parse_record("v=spf1 a:example.com.").is_ok());
        assert!(parse_record("v=spf1 a:example.xn--p1ai").is_ok());
        assert!(parse_record("v=spf1 exists:%{ir}").is_ok());
        assert!(parse_record("v=spf1 include:").is_err());
    }

    #[test]
    fn exp_only_letters_are_refused_in_domain_specs() {
        assert!(parse_record("v=spf1 exists:%{c}.example.com").is_err());
        assert!(parse_record("v=spf1 exists:%{t}.example.com").is_err());
        assert!(parse_macro_string("%{c} %{r} %{t}", true).is_ok());
    }

    #[test]
    fn macros_parse_transformers_and_delimiters() {
        let (m, ends) = parse_macro_string("%{ir}.%{v}._spf.%{d2}", false).unwrap();
        assert!(ends);
        assert_eq!(m.parts.len(), 5);
        let (m, _) = parse_macro_string("%{L5r-+}", false).unwrap();
        assert_eq!(
            m.parts[0],
            MacroPart::Macro(Macro {
                letter: 'l',
                escape: true,
                keep: Some(5),
                reverse: true,
                delimiters: "-+".into()
            })
        );
        assert!(parse_macro_string("%{d0}", false).is_err());
        assert!(parse_macro_string("%{d", false).is_err());
        assert!(parse_macro_string("50%", false).is_err());
    }

    #[test]
    fn version_must_be_exactly_spf1() {
        assert!(is_spf1(b"v=spf1"));
        assert!(is_spf1(b"V=SPF1 -all"));
        assert!(!is_spf1(b"v=spf10"));
        assert!(!is_spf1(b"v=spf1-all"));
    }
}
