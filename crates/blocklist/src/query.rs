//! What is checked ([`Target`]) and the names asked for: reversed IPv4 octets, IPv6
//! nibbles (RFC 5782 §2.1, §2.4) and `<domain>.<zone>` (§2.3).

use crate::catalogue::{Blocklist, ListKind};
use crate::error::BlocklistError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// A sending IP address or a domain to check against the lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "value")]
pub enum Target {
    /// An IPv4 or IPv6 address (checked against DNSBLs and DNSWLs).
    Ip(IpAddr),
    /// A domain name, lower case without trailing dot (checked against domain lists).
    Domain(String),
}

impl Target {
    /// An IP address or a domain name. Domains are lower-cased and lose a trailing dot;
    /// labels must be 1 to 63 octets of letters, digits, `-` or `_`, at least two labels.
    pub fn parse(input: &str) -> Result<Self, BlocklistError> {
        let trimmed = input.trim();
        if let Ok(ip) = trimmed.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let bad = |reason| BlocklistError::InvalidTarget {
            input: input.to_owned(),
            reason,
        };
        let name = trimmed.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return Err(bad("a domain must be 1 to 253 octets"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("a domain needs at least two labels"));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("labels must be 1 to 63 octets"));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(bad("labels must be letters, digits, '-' or '_'"));
            }
        }
        if labels.iter().all(|l| l.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad("neither an IP address nor a domain name"));
        }
        Ok(Self::Domain(name))
    }

    /// Whether `list` answers for this target: IPv4 and IPv6 addresses on IP lists that
    /// answer that family, domains on domain lists.
    pub fn applies_to(&self, list: &Blocklist) -> bool {
        match (self, list.kind) {
            (Self::Ip(IpAddr::V4(_)), ListKind::Dnsbl | ListKind::Dnswl) => list.ipv4,
            (Self::Ip(IpAddr::V6(_)), ListKind::Dnsbl | ListKind::Dnswl) => list.ipv6,
            (Self::Domain(_), ListKind::Domain) => true,
            _ => false,
        }
    }

    /// The name to ask for under `zone`.
    pub fn query_name(&self, zone: &str) -> Result<String, BlocklistError> {
        let name = match self {
            Self::Ip(ip) => format!("{}.{zone}", reversed(*ip)),
            Self::Domain(domain) => format!("{domain}.{zone}"),
        };
        if name.len() > 253 {
            return Err(BlocklistError::NameTooLong { name });
        }
        Ok(name)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Domain(d) => f.write_str(d),
        }
    }
}

/// The address part of a DNSxL query: `4.3.2.1` for 1.2.3.4; for IPv6 the 32 nibbles of
/// the address in reverse order, dot-separated (RFC 5782 §2.4).
pub fn reversed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        IpAddr::V6(v6) => {
            let mut nibbles = Vec::with_capacity(32);
            for byte in v6.octets().iter().rev() {
                nibbles.push(format!("{:x}", byte & 0xf));
                nibbles.push(format!("{:x}", byte >> 4));
            }
            nibbles.join(".")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_query_names_reverse_the_octets() {
        let t = Target::parse("192.0.2.99").unwrap();
        assert_eq!(
            t.query_name("zen.spamhaus.org").unwrap(),
            "99.2.0.192.zen.spamhaus.org"
        );
    }

    #[test]
    fn ipv6_query_names_are_32_reversed_nibbles_as_rfc_5782_shows() {
        // RFC 5782 §2.4's example.
        let t = Target::parse("2001:DB8:abc:123::42").unwrap();
        assert_eq!(
            t.query_name("bad.example.com").unwrap(),
            "2.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.2.1.0.c.b.a.0.8.b.d.0.1.0.0.2.bad.example.com"
        );
    }

    #[test]
    fn domain_query_names_prefix_the_zone() {
        let t = Target::parse(" Example.COM. ").unwrap();
        assert_eq!(t, Target::Domain("example.com".into()));
        assert_eq!(
            t.query_name("dbl.spamhaus.org").unwrap(),
            "example.com.dbl.spamhaus.org"
        );
    }

    #[test]
    fn bad_targets_and_overlong_names_are_refused() {
        for bad in ["", "localhost", "a..b", "exa mple.com", "1.2.3", "x.-é.com"] {
            assert!(Target::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = Target::parse(&format!(
            "{}.{}.{}.{}.com",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(50)
        ))
        .unwrap();
        assert!(matches!(
            long.query_name("multi.surbl.org"),
            Err(BlocklistError::NameTooLong { .. })
        ));
    }

    #[test]
    fn targets_apply_only_to_lists_of_their_kind_and_family() {
        let c = crate::Catalogue::builtin().unwrap();
        let zen = c.get("spamhaus-zen").unwrap();
        let spamcop = c.get("spamcop").unwrap();
        let dbl = c.get("spamhaus-dbl").unwrap();
        let v4 = Target::parse("192.0.2.1").unwrap();
        let v6 = Target::parse("2001:db8::1").unwrap();
        let domain = Target::parse("example.com").unwrap();
        assert!(v4.applies_to(zen) && v6.applies_to(zen));
        assert!(v4.applies_to(spamcop) && !v6.applies_to(spamcop));
        assert!(domain.applies_to(dbl) && !domain.applies_to(zen) && !v4.applies_to(dbl));
    }
}
