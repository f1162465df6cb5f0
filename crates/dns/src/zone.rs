//! [`ZoneResolver`]: a [`Resolver`] that serves zones from memory, for tests.

use crate::error::DnsError;
use crate::lookup::{Lookup, Mx, Record, RecordType, Resolver, Txt, check_name};
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

/// CNAME hops followed before a lookup is refused as a loop.
const MAX_CNAME_HOPS: usize = 8;

/// One entry at a name, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZoneEntry {
    /// A record served as is.
    Record(Record),
    /// A lookup that reaches this entry before finding a record of its type times out;
    /// one that found records before it ends there (the OpenSPF suite's `TIMEOUT`).
    Timeout,
    /// A lookup that reaches this entry before finding a record of its type gets SERVFAIL.
    ServFail,
}

/// A test double for [`Resolver`]: names map to lists of [`ZoneEntry`]s. Names are
/// case-insensitive; a name that is not present but has names below it answers NoData
/// (an empty non-terminal), any other missing name NXDOMAIN. CNAMEs are followed. Every
/// query is logged, so tests can count lookups.
#[derive(Debug, Default)]
pub struct ZoneResolver {
    names: HashMap<String, Vec<ZoneEntry>>,
    log: Mutex<Vec<(String, RecordType)>>,
}

impl ZoneResolver {
    /// An empty zone: every name is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record at `name`.
    pub fn add(&mut self, name: &str, record: Record) -> &mut Self {
        self.add_entry(name, ZoneEntry::Record(record))
    }

    /// Adds an entry (record, timeout or server failure) at `name`.
    pub fn add_entry(&mut self, name: &str, entry: ZoneEntry) -> &mut Self {
        self.names.entry(normalize(name)).or_default().push(entry);
        self
    }

    /// Adds a TXT record of one string at `name`.
    pub fn add_txt(&mut self, name: &str, text: &str) -> &mut Self {
        self.add(name, Record::Txt(Txt::single(text)))
    }

    /// The entries at `name`, if any.
    pub fn entries(&self, name: &str) -> Option<&[ZoneEntry]> {
        self.names.get(&normalize(name)).map(Vec::as_slice)
    }

    /// Reads a zone in a small line format: `name TYPE data`, one record per line, `#` or
    /// `;` starting a comment line. Types: `A`, `AAAA`, `TXT` and `SPF` (one or more
    /// double-quoted strings with `\"`, `\\` and `\DDD` escapes, or one bare word), `MX`
    /// (`preference exchange`), `PTR`, `CNAME`, and `TIMEOUT` / `SERVFAIL` with no data.
    pub fn from_zone_text(text: &str) -> Result<Self, DnsError> {
        let mut zone = Self::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            let bad = |reason: &str| DnsError::Zone {
                line: index + 1,
                reason: reason.to_owned(),
            };
            let (name, rest) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("no type"))?;
            let rest = rest.trim_start();
            let (rtype, data) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let data = data.trim();
            let entry = match rtype.to_ascii_uppercase().as_str() {
                "TIMEOUT" => ZoneEntry::Timeout,
                "SERVFAIL" => ZoneEntry::ServFail,
                "A" => ZoneEntry::Record(Record::A(
                    data.parse().map_err(|_| bad("bad IPv4 address"))?,
                )),
                "AAAA" => ZoneEntry::Record(Record::Aaaa(
                    data.parse().map_err(|_| bad("bad IPv6 address"))?,
                )),
                "TXT" => ZoneEntry::Record(Record::Txt(parse_strings(data).map_err(bad)?)),
                "SPF" => ZoneEntry::Record(Record::Spf(parse_strings(data).map_err(bad)?)),
                "MX" => {
                    let (pref, host) = data
                        .split_once(char::is_whitespace)
                        .ok_or_else(|| bad("MX needs preference and exchange"))?;
                    ZoneEntry::Record(Record::Mx(Mx {
                        preference: pref.parse().map_err(|_| bad("bad MX preference"))?,
                        exchange: normalize(host.trim()),
                    }))
                }
                "PTR" => ZoneEntry::Record(Record::Ptr(normalize(data))),
                "CNAME" => ZoneEntry::Record(Record::Cname(normalize(data))),
                _ => return Err(bad("unknown record type")),
            };
            zone.add_entry(name, entry);
        }
        Ok(zone)
    }

    /// Reads a zone file in the format of [`ZoneResolver::from_zone_text`].
    pub fn from_zone_file(path: &std::path::Path) -> Result<Self, DnsError> {
        let text = std::fs::read_to_string(path).map_err(|e| DnsError::Zone {
            line: 0,
            reason: format!("{}: {e}", path.display()),
        })?;
        Self::from_zone_text(&text)
    }

    /// Every query answered so far, in order.
    pub fn queries(&self) -> Vec<(String, RecordType)> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }

    /// Forgets the query log.
    pub fn clear_queries(&self) {
        if let Ok(mut log) = self.log.lock() {
            log.clear();
        }
    }

    fn has_descendant(&self, name: &str) -> bool {
        let suffix = format!(".{name}");
        self.names.keys().any(|k| k.ends_with(&suffix))
    }
}

#[async_trait]
impl Resolver for ZoneResolver {
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Lookup<Record>, DnsError> {
        check_name(name)?;
        if let Ok(mut log) = self.log.lock() {
            log.push((normalize(name), rtype));
        }
        let mut current = normalize(name);
        for _ in 0..MAX_CNAME_HOPS {
            let Some(entries) = self.names.get(&current) else {
                return Ok(if self.has_descendant(&current) {
                    Lookup::NoData
                } else {
                    Lookup::NxDomain
                });
            };
            let mut found = Vec::new();
            let mut alias = None;
            for entry in entries {
                match entry {
                    ZoneEntry::Record(record) => {
                        if record_type(record) == rtype {
                            found.push(record.clone());
                        } else if let Record::Cname(target) = record {
                            alias.get_or_insert_with(|| target.clone());
                        }
                    }
                    ZoneEntry::Timeout | ZoneEntry::ServFail if !found.is_empty() => break,
                    ZoneEntry::Timeout => {
                        return Err(DnsError::Timeout {
                            name: current,
                            rtype,
                        });
                    }
                    ZoneEntry::ServFail => {
                        return Err(DnsError::ServerFailure {
                            name: current,
                            rtype,
                            detail: "SERVFAIL".to_owned(),
                        });
                    }
                }
            }
            if !found.is_empty() {
                return Ok(Lookup::Found(found));
            }
            match alias {
                Some(target) => current = target,
                None => return Ok(Lookup::NoData),
            }
        }
        Err(DnsError::CnameLoop {
            name: name.to_owned(),
        })
    }
}

/// Lower case, no trailing dot.
fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn record_type(record: &Record) -> RecordType {
    match record {
        Record::A(_) => RecordType::A,
        Record::Aaaa(_) => RecordType::Aaaa,
        Record::Txt(_) => RecordType::Txt,
        Record::Mx(_) => RecordType::Mx,
        Record::Ptr(_) => RecordType::Ptr,
        Record::Cname(_) => RecordType::Cname,
        Record::Spf(_) => RecordType::Spf,
    }
}

/// Parses `"a" "b\"c"` or a bare word into a record's character-strings.
fn parse_strings(data: &str) -> Result<Txt, &'static str> {
    if !data.starts_with('"') {
        if data.is_empty() || data.contains(char::is_whitespace) {
            return Err("unquoted TXT data must be one word");
        }
        return Ok(Txt::single(data));
    }
    let mut strings = Vec::new();
    let mut bytes = data.bytes().peekable();
    loop {
        while bytes.next_if(u8::is_ascii_whitespace).is_some() {}
        match bytes.next() {
            None => break,
            Some(b'"') => {}
            Some(_) => return Err("TXT strings must be double-quoted"),
        }
        let mut current = Vec::new();
        loop {
            match bytes.next() {
                None => return Err("unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    let first = bytes.next().ok_or("dangling backslash")?;
                    if first.is_ascii_digit() {
                        let d2 = bytes.next().filter(u8::is_ascii_digit).ok_or("bad \\DDD")?;
                        let d3 = bytes.next().filter(u8::is_ascii_digit).ok_or("bad \\DDD")?;
                        let value = u32::from(first - b'0') * 100
                            + u32::from(d2 - b'0') * 10
                            + u32::from(d3 - b'0');
                        current.push(u8::try_from(value).map_err(|_| "\\DDD over 255")?);
                    } else {
                        current.push(first);
                    }
                }
                Some(b) => current.push(b),
            }
        }
        strings.push(current);
    }
    Ok(Txt { strings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> ZoneResolver {
        ZoneResolver::from_zone_text(
            r#"
            # comment
            example.com     TXT   "v=spf1 " "-all"
            example.com     MX    10 mail.example.com.
            mail.example.com A    192.0.2.1
            alias.example.com CNAME mail.example.com
            a.b.example.com  A    192.0.2.2
            slow.example.com TIMEOUT
            half.example.com TXT  ok
            half.example.com TIMEOUT
            broken.example.com SERVFAIL
            loop1.example.com CNAME loop2.example.com
            loop2.example.com CNAME loop1.example.com
            "#,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn answers_keep_records_nodata_and_nxdomain_apart() {
        let zone = zone();
        let txt = zone.txt("Example.COM.").await.unwrap();
        assert_eq!(txt.records()[0].joined(), b"v=spf1 -all");
        assert_eq!(zone.a("example.com").await.unwrap(), Lookup::NoData);
        assert_eq!(
            zone.a("nowhere.example.com").await.unwrap(),
            Lookup::NxDomain
        );
        // An empty non-terminal exists.
        assert_eq!(zone.a("b.example.com").await.unwrap(), Lookup::NoData);
        let mx = zone.mx("example.com").await.unwrap();
        assert_eq!(mx.records()[0].exchange, "mail.example.com");
    }

    #[tokio::test]
    async fn cname_chains_are_followed_and_loops_refused() {
        let zone = zone();
        assert_eq!(
            zone.a("alias.example.com").await.unwrap(),
            Lookup::Found(vec!["192.0.2.1".parse().unwrap()])
        );
        assert!(matches!(
            zone.a("loop1.example.com").await,
            Err(DnsError::CnameLoop { .. })
        ));
    }

    #[tokio::test]
    async fn timeouts_and_server_failures_are_errors() {
        let zone = zone();
        assert!(matches!(
            zone.txt("slow.example.com").await,
            Err(DnsError::Timeout { .. })
        ));
        // Records before the TIMEOUT entry are answered; other types time out.
        assert_eq!(
            zone.txt("half.example.com").await.unwrap().records().len(),
            1
        );
        assert!(zone.a("half.example.com").await.is_err());
        assert!(matches!(
            zone.txt("broken.example.com").await,
            Err(DnsError::ServerFailure { .. })
        ));
    }

    #[tokio::test]
    async fn every_query_is_logged() {
        let zone = zone();
        zone.txt("example.com").await.unwrap();
        zone.ptr("192.0.2.1".parse().unwrap()).await.unwrap();
        assert_eq!(
            zone.queries(),
            vec![
                ("example.com".to_owned(), RecordType::Txt),
                ("1.2.0.192.in-addr.arpa".to_owned(), RecordType::Ptr)
            ]
        );
    }

    #[test]
    fn zone_text_errors_name_the_line() {
        let err =
            ZoneResolver::from_zone_text("ok.example A 192.0.2.1\nbad.example A nope").unwrap_err();
        assert!(matches!(err, DnsError::Zone { line: 2, .. }), "{err}");
        assert!(ZoneResolver::from_zone_text("x.example TXT \"open").is_err());
    }

    #[tokio::test]
    async fn invalid_names_are_refused_before_lookup() {
        let zone = zone();
        assert!(matches!(
            zone.txt("a..example.com").await,
            Err(DnsError::InvalidName { .. })
        ));
        assert!(zone.queries().is_empty());
    }
}
