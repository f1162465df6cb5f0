//! A real authoritative DNS server on loopback, for tests and benchmarks (feature `testing`).
//!
//! [`LoopbackServer`] serves zones written in the standard master-file format (RFC 1035
//! §5, read by hickory's zone parser) over UDP and TCP on `127.0.0.1`, on one port the
//! operating system picks. It runs hickory-server on a thread of its own with its own Tokio
//! runtime, so it works the same from synchronous code, from `#[tokio::test]` and from a
//! benchmark; dropping it stops the server.
//!
//! Besides answering from its zones, it can play a broken server for chosen names:
//! [`LoopbackBuilder::silent`] drops every query at or under a name (the client times out),
//! [`LoopbackBuilder::refuse`] and [`LoopbackBuilder::servfail`] answer REFUSED or SERVFAIL.
//! Names under no zone are answered REFUSED, as an authoritative-only server does.
//!
//! ```no_run
//! # fn main() -> Result<(), postern_dns::testing::LoopbackError> {
//! use postern_dns::testing::LoopbackServer;
//! let server = LoopbackServer::builder()
//!     .zone("example.com", "@ IN TXT \"v=spf1 -all\"\n@ IN MX 10 mx.example.com.\n")
//!     .silent("slow.example.com")
//!     .start()?;
//! let upstream = server.addr(); // give this to `ResolverSettings::nameservers`
//! # let _ = upstream; Ok(()) }
//! ```

use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::SOA;
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordSet, RecordType, RrKey};
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{
    AxfrPolicy, Catalog, MessageResponseBuilder, ZoneHandler, ZoneType,
};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// TTL given to records of a zone text without `$TTL` or a TTL of their own.
const DEFAULT_TTL: u32 = 300;
/// How long an idle TCP connection is kept open by the server.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Attempts at finding a port free for both UDP and TCP.
const BIND_ATTEMPTS: usize = 20;

/// Why a [`LoopbackServer`] could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoopbackError {
    /// An origin is not a domain name.
    #[error("zone origin {origin:?} is not a domain name: {reason}")]
    Origin {
        /// The origin as given.
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A zone text could not be parsed or loaded.
    #[error("zone {origin}: {reason}")]
    Zone {
        /// The zone's origin.
        origin: String,
        /// The parser's or loader's message (its line numbers count the `$TTL` line added
        /// in front of the text).
        reason: String,
    },
    /// The sockets could not be bound or the server thread could not start.
    #[error("loopback server: {0}")]
    Io(#[from] std::io::Error),
}

/// What the server does with queries at or under a name instead of answering from zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    /// Drop the query: no answer at all.
    Silent,
    /// Answer REFUSED.
    Refuse,
    /// Answer SERVFAIL.
    ServFail,
}

/// Collects the zones and misbehaviours of a [`LoopbackServer`]; see
/// [`LoopbackServer::builder`].
#[derive(Debug, Default, Clone)]
pub struct LoopbackBuilder {
    zones: Vec<(String, String)>,
    rules: Vec<(String, Misbehaviour)>,
}

/// An authoritative DNS server on `127.0.0.1` (UDP and TCP on the same port), running
/// until dropped.
pub struct LoopbackServer {
    addr: SocketAddr,
    queries: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl LoopbackBuilder {
    /// Adds a zone: its origin (`example.com`, trailing dot optional) and its text in
    /// master-file format. Relative names are relative to the origin; a zone without an SOA
    /// record at its origin gets one; records without TTL get 300 s.
    pub fn zone(mut self, origin: &str, text: &str) -> Self {
        self.zones.push((origin.to_owned(), text.to_owned()));
        self
    }

    /// Drops every query for `name` and the names under it, so clients time out.
    pub fn silent(mut self, name: &str) -> Self {
        self.rules.push((name.to_owned(), Misbehaviour::Silent));
        self
    }

    /// Answers REFUSED to every query for `name` and the names under it.
    pub fn refuse(mut self, name: &str) -> Self {
        self.rules.push((name.to_owned(), Misbehaviour::Refuse));
        self
    }

    /// Answers SERVFAIL to every query for `name` and the names under it.
    pub fn servfail(mut self, name: &str) -> Self {
        self.rules.push((name.to_owned(), Misbehaviour::ServFail));
        self
    }

    /// Loads the zones, binds the sockets and starts the server.
    pub fn start(self) -> Result<LoopbackServer, LoopbackError> {
        let mut catalog = Catalog::new();
        for (origin, text) in &self.zones {
            let (name, handler) = load_zone(origin, text)?;
            catalog.upsert(LowerName::new(&name), vec![handler]);
        }
        let mut rules = Vec::with_capacity(self.rules.len());
        for (name, behaviour) in &self.rules {
            rules.push((LowerName::new(&parse_origin(name)?), *behaviour));
        }
        let queries = Arc::new(AtomicU64::new(0));
        let handler = Handler {
            catalog,
            rules,
            queries: Arc::clone(&queries),
        };
        let (udp, tcp) = bind_pair()?;
        let addr = udp.local_addr()?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("loopback-dns")
            .enable_all()
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("loopback-dns".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    let sockets = tokio::net::UdpSocket::from_std(udp)
                        .and_then(|u| Ok((u, tokio::net::TcpListener::from_std(tcp)?)));
                    let (udp, tcp) = match sockets {
                        Ok(pair) => pair,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let mut server = Server::new(handler);
                    server.register_socket(udp);
                    server.register_listener(tcp, TCP_IDLE, 64);
                    let _ = ready_tx.send(Ok(()));
                    // Runs until the owner sends or drops the stop handle.
                    let _ = stopped.await;
                    let _ = server.shutdown_gracefully().await;
                });
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(LoopbackError::Io(e)),
            Err(_) => {
                return Err(LoopbackError::Io(std::io::Error::other(
                    "server thread ended before it was ready",
                )));
            }
        }
        Ok(LoopbackServer {
            addr,
            queries,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl LoopbackServer {
    /// A builder for a server with zones and misbehaving names.
    pub fn builder() -> LoopbackBuilder {
        LoopbackBuilder::default()
    }

    /// Starts a server for `zones`, each an (origin, master-file text) pair.
    pub fn start(zones: &[(&str, &str)]) -> Result<Self, LoopbackError> {
        zones
            .iter()
            .fold(Self::builder(), |b, (origin, text)| b.zone(origin, text))
            .start()
    }

    /// The address the server listens on, for UDP and TCP.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The number of queries received so far (answered, refused or dropped), over both
    /// transports.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for LoopbackServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopbackServer")
            .field("addr", &self.addr)
            .field("queries", &self.queries())
            .finish()
    }
}

/// The catalog of zones, with the misbehaving names checked first.
struct Handler {
    catalog: Catalog,
    rules: Vec<(LowerName, Misbehaviour)>,
    queries: Arc<AtomicU64>,
}

impl Handler {
    /// The misbehaviour of the most specific rule covering `name`, if any.
    fn misbehaviour(&self, name: &LowerName) -> Option<Misbehaviour> {
        self.rules
            .iter()
            .filter(|(zone, _)| zone.zone_of(name))
            .max_by_key(|(zone, _)| zone.num_labels())
            .map(|(_, behaviour)| *behaviour)
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let behaviour = request
            .request_info()
            .ok()
            .and_then(|info| self.misbehaviour(info.query.name()));
        let code = match behaviour {
            None => {
                return self
                    .catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await;
            }
            Some(Misbehaviour::Silent) => {
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                return ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                });
            }
            Some(Misbehaviour::Refuse) => ResponseCode::Refused,
            Some(Misbehaviour::ServFail) => ResponseCode::ServFail,
        };
        let response =
            MessageResponseBuilder::new(&request.queries, None).error_msg(&request.metadata, code);
        match response_handle.send_response(response).await {
            Ok(info) => info,
            Err(_) => {
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// An origin as an absolute name.
fn parse_origin(origin: &str) -> Result<Name, LoopbackError> {
    let fqdn = if origin.ends_with('.') {
        origin.to_owned()
    } else {
        format!("{origin}.")
    };
    Name::from_str(&fqdn).map_err(|e| LoopbackError::Origin {
        origin: origin.to_owned(),
        reason: e.to_string(),
    })
}

/// Parses a zone text and builds its in-memory zone handler, adding an SOA when missing.
fn load_zone(
    origin: &str,
    text: &str,
) -> Result<(Name, Arc<dyn ZoneHandler + 'static>), LoopbackError> {
    let name = parse_origin(origin)?;
    let zone_error = |reason: String| LoopbackError::Zone {
        origin: origin.to_owned(),
        reason,
    };
    let with_ttl = format!("$TTL {DEFAULT_TTL}\n{text}");
    let (_, mut records) = Parser::new(with_ttl.as_str(), None, Some(name.clone()))
        .parse()
        .map_err(|e| zone_error(e.to_string()))?;
    let soa_key = RrKey::new(LowerName::new(&name), RecordType::SOA);
    if let std::collections::btree_map::Entry::Vacant(slot) = records.entry(soa_key) {
        let host = |label: &str| {
            Name::from_str(label)
                .and_then(|l| l.append_domain(&name))
                .map_err(|e| zone_error(e.to_string()))
        };
        let soa = SOA::new(host("ns")?, host("hostmaster")?, 1, 3600, 600, 86400, 60);
        let record = Record::from_rdata(name.clone(), DEFAULT_TTL, RData::SOA(soa));
        slot.insert(RecordSet::from(record));
    }
    let handler = InMemoryZoneHandler::<hickory_server::net::runtime::TokioRuntimeProvider>::new(
        name.clone(),
        records,
        ZoneType::Primary,
        AxfrPolicy::Deny,
    )
    .map_err(zone_error)?;
    Ok((name, Arc::new(handler)))
}

/// A UDP socket and a TCP listener on the same free loopback port.
fn bind_pair() -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut last = None;
    for _ in 0..BIND_ATTEMPTS {
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port for UDP and TCP")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zone_without_soa_gets_one_and_loads() {
        assert!(load_zone("example.com", "@ IN TXT \"hello\"\n").is_ok());
    }

    #[test]
    fn a_broken_zone_text_is_an_error_naming_the_zone() {
        let err = load_zone("example.com", "@ IN MX not-a-number\n")
            .err()
            .unwrap();
        assert!(err.to_string().contains("example.com"), "{err}");
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let name = |n: &str| LowerName::new(&parse_origin(n).unwrap());
        let handler = Handler {
            catalog: Catalog::new(),
            rules: vec![
                (name("example.com"), Misbehaviour::Refuse),
                (name("slow.example.com"), Misbehaviour::Silent),
            ],
            queries: Arc::new(AtomicU64::new(0)),
        };
        assert_eq!(
            handler.misbehaviour(&name("a.slow.example.com")),
            Some(Misbehaviour::Silent)
        );
        assert_eq!(
            handler.misbehaviour(&name("www.example.com")),
            Some(Misbehaviour::Refuse)
        );
        assert_eq!(handler.misbehaviour(&name("example.org")), None);
    }
}
