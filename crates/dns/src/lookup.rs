//! The resolver interface and the shapes of its answers.

use crate::error::DnsError;
use async_trait::async_trait;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The record types posture checks ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Text (SPF, DMARC, DKIM, MTA-STS, TLS-RPT, BIMI).
    Txt,
    /// Mail exchanger.
    Mx,
    /// Reverse name.
    Ptr,
    /// Alias. Asked for directly only to see a chain; other lookups follow it.
    Cname,
    /// The deprecated SPF record type (99), asked for only to flag it.
    Spf,
}

/// One answer record, of the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A text record.
    Txt(Txt),
    /// A mail exchanger.
    Mx(Mx),
    /// A reverse name (no trailing dot).
    Ptr(String),
    /// An alias target (no trailing dot).
    Cname(String),
    /// A type-99 SPF record (same wire form as TXT).
    Spf(Txt),
}

/// The outcome of a lookup that got an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    /// The records of the asked type (never empty).
    Found(Vec<T>),
    /// NOERROR with no records of this type: the name exists.
    NoData,
    /// NXDOMAIN: the name does not exist.
    NxDomain,
}

/// One TXT (or type-99 SPF) record: its character-strings, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Txt {
    /// The character-strings (each at most 255 octets on the wire).
    pub strings: Vec<Vec<u8>>,
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    /// Lower is preferred.
    pub preference: u16,
    /// The exchange host, without trailing dot; `""` for a null MX (`.`).
    pub exchange: String,
}

/// Asynchronous DNS lookups. Implementations follow CNAME chains, keep NXDOMAIN apart from
/// NOERROR-no-data, and report timeouts and server failures as [`DnsError`]s.
#[async_trait]
pub trait Resolver: Send + Sync {
    /// Looks up `name` (absolute; a trailing dot is optional) for records of `rtype`. The
    /// records answered are all of `rtype` (a `Cname` lookup answers the alias at `name`
    /// itself).
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Lookup<Record>, DnsError>;

    /// TXT records of `name`.
    async fn txt(&self, name: &str) -> Result<Lookup<Txt>, DnsError> {
        Ok(self
            .query(name, RecordType::Txt)
            .await?
            .filter_map(|r| match r {
                Record::Txt(t) => Some(t),
                _ => None,
            }))
    }

    /// Type-99 SPF records of `name` (deprecated by RFC 7208; asked for to flag them).
    async fn spf99(&self, name: &str) -> Result<Lookup<Txt>, DnsError> {
        Ok(self
            .query(name, RecordType::Spf)
            .await?
            .filter_map(|r| match r {
                Record::Spf(t) => Some(t),
                _ => None,
            }))
    }

    /// A records of `name`.
    async fn a(&self, name: &str) -> Result<Lookup<Ipv4Addr>, DnsError> {
        Ok(self
            .query(name, RecordType::A)
            .await?
            .filter_map(|r| match r {
                Record::A(a) => Some(a),
                _ => None,
            }))
    }

    /// AAAA records of `name`.
    async fn aaaa(&self, name: &str) -> Result<Lookup<Ipv6Addr>, DnsError> {
        Ok(self
            .query(name, RecordType::Aaaa)
            .await?
            .filter_map(|r| match r {
                Record::Aaaa(a) => Some(a),
                _ => None,
            }))
    }

    /// A records when `v6` is false, AAAA records when it is true, as [`IpAddr`]s.
    async fn addresses(&self, name: &str, v6: bool) -> Result<Lookup<IpAddr>, DnsError> {
        if v6 {
            Ok(self.aaaa(name).await?.map(IpAddr::V6))
        } else {
            Ok(self.a(name).await?.map(IpAddr::V4))
        }
    }

    /// MX records of `name`, in answer order.
    async fn mx(&self, name: &str) -> Result<Lookup<Mx>, DnsError> {
        Ok(self
            .query(name, RecordType::Mx)
            .await?
            .filter_map(|r| match r {
                Record::Mx(m) => Some(m),
                _ => None,
            }))
    }

    /// PTR names of `ip` (looked up under `in-addr.arpa` or `ip6.arpa`).
    async fn ptr(&self, ip: IpAddr) -> Result<Lookup<String>, DnsError> {
        Ok(self
            .query(&reverse_name(ip), RecordType::Ptr)
            .await?
            .filter_map(|r| match r {
                Record::Ptr(p) => Some(p),
                _ => None,
            }))
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::A => "A",
            Self::Aaaa => "AAAA",
            Self::Txt => "TXT",
            Self::Mx => "MX",
            Self::Ptr => "PTR",
            Self::Cname => "CNAME",
            Self::Spf => "SPF",
        })
    }
}

impl<T> Lookup<T> {
    /// The records; empty for NoData and NxDomain.
    pub fn records(&self) -> &[T] {
        match self {
            Self::Found(records) => records,
            Self::NoData | Self::NxDomain => &[],
        }
    }

    /// The records by value; empty for NoData and NxDomain.
    pub fn into_records(self) -> Vec<T> {
        match self {
            Self::Found(records) => records,
            Self::NoData | Self::NxDomain => Vec::new(),
        }
    }

    /// True for NoData and NxDomain: SPF's "void lookup" (RFC 7208 §4.6.4).
    pub fn is_void(&self) -> bool {
        !matches!(self, Self::Found(_))
    }

    /// Maps every record.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Lookup<U> {
        match self {
            Self::Found(records) => Lookup::Found(records.into_iter().map(f).collect()),
            Self::NoData => Lookup::NoData,
            Self::NxDomain => Lookup::NxDomain,
        }
    }

    /// Keeps the records `f` maps to `Some`; an answer left empty becomes NoData.
    pub fn filter_map<U>(self, f: impl FnMut(T) -> Option<U>) -> Lookup<U> {
        match self {
            Self::Found(records) => {
                let kept: Vec<U> = records.into_iter().filter_map(f).collect();
                if kept.is_empty() {
                    Lookup::NoData
                } else {
                    Lookup::Found(kept)
                }
            }
            Self::NoData => Lookup::NoData,
            Self::NxDomain => Lookup::NxDomain,
        }
    }
}

impl Txt {
    /// A record of one string.
    pub fn single(text: impl Into<Vec<u8>>) -> Self {
        Self {
            strings: vec![text.into()],
        }
    }

    /// The strings concatenated without separator, as RFC 7208 §3.3 reads them.
    pub fn joined(&self) -> Vec<u8> {
        self.strings.concat()
    }

    /// Total length of the strings in octets.
    pub fn len(&self) -> usize {
        self.strings.iter().map(Vec::len).sum()
    }

    /// True when the record has no content.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The reverse-lookup name of `ip`: `4.3.2.1.in-addr.arpa` or 32 nibbles under `ip6.arpa`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.in-addr.arpa")
        }
        IpAddr::V6(v6) => {
            let mut out = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                out.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            out.push_str("ip6.arpa");
            out
        }
    }
}

/// Checks that `name` can be asked for: labels of 1..=63 octets, at most 253 in all. A
/// trailing dot is allowed.
pub(crate) fn check_name(name: &str) -> Result<(), DnsError> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    let invalid = |reason| {
        Err(DnsError::InvalidName {
            name: name.to_owned(),
            reason,
        })
    };
    if bare.is_empty() {
        return invalid("empty name");
    }
    if bare.len() > 253 {
        return invalid("longer than 253 octets");
    }
    for label in bare.split('.') {
        if label.is_empty() {
            return invalid("empty label");
        }
        if label.len() > 63 {
            return invalid("label longer than 63 octets");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_follow_rfc_1035_and_3596() {
        assert_eq!(
            reverse_name("192.0.2.1".parse().unwrap()),
            "1.2.0.192.in-addr.arpa"
        );
        let v6 = reverse_name("2001:db8::1".parse().unwrap());
        assert!(v6.starts_with("1.0.0.0.0.0.0.0."));
        assert!(v6.ends_with("8.b.d.0.1.0.0.2.ip6.arpa"));
        assert_eq!(v6.split('.').count(), 34);
    }

    #[test]
    fn names_with_bad_labels_are_refused() {
        assert!(check_name("example.com.").is_ok());
        assert!(check_name("a..example.com").is_err());
        assert!(check_name(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(check_name(&format!("{}.com", "a".repeat(63))).is_ok());
        assert!(check_name("").is_err());
    }

    #[test]
    fn filter_map_turns_an_emptied_answer_into_no_data() {
        let found: Lookup<u8> = Lookup::Found(vec![1, 2]);
        assert_eq!(found.clone().filter_map(|_| None::<u8>), Lookup::NoData);
        assert_eq!(
            found.filter_map(|x| (x > 1).then_some(x)),
            Lookup::Found(vec![2])
        );
        assert!(Lookup::<u8>::NxDomain.is_void());
    }
}
