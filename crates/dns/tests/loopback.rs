//! `HickoryResolver` against `testing::LoopbackServer`, a real authoritative server
//! (hickory-server) on loopback: every answer below travelled as DNS packets.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

use postern_dns::testing::LoopbackServer;
use postern_dns::{DnsError, HickoryResolver, Lookup, Mx, Resolver, ResolverSettings};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

const EXAMPLE: &str = r#"
$ORIGIN example.com.
@        IN A     192.0.2.10
@        IN AAAA  2001:db8::10
@        IN TXT   "v=spf1 " "include:_spf.example.net -all"
@        IN TXT   "other record"
@        IN MX    10 mx1.example.com.
@        IN MX    20 mx2.example.net.
mx1      IN A     192.0.2.25
www      IN CNAME web
web      IN CNAME host.example.com.
host     IN A     192.0.2.80
host     IN TXT   "at the end of the chain"
onlytxt  IN TXT   "x"
"#;

fn resolver(server: &LoopbackServer, timeout: Duration) -> HickoryResolver {
    HickoryResolver::new(&ResolverSettings {
        nameservers: vec![server.addr()],
        timeout,
        attempts: 1,
        ..ResolverSettings::default()
    })
    .unwrap()
}

#[tokio::test]
async fn addresses_text_and_mail_exchangers_come_back_from_the_zone() {
    let server = LoopbackServer::start(&[("example.com", EXAMPLE)]).unwrap();
    let dns = resolver(&server, Duration::from_secs(2));

    assert_eq!(
        dns.a("example.com").await.unwrap(),
        Lookup::Found(vec![Ipv4Addr::new(192, 0, 2, 10)])
    );
    assert_eq!(
        dns.aaaa("example.com.").await.unwrap(),
        Lookup::Found(vec!["2001:db8::10".parse::<Ipv6Addr>().unwrap()])
    );

    let txt = dns.txt("example.com").await.unwrap().into_records();
    assert_eq!(txt.len(), 2);
    let spf = txt
        .iter()
        .find(|t| t.strings.len() == 2)
        .expect("the multi-string record");
    assert_eq!(spf.strings[0], b"v=spf1 ");
    assert_eq!(spf.joined(), b"v=spf1 include:_spf.example.net -all");

    let mut mx = dns.mx("example.com").await.unwrap().into_records();
    mx.sort_by_key(|m| m.preference);
    assert_eq!(
        mx,
        vec![
            Mx {
                preference: 10,
                exchange: "mx1.example.com".into()
            },
            Mx {
                preference: 20,
                exchange: "mx2.example.net".into()
            },
        ]
    );
    assert!(server.queries() >= 4);
}

#[tokio::test]
async fn a_cname_chain_is_followed_to_the_records_at_its_end() {
    let server = LoopbackServer::start(&[("example.com", EXAMPLE)]).unwrap();
    let dns = resolver(&server, Duration::from_secs(2));
    assert_eq!(
        dns.a("www.example.com").await.unwrap(),
        Lookup::Found(vec![Ipv4Addr::new(192, 0, 2, 80)])
    );
    let txt = dns.txt("www.example.com").await.unwrap().into_records();
    assert_eq!(txt.len(), 1);
    assert_eq!(txt[0].joined(), b"at the end of the chain");
}

#[tokio::test]
async fn a_missing_name_is_nxdomain_and_a_missing_type_is_nodata() {
    let server = LoopbackServer::start(&[("example.com", EXAMPLE)]).unwrap();
    let dns = resolver(&server, Duration::from_secs(2));
    assert_eq!(
        dns.txt("nothing.example.com").await.unwrap(),
        Lookup::NxDomain
    );
    assert_eq!(dns.a("onlytxt.example.com").await.unwrap(), Lookup::NoData);
    assert_eq!(dns.mx("mx1.example.com").await.unwrap(), Lookup::NoData);
}

#[tokio::test]
async fn a_silent_name_times_out_as_an_error() {
    let server = LoopbackServer::builder()
        .zone("example.com", EXAMPLE)
        .silent("slow.example.com")
        .start()
        .unwrap();
    let dns = resolver(&server, Duration::from_millis(300));
    let err = dns.txt("_dmarc.slow.example.com").await.unwrap_err();
    assert!(matches!(err, DnsError::Timeout { .. }), "{err:?}");
    // The rest of the zone still answers.
    assert!(matches!(
        dns.a("example.com").await.unwrap(),
        Lookup::Found(_)
    ));
}

#[tokio::test]
async fn refused_and_servfail_origins_are_server_failures_not_empty_answers() {
    let server = LoopbackServer::builder()
        .zone("example.com", EXAMPLE)
        .refuse("refused.test")
        .servfail("broken.example.com")
        .start()
        .unwrap();
    let dns = resolver(&server, Duration::from_secs(2));
    for name in ["refused.test", "a.refused.test", "broken.example.com"] {
        let err = dns.txt(name).await.unwrap_err();
        assert!(
            matches!(err, DnsError::ServerFailure { .. }),
            "{name}: {err:?}"
        );
    }
    // A name under no zone at all is refused by an authoritative-only server.
    let err = dns.txt("elsewhere.org").await.unwrap_err();
    assert!(matches!(err, DnsError::ServerFailure { .. }), "{err:?}");
}

#[tokio::test]
async fn many_zones_are_served_at_once() {
    let texts: Vec<(String, String)> = (0..200)
        .map(|i| {
            (
                format!("d{i}.test"),
                format!("@ IN TXT \"v=spf1 ip4:192.0.2.{} -all\"\n", i % 250),
            )
        })
        .collect();
    let zones: Vec<(&str, &str)> = texts
        .iter()
        .map(|(o, t)| (o.as_str(), t.as_str()))
        .collect();
    let server = LoopbackServer::start(&zones).unwrap();
    let dns = resolver(&server, Duration::from_secs(2));
    let answers = futures_join(&dns, 200).await;
    for (i, joined) in answers.into_iter().enumerate() {
        assert_eq!(
            joined,
            format!("v=spf1 ip4:192.0.2.{} -all", i % 250).into_bytes()
        );
    }
}

async fn futures_join(dns: &HickoryResolver, n: usize) -> Vec<Vec<u8>> {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let dns = dns.clone();
        tasks.spawn(async move {
            let txt = dns.txt(&format!("d{i}.test")).await.unwrap();
            (i, txt.into_records()[0].joined())
        });
    }
    let mut out = vec![Vec::new(); n];
    while let Some(done) = tasks.join_next().await {
        let (i, joined) = done.unwrap();
        out[i] = joined;
    }
    out
}

#[test]
fn a_broken_zone_text_is_refused_at_start() {
    let err = LoopbackServer::start(&[("example.com", "@ IN A not-an-address\n")]).unwrap_err();
    assert!(err.to_string().contains("example.com"), "{err}");
}

#[tokio::test]
async fn an_answer_too_big_for_udp_comes_over_tcp() {
    // 24 strings of 250 octets: over any UDP payload size, so the answer is truncated and
    // the resolver asks again over TCP on the same port.
    let long = "x".repeat(250);
    let text: String = (0..24)
        .map(|i| format!("big IN TXT \"{i:02}{long}\"\n"))
        .collect();
    let server = LoopbackServer::start(&[("example.com", &text)]).unwrap();
    let dns = resolver(&server, Duration::from_secs(2));
    let txt = dns.txt("big.example.com").await.unwrap().into_records();
    assert_eq!(txt.len(), 24);
    assert!(txt.iter().all(|t| t.len() == 252));
}
