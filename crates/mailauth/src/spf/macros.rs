//! Macro expansion (RFC 7208 §7).

use super::record::{Macro, MacroPart, MacroString};
use std::net::IpAddr;

/// The values macros expand to, for one `check_host()` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacroContext {
    /// `%{l}`: local-part of the sender.
    pub local_part: String,
    /// `%{o}`: domain of the sender.
    pub sender_domain: String,
    /// `%{d}`: the domain being checked (changes with include and redirect).
    pub domain: String,
    /// `%{i}`, `%{c}`, `%{v}`: the client address.
    pub ip: IpAddr,
    /// `%{h}`: the HELO/EHLO name.
    pub helo: String,
    /// `%{r}`: the receiving host's name.
    pub receiver: String,
    /// `%{t}`: seconds since the epoch.
    pub now: i64,
    /// `%{p}`: the validated name of the client, once looked up.
    pub validated_name: Option<String>,
}

impl MacroContext {
    fn value(&self, letter: char) -> String {
        match letter {
            's' => format!("{}@{}", self.local_part, self.sender_domain),
            'l' => self.local_part.clone(),
            'o' => self.sender_domain.clone(),
            'd' => self.domain.clone(),
            'i' => dotted_ip(self.ip),
            'p' => self
                .validated_name
                .clone()
                .unwrap_or_else(|| "unknown".to_owned()),
            'v' => match self.ip {
                IpAddr::V4(_) => "in-addr".to_owned(),
                IpAddr::V6(_) => "ip6".to_owned(),
            },
            'h' => self.helo.clone(),
            'c' => self.ip.to_string(),
            'r' => self.receiver.clone(),
            't' => self.now.to_string(),
            _ => String::new(),
        }
    }
}

/// True when expanding `string` needs `%{p}` (a PTR lookup).
pub fn needs_validated_name(string: &MacroString) -> bool {
    string
        .parts
        .iter()
        .any(|p| matches!(p, MacroPart::Macro(m) if m.letter == 'p'))
}

/// Expands a macro-string.
pub fn expand(string: &MacroString, ctx: &MacroContext) -> String {
    let mut out = String::new();
    for part in &string.parts {
        match part {
            MacroPart::Literal(text) => out.push_str(text),
            MacroPart::Macro(m) => out.push_str(&expand_one(m, ctx)),
        }
    }
    out
}

/// Expands a domain-spec and shortens it to 253 octets by dropping labels from the left
/// (RFC 7208 §7.3); a trailing dot is dropped.
pub fn expand_domain(string: &MacroString, ctx: &MacroContext) -> String {
    let expanded = expand(string, ctx);
    let mut name = expanded.strip_suffix('.').unwrap_or(&expanded);
    while name.len() > 253 {
        match name.find('.') {
            Some(dot) => name = &name[dot + 1..],
            None => break,
        }
    }
    name.to_owned()
}

fn expand_one(m: &Macro, ctx: &MacroContext) -> String {
    let value = ctx.value(m.letter);
    let delimiters: &str = if m.delimiters.is_empty() {
        "."
    } else {
        &m.delimiters
    };
    let mut parts: Vec<&str> = value.split(|c| delimiters.contains(c)).collect();
    if m.reverse {
        parts.reverse();
    }
    if let Some(keep) = m.keep
        && keep < parts.len()
    {
        parts.drain(..parts.len() - keep);
    }
    let joined = parts.join(".");
    if m.escape {
        url_escape(&joined)
    } else {
        joined
    }
}

/// `%{i}`: dotted quad, or 32 dot-separated nibbles for IPv6.
fn dotted_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut nibbles = Vec::with_capacity(32);
            for byte in v6.octets() {
                nibbles.push(format!("{:x}", byte >> 4));
                nibbles.push(format!("{:x}", byte & 0xf));
            }
            nibbles.join(".")
        }
    }
}

/// Percent-encodes all but RFC 3986 unreserved characters.
fn url_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::record::parse_macro_string;
    use super::*;

    fn ctx(ip: &str) -> MacroContext {
        MacroContext {
            local_part: "strong-bad".into(),
            sender_domain: "email.example.com".into(),
            domain: "email.example.com".into(),
            ip: ip.parse().unwrap(),
            helo: "mx.example.org".into(),
            receiver: "mx.example.net".into(),
            now: 1_700_000_000,
            validated_name: None,
        }
    }

    fn x(text: &str, ctx: &MacroContext) -> String {
        expand(&parse_macro_string(text, true).unwrap().0, ctx)
    }

    /// The examples of RFC 7208 §7.4.
    #[test]
    fn rfc_7208_section_7_4_examples() {
        let c = ctx("192.0.2.3");
        assert_eq!(x("%{s}", &c), "strong-bad@email.example.com");
        assert_eq!(x("%{o}", &c), "email.example.com");
        assert_eq!(x("%{d}", &c), "email.example.com");
        assert_eq!(x("%{d4}", &c), "email.example.com");
        assert_eq!(x("%{d3}", &c), "email.example.com");
        assert_eq!(x("%{d2}", &c), "example.com");
        assert_eq!(x("%{d1}", &c), "com");
        assert_eq!(x("%{dr}", &c), "com.example.email");
        assert_eq!(x("%{d2r}", &c), "example.email");
        assert_eq!(x("%{l}", &c), "strong-bad");
        assert_eq!(x("%{l-}", &c), "strong.bad");
        assert_eq!(x("%{lr}", &c), "strong-bad");
        assert_eq!(x("%{lr-}", &c), "bad.strong");
        assert_eq!(x("%{l1r-}", &c), "strong");
        assert_eq!(
            x("%{ir}.%{v}._spf.%{d2}", &c),
            "3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            x("%{lr-}.lp._spf.%{d2}", &c),
            "bad.strong.lp._spf.example.com"
        );
        assert_eq!(
            x("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", &c),
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            x("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", &c),
            "3.2.0.192.in-addr.strong.lp._spf.example.com"
        );
        assert_eq!(
            x("%{d2}.trusted-domains.example.net", &c),
            "example.com.trusted-domains.example.net"
        );
        let c6 = ctx("2001:db8::cb01");
        assert_eq!(
            x("%{ir}.%{v}._spf.%{d2}", &c6),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
    }

    #[test]
    fn explanation_letters_escapes_and_upper_case_url_encoding() {
        let mut c = ctx("192.0.2.3");
        c.local_part = "~jack&jill=up-a_b3.c".into();
        assert_eq!(x("%{L}", &c), "~jack%26jill%3Dup-a_b3.c");
        assert_eq!(
            x("%{c} %{r} %{t}", &c),
            "192.0.2.3 mx.example.net 1700000000"
        );
        assert_eq!(x("a%%b%_c%-d", &c), "a%b c%20d");
        assert_eq!(x("%{p}", &c), "unknown");
        c.validated_name = Some("mx.example.com".into());
        assert_eq!(x("%{p}", &c), "mx.example.com");
        assert_eq!(
            x("%{l2r+-}", &{
                let mut c = c.clone();
                c.local_part = "foo-bar+zip+quux".into();
                c
            }),
            "bar.foo"
        );
    }

    #[test]
    fn long_expansions_lose_labels_on_the_left() {
        let mut c = ctx("192.0.2.3");
        c.sender_domain = "a".repeat(60) + ".example.com";
        let spec = parse_macro_string("%{o}.%{o}.%{o}.%{o}.%{o}.example.org", false)
            .unwrap()
            .0;
        let name = expand_domain(&spec, &c);
        assert!(name.len() <= 253);
        assert!(name.ends_with(".example.com.example.org"));
        assert!(name.starts_with("example.com.") || name.starts_with("aaa"));
    }
}
