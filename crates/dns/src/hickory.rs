//! [`Resolver`] over hickory-resolver.

use crate::error::DnsError;
use crate::lookup::{Lookup, Mx, Record, RecordType, Resolver, Txt, check_name};
use async_trait::async_trait;
use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::{Name, RData, RecordType as HickoryType};

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How a [`HickoryResolver`] is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverSettings {
    /// Upstream servers (UDP, then TCP on truncation); empty: the system configuration.
    pub nameservers: Vec<SocketAddr>,
    /// Time allowed for one attempt; a lookup is cut off after `attempts` times this.
    pub timeout: Duration,
    /// Tries per upstream server.
    pub attempts: usize,
    /// Answers kept in the cache (hickory's cache expires each one by its TTL, negative
    /// answers by the SOA minimum).
    pub cache_size: u64,
    /// Lookups in flight at once; further lookups wait for a slot.
    pub max_concurrent: usize,
}

/// hickory-resolver behind the [`Resolver`] interface.
#[derive(Clone)]
pub struct HickoryResolver {
    inner: TokioResolver,
    budget: Duration,
    slots: Arc<Semaphore>,
}

impl Default for ResolverSettings {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(5),
            attempts: 2,
            cache_size: 4096,
            max_concurrent: 64,
        }
    }
}

impl HickoryResolver {
    /// Builds a resolver from `settings`.
    pub fn new(settings: &ResolverSettings) -> Result<Self, DnsError> {
        use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let mut builder = if settings.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| DnsError::Config(e.to_string()))?
        } else {
            let servers = settings
                .nameservers
                .iter()
                .map(|ns| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = ns.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = ns.port();
                    NameServerConfig::new(ns.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let options = builder.options_mut();
        options.timeout = settings.timeout;
        options.attempts = settings.attempts.max(1);
        options.cache_size = settings.cache_size;
        options.ndots = 0;
        let inner = builder
            .build()
            .map_err(|e| DnsError::Config(e.to_string()))?;
        Ok(Self {
            inner,
            budget: settings
                .timeout
                .saturating_mul(u32::try_from(settings.attempts.max(1)).unwrap_or(u32::MAX)),
            slots: Arc::new(Semaphore::new(settings.max_concurrent.max(1))),
        })
    }
}

#[async_trait]
impl Resolver for HickoryResolver {
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Lookup<Record>, DnsError> {
        check_name(name)?;
        let fqdn = if name.ends_with('.') {
            name.to_owned()
        } else {
            format!("{name}.")
        };
        let parsed = Name::from_str(&fqdn).map_err(|_| DnsError::InvalidName {
            name: name.to_owned(),
            reason: "not a domain name",
        })?;
        let hickory_type = match rtype {
            RecordType::A => HickoryType::A,
            RecordType::Aaaa => HickoryType::AAAA,
            RecordType::Txt => HickoryType::TXT,
            RecordType::Mx => HickoryType::MX,
            RecordType::Ptr => HickoryType::PTR,
            RecordType::Cname => HickoryType::CNAME,
            RecordType::Spf => HickoryType::Unknown(99),
        };
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| DnsError::Config("resolver closed".to_owned()))?;
        // hickory applies its timeout per attempt; this bounds the whole lookup.
        let answer =
            tokio::time::timeout(self.budget, self.inner.lookup(parsed, hickory_type)).await;
        let timeout = || DnsError::Timeout {
            name: name.to_owned(),
            rtype,
        };
        let lookup = match answer {
            Err(_) => return Err(timeout()),
            Ok(Err(e)) if e.is_nx_domain() => return Ok(Lookup::NxDomain),
            Ok(Err(e)) if e.is_no_records_found() => return Ok(Lookup::NoData),
            Ok(Err(hickory_resolver::net::NetError::Timeout)) => return Err(timeout()),
            Ok(Err(e)) => {
                return Err(DnsError::ServerFailure {
                    name: name.to_owned(),
                    rtype,
                    detail: e.to_string(),
                });
            }
            Ok(Ok(lookup)) => lookup,
        };
        let records: Vec<Record> = lookup
            .answers()
            .iter()
            .filter_map(|record| convert(&record.data, rtype))
            .collect();
        Ok(if records.is_empty() {
            Lookup::NoData
        } else {
            Lookup::Found(records)
        })
    }
}

/// Converts one answer record of the asked type; other types (the CNAMEs of a chain) are
/// left out.
pub(crate) fn convert(data: &RData, rtype: RecordType) -> Option<Record> {
    let host = |name: &Name| name.to_string().trim_end_matches('.').to_owned();
    match (data, rtype) {
        (RData::A(a), RecordType::A) => Some(Record::A(a.0)),
        (RData::AAAA(a), RecordType::Aaaa) => Some(Record::Aaaa(a.0)),
        (RData::TXT(txt), RecordType::Txt) => Some(Record::Txt(Txt {
            strings: txt.txt_data.iter().map(|s| s.to_vec()).collect(),
        })),
        (RData::MX(mx), RecordType::Mx) => Some(Record::Mx(Mx {
            preference: mx.preference,
            exchange: host(&mx.exchange),
        })),
        (RData::PTR(ptr), RecordType::Ptr) => Some(Record::Ptr(host(&ptr.0))),
        (RData::CNAME(cname), RecordType::Cname) => Some(Record::Cname(host(&cname.0))),
        (RData::Unknown { code, rdata }, RecordType::Spf) if u16::from(*code) == 99 => {
            Some(Record::Spf(Txt {
                strings: character_strings(&rdata.anything),
            }))
        }
        _ => None,
    }
}

/// Splits TXT wire data into its length-prefixed character-strings (a truncated last
/// string keeps what is there).
fn character_strings(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let take = usize::from(len).min(rest.len());
        out.push(rest[..take].to_vec());
        data = &rest[take..];
    }
    out
}

/// Parses an upstream server as `IP`, `IP:PORT` or `[IPv6]:PORT` (port 53 by default).
pub fn parse_nameserver(text: &str) -> Result<SocketAddr, DnsError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| DnsError::Config(format!("nameserver {text:?} is not IP or IP:PORT")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_parse_with_and_without_port() {
        assert_eq!(
            parse_nameserver("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_nameserver("192.0.2.53").unwrap(),
            "192.0.2.53:53".parse().unwrap()
        );
        assert_eq!(
            parse_nameserver("[::1]:5300").unwrap(),
            "[::1]:5300".parse().unwrap()
        );
        assert!(parse_nameserver("ns.example").is_err());
    }

    #[test]
    fn type_99_wire_data_splits_into_strings() {
        let wire = b"\x06v=spf1\x04 -al\x05l";
        assert_eq!(
            character_strings(wire),
            vec![b"v=spf1".to_vec(), b" -al".to_vec(), b"l".to_vec()]
        );
    }

    #[tokio::test]
    async fn an_unreachable_upstream_times_out_as_an_error_not_an_empty_answer() {
        // A bound UDP socket that never answers.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let resolver = HickoryResolver::new(&ResolverSettings {
            nameservers: vec![silent.local_addr().unwrap()],
            timeout: Duration::from_millis(200),
            attempts: 1,
            ..ResolverSettings::default()
        })
        .unwrap();
        let err = resolver.txt("example.com").await.unwrap_err();
        assert!(err.is_transient(), "{err}");
    }
}
