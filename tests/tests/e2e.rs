//! End to end: the services as `postern up` starts them, over HTTP, on both backends.

use postern_tests::{App, Backends, aggregate_report};
use serde_json::{Value, json};
use std::time::Duration;

const SUMMARY: &str = r#"query($d: String!) {
  domain(name: $d) { summary(from: "2026-01-01T00:00:00Z", to: "2026-01-31T23:59:59Z") { messages dmarcPass dmarcFail } }
}"#;

/// Polls the domain summary until it shows `messages` (analysis runs behind the bus).
async fn wait_for_summary(
    app: &App,
    token: &str,
    domain: &str,
    messages: u64,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let data = app
            .graphql_ok(Some(token), SUMMARY, json!({ "d": domain }))
            .await?;
        let summary = data["domain"]["summary"].clone();
        if summary["messages"].as_u64() == Some(messages) {
            return Ok(summary);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("summary never reached {messages} messages: {summary}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
    let client = data["createClient"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    app.graphql_ok(
        Some(token),
        "mutation($c: ID!, $d: String!) { addDomain(clientId: $c, name: $d) { id name } }",
        json!({ "c": client, "d": domain }),
    )
    .await?;
    Ok(client)
}

async fn ingest_then_summarise(backends: Backends) -> anyhow::Result<()> {
    let app = App::start(backends).await?;
    let token = app.login_admin().await?;
    create_client_and_domain(&app, &token, "Acme", "acme.example").await?;

    let (status, outcome) = app
        .upload(Some(&token), aggregate_report("acme.example", "r-1", 10, 3))
        .await?;
    assert_eq!(status, 202);
    assert_eq!(outcome["items"][0]["status"], "accepted", "{outcome}");
    assert_eq!(outcome["items"][0]["assigned"], true);

    let summary = wait_for_summary(&app, &token, "acme.example", 13).await?;
    assert_eq!(
        summary,
        json!({ "messages": 13, "dmarcPass": 10, "dmarcFail": 3 })
    );

    // The same report again is a duplicate and changes nothing.
    let (_, again) = app
        .upload(Some(&token), aggregate_report("acme.example", "r-1", 10, 3))
        .await?;
    assert_eq!(again["items"][0]["status"], "duplicate");
    assert_eq!(again["input"]["already_stored"], true);

    let count = app
        .graphql_ok(
            Some(&token),
            "{ reports(first: 10) { totalCount } }",
            json!({}),
        )
        .await?;
    assert_eq!(count["reports"]["totalCount"], 1);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_uploaded_over_http_shows_in_domain_summary_on_sqlite() -> anyhow::Result<()> {
    ingest_then_summarise(Backends::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_uploaded_over_http_shows_in_domain_summary_on_postgres_and_redis()
-> anyhow::Result<()> {
    ingest_then_summarise(Backends::PostgresRedis).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unassigned_report_is_counted_once_its_domain_is_added() -> anyhow::Result<()> {
    let app = App::start(Backends::PostgresRedis).await?;
    let token = app.login_admin().await?;
    let (_, outcome) = app
        .upload(Some(&token), aggregate_report("later.example", "r-9", 4, 1))
        .await?;
    assert_eq!(outcome["items"][0]["status"], "accepted");
    assert_eq!(outcome["items"][0]["assigned"], false);
    let unassigned = app
        .graphql_ok(
            Some(&token),
            "{ unassignedReports(first: 5) { totalCount } }",
            json!({}),
        )
        .await?;
    assert_eq!(unassigned["unassignedReports"]["totalCount"], 1);

    create_client_and_domain(&app, &token, "Later", "later.example").await?;
    let summary = wait_for_summary(&app, &token, "later.example", 5).await?;
    assert_eq!(summary["dmarcFail"], 1);
    let unassigned = app
        .graphql_ok(
            Some(&token),
            "{ unassignedReports(first: 5) { totalCount } }",
            json!({}),
        )
        .await?;
    assert_eq!(unassigned["unassignedReports"]["totalCount"], 0);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused_at_every_door() -> anyhow::Result<()> {
    let app = App::start(Backends::Embedded).await?;
    // No credential on intake.
    let (status, _) = app.upload(None, "x").await?;
    assert_eq!(status, 401);
    // A garbage bearer on GraphQL and intake.
    let r = app
        .http
        .post(app.url("/graphql"))
        .bearer_auth("not-a-token")
        .json(&json!({ "query": "{ viewer { role } }" }))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "unauthenticated");
    // A query without any credential.
    let body = app
        .graphql(None, "{ clients(first: 5) { totalCount } }", json!({}))
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "unauthenticated");

    // A revoked API token stops working.
    let token = app.login_admin().await?;
    let created = app
        .graphql_ok(
            Some(&token),
            "mutation { createApiToken(name: \"ci\", role: MSP_OPERATOR) { token apiToken { id } } }",
            json!({}),
        )
        .await?;
    let api_token = created["createApiToken"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(api_token.starts_with("pst_"));
    let ok = app
        .graphql_ok(Some(&api_token), "{ viewer { role } }", json!({}))
        .await?;
    assert_eq!(ok["viewer"]["role"], "MSP_OPERATOR");
    app.graphql_ok(
        Some(&token),
        "mutation($id: ID!) { revokeApiToken(id: $id) { revokedAt } }",
        json!({ "id": created["createApiToken"]["apiToken"]["id"] }),
    )
    .await?;
    let (status, _) = app
        .upload(
            Some(&api_token),
            aggregate_report("acme.example", "r-2", 1, 1),
        )
        .await?;
    assert_eq!(status, 401);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tlsrpt_delivery_is_taken_only_for_registered_domains() -> anyhow::Result<()> {
    let app = App::start(Backends::Embedded).await?;
    let token = app.login_admin().await?;
    create_client_and_domain(&app, &token, "Acme", "acme.example").await?;
    let report = |domain: &str, id: &str| {
        json!({
            "organization-name": "Example MTA",
            "date-range": { "start-datetime": "2026-01-01T00:00:00Z", "end-datetime": "2026-01-01T23:59:59Z" },
            "contact-info": "tlsrpt@example.net",
            "report-id": id,
            "policies": [{
                "policy": { "policy-type": "sts", "policy-string": ["version: STSv1", "mode: enforce"], "policy-domain": domain, "mx-host": ["mx.acme.example"] },
                "summary": { "total-successful-session-count": 40, "total-failure-session-count": 2 },
                "failure-details": [{ "result-type": "certificate-expired", "sending-mta-ip": "192.0.2.1", "receiving-mx-hostname": "mx.acme.example", "failed-session-count": 2 }]
            }]
        })
        .to_string()
    };
    let ok = app
        .http
        .post(app.url("/v1/tlsrpt"))
        .header("content-type", "application/tlsrpt+json")
        .body(report("acme.example", "t-1"))
        .send()
        .await?;
    assert_eq!(ok.status().as_u16(), 202);
    let refused = app
        .http
        .post(app.url("/v1/tlsrpt"))
        .header("content-type", "application/tlsrpt+json")
        .body(report("stranger.example", "t-2"))
        .send()
        .await?;
    assert_eq!(refused.status().as_u16(), 403);
    let body: Value = refused.json().await?;
    assert_eq!(body["items"][0]["reason"], "unregistered_domain");
    let wrong_type = app
        .http
        .post(app.url("/v1/tlsrpt"))
        .header("content-type", "text/plain")
        .body(report("acme.example", "t-3"))
        .send()
        .await?;
    assert_eq!(wrong_type.status().as_u16(), 415);
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_user_sees_only_its_own_client_over_http() -> anyhow::Result<()> {
    let app = App::start(Backends::PostgresRedis).await?;
    let admin = app.login_admin().await?;
    let acme = create_client_and_domain(&app, &admin, "Acme", "acme.example").await?;
    create_client_and_domain(&app, &admin, "Globex", "globex.example").await?;
    let mut report_ids = Vec::new();
    for (domain, id) in [("acme.example", "a-1"), ("globex.example", "g-1")] {
        let (_, outcome) = app
            .upload(Some(&admin), aggregate_report(domain, id, 5, 1))
            .await?;
        report_ids.push(
            outcome["items"][0]["report_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    app.graphql_ok(
        Some(&admin),
        r#"mutation($c: ID!) { createUser(email: "viewer@acme.example", displayName: "Vi", password: "correct horse battery", role: CLIENT_VIEWER, clientId: $c) { id } }"#,
        json!({ "c": acme }),
    )
    .await?;
    let login = app
        .graphql_ok(
            None,
            r#"mutation { login(email: "viewer@acme.example", password: "correct horse battery") { token } }"#,
            json!({}),
        )
        .await?;
    let viewer = login["login"]["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let seen = app
        .graphql_ok(
            Some(&viewer),
            "{ clients(first: 10) { totalCount nodes { name } } reports(first: 10) { totalCount nodes { domain client { name } } } }",
            json!({}),
        )
        .await?;
    assert_eq!(seen["clients"]["totalCount"], 1);
    assert_eq!(seen["clients"]["nodes"][0]["name"], "Acme");
    assert_eq!(seen["reports"]["totalCount"], 1);
    assert_eq!(seen["reports"]["nodes"][0]["client"]["name"], "Acme");

    // The sibling's report and domain answer exactly like ones that do not exist.
    for (query, vars) in [
        (
            "query($id: ID!) { report(id: $id) { id } }",
            json!({ "id": report_ids[1] }),
        ),
        (
            "query($id: ID!) { report(id: $id) { id } }",
            json!({ "id": uuid::Uuid::now_v7().to_string() }),
        ),
        ("{ domain(name: \"globex.example\") { id } }", json!({})),
        ("{ domain(name: \"nowhere.example\") { id } }", json!({})),
    ] {
        let body = app.graphql(Some(&viewer), query, vars).await?;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "not_found",
            "{query}: {body}"
        );
    }
    // A viewer may neither upload nor create.
    let (status, _) = app
        .upload(Some(&viewer), aggregate_report("acme.example", "a-2", 1, 1))
        .await?;
    assert_eq!(status, 403);
    let body = app
        .graphql(
            Some(&viewer),
            "mutation { createClient(name: \"X\") { id } }",
            json!({}),
        )
        .await?;
    assert_eq!(body["errors"][0]["extensions"]["code"], "forbidden");
    app.stop().await;
    Ok(())
}

const ISSUES: &str = r#"{
  issues(first: 10) {
    totalCount
    edges { node { code severity state domain { name } fixSteps { title } } }
  }
}"#;

/// `aggregate_report` moved to the day beginning `days_ago` days before now.
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

/// Reports uploaded over HTTP are folded in, the built-in rules run over the domain's facts,
/// and the issues (here: clean traffic under p=none for 17 days) are listed over GraphQL;
/// the opening reaches the bus as an `issue.changed` event.
async fn uploaded_reports_become_issues(backends: Backends) -> anyhow::Result<()> {
    let app = App::start(backends).await?;
    let mut changes = app
        .running
        .bus
        .subscribe(postern_bus::topics::ISSUE_CHANGED, "e2e-notify", "e2e-1")
        .await?;
    let token = app.login_admin().await?;
    create_client_and_domain(&app, &token, "Acme", "acme.example").await?;
    for (id, days_ago) in [("r-early", 20), ("r-late", 3)] {
        let (status, _) = app
            .upload(Some(&token), recent_report("acme.example", id, days_ago))
            .await?;
        assert_eq!(status, 202);
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let issues = loop {
        let data = app.graphql_ok(Some(&token), ISSUES, json!({})).await?;
        let issues = data["issues"].clone();
        let has_policy_none = issues["edges"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["node"]["code"] == "dmarc.policy_none"));
        if has_policy_none {
            break issues;
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("no dmarc.policy_none issue appeared: {issues}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(issues["totalCount"].as_u64() >= Some(1), "{issues}");
    let edges = issues["edges"].as_array().cloned().unwrap_or_default();
    let node = edges
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["code"] == "dmarc.policy_none")
        .cloned()
        .unwrap_or_default();
    assert_eq!(node["severity"], "MEDIUM", "{node}");
    assert_eq!(node["state"], "OPEN", "{node}");
    assert_eq!(node["domain"]["name"], "acme.example");
    assert_eq!(
        node["fixSteps"][0]["title"],
        "Publish p=quarantine with t=y (testing)"
    );

    let opened = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let delivery = changes.next().await?;
            changes.ack(&delivery).await?;
            let change: postern_bus::events::IssueChanged = delivery.envelope.payload_as()?;
            if change.code == "dmarc.policy_none" {
                return anyhow::Ok(change);
            }
        }
    })
    .await??;
    assert_eq!(
        (
            opened.kind.as_str(),
            opened.to_state.as_str(),
            opened.actor_id.as_str()
        ),
        ("opened", "open", "")
    );
    app.stop().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_reports_become_issues_on_sqlite() -> anyhow::Result<()> {
    uploaded_reports_become_issues(Backends::Embedded).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_reports_become_issues_on_postgres_and_redis() -> anyhow::Result<()> {
    uploaded_reports_become_issues(Backends::PostgresRedis).await
}
