//! `HickoryResolver` against a small DNS responder on loopback, so the classification of
//! answers (records, NOERROR-no-data, NXDOMAIN, SERVFAIL, timeouts) is checked on real
//! DNS packets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::rdata::{CNAME, MX, NULL, SOA, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record as HRecord, RecordType as HType};
use postern_dns::{DnsError, HickoryResolver, Lookup, Resolver, ResolverSettings};
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;

fn name(text: &str) -> Name {
    Name::from_str(text).unwrap()
}

fn soa() -> HRecord {
    HRecord::from_rdata(
        name("test."),
        60,
        RData::SOA(SOA::new(
            name("ns.test."),
            name("hostmaster.test."),
            1,
            60,
            60,
            60,
            60,
        )),
    )
}

/// Answers from a fixed table; counts the queries it receives.
async fn responder(queries: Arc<AtomicUsize>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
                return;
            };
            let Ok(request) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            queries.fetch_add(1, Ordering::SeqCst);
            let query = request.queries[0].clone();
            let qname = query.name().to_ascii().to_ascii_lowercase();
            let qtype = query.query_type();
            let mut response = Message::response(request.metadata.id, request.metadata.op_code);
            response.metadata.recursion_desired = request.metadata.recursion_desired;
            response.metadata.recursion_available = true;
            response.add_query(query.clone());
            let txt = |owner: &str| {
                HRecord::from_rdata(
                    name(owner),
                    300,
                    RData::TXT(TXT::new(vec!["v=spf1 ".into(), "-all".into()])),
                )
            };
            match (qname.as_str(), qtype) {
                ("silent.test.", _) => continue,
                ("txt.test.", HType::TXT) => {
                    response.add_answer(txt("txt.test."));
                }
                ("alias.test.", HType::TXT) => {
                    response.add_answer(HRecord::from_rdata(
                        name("alias.test."),
                        300,
                        RData::CNAME(CNAME(name("txt.test."))),
                    ));
                    response.add_answer(txt("txt.test."));
                }
                ("mx.test.", HType::MX) => {
                    response.add_answer(HRecord::from_rdata(
                        name("mx.test."),
                        300,
                        RData::MX(MX::new(10, name("mail.test."))),
                    ));
                }
                ("spf99.test.", t) if u16::from(t) == 99 => {
                    response.add_answer(HRecord::from_rdata(
                        name("spf99.test."),
                        300,
                        RData::Unknown {
                            code: HType::Unknown(99),
                            rdata: NULL::with(b"\x0bv=spf1 -all".to_vec()),
                        },
                    ));
                }
                ("fail.test.", _) => response.metadata.response_code = ResponseCode::ServFail,
                ("txt.test." | "alias.test." | "mx.test." | "spf99.test.", _) => {
                    response.add_authority(soa());
                }
                _ => {
                    response.metadata.response_code = ResponseCode::NXDomain;
                    response.add_authority(soa());
                }
            }
            let bytes = response.to_vec().unwrap();
            let _ = socket.send_to(&bytes, peer).await;
        }
    });
    addr
}

async fn resolver() -> (HickoryResolver, Arc<AtomicUsize>) {
    let queries = Arc::new(AtomicUsize::new(0));
    let addr = responder(queries.clone()).await;
    let resolver = HickoryResolver::new(&ResolverSettings {
        nameservers: vec![addr],
        timeout: Duration::from_millis(300),
        attempts: 1,
        ..ResolverSettings::default()
    })
    .unwrap();
    (resolver, queries)
}

#[tokio::test]
async fn records_nodata_and_nxdomain_are_told_apart_on_real_packets() {
    let (r, _) = resolver().await;
    let txt = r.txt("txt.test").await.unwrap();
    assert_eq!(txt.records()[0].joined(), b"v=spf1 -all");
    assert_eq!(txt.records()[0].strings.len(), 2);
    assert_eq!(r.a("txt.test").await.unwrap(), Lookup::NoData);
    assert_eq!(r.txt("missing.test").await.unwrap(), Lookup::NxDomain);
    let mx = r.mx("mx.test.").await.unwrap();
    assert_eq!(mx.records()[0].exchange, "mail.test");
    assert_eq!(mx.records()[0].preference, 10);
}

#[tokio::test]
async fn cname_answers_give_the_records_at_the_end_of_the_chain() {
    let (r, _) = resolver().await;
    let txt = r.txt("alias.test").await.unwrap();
    assert_eq!(txt.records().len(), 1);
    assert_eq!(txt.records()[0].joined(), b"v=spf1 -all");
}

#[tokio::test]
async fn type_99_records_are_read() {
    let (r, _) = resolver().await;
    let spf = r.spf99("spf99.test").await.unwrap();
    assert_eq!(spf.records()[0].joined(), b"v=spf1 -all");
}

#[tokio::test]
async fn servfail_and_silence_are_errors_not_empty_answers() {
    let (r, _) = resolver().await;
    assert!(matches!(
        r.txt("fail.test").await,
        Err(DnsError::ServerFailure { .. })
    ));
    let err = r.txt("silent.test").await.unwrap_err();
    assert!(err.is_transient(), "{err}");
}

#[tokio::test]
async fn answers_are_cached_for_their_ttl() {
    let (r, queries) = resolver().await;
    r.txt("txt.test").await.unwrap();
    r.txt("txt.test").await.unwrap();
    r.txt("missing.test").await.unwrap();
    r.txt("missing.test").await.unwrap();
    assert_eq!(queries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn lookups_beyond_the_concurrency_limit_wait_for_a_slot() {
    let queries = Arc::new(AtomicUsize::new(0));
    let addr = responder(queries).await;
    let resolver = HickoryResolver::new(&ResolverSettings {
        nameservers: vec![addr],
        timeout: Duration::from_millis(200),
        attempts: 1,
        max_concurrent: 1,
        ..ResolverSettings::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let (a, b) = tokio::join!(resolver.txt("silent.test"), resolver.a("silent.test"));
    assert!(a.is_err() && b.is_err());
    // One slot: the second lookup starts only after the first has timed out.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}
