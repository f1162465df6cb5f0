//! End to end: the `issueEvents` subscription over WebSocket, as `postern up` serves it, on
//! both backends: authentication at the upgrade and at `connection_init`, events reaching
//! every subscriber of their tenant and nobody else.
// Test helpers shared by several tests unwrap freely.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::{SinkExt, StreamExt};
use postern_tests::{App, Backends, aggregate_report};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const LIMIT: Duration = Duration::from_secs(30);

const FEED: &str = "subscription($f: IssueEventFilter) {
  issueEvents(filter: $f) { code kind toState clientId severity issue { id domain { name } } }
}";

/// A GraphQL-over-WebSocket client connection.
struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the server sent: a protocol message, or the close frame.
#[derive(Debug)]
enum Received {
    Message(Value),
    Closed(u16, String),
}

impl Socket {
    /// Opens `path` with `protocol`, with an `Authorization: Bearer` header if `bearer` is
    /// given. `Err(status)` when the upgrade is refused.
    async fn open(
        app: &App,
        path: &str,
        protocol: &'static str,
        bearer: Option<&str>,
    ) -> anyhow::Result<Result<Socket, u16>> {
        let mut request = format!("ws://{}{path}", app.addr).into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("sec-websocket-protocol", HeaderValue::from_static(protocol));
        if let Some(token) = bearer {
            headers.insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}"))?,
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Ok(Socket { ws })),
            Err(tungstenite::Error::Http(response)) => Ok(Err(response.status().as_u16())),
            Err(e) => Err(e.into()),
        }
    }

    async fn send(&mut self, message: Value) -> anyhow::Result<()> {
        self.ws.send(Message::text(message.to_string())).await?;
        Ok(())
    }

    /// The next protocol message or close frame (pings are answered by tungstenite).
    async fn receive(&mut self) -> anyhow::Result<Received> {
        let deadline = tokio::time::Instant::now() + LIMIT;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow::anyhow!("nothing received within {LIMIT:?}"))?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return Ok(Received::Message(serde_json::from_str(&text)?));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Ok(frame.map_or(Received::Closed(1005, String::new()), |f| {
                        Received::Closed(f.code.into(), f.reason.as_str().to_owned())
                    }));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(Received::Closed(1006, String::new())),
            }
        }
    }

    /// Sends `connection_init` with `payload`; returns the answer.
    async fn init(&mut self, payload: Value) -> anyhow::Result<Received> {
        self.send(json!({ "type": "connection_init", "payload": payload }))
            .await?;
        self.receive().await
    }

    /// Opens an authenticated `graphql-transport-ws` connection subscribed to the feed as `id`.
    async fn subscribe(
        app: &App,
        init: Value,
        bearer: Option<&str>,
        id: &str,
        filter: Value,
    ) -> anyhow::Result<Socket> {
        let mut socket = Socket::open(app, "/graphql", "graphql-transport-ws", bearer)
            .await?
            .map_err(|status| anyhow::anyhow!("upgrade refused with {status}"))?;
        match socket.init(init).await? {
            Received::Message(m) if m["type"] == "connection_ack" => {}
            other => anyhow::bail!("no connection_ack: {other:?}"),
        }
        socket
            .send(json!({
                "id": id, "type": "subscribe",
                "payload": { "query": FEED, "variables": { "f": filter } }
            }))
            .await?;
        Ok(socket)
    }

    /// The next `issueEvents` item of subscription `id`; fails on errors or a close.
    async fn next_event(&mut self, id: &str) -> anyhow::Result<Value> {
        match self.receive().await? {
            Received::Message(m) if m["type"] == "next" && m["id"] == id => {
                let payload = &m["payload"];
                if payload.get("errors").is_some_and(|e| !e.is_null()) {
                    anyhow::bail!("errors in the feed: {payload}");
                }
                Ok(payload["data"]["issueEvents"].clone())
            }
            other => anyhow::bail!("expected an event of {id}: {other:?}"),
        }
    }

    /// Events of subscription `id` until one satisfies `done`; returns all of them.
    async fn events_until(
        &mut self,
        id: &str,
        mut done: impl FnMut(&Value) -> bool,
    ) -> anyhow::Result<Vec<Value>> {
        let mut events = Vec::new();
        loop {
            let event = self.next_event(id).await?;
            let stop = done(&event);
            events.push(event);
            if stop {
                return Ok(events);
            }
        }
    }

    async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// `aggregate_report` moved to the day beginning `days_ago` days before now, mostly passing:
/// with two of them 17 days apart the built-in rules find `dmarc.policy_none`.
fn recent_report(domain: &str, report_id: &str, days_ago: i64) -> String {
    let begin = chrono::Utc::now() - chrono::Duration::days(days_ago);
    let end = begin + chrono::Duration::days(1) - chrono::Duration::seconds(1);
    aggregate_report(domain, report_id, 200, 1).replace(
        "<begin>1767225600</begin><end>1767311999</end>",
        &format!(
            "<begin>{}</begin><end>{}</end>",
            begin.timestamp(),
            end.timestamp()
        ),
    )
}

async fn upload_reports(app: &App, token: &str, domain: &str) -> anyhow::Result<()> {
    for (id, days_ago) in [("early", 20), ("late", 3)] {
        let (status, outcome) = app
            .upload(
                Some(token),
                recent_report(domain, &format!("{domain}-{id}"), days_ago),
            )
            .await?;
        assert_eq!(status, 202, "{outcome}");
    }
    Ok(())
}

async fn create_client_and_domain(
    app: &App,
    token: &str,
    name: &str,
    domain: &str,
) -> anyhow::Result<String> {
    let data = app
        .graphql_ok(
            Some(token),
            "mutation($n: String!) { createClient(name: $n) { id } }",
            json!({ "n": name }),
        )
        .await?;
    let client = data["createClient"]["id"].as_str().unwrap().to_owned();
    app.graphql_ok(
        Some(token),
        "mutation($c: ID!, $d: String!) { addDomain(clientId: $c, name: $d) { id } }",
        json!({ "c": client, "d": domain }),
    )
    .await?;
    Ok(client)
}

/// A client viewer of `client`, logged in.
async fn client_viewer(app: &App, admin: &str, client: &str) -> anyhow::Result<String> {
    app.graphql_ok(
        Some(admin),
        r#"mutation($c: ID!) { createUser(email: "viewer@acme.example", displayName: "Vi", password: "correct horse battery", role: CLIENT_VIEWER, clientId: $c) { id } }"#,
        json!({ "c": client }),
    )
    .await?;
    let login = app
        .graphql_ok(
            None,
            r#"mutation { login(email: "viewer@acme.example", password: "correct horse battery") { token } }"#,
            json!({}),
        )
        .await?;
    Ok(login["login"]["token"].as_str().unwrap().to_owned())
}

fn is_policy_none_of(client: &str) -> impl Fn(&Value) -> bool + '_ {
    move |event| event["code"] == "dmarc.policy_none" && event["clientId"] == client
}

/// MSP staff get every client's changes, a client viewer only its own client's (also when it
/// names the other client in its filter), each with the issue resolvable.
async fn issue_events_reach_each_tenant_and_nobody_else(backends: Backends) -> anyhow::Result<()> {
    let app = App::start(backends).await?;
    let admin = app.login_admin().await?;
    let acme = create_client_and_domain(&app, &admin, "Acme", "acme.example").await?;
    let globex = create_client_and_domain(&app, &admin, "Globex", "globex.example").await?;
    let viewer = client_viewer(&app, &admin, &acme).await?;

    // The admin authenticates in connection_init; the viewer with the upgrade's header.
    let mut staff =
        Socket::subscribe(&app, json!({ "token": admin }), None, "all", json!({})).await?;
    let mut only_globex = Socket::subscribe(
        &app,
        json!({ "token": admin }),
        None,
        "globex",
        json!({ "clientId": globex, "minSeverity": "INFO" }),
    )
    .await?;
    let mut client = Socket::subscribe(&app, json!({}), Some(&viewer), "mine", json!({})).await?;
    let mut prying = Socket::subscribe(
        &app,
        json!({ "token": viewer }),
        None,
        "pry",
        json!({ "clientId": globex }),
    )
    .await?;

    // Globex's issues open first: the viewer's feed, which is in order, must skip them.
    upload_reports(&app, &admin, "globex.example").await?;
    let seen = staff
        .events_until("all", is_policy_none_of(&globex))
        .await?;
    // Staff see every client's events: Globex's, and whatever else is evaluated meanwhile
    // (the scheduled walk at start-up runs beside the test).
    let globex_seen = seen.iter().filter(|e| e["clientId"] == globex).count();
    let opened = seen.last().unwrap();
    assert_eq!(
        (&opened["kind"], &opened["toState"], &opened["severity"]),
        (&json!("OPENED"), &json!("OPEN"), &json!("MEDIUM"))
    );
    assert_eq!(opened["issue"]["domain"]["name"], "globex.example");
    let filtered = only_globex
        .events_until("globex", is_policy_none_of(&globex))
        .await?;
    assert!(
        filtered.iter().all(|e| e["clientId"] == globex),
        "{filtered:?}"
    );
    assert_eq!(filtered.len(), globex_seen, "{filtered:?}");

    upload_reports(&app, &admin, "acme.example").await?;
    let mine = client
        .events_until("mine", is_policy_none_of(&acme))
        .await?;
    assert!(mine.iter().all(|e| e["clientId"] == acme), "{mine:?}");
    let opened = mine.last().unwrap();
    assert_eq!(opened["issue"]["domain"]["name"], "acme.example");
    assert!(opened["issue"]["id"].is_string());
    staff.events_until("all", is_policy_none_of(&acme)).await?;

    // Acme's changes were not sent to the Globex-only subscription, and a viewer naming
    // Globex gets nothing at all: a marker change on Globex, then nothing else is pending.
    let acknowledged = app
        .graphql_ok(
            Some(&admin),
            "mutation($id: ID!) { acknowledgeIssue(id: $id) { state } }",
            json!({ "id": seen.last().unwrap()["issue"]["id"] }),
        )
        .await?;
    assert_eq!(acknowledged["acknowledgeIssue"]["state"], "ACKNOWLEDGED");
    let rest = only_globex
        .events_until("globex", |e| e["kind"] == "ACKNOWLEDGED")
        .await?;
    assert!(rest.iter().all(|e| e["clientId"] == globex), "{rest:?}");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), prying.receive())
            .await
            .is_err(),
        "a client viewer received another client's change"
    );

    for socket in [staff, only_globex, client, prying] {
        socket.close().await;
    }
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_events_reach_each_tenant_and_nobody_else_on_sqlite() -> anyhow::Result<()> {
    issue_events_reach_each_tenant_and_nobody_else(Backends::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_events_reach_each_tenant_and_nobody_else_on_postgres_and_redis() -> anyhow::Result<()>
{
    issue_events_reach_each_tenant_and_nobody_else(Backends::PostgresRedis).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_without_a_valid_credential_is_refused() -> anyhow::Result<()> {
    let app = App::start(Backends::Embedded).await?;

    // A bad bearer on the upgrade request: refused before upgrading, on both paths.
    for path in ["/graphql", "/graphql/ws"] {
        let refused = Socket::open(&app, path, "graphql-transport-ws", Some("not-a-token")).await?;
        assert_eq!(refused.err(), Some(401), "{path}");
    }

    // A bad token, a malformed payload or none at all in connection_init: closed with why.
    for (init, why) in [
        (
            json!({ "token": "not-a-token" }),
            "unauthenticated: invalid credential",
        ),
        (
            json!({ "token": 42 }),
            "unauthenticated: the connection_init payload must be",
        ),
        (
            json!({}),
            "unauthenticated: connection_init needs a payload",
        ),
    ] {
        let mut socket = Socket::open(&app, "/graphql/ws", "graphql-transport-ws", None)
            .await?
            .unwrap();
        match socket.init(init.clone()).await? {
            Received::Closed(code, reason) => {
                assert!(reason.starts_with(why), "{init}: {reason}");
                assert_eq!(code, 1002, "{init}");
            }
            other => panic!("{init}: not closed: {other:?}"),
        }
    }

    // Subscribing without connection_init is refused.
    let mut socket = Socket::open(&app, "/graphql", "graphql-transport-ws", None)
        .await?
        .unwrap();
    socket
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": FEED } }))
        .await?;
    assert!(matches!(socket.receive().await?, Received::Closed(1011, _)));

    // The older graphql-ws protocol answers a connection_error.
    let mut legacy = Socket::open(&app, "/graphql", "graphql-ws", None)
        .await?
        .unwrap();
    match legacy.init(json!({ "token": "not-a-token" })).await? {
        Received::Message(m) => {
            assert_eq!(m["type"], "connection_error", "{m}");
            assert_eq!(
                m["payload"]["message"],
                "unauthenticated: invalid credential"
            );
        }
        other => panic!("no connection_error: {other:?}"),
    }
    // (The legacy protocol leaves closing to the client.)
    legacy.close().await;

    // A plain GET of /graphql is no WebSocket and finds nothing.
    let status = app.http.get(app.url("/graphql")).send().await?.status();
    assert_eq!(status.as_u16(), 404);
    app.stop().await;
    Ok(())
}
