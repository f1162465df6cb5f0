//! The notification service end to end against real receivers on loopback: a small HTTP/1.1
//! server (webhook, Slack, Teams; programmable status codes) and Python's aiosmtpd (e-mail),
//! with the store on SQLite and PostgreSQL. Issues are made by reconciling findings, events
//! are the `issue.changed` envelopes analysis writes.

// Fixture helpers outside `#[test]` functions unwrap too: a failing fixture is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{Duration as ChronoDuration, Utc};
use hmac::{Hmac, Mac};
use postern_bus::Envelope;
use postern_bus::events::{IssueChange, issue_changed};
use postern_domain::{
    ClientId, DomainName, Evidence, Finding, IssueId, IssueState, MspId, Role, Severity,
    TenantScope, Verification,
};
use postern_notify::{
    NotifySettings, Sender, SmtpSettings, SmtpTls, deliver_due, handle_issue_changed, queue_digests,
};
use postern_store::notify::{
    ChannelKind, DeliveryFilter, DeliveryKind, DeliveryStatus, NewChannel, NewRoute, NotifyMode,
};
use postern_store::testing::TestDb;
use postern_store::{Backend, Domain, StoreError, TenantDb};
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

// ---------------------------------------------------------------------------------------
// A real HTTP receiver on 127.0.0.1:0.

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Answers each request with the next queued status (200 when the queue is empty) and
/// records it.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    statuses: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    async fn start(statuses: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(
            statuses.iter().copied().collect::<VecDeque<_>>(),
        ));
        let (r, s) = (received.clone(), statuses.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let (r, s) = (r.clone(), s.clone());
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let status = s.lock().unwrap().pop_front().unwrap_or(200);
                    r.lock().unwrap().push(request);
                    let body = if status < 300 {
                        "ok"
                    } else {
                        "receiver says no"
                    };
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Receiver {
            url,
            received,
            statuses,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    fn always(&self, status: u16) {
        *self.statuses.lock().unwrap() = std::iter::repeat_n(status, 100).collect();
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some(Received {
        path,
        headers,
        body: buf[head_end..].to_vec(),
    })
}

// ---------------------------------------------------------------------------------------
// A real SMTP receiver: aiosmtpd with tests/fixtures/spool.py.

struct SmtpReceiver {
    port: u16,
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpReceiver {
    fn start(reject: bool) -> SmtpReceiver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut command = std::process::Command::new("python3");
        command
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "spool.Spool"])
            .arg(dir.path())
            .env("PYTHONPATH", &fixtures)
            .stdout(std::process::Stdio::null());
        if reject {
            command.arg("reject");
        }
        let child = command
            .spawn()
            .expect("python3 -m aiosmtpd (python3 -m pip install aiosmtpd)");
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "aiosmtpd did not listen on {port} (is it installed?)"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpReceiver { port, dir, child }
    }

    fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p: PathBuf| std::fs::read_to_string(p).unwrap())
            .collect();
        out.sort();
        out
    }

    fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: SmtpTls::None,
            credentials: None,
            from: "Postern <postern@msp.example>".into(),
            timeout: Duration::from_secs(10),
        }
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// The world: two MSPs with one client, one domain and one issue each.

struct Tenant {
    msp: MspId,
    client: ClientId,
    domain: Domain,
    issue: IssueId,
}

struct World {
    db: TestDb,
    a: Tenant,
    b: Tenant,
}

impl World {
    async fn new(backend: Backend) -> World {
        let db = TestDb::open(backend).await;
        let a = tenant(&db, "MSP A", "Client A", "a.example").await;
        let b = tenant(&db, "MSP B", "Client B", "b.example").await;
        World { db, a, b }
    }

    fn admin(&self, t: &Tenant) -> TenantDb {
        self.db
            .tenant(TenantScope::msp(t.msp, Role::MspAdmin, false))
    }

    /// A channel of `t`'s MSP with one route for every event (quiet period `quiet`).
    async fn channel(
        &self,
        t: &Tenant,
        kind: ChannelKind,
        target: &str,
        quiet: u64,
    ) -> postern_store::notify::Channel {
        let db = self.admin(t);
        let channel = db
            .create_notify_channel(NewChannel {
                client_id: None,
                name: format!("{kind} channel"),
                kind,
                target: target.to_owned(),
                secret: (kind == ChannelKind::Webhook).then(|| "s3cret-for-tests".to_owned()),
            })
            .await
            .unwrap();
        db.create_notify_route(route(channel.id, |r| r.quiet_period_secs = Some(quiet)))
            .await
            .unwrap();
        channel
    }

    /// The `issue.changed` envelope of `t`'s issue.
    fn event(
        &self,
        t: &Tenant,
        kind: &str,
        from: Option<IssueState>,
        to: IssueState,
        severity: Severity,
    ) -> Envelope {
        issue_changed(
            &IssueChange {
                issue: t.issue,
                msp: t.msp,
                client: t.client,
                domain: t.domain.id,
                code: "dmarc.policy_none",
                severity,
                kind,
                from_state: from,
                to_state: to,
                actor: None,
            },
            Utc::now(),
        )
    }

    async fn handle(&self, envelope: &Envelope) -> postern_notify::Routed {
        handle_issue_changed(
            &self.db.store,
            envelope,
            Duration::from_secs(3600),
            Utc::now(),
        )
        .await
        .unwrap()
    }

    async fn deliveries(
        &self,
        t: &Tenant,
        filter: DeliveryFilter,
    ) -> Vec<postern_store::notify::Delivery> {
        self.admin(t)
            .list_notify_deliveries(&filter, postern_store::PageRequest::first(100))
            .await
            .unwrap()
            .items
    }
}

fn route(channel: postern_store::notify::ChannelId, edit: impl FnOnce(&mut NewRoute)) -> NewRoute {
    let mut r = NewRoute {
        channel_id: channel,
        client_id: None,
        min_severity: Severity::Info,
        codes: Vec::new(),
        event_kinds: Vec::new(),
        mode: NotifyMode::Immediate,
        quiet_period_secs: Some(0),
    };
    edit(&mut r);
    r
}

async fn tenant(db: &TestDb, msp: &str, client: &str, domain: &str) -> Tenant {
    let msp = db.system().create_msp(msp, false).await.unwrap().id;
    let owner = db.tenant(TenantScope::msp(msp, Role::MspOwner, false));
    let client = owner.create_client(client).await.unwrap();
    let (domain, _) = owner
        .add_domain(client.id, &DomainName::parse(domain).unwrap(), &|_, _| {
            Vec::new()
        })
        .await
        .unwrap();
    db.system()
        .reconcile_findings(
            &domain,
            &["dmarc.".to_owned()],
            &[Finding {
                code: "dmarc.policy_none".into(),
                severity: Severity::High,
                title: "DMARC policy is none".into(),
                explanation: "Receivers deliver spoofed mail.".into(),
                evidence: vec![Evidence {
                    label: "messages".into(),
                    value: "1200".into(),
                }],
                fix_steps: Vec::new(),
                verification: Verification {
                    description: "p=quarantine is published".into(),
                },
            }],
            Utc::now(),
            &|_, _| Vec::new(),
        )
        .await
        .unwrap();
    let issue = owner
        .list_issues(&Default::default(), postern_store::PageRequest::first(10))
        .await
        .unwrap()
        .items[0]
        .id;
    Tenant {
        msp,
        client: client.id,
        domain,
        issue,
    }
}

fn settings() -> NotifySettings {
    NotifySettings {
        max_attempts: 3,
        backoff_initial: Duration::ZERO,
        backoff_max: Duration::ZERO,
        http_timeout: Duration::from_secs(5),
        // the receivers of these tests listen on loopback
        allow_private_targets: true,
        ..NotifySettings::default()
    }
}

/// Runs `body` on SQLite and on PostgreSQL.
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(postern_store::Backend::Sqlite).await })+
        }
        mod postgres {
            $(#[tokio::test] async fn $name() { super::$name(postern_store::Backend::Postgres).await })+
        }
    };
}

on_both!(
    webhook_is_delivered_with_a_verifiable_signature,
    slack_and_teams_get_their_documented_shapes,
    a_failing_receiver_is_retried_until_it_accepts,
    an_always_failing_receiver_ends_failed_with_the_reason_and_blocks_nobody,
    email_is_delivered_through_a_real_smtp_receiver,
    routes_filter_by_severity_threshold_and_codes,
    quiet_period_suppresses_repeats_but_not_escalations,
    digest_routes_collect_events_into_one_daily_message,
    another_msps_events_never_reach_a_channel,
    a_claimed_delivery_is_resumed_after_its_lease_runs_out,
    internal_webhook_targets_are_refused_unless_allowed,
    concurrent_events_of_one_issue_tell_a_channel_once_per_quiet_period,
);

// ---------------------------------------------------------------------------------------

async fn webhook_is_delivered_with_a_verifiable_signature(backend: Backend) {
    let w = World::new(backend).await;
    let receiver = Receiver::start(&[]).await;
    let channel = w
        .channel(
            &w.a,
            ChannelKind::Webhook,
            &format!("{}/hook", receiver.url),
            0,
        )
        .await;
    let event = w.event(&w.a, "opened", None, IssueState::Open, Severity::High);
    assert_eq!(w.handle(&event).await.queued, 1);
    let sender = Sender::new(&settings()).unwrap();
    let done = deliver_due(&w.db.store, &sender, &settings(), Utc::now())
        .await
        .unwrap();
    assert_eq!(done.len(), 1);

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let request = &got[0];
    assert_eq!(request.path, "/hook");
    // Recompute the signature independently: HMAC-SHA256(secret, "<t>.<body>").
    let header = request.header("Postern-Signature").unwrap();
    let (t, v1) = header.split_once(',').unwrap();
    let t = t.strip_prefix("t=").unwrap();
    let v1 = v1.strip_prefix("v1=").unwrap();
    assert!((Utc::now().timestamp() - t.parse::<i64>().unwrap()).abs() < 60);
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret-for-tests").unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&request.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .expect("signature verifies");
    let mut wrong = Hmac::<Sha256>::new_from_slice(b"another secret").unwrap();
    wrong.update(format!("{t}.").as_bytes());
    wrong.update(&request.body);
    assert!(wrong.verify_slice(&hex::decode(v1).unwrap()).is_err());

    let body = request.json();
    assert_eq!(body["type"], "issue.changed");
    assert_eq!(body["msp"]["name"], "MSP A");
    assert_eq!(body["client"]["name"], "Client A");
    assert_eq!(body["domain"], "a.example");
    assert_eq!(body["issue"]["id"], w.a.issue.to_string());
    assert_eq!(body["issue"]["code"], "dmarc.policy_none");
    assert_eq!(body["issue"]["severity"], "high");
    assert_eq!(body["issue"]["title"], "DMARC policy is none");
    assert_eq!(body["change"]["kind"], "opened");
    assert_eq!(body["change"]["to_state"], "open");
    assert_eq!(body["event_id"], event.id.to_string());

    let log = w
        .deliveries(
            &w.a,
            DeliveryFilter {
                channel: Some(channel.id),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].status, DeliveryStatus::Delivered);
    assert_eq!(log[0].response_code, Some(200));
    assert_eq!(log[0].attempts, 1);
    assert_eq!(log[0].issue_id, Some(w.a.issue));
    // The same event again (the bus redelivers) logs nothing new.
    assert_eq!(w.handle(&event).await.queued, 0);
    assert_eq!(w.deliveries(&w.a, DeliveryFilter::default()).await.len(), 1);
}

async fn slack_and_teams_get_their_documented_shapes(backend: Backend) {
    let w = World::new(backend).await;
    let receiver = Receiver::start(&[]).await;
    w.channel(
        &w.a,
        ChannelKind::Slack,
        &format!("{}/slack", receiver.url),
        0,
    )
    .await;
    w.channel(
        &w.a,
        ChannelKind::Teams,
        &format!("{}/teams", receiver.url),
        0,
    )
    .await;
    let event = w.event(&w.a, "opened", None, IssueState::Open, Severity::High);
    assert_eq!(w.handle(&event).await.queued, 2);
    let sender = Sender::new(&settings()).unwrap();
    deliver_due(&w.db.store, &sender, &settings(), Utc::now())
        .await
        .unwrap();
    let got = receiver.received();
    let slack = got.iter().find(|r| r.path == "/slack").unwrap().json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("DMARC policy is none")
    );
    let blocks = slack["blocks"].as_array().unwrap();
    assert!(blocks.iter().any(|b| b["type"] == "section"
        && b["text"]["type"] == "mrkdwn"
        && b["text"]["text"].as_str().unwrap().contains("a.example")));
    let teams = got.iter().find(|r| r.path == "/teams").unwrap().json();
    assert_eq!(teams["@type"], "MessageCard");
    assert_eq!(teams["@context"], "https://schema.org/extensions");
    assert!(teams["summary"].as_str().unwrap().contains("a.example"));
    let facts = teams["sections"][0]["facts"].as_array().unwrap();
    assert!(
        facts
            .iter()
            .any(|f| f["name"] == "Client" && f["value"] == "Client A")
    );
    assert!(got.iter().all(|r| r.header("Postern-Signature").is_none()));
}

async fn a_failing_receiver_is_retried_until_it_accepts(backend: Backend) {
    let w = World::new(backend).await;
    let receiver = Receiver::start(&[500]).await;
    let channel = w
        .channel(&w.a, ChannelKind::Webhook, &receiver.url, 0)
        .await;
    w.handle(&w.event(&w.a, "opened", None, IssueState::Open, Severity::High))
        .await;
    let sender = Sender::new(&settings()).unwrap();
    let first = deliver_due(&w.db.store, &sender, &settings(), Utc::now())
        .await
        .unwrap();
    assert_eq!(first[0].status, DeliveryStatus::Pending);
    assert_eq!(first[0].attempts, 1);
    assert_eq!(first[0].response_code, Some(500));
    assert!(
        first[0].last_error.as_deref().unwrap().contains("500"),
        "{:?}",
        first[0]
    );
    let second = deliver_due(&w.db.store, &sender, &settings(), Utc::now())
        .await
        .unwrap();
    assert_eq!(second[0].status, DeliveryStatus::Delivered);
    assert_eq!(second[0].attempts, 2);
    assert_eq!(receiver.received().len(), 2);
    let delivered = w
        .deliveries(
            &w.a,
            DeliveryFilter {
                channel: Some(channel.id),
                status: Some(DeliveryStatus::Delivered),
                issue: Some(w.a.issue),
            },
        )
        .await;
    assert_eq!(delivered.len(), 1);
}

async fn an_always_failing_receiver_ends_failed_with_the_reason_and_blocks_nobody(
    backend: Backend,
) {
    let w = World::new(backend).await;
    let failing = Receiver::start(&[]).await;
    failing.always(503);
    let working = Receiver::start(&[]).await;
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let bad = w.channel(&w.a, ChannelKind::Webhook, &failing.url, 0).await;
    let dead = w
        .channel(
            &w.a,
            ChannelKind::Slack,
            &format!("http://127.0.0.1:{closed_port}/x"),
            0,
        )
        .await;
    let good = w.channel(&w.a, ChannelKind::Teams, &working.url, 0).await;
    w.handle(&w.event(&w.a, "opened", None, IssueState::Open, Severity::High))
        .await;
    let sender = Sender::new(&settings()).unwrap();
    for _ in 0..4 {
        deliver_due(&w.db.store, &sender, &settings(), Utc::now())
            .await
            .unwrap();
    }
    let status_of = |channel| {
        let w = &w;
        async move {
            let log = w
                .deliveries(
                    &w.a,
                    DeliveryFilter {
                        channel: Some(channel),
                        ..Default::default()
                    },
                )
                .await;
            assert_eq!(log.len(), 1);
            log[0].clone()
        }
    };
    let good = status_of(good.id).await;
    assert_eq!(good.status, DeliveryStatus::Delivered);
    assert_eq!(good.attempts, 1);
    let bad = status_of(bad.id).await;
    assert_eq!(bad.status, DeliveryStatus::Failed);
    assert_eq!(bad.attempts, 3);
    assert_eq!(bad.response_code, Some(503));
    assert!(
        bad.last_error.as_deref().unwrap().contains("http 503"),
        "{bad:?}"
    );
    assert_eq!(failing.received().len(), 3);
    let dead = status_of(dead.id).await;
    assert_eq!(dead.status, DeliveryStatus::Failed);
    assert_eq!(dead.response_code, None);
    assert!(
        dead.last_error.as_deref().unwrap().contains("connect"),
        "{dead:?}"
    );
    let failed = w
        .deliveries(
            &w.a,
            DeliveryFilter {
                status: Some(DeliveryStatus::Failed),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(failed.len(), 2);
}

async fn email_is_delivered_through_a_real_smtp_receiver(backend: Backend) {
    let w = World::new(backend).await;
    let smtp = SmtpReceiver::start(false);
    let channel = w
        .channel(
            &w.a,
            ChannelKind::Email,
            "ops@msp-a.example, oncall@msp-a.example",
            0,
        )
        .await;
    w.handle(&w.event(&w.a, "opened", None, IssueState::Open, Severity::High))
        .await;
    let settings = NotifySettings {
        smtp: Some(smtp.settings()),
        ..settings()
    };
    let sender = Sender::new(&settings).unwrap();
    let done = deliver_due(&w.db.store, &sender, &settings, Utc::now())
        .await
        .unwrap();
    assert_eq!(done[0].status, DeliveryStatus::Delivered, "{:?}", done[0]);
    assert_eq!(done[0].response_code, Some(250));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert!(m.contains("X-Envelope-To: ops@msp-a.example"), "{m}");
    assert!(m.contains("X-Envelope-To: oncall@msp-a.example"), "{m}");
    assert!(m.contains("postern@msp.example"), "{m}");
    assert!(
        m.contains("Subject: [Postern] [high] a.example: DMARC policy is none"),
        "{m}"
    );
    assert!(m.contains("Code: dmarc.policy_none"), "{m}");
    let log = w
        .deliveries(
            &w.a,
            DeliveryFilter {
                channel: Some(channel.id),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(log[0].status, DeliveryStatus::Delivered);

    // A relay that refuses: failed at once (a 5xx reply is permanent), with the reply.
    let refusing = SmtpReceiver::start(true);
    w.handle(&w.event(
        &w.a,
        "verified_resolved",
        Some(IssueState::Open),
        IssueState::Resolved,
        Severity::High,
    ))
    .await;
    let settings = NotifySettings {
        smtp: Some(refusing.settings()),
        ..settings
    };
    let sender = Sender::new(&settings).unwrap();
    let done = deliver_due(&w.db.store, &sender, &settings, Utc::now())
        .await
        .unwrap();
    assert_eq!(done[0].status, DeliveryStatus::Failed, "{:?}", done[0]);
    assert_eq!(done[0].response_code, Some(550));
    assert!(
        done[0].last_error.as_deref().unwrap().contains("smtp 550"),
        "{:?}",
        done[0]
    );
    assert!(refusing.messages().is_empty());
}

async fn routes_filter_by_severity_threshold_and_codes(backend: Backend) {
    let w = World::new(backend).await;
    let db = w.admin(&w.a);
    let channel = db
        .create_notify_channel(NewChannel {
            client_id: Some(w.a.client),
            name: "dmarc high".into(),
            kind: ChannelKind::Slack,
            target: "https://hooks.slack.example/T0/B0/x".into(),
            secret: None,
        })
        .await
        .unwrap();
    db.create_notify_route(route(channel.id, |r| {
        r.min_severity = Severity::High;
        r.codes = vec!["dmarc.".into()];
        r.event_kinds = vec!["opened".into(), "reopened".into()];
    }))
    .await
    .unwrap();
    let medium = w.event(&w.a, "opened", None, IssueState::Open, Severity::Medium);
    assert_eq!(w.handle(&medium).await.queued, 0);
    let comment = w.event(
        &w.a,
        "commented",
        Some(IssueState::Open),
        IssueState::Open,
        Severity::Critical,
    );
    assert_eq!(w.handle(&comment).await.queued, 0);
    let high = w.event(&w.a, "opened", None, IssueState::Open, Severity::High);
    assert_eq!(w.handle(&high).await.queued, 1);
    // A code outside the route's prefixes.
    let mut spf = IssueChange {
        issue: w.a.issue,
        msp: w.a.msp,
        client: w.a.client,
        domain: w.a.domain.id,
        code: "spf.too_many_lookups",
        severity: Severity::Critical,
        kind: "reopened",
        from_state: Some(IssueState::Resolved),
        to_state: IssueState::Open,
        actor: None,
    };
    assert_eq!(w.handle(&issue_changed(&spf, Utc::now())).await.queued, 0);
    spf.code = "dmarc.other";
    assert_eq!(w.handle(&issue_changed(&spf, Utc::now())).await.queued, 1);
    assert_eq!(w.deliveries(&w.a, DeliveryFilter::default()).await.len(), 2);
    // Bad routes are refused with a reason.
    for bad in [
        route(channel.id, |r| r.codes = vec!["not a code".into()]),
        route(channel.id, |r| r.event_kinds = vec!["resolved".into()]),
        route(channel.id, |r| r.client_id = Some(w.b.client)),
    ] {
        let e = db.create_notify_route(bad).await.unwrap_err();
        assert!(
            matches!(e, StoreError::Invalid(_) | StoreError::NotFound),
            "{e:?}"
        );
    }
}

async fn quiet_period_suppresses_repeats_but_not_escalations(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w
        .channel(&w.a, ChannelKind::Webhook, "https://hooks.example/q", 3600)
        .await;
    let opened = w.event(&w.a, "opened", None, IssueState::Open, Severity::High);
    assert_eq!(w.handle(&opened).await.queued, 1);
    let updated = w.event(
        &w.a,
        "updated",
        Some(IssueState::Open),
        IssueState::Open,
        Severity::High,
    );
    let routed = w.handle(&updated).await;
    assert_eq!((routed.queued, routed.suppressed), (0, 1));
    let resolved = w.event(
        &w.a,
        "verified_resolved",
        Some(IssueState::Open),
        IssueState::Resolved,
        Severity::High,
    );
    assert_eq!(w.handle(&resolved).await.suppressed, 1);
    // Flapping back to open: the receiver still believes it open, so this is no news.
    let reopened = w.event(
        &w.a,
        "reopened",
        Some(IssueState::Resolved),
        IssueState::Open,
        Severity::High,
    );
    assert_eq!(w.handle(&reopened).await.suppressed, 1);
    // Worse than what was last reported: sent despite the quiet period.
    let worse = w.event(
        &w.a,
        "updated",
        Some(IssueState::Open),
        IssueState::Open,
        Severity::Critical,
    );
    assert_eq!(w.handle(&worse).await.queued, 1);
    let suppressed = w
        .deliveries(
            &w.a,
            DeliveryFilter {
                channel: Some(channel.id),
                status: Some(DeliveryStatus::Suppressed),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(suppressed.len(), 3);
    assert!(
        suppressed
            .iter()
            .all(|d| d.last_error.as_deref().unwrap().starts_with("quiet period"))
    );
    let pending = w
        .deliveries(
            &w.a,
            DeliveryFilter {
                status: Some(DeliveryStatus::Pending),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(pending.len(), 2);
}

async fn digest_routes_collect_events_into_one_daily_message(backend: Backend) {
    let w = World::new(backend).await;
    let receiver = Receiver::start(&[]).await;
    let db = w.admin(&w.a);
    let channel = db
        .create_notify_channel(NewChannel {
            client_id: None,
            name: "daily".into(),
            kind: ChannelKind::Webhook,
            target: receiver.url.clone(),
            secret: Some("digest-secret".into()),
        })
        .await
        .unwrap();
    db.create_notify_route(route(channel.id, |r| r.mode = NotifyMode::Digest))
        .await
        .unwrap();
    for (kind, to) in [
        ("opened", IssueState::Open),
        ("acknowledged", IssueState::Acknowledged),
    ] {
        let routed = w
            .handle(&w.event(&w.a, kind, None, to, Severity::High))
            .await;
        assert_eq!((routed.queued, routed.digested), (0, 1));
    }
    assert!(
        w.deliveries(&w.a, DeliveryFilter::default())
            .await
            .is_empty()
    );
    let later = Utc::now() + ChronoDuration::seconds(1);
    let digests = queue_digests(&w.db.store, later).await.unwrap();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0].kind, DeliveryKind::Digest);
    assert!(
        queue_digests(&w.db.store, later).await.unwrap().is_empty(),
        "one digest per day"
    );
    let sender = Sender::new(&settings()).unwrap();
    deliver_due(&w.db.store, &sender, &settings(), Utc::now())
        .await
        .unwrap();
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let body = got[0].json();
    assert_eq!(body["type"], "digest");
    assert_eq!(body["events"].as_array().unwrap().len(), 2);
    assert_eq!(body["events"][1]["change"]["kind"], "acknowledged");
    // Nothing waits any more: tomorrow's run sends nothing.
    let tomorrow = later + ChronoDuration::days(1);
    assert!(
        queue_digests(&w.db.store, tomorrow)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn another_msps_events_never_reach_a_channel(backend: Backend) {
    let w = World::new(backend).await;
    let a_channel = w
        .channel(&w.a, ChannelKind::Webhook, "https://hooks.example/a", 0)
        .await;
    // B's issue, and B's issue in an envelope that claims to be A's.
    let b_event = w.event(&w.b, "opened", None, IssueState::Open, Severity::Critical);
    assert_eq!(w.handle(&b_event).await, postern_notify::Routed::default());
    let forged = issue_changed(
        &IssueChange {
            issue: w.b.issue,
            msp: w.a.msp,
            client: w.a.client,
            domain: w.a.domain.id,
            code: "dmarc.policy_none",
            severity: Severity::Critical,
            kind: "opened",
            from_state: None,
            to_state: IssueState::Open,
            actor: None,
        },
        Utc::now(),
    );
    assert_eq!(w.handle(&forged).await, postern_notify::Routed::default());
    assert!(
        w.deliveries(&w.a, DeliveryFilter::default())
            .await
            .is_empty()
    );
    // B's staff cannot see or use A's channel: it answers like a missing one.
    let b = w.admin(&w.b);
    assert!(matches!(
        b.notify_channel(a_channel.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        b.queue_test_notification(a_channel.id, Utc::now()).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        b.create_notify_route(route(a_channel.id, |_| {})).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        b.delete_notify_channel(a_channel.id).await,
        Err(StoreError::NotFound)
    ));
    // A client-bound user of A's own client may not manage or read the MSP's channels.
    let client_admin =
        w.db.tenant(TenantScope::client(w.a.msp, w.a.client, Role::ClientAdmin));
    assert!(matches!(
        client_admin.notify_channel(a_channel.id).await,
        Err(StoreError::Forbidden(_))
    ));
    // A viewer reads but does not manage.
    let viewer =
        w.db.tenant(TenantScope::msp(w.a.msp, Role::MspViewer, false));
    assert_eq!(
        viewer.notify_channel(a_channel.id).await.unwrap().id,
        a_channel.id
    );
    assert!(matches!(
        viewer.delete_notify_channel(a_channel.id).await,
        Err(StoreError::Forbidden(_))
    ));
}

async fn a_claimed_delivery_is_resumed_after_its_lease_runs_out(backend: Backend) {
    let w = World::new(backend).await;
    let receiver = Receiver::start(&[]).await;
    let channel = w
        .channel(&w.a, ChannelKind::Webhook, &receiver.url, 0)
        .await;
    let test = w
        .admin(&w.a)
        .queue_test_notification(channel.id, Utc::now())
        .await
        .unwrap();
    assert_eq!(test.status, DeliveryStatus::Pending);
    // A sender claims it and dies before recording an attempt.
    let now = Utc::now();
    let claimed =
        w.db.system()
            .claim_due_notify_deliveries(now, ChronoDuration::seconds(60), 10)
            .await
            .unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(claimed[0].target.secret.is_some());
    let sender = Sender::new(&settings()).unwrap();
    assert!(
        deliver_due(&w.db.store, &sender, &settings(), now)
            .await
            .unwrap()
            .is_empty()
    );
    let done = deliver_due(
        &w.db.store,
        &sender,
        &settings(),
        now + ChronoDuration::seconds(61),
    )
    .await
    .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, DeliveryStatus::Delivered);
    assert_eq!(receiver.received()[0].json()["type"], "test");
}

async fn internal_webhook_targets_are_refused_unless_allowed(backend: Backend) {
    let w = World::new(backend).await;
    let receiver = Receiver::start(&[]).await;
    let port = receiver
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let port: String = port.chars().take_while(char::is_ascii_digit).collect();
    // An IP literal and a name that resolves to loopback: both inside the installation.
    let literal = w
        .channel(
            &w.a,
            ChannelKind::Webhook,
            &format!("http://127.0.0.1:{port}/hook"),
            0,
        )
        .await;
    let named = w
        .channel(
            &w.a,
            ChannelKind::Slack,
            &format!("http://localhost:{port}/hook"),
            0,
        )
        .await;
    w.handle(&w.event(&w.a, "opened", None, IssueState::Open, Severity::High))
        .await;
    let strict = NotifySettings {
        allow_private_targets: false,
        ..settings()
    };
    let sender = Sender::new(&strict).unwrap();
    for _ in 0..4 {
        deliver_due(&w.db.store, &sender, &strict, Utc::now())
            .await
            .unwrap();
    }
    assert!(
        receiver.received().is_empty(),
        "nothing reaches the internal receiver"
    );
    for channel in [literal.id, named.id] {
        let log = w
            .deliveries(
                &w.a,
                DeliveryFilter {
                    channel: Some(channel),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].status, DeliveryStatus::Failed, "{:?}", log[0]);
        assert!(
            log[0]
                .last_error
                .as_deref()
                .unwrap()
                .contains("internal address"),
            "{:?}",
            log[0]
        );
    }
}

async fn concurrent_events_of_one_issue_tell_a_channel_once_per_quiet_period(backend: Backend) {
    let w = World::new(backend).await;
    let channel = w
        .channel(
            &w.a,
            ChannelKind::Webhook,
            "https://hooks.example/race",
            3600,
        )
        .await;
    // Eight events of the same issue handled at once (as by several notify processes):
    // the quiet period lets exactly one through, the rest are logged as suppressed.
    let events: Vec<_> = (0..8)
        .map(|_| {
            w.event(
                &w.a,
                "updated",
                Some(IssueState::Open),
                IssueState::Open,
                Severity::High,
            )
        })
        .collect();
    let routed = futures::future::join_all(events.iter().map(|e| w.handle(e))).await;
    let queued: usize = routed.iter().map(|r| r.queued).sum();
    let suppressed: usize = routed.iter().map(|r| r.suppressed).sum();
    assert_eq!((queued, suppressed), (1, 7));
    let log = w
        .deliveries(
            &w.a,
            DeliveryFilter {
                channel: Some(channel.id),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(log.len(), 8);
    assert_eq!(
        log.iter()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .count(),
        1
    );
}
