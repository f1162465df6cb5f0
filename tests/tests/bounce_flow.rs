//! End to end, issue 4's "done when": bounces from the Sisimai corpus delivered over SMTP
//! (lettre) to a running installation's intake listener at the client's
//! `bounces+<key>@` address, plus send volume from ESP delivery events, become per-client
//! bounce groups, a hard-bounce rate band and issues naming the cause and the next step
//! (for the many-addresses 550 5.4.1 Microsoft 365 case: a recipient tenant rule, contact
//! the recipient admin with the message-trace facts, never "retry"), and the hard bounces
//! land on the suppression list, exported as CSV.
//!
//! The corpus messages are used as they are except for three things a live bounce has by
//! nature: the original sender is the client's domain, the dates are today's (the triage
//! window is the last days), and the Microsoft sample is sent once per recipient address
//! of one recipient domain.

use lettre::address::{Address, Envelope};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use postern_tests::{App, Backends};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long intake, analysis and the evaluation may take.
const WAIT: Duration = Duration::from_secs(90);
const SENDER: &str = "news@sender.example";
/// The recipient domain behind Microsoft 365 whose tenant refuses several addresses.
const TENANT: &str = "tenant.example";

fn corpus(file: &str) -> String {
    let root = std::env::var_os("POSTERN_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora"));
    let bytes = std::fs::read(root.join("sisimai-set-of-emails/maildir/bsd").join(file))
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `text` with each `(from, to)` replaced.
fn rewrite(text: &str, replacements: &[(&str, &str)]) -> String {
    replacements
        .iter()
        .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
}

/// The bounces to deliver: four addresses of one Microsoft 365 tenant refused with
/// `550 5.4.1 Recipient address rejected: Access denied` (rhost-microsoft-02), and three
/// unknown users at two other domains (lhost-postfix-02 with two recipients, lhost-postfix-04).
fn bounces() -> Vec<(String, String)> {
    let now = chrono::Utc::now();
    let date = now.to_rfc2822();
    let short = date
        .split_once(", ")
        .map_or(date.as_str(), |(_, d)| d)
        .to_owned();
    let mut out = Vec::new();
    let microsoft = corpus("rhost-microsoft-02.eml");
    for i in 1..=4 {
        let recipient = format!("user{i}@{TENANT}");
        out.push((
            recipient.clone(),
            rewrite(
                &microsoft,
                &[
                    ("Thu, 29 Apr 2017 23:34:45 +0900", &date),
                    ("29 Apr 2017 23:34:45 +0900", &short),
                    ("kijitora@example.org", &recipient),
                    ("example.org", TENANT),
                    ("sironeko@example.co.jp", SENDER),
                    (
                        "222222222000.2222.2222222222220000000@NEKO-Nyaan",
                        &format!("campaign-{i}@sender.example"),
                    ),
                ],
            ),
        ));
    }
    out.push((
        "userunknown@example.co.jp".to_owned(),
        rewrite(
            &corpus("lhost-postfix-02.eml"),
            &[
                ("Sat, 21 Jun 2014 18:35:16 +0000", &date),
                ("Sat, 21 Jun 2014 18:34:34 +0000", &date),
                ("kijitora@example.jp", SENDER),
            ],
        ),
    ));
    out.push((
        "kijitora@shop.example".to_owned(),
        rewrite(
            &corpus("lhost-postfix-04.eml"),
            &[
                ("Mon, 24 May 2010 19:06:50 +0900", &date),
                ("Mon, 24 May 2010 19:06:49 +0900", &date),
                ("example.co.jp", "shop.example"),
                ("shironeko@example.ne.jp", SENDER),
            ],
        ),
    ));
    out
}

/// A port free on loopback now (the SMTP listener's address is configuration).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

const GROUPS: &str = r#"query($c: ID!) {
  bounceGroups(clientId: $c) { recipientDomain total hard soft addresses topReasons { reason count } }
}"#;

const ISSUES: &str = r#"query {
  issues(first: 100) { edges { node {
    code severity title explanation domain { name }
    evidence { label value }
    fixSteps { kind title detail }
  } } }
}"#;

const SUPPRESSIONS: &str = r#"query($c: ID!) {
  suppressions(first: 100, filter: { clientId: $c }) { nodes { address reason active } }
}"#;

fn issue<'a>(data: &'a Value, code: &str) -> Option<&'a Value> {
    data["issues"]["edges"]
        .as_array()?
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["code"] == code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corpus_bounces_over_smtp_become_groups_a_rate_band_issues_and_suppressions()
-> anyhow::Result<()> {
    let smtp_port = free_port()?;
    let app = App::start_with(
        Backends::PostgresRedis,
        vec![
            (
                "POSTERN__INGEST__SMTP__LISTEN".into(),
                format!("127.0.0.1:{smtp_port}"),
            ),
            (
                "POSTERN__INGEST__SMTP__INTAKE_DOMAINS".into(),
                "[\"intake.example\"]".into(),
            ),
            // No scheduled evaluation: the issues must come from the bounces' own event.
            (
                "POSTERN__ANALYSIS__REEVALUATE_EVERY_SECS".into(),
                "0".into(),
            ),
        ],
    )
    .await?;
    // The installation's MSP exists from the bootstrap; its owner creates the rest.
    let token = app.login_admin().await?;
    let client = app
        .graphql_ok(
            Some(&token),
            "mutation { createClient(name: \"Sender Co\") { id } }",
            json!({}),
        )
        .await?["createClient"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    app.graphql_ok(
        Some(&token),
        "mutation($c: ID!) { addDomain(clientId: $c, name: \"sender.example\") { id } }",
        json!({ "c": client }),
    )
    .await?;
    let key = app
        .graphql_ok(
            Some(&token),
            "query($c: ID!) { bounceKey(clientId: $c) }",
            json!({ "c": client }),
        )
        .await?["bounceKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let bounce_address: Address = format!("bounces+{key}@intake.example").parse()?;

    // The bounces, over SMTP.
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(smtp_port)
        .build();
    let bounces = bounces();
    for (recipient, message) in &bounces {
        let envelope = Envelope::new(None, vec![bounce_address.clone()])?;
        let response = smtp.send_raw(&envelope, message.as_bytes()).await?;
        assert!(response.is_positive(), "{recipient}: {response:?}");
    }

    // Send volume: 100 deliveries from sender.example as Mailgun delivery events.
    let ingest_token = app
        .graphql_ok(
            Some(&token),
            "mutation($c: ID!) { createApiToken(name: \"mailgun\", role: CLIENT_ADMIN, clientId: $c) { token } }",
            json!({ "c": client }),
        )
        .await?["createApiToken"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let now = chrono::Utc::now().timestamp();
    for i in 0..100 {
        let event = json!({ "event-data": {
            "id": format!("volume-{i}"),
            "event": "delivered",
            "timestamp": now,
            "recipient": format!("reader{i}@customers.example"),
            "envelope": { "sender": SENDER, "sending-ip": "192.0.2.25" },
            "message": { "headers": { "message-id": format!("volume-{i}@sender.example") } },
        }});
        let response = app
            .http
            .post(app.url(&format!("/v1/esp/mailgun?token={ingest_token}")))
            .json(&event)
            .send()
            .await?;
        assert_eq!(
            response.status().as_u16(),
            200,
            "{}",
            response.text().await?
        );
    }

    // Groups per recipient domain, with counts.
    let data = app
        .graphql_until(Some(&token), GROUPS, json!({ "c": client }), WAIT, |d| {
            d["bounceGroups"].as_array().is_some_and(|g| g.len() >= 3)
        })
        .await?;
    let group = |domain: &str| {
        data["bounceGroups"]
            .as_array()
            .and_then(|g| g.iter().find(|g| g["recipientDomain"] == domain))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let tenant = group(TENANT);
    assert_eq!(
        (&tenant["total"], &tenant["hard"], &tenant["addresses"]),
        (&json!(4), &json!(4), &json!(4)),
        "{data}"
    );
    assert_eq!(group("example.co.jp")["hard"], 2, "{data}");
    assert_eq!(group("shop.example")["hard"], 1, "{data}");

    // Hard bounces are suppressed at once, and exported as CSV.
    let data = app
        .graphql_ok(Some(&token), SUPPRESSIONS, json!({ "c": client }))
        .await?;
    let suppressed: Vec<&str> = data["suppressions"]["nodes"]
        .as_array()
        .map(|n| n.iter().filter_map(|s| s["address"].as_str()).collect())
        .unwrap_or_default();
    for (recipient, _) in &bounces {
        assert!(
            suppressed.contains(&recipient.as_str()),
            "{recipient}: {data}"
        );
    }
    let csv = app
        .http
        .get(app.url(&format!("/v1/suppressions.csv?clientId={client}")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(csv.status().as_u16(), 200);
    let csv = csv.text().await?;
    assert!(csv.starts_with("address,reason,suppressed_at"), "{csv}");
    for (recipient, _) in &bounces {
        assert!(csv.contains(recipient.as_str()), "{recipient} not in {csv}");
    }
    let answer = app
        .graphql_ok(
            Some(&token),
            "query($c: ID!, $a: String!) { isSuppressed(clientId: $c, address: $a) }",
            json!({ "c": client, "a": format!("user1@{TENANT}") }),
        )
        .await?;
    assert_eq!(answer["isSuppressed"], true);

    // Issues: the rate band and the cause matrix, with their next steps.
    let tenant_code = "bounce.recipient_policy.tenant_example";
    let data = app
        .graphql_until(Some(&token), ISSUES, json!({}), WAIT, |d| {
            issue(d, "bounce.hard_rate").is_some() && issue(d, tenant_code).is_some()
        })
        .await?;
    // 7 hard bounces of 100 sent: over 2 %, stop and fix.
    let rate = issue(&data, "bounce.hard_rate")
        .cloned()
        .unwrap_or_default();
    assert_eq!(rate["severity"], "HIGH", "{rate}");
    assert!(
        rate["title"]
            .as_str()
            .unwrap_or_default()
            .contains("stop and fix"),
        "{rate}"
    );
    let policy = issue(&data, tenant_code).cloned().unwrap_or_default();
    assert_eq!(policy["domain"]["name"], "sender.example");
    let explanation = policy["explanation"].as_str().unwrap_or_default();
    assert!(explanation.contains("5.4.1"), "{policy}");
    assert!(explanation.contains("Microsoft 365"), "{policy}");
    let steps = policy["fixSteps"].as_array().cloned().unwrap_or_default();
    let contact = steps
        .iter()
        .find(|s| s["kind"] == "CONTACT_RECIPIENT_ADMIN")
        .cloned()
        .unwrap_or_default();
    let detail = contact["detail"].as_str().unwrap_or_default();
    // The facts the recipient's admin needs for a message trace.
    for fact in ["550", "5.4.1", "Access denied", "message id", "time"] {
        assert!(detail.contains(fact), "{fact} missing from {contact}");
    }
    // Never a retry.
    for step in &steps {
        let text = format!("{} {}", step["title"], step["detail"]).to_lowercase();
        assert!(
            !text.contains("retry") || text.contains("do not retry"),
            "{step}"
        );
    }
    app.stop().await;
    Ok(())
}
