//! [`StubResolver`]: a lean stub resolver built on hickory-proto's message codec alone.
//!
//! A posture check makes about a dozen small lookups per domain, and a large MSP checks
//! thousands of domains; hickory-resolver's general machinery (a fresh UDP socket and
//! several spawned tasks per query, name-server pool bookkeeping) then costs more CPU than
//! the lookups themselves. This resolver asks the configured upstream directly:
//!
//! * UDP over a pool of connected sockets (each with its own random port, reused by one
//!   query at a time, a random message id per query; an answer must match id and question),
//!   EDNS(0) with a 1232-byte payload, TCP when an answer comes back truncated;
//! * the same [`Lookup`] semantics as [`crate::HickoryResolver`]: NXDOMAIN apart from
//!   NOERROR without records, SERVFAIL/REFUSED and timeouts as [`DnsError`]s, CNAME chains
//!   followed (in the answer, and by asking again for a target the answer leaves open);
//! * a cache that keeps each answer for its TTL (the smallest of the records used; a
//!   negative answer for the SOA's negative TTL, RFC 2308 §5), bounded in size, and
//!   concurrent lookups of the same name and type while one is in flight wait for it.

use crate::error::DnsError;
use crate::hickory::{ResolverSettings, convert};
use crate::lookup::{Lookup, Record, RecordType, Resolver, check_name};
use async_trait::async_trait;
use hickory_resolver::proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType as HickoryType};
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};

/// The EDNS(0) UDP payload size advertised (the DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;
/// The largest UDP answer read.
const UDP_BUFFER: usize = 4096;
/// CNAME links followed from the name asked for.
const MAX_CNAME_HOPS: usize = 8;
/// The longest an answer is cached, whatever its TTL.
const MAX_CACHE_TTL: Duration = Duration::from_secs(86_400);
/// Idle sockets kept per upstream.
const MAX_IDLE_SOCKETS: usize = 256;

/// A lookup's outcome as cached and shared with concurrent askers.
type Outcome = Result<Lookup<Record>, DnsError>;
/// The receiving end of a lookup in flight, for askers of the same key.
type Waiter = watch::Receiver<Option<Outcome>>;

/// A lean stub resolver over UDP (TCP on truncation) to fixed upstream servers.
#[derive(Clone)]
pub struct StubResolver {
    inner: Arc<Inner>,
}

struct Inner {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
    attempts: usize,
    cache_size: usize,
    slots: Semaphore,
    /// Idle connected UDP sockets, per upstream.
    idle: Vec<Mutex<Vec<UdpSocket>>>,
    cache: Mutex<HashMap<(String, RecordType), Cached>>,
    /// Lookups in flight: later askers of the same key wait for the first one's outcome.
    inflight: Mutex<HashMap<(String, RecordType), Waiter>>,
}

/// The lookup of one key in flight: removed from the in-flight table when finished or
/// dropped (a cancelled lookup leaves its waiters to ask themselves).
struct InFlight<'a> {
    inner: &'a Inner,
    key: (String, RecordType),
    tx: watch::Sender<Option<Outcome>>,
}

impl InFlight<'_> {
    /// Hands `outcome` to the waiters (none: they ask themselves).
    fn finish(self, outcome: Option<Outcome>) {
        if let Some(outcome) = outcome {
            self.tx.send_replace(Some(outcome));
        }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut inflight) = self.inner.inflight.lock() {
            inflight.remove(&self.key);
        }
    }
}

/// A cached outcome and when it expires.
struct Cached {
    outcome: Lookup<Record>,
    expires: Instant,
}

/// One parsed answer: the outcome, how long it may be cached, and (for a chain that the
/// answer leaves open) the CNAME target still to ask for.
struct Answer {
    outcome: Lookup<Record>,
    ttl: Option<Duration>,
    open_target: Option<String>,
}

impl std::fmt::Debug for StubResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubResolver")
            .field("upstreams", &self.inner.upstreams)
            .finish_non_exhaustive()
    }
}

impl StubResolver {
    /// Builds a resolver asking `settings.nameservers` (in order, on failure the next);
    /// with none configured, the system's (`/etc/resolv.conf` on Unix).
    pub fn new(settings: &ResolverSettings) -> Result<Self, DnsError> {
        let upstreams = if settings.nameservers.is_empty() {
            system_nameservers()?
        } else {
            settings.nameservers.clone()
        };
        if upstreams.is_empty() {
            return Err(DnsError::Config("no nameserver configured".to_owned()));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                idle: upstreams.iter().map(|_| Mutex::new(Vec::new())).collect(),
                upstreams,
                timeout: settings.timeout,
                attempts: settings.attempts.max(1),
                cache_size: usize::try_from(settings.cache_size).unwrap_or(usize::MAX),
                slots: Semaphore::new(settings.max_concurrent.max(1)),
                cache: Mutex::new(HashMap::new()),
                inflight: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The upstream servers asked, in order.
    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.inner.upstreams
    }
}

/// The system's nameservers (hickory's reading of the system configuration).
fn system_nameservers() -> Result<Vec<SocketAddr>, DnsError> {
    let (config, _) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| DnsError::Config(e.to_string()))?;
    Ok(config
        .name_servers()
        .iter()
        .map(|ns| SocketAddr::new(ns.ip, 53))
        .collect())
}

#[async_trait]
impl Resolver for StubResolver {
    async fn query(&self, name: &str, rtype: RecordType) -> Result<Lookup<Record>, DnsError> {
        check_name(name)?;
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        self.inner.resolve(key, rtype, name).await
    }
}

impl Inner {
    /// Answers `key` (lower case, no trailing dot) from the cache, from a lookup of the same
    /// key in flight, or by asking; `shown` is the name as the caller wrote it, for errors.
    async fn resolve(&self, key: String, rtype: RecordType, shown: &str) -> Outcome {
        let mut target = key;
        for _ in 0..=MAX_CNAME_HOPS {
            match self.resolve_one(&target, rtype, shown).await? {
                // The answer ended at a CNAME target it did not answer for: ask for that.
                (_, Some(next)) => target = next,
                (outcome, None) => return Ok(outcome),
            }
        }
        Err(DnsError::CnameLoop {
            name: shown.to_owned(),
        })
    }

    /// One name: the cached outcome, the outcome of a lookup in flight, or a new lookup.
    /// Answers the outcome and the CNAME target left open, if any (only closed outcomes
    /// are cached and shared).
    async fn resolve_one(
        &self,
        key: &str,
        rtype: RecordType,
        shown: &str,
    ) -> Result<(Lookup<Record>, Option<String>), DnsError> {
        let cache_key = (key.to_owned(), rtype);
        if self.cache_size > 0
            && let Some(hit) = self.cached(&cache_key)
        {
            return Ok((hit, None));
        }
        // Join a lookup of the same key in flight, or become the one that asks.
        let joined = {
            let mut inflight = self.inflight.lock().map_err(|_| poisoned())?;
            match inflight.get(&cache_key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    inflight.insert(cache_key.clone(), rx);
                    Ok(InFlight {
                        inner: self,
                        key: cache_key.clone(),
                        tx,
                    })
                }
            }
        };
        match joined {
            Ok(flight) => {
                let result = self.ask(key, rtype, shown).await;
                let shared = match &result {
                    Ok(answer) if answer.open_target.is_none() => {
                        if let Some(ttl) = answer.ttl {
                            self.store(cache_key, answer.outcome.clone(), ttl);
                        }
                        Some(Ok(answer.outcome.clone()))
                    }
                    // Waiters of an open chain find no outcome and ask themselves.
                    Ok(_) => None,
                    Err(e) => Some(Err(e.clone())),
                };
                flight.finish(shared);
                result.map(|a| (a.outcome, a.open_target))
            }
            Err(mut rx) => {
                if let Ok(value) = rx.wait_for(Option::is_some).await
                    && let Some(outcome) = value.clone()
                {
                    return outcome.map(|o| (o, None));
                }
                let answer = self.ask(key, rtype, shown).await?;
                Ok((answer.outcome, answer.open_target))
            }
        }
    }

    /// The cached outcome of `key`, if fresh.
    fn cached(&self, key: &(String, RecordType)) -> Option<Lookup<Record>> {
        let cache = self.cache.lock().ok()?;
        let hit = cache.get(key)?;
        (hit.expires > Instant::now()).then(|| hit.outcome.clone())
    }

    /// Caches `outcome` for `ttl`. When the cache is full, expired entries go first, then
    /// arbitrary ones until an eighth is free, so a full cache costs one sweep per eighth
    /// of its size, not one per answer.
    fn store(&self, key: (String, RecordType), outcome: Lookup<Record>, ttl: Duration) {
        if self.cache_size == 0 || ttl.is_zero() {
            return;
        }
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        let now = Instant::now();
        if cache.len() >= self.cache_size && !cache.contains_key(&key) {
            cache.retain(|_, c| c.expires > now);
            let keep = self.cache_size.saturating_sub((self.cache_size / 8).max(1));
            if cache.len() > keep {
                let victims: Vec<(String, RecordType)> =
                    cache.keys().take(cache.len() - keep).cloned().collect();
                for victim in &victims {
                    cache.remove(victim);
                }
            }
        }
        cache.insert(
            key,
            Cached {
                outcome,
                expires: now + ttl.min(MAX_CACHE_TTL),
            },
        );
    }

    /// Asks the upstreams for `name`: each upstream in turn, `attempts` rounds, each
    /// attempt bounded by the timeout. A server failure from one upstream moves on to the
    /// next; the last error is returned when none answers.
    async fn ask(&self, name: &str, rtype: RecordType, shown: &str) -> Result<Answer, DnsError> {
        let qname = Name::from_str(&format!("{name}.")).map_err(|_| DnsError::InvalidName {
            name: shown.to_owned(),
            reason: "not a domain name",
        })?;
        let qtype = hickory_type(rtype);
        let _slot = self.slots.acquire().await.map_err(|_| poisoned())?;
        let mut last = DnsError::Timeout {
            name: shown.to_owned(),
            rtype,
        };
        for _ in 0..self.attempts {
            for (index, upstream) in self.upstreams.iter().enumerate() {
                let exchanged = self.exchange(index, *upstream, &qname, qtype).await;
                let response = match exchanged {
                    Ok(Some(response)) => response,
                    Ok(None) => {
                        last = DnsError::Timeout {
                            name: shown.to_owned(),
                            rtype,
                        };
                        continue;
                    }
                    Err(detail) => {
                        last = DnsError::ServerFailure {
                            name: shown.to_owned(),
                            rtype,
                            detail,
                        };
                        continue;
                    }
                };
                match read_answer(&response, &qname, rtype) {
                    Ok(answer) => return Ok(answer),
                    Err(detail) => {
                        last = DnsError::ServerFailure {
                            name: shown.to_owned(),
                            rtype,
                            detail,
                        }
                    }
                }
            }
        }
        Err(last)
    }

    /// One query to one upstream over UDP, then TCP if the answer is truncated. `Ok(None)`:
    /// no answer in time; `Err`: the transport failed or the answer was malformed.
    async fn exchange(
        &self,
        index: usize,
        upstream: SocketAddr,
        qname: &Name,
        qtype: HickoryType,
    ) -> Result<Option<Message>, String> {
        // A random id (hickory-proto's `Message::query`).
        let mut message = Message::query();
        let id = message.metadata.id;
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(qname.clone(), qtype));
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        message.set_edns(edns);
        let wire = message.to_vec().map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + self.timeout;
        let socket = self.socket(index, upstream).await?;
        let mut buffer = vec![0u8; UDP_BUFFER];
        socket.send(&wire).await.map_err(|e| e.to_string())?;
        let response = loop {
            let received = tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await;
            let len = match received {
                // No answer in time: drop the socket, so a late answer cannot reach the
                // next query (its id would not match anyway).
                Err(_) => return Ok(None),
                Ok(Err(e)) => return Err(e.to_string()),
                Ok(Ok(len)) => len,
            };
            // Anything that is not the answer to this query (a late answer to an earlier
            // one, garbage) is skipped.
            let Ok(response) = Message::from_vec(&buffer[..len]) else {
                continue;
            };
            if matches_query(&response, id, qname, qtype) {
                break response;
            }
        };
        self.give_back(index, socket);
        if !response.metadata.truncation {
            return Ok(Some(response));
        }
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(remaining, tcp_exchange(upstream, &wire)).await {
            Err(_) => Ok(None),
            Ok(Err(e)) => Err(e),
            Ok(Ok(bytes)) => {
                let response = Message::from_vec(&bytes).map_err(|e| e.to_string())?;
                if matches_query(&response, id, qname, qtype) {
                    Ok(Some(response))
                } else {
                    Err("the TCP answer does not match the query".to_owned())
                }
            }
        }
    }

    /// An idle socket connected to `upstream`, or a new one.
    async fn socket(&self, index: usize, upstream: SocketAddr) -> Result<UdpSocket, String> {
        if let Some(idle) = self.idle.get(index)
            && let Ok(mut idle) = idle.lock()
            && let Some(socket) = idle.pop()
        {
            return Ok(socket);
        }
        let local: SocketAddr = if upstream.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await.map_err(|e| e.to_string())?;
        socket.connect(upstream).await.map_err(|e| e.to_string())?;
        Ok(socket)
    }

    /// Returns a socket to the idle pool.
    fn give_back(&self, index: usize, socket: UdpSocket) {
        if let Some(idle) = self.idle.get(index)
            && let Ok(mut idle) = idle.lock()
            && idle.len() < MAX_IDLE_SOCKETS
        {
            idle.push(socket);
        }
    }
}

/// The query over TCP (RFC 1035 §4.2.2: a two-octet length before each message).
async fn tcp_exchange(upstream: SocketAddr, wire: &[u8]) -> Result<Vec<u8>, String> {
    let text = |e: std::io::Error| e.to_string();
    let mut stream = TcpStream::connect(upstream).await.map_err(text)?;
    let len = u16::try_from(wire.len()).map_err(|_| "query too long".to_owned())?;
    let mut framed = Vec::with_capacity(wire.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(wire);
    stream.write_all(&framed).await.map_err(text)?;
    let len = stream.read_u16().await.map_err(text)?;
    let mut answer = vec![0u8; usize::from(len)];
    stream.read_exact(&mut answer).await.map_err(text)?;
    Ok(answer)
}

/// True when `response` answers the query `id` for `qname`/`qtype`.
fn matches_query(response: &Message, id: u16, qname: &Name, qtype: HickoryType) -> bool {
    response.metadata.id == id
        && response.metadata.message_type == MessageType::Response
        && response
            .queries
            .first()
            .is_some_and(|q| q.query_type() == qtype && q.name() == qname)
}

/// The wire type of `rtype`.
fn hickory_type(rtype: RecordType) -> HickoryType {
    match rtype {
        RecordType::A => HickoryType::A,
        RecordType::Aaaa => HickoryType::AAAA,
        RecordType::Txt => HickoryType::TXT,
        RecordType::Mx => HickoryType::MX,
        RecordType::Ptr => HickoryType::PTR,
        RecordType::Cname => HickoryType::CNAME,
        RecordType::Spf => HickoryType::Unknown(99),
    }
}

/// Reads a response: the records of `rtype` at the end of the CNAME chain from `qname`,
/// or NoData/NxDomain, with the TTL to cache it for; SERVFAIL, REFUSED and the like are
/// errors.
fn read_answer(response: &Message, qname: &Name, rtype: RecordType) -> Result<Answer, String> {
    let code = response.metadata.response_code;
    if code != ResponseCode::NoError && code != ResponseCode::NXDomain {
        return Err(format!("the server answered {code}"));
    }
    let qtype = hickory_type(rtype);
    let mut owner = qname.clone();
    let mut ttl: Option<u32> = None;
    let chain_ttl = |t: u32, ttl: &mut Option<u32>| *ttl = Some(ttl.map_or(t, |m| m.min(t)));
    let mut records = Vec::new();
    if rtype == RecordType::Cname {
        for record in response.answers.iter().filter(|r| r.name == owner) {
            if let Some(converted) = convert(&record.data, rtype) {
                chain_ttl(record.ttl, &mut ttl);
                records.push(converted);
            }
        }
    } else {
        for _ in 0..=MAX_CNAME_HOPS {
            let here: Vec<_> = response
                .answers
                .iter()
                .filter(|r| r.name == owner)
                .collect();
            for record in &here {
                if record.record_type() == qtype
                    && let Some(converted) = convert(&record.data, rtype)
                {
                    chain_ttl(record.ttl, &mut ttl);
                    records.push(converted);
                }
            }
            if !records.is_empty() {
                break;
            }
            let alias = here.iter().find_map(|r| match &r.data {
                RData::CNAME(target) => Some((target.0.clone(), r.ttl)),
                _ => None,
            });
            match alias {
                Some((target, alias_ttl)) => {
                    chain_ttl(alias_ttl, &mut ttl);
                    owner = target;
                }
                None => break,
            }
        }
    }
    if !records.is_empty() {
        return Ok(Answer {
            outcome: Lookup::Found(records),
            ttl: ttl.map(|t| Duration::from_secs(u64::from(t))),
            open_target: None,
        });
    }
    // A chain that leaves the answer without records or an NXDOMAIN for its target: ask
    // for the target (a recursive upstream answers whole chains, an authoritative one only
    // within its zones).
    if owner != *qname && code == ResponseCode::NoError && !has_soa(response) {
        return Ok(Answer {
            outcome: Lookup::NoData,
            ttl: None,
            open_target: Some(owner.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
        });
    }
    let negative = response.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
        _ => None,
    });
    Ok(Answer {
        outcome: if code == ResponseCode::NXDomain {
            Lookup::NxDomain
        } else {
            Lookup::NoData
        },
        ttl: negative.or(ttl).map(|t| Duration::from_secs(u64::from(t))),
        open_target: None,
    })
}

/// True when the authority section holds an SOA (the answer is a final negative one).
fn has_soa(response: &Message) -> bool {
    response
        .authorities
        .iter()
        .any(|r| matches!(r.data, RData::SOA(_)))
}

/// The error of a poisoned lock or a closed semaphore (a panic elsewhere).
fn poisoned() -> DnsError {
    DnsError::Config("resolver state lost after a panic".to_owned())
}

#[cfg(all(test, feature = "testing"))]
#[allow(clippy::unwrap_used)] // tests
mod tests {
    use super::*;
    use crate::testing::LoopbackServer;
    use std::net::Ipv4Addr;

    const EXAMPLE: &str = r#"
@        IN A     192.0.2.10
@        IN TXT   "v=spf1 " "include:_spf.example.net -all"
@        IN MX    10 mx1.example.com.
mx1      IN A     192.0.2.25
www      IN CNAME web
web      IN CNAME host.example.com.
host     IN A     192.0.2.80
away     IN CNAME target.example.org.
onlytxt  IN TXT   "x"
"#;

    fn stub(server: &LoopbackServer, timeout: Duration, cache_size: u64) -> StubResolver {
        StubResolver::new(&ResolverSettings {
            nameservers: vec![server.addr()],
            timeout,
            attempts: 1,
            cache_size,
            ..ResolverSettings::default()
        })
        .unwrap()
    }

    fn start() -> LoopbackServer {
        LoopbackServer::builder()
            .zone("example.com", EXAMPLE)
            .zone("example.org", "target IN A 198.51.100.7\n")
            .silent("slow.example.com")
            .servfail("broken.example.com")
            .start()
            .unwrap()
    }

    #[tokio::test]
    async fn records_nodata_and_nxdomain_come_back_as_the_server_said() {
        let server = start();
        let dns = stub(&server, Duration::from_secs(2), 0);
        assert_eq!(
            dns.a("example.com").await.unwrap(),
            Lookup::Found(vec![Ipv4Addr::new(192, 0, 2, 10)])
        );
        let txt = dns.txt("example.com.").await.unwrap().into_records();
        assert_eq!(txt[0].strings.len(), 2);
        assert_eq!(txt[0].joined(), b"v=spf1 include:_spf.example.net -all");
        assert_eq!(
            dns.mx("EXAMPLE.com").await.unwrap().into_records()[0].exchange,
            "mx1.example.com"
        );
        assert_eq!(dns.a("onlytxt.example.com").await.unwrap(), Lookup::NoData);
        assert_eq!(
            dns.txt("nothing.example.com").await.unwrap(),
            Lookup::NxDomain
        );
    }

    #[tokio::test]
    async fn cname_chains_are_followed_inside_the_answer_and_across_zones() {
        let server = start();
        let dns = stub(&server, Duration::from_secs(2), 0);
        assert_eq!(
            dns.a("www.example.com").await.unwrap(),
            Lookup::Found(vec![Ipv4Addr::new(192, 0, 2, 80)])
        );
        // The authoritative server answers only the alias; the target is asked for next.
        assert_eq!(
            dns.a("away.example.com").await.unwrap(),
            Lookup::Found(vec![Ipv4Addr::new(198, 51, 100, 7)])
        );
        assert_eq!(
            dns.query("www.example.com", RecordType::Cname)
                .await
                .unwrap(),
            Lookup::Found(vec![Record::Cname("web.example.com".to_owned())])
        );
    }

    #[tokio::test]
    async fn silence_times_out_and_servfail_is_a_server_failure() {
        let server = start();
        let dns = stub(&server, Duration::from_millis(300), 0);
        let err = dns.txt("_dmarc.slow.example.com").await.unwrap_err();
        assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
        let err = dns.txt("broken.example.com").await.unwrap_err();
        assert!(matches!(err, DnsError::ServerFailure { .. }), "{err:?}");
        let err = dns.txt("elsewhere.net").await.unwrap_err();
        assert!(matches!(err, DnsError::ServerFailure { .. }), "{err:?}");
        // The server still answers the rest.
        assert!(matches!(dns.a("example.com").await, Ok(Lookup::Found(_))));
    }

    #[tokio::test]
    async fn answers_are_cached_and_concurrent_askers_share_one_query() {
        let server = start();
        let dns = stub(&server, Duration::from_secs(2), 1024);
        let before = server.queries();
        let answers = futures_join(&dns, "example.com", 20).await;
        assert!(answers.iter().all(|a| matches!(a, Lookup::Found(_))));
        assert_eq!(server.queries() - before, 1);
        // Negative answers are cached too (for the SOA's negative TTL).
        assert_eq!(dns.txt("none.example.com").await.unwrap(), Lookup::NxDomain);
        assert_eq!(dns.txt("none.example.com").await.unwrap(), Lookup::NxDomain);
        assert_eq!(server.queries() - before, 2);
        // Without a cache every lookup asks.
        let uncached = stub(&server, Duration::from_secs(2), 0);
        uncached.a("example.com").await.unwrap();
        uncached.a("example.com").await.unwrap();
        assert_eq!(server.queries() - before, 4);
    }

    #[tokio::test]
    async fn an_answer_too_big_for_udp_comes_over_tcp() {
        let long = "x".repeat(250);
        let text: String = (0..24)
            .map(|i| format!("big IN TXT \"{i:02}{long}\"\n"))
            .collect();
        let server = LoopbackServer::start(&[("example.com", &text)]).unwrap();
        let dns = stub(&server, Duration::from_secs(2), 0);
        let txt = dns.txt("big.example.com").await.unwrap().into_records();
        assert_eq!(txt.len(), 24);
        assert!(txt.iter().all(|t| t.len() == 252));
    }

    async fn futures_join(dns: &StubResolver, name: &str, n: usize) -> Vec<Lookup<Record>> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let dns = dns.clone();
            let name = name.to_owned();
            set.spawn(async move { dns.query(&name, RecordType::A).await.unwrap() });
        }
        set.join_all().await
    }
}
