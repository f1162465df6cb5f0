//! End to end: a domain added through GraphQL is checked through real DNS packets (an
//! authoritative server on loopback), its posture and history show over GraphQL, and its
//! posture findings become issues with the exact record to publish.

use postern_dns::testing::LoopbackServer;
use postern_tests::{App, Backends};
use serde_json::{Value, json};
use std::time::Duration;

const ZONE: &str = "
@       IN MX 10 mx1
mx1     IN A 192.0.2.25
@       IN TXT \"v=spf1 ip4:192.0.2.0/24 +all\"
_dmarc  IN TXT \"v=DMARC1; p=none; rua=mailto:dmarc@posture.example\"
";

const POSTURE: &str = r#"query($d: String!) {
  domain(name: $d) {
    id
    dnsPosture {
      checkedAt queries
      checks { check status records findings { code severity message fix { name recordType current suggested } } }
    }
    dnsHistory(first: 10) { checkedAt changes }
  }
}"#;

/// How long the checks and the evaluation may take.
const WAIT: Duration = Duration::from_secs(30);

const ISSUES: &str = r#"query {
  issues(first: 100) { edges { node { code severity state domain { name }
    fixSteps { title record { name proposed } } } } }
}"#;

fn check<'a>(posture: &'a Value, name: &str) -> &'a Value {
    posture["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == name))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_domain_gets_its_posture_and_issues_with_records_to_publish() -> anyhow::Result<()>
{
    let dns = LoopbackServer::start(&[("posture.example", ZONE)])?;
    let app = App::start_with(
        Backends::Embedded,
        vec![
            ("POSTERN__ANALYSIS__DNS_POSTURE".into(), "true".into()),
            (
                "POSTERN__ANALYSIS__NAMESERVERS".into(),
                format!("[\"{}\"]", dns.addr()),
            ),
            ("POSTERN__ANALYSIS__DNS_TIMEOUT_MS".into(), "500".into()),
        ],
    )
    .await?;
    let token = app.login_admin().await?;
    let client = app
        .graphql_ok(
            Some(&token),
            "mutation { createClient(name: \"Posture Co\") { id } }",
            json!({}),
        )
        .await?["createClient"]["id"]
        .clone();
    app.graphql_ok(
        Some(&token),
        "mutation($c: ID!) { addDomain(clientId: $c, name: \"posture.example\") { id } }",
        json!({ "c": client }),
    )
    .await?;

    // Checked within seconds of being added, through the loopback server.
    let data = app
        .graphql_until(
            Some(&token),
            POSTURE,
            json!({ "d": "posture.example" }),
            WAIT,
            |d| !d["domain"]["dnsPosture"].is_null(),
        )
        .await?;
    assert!(dns.queries() > 0, "the checks asked the loopback server");
    let posture = &data["domain"]["dnsPosture"];
    assert!(posture["queries"].as_i64().unwrap_or(0) > 0, "{posture}");
    let spf = check(posture, "spf");
    assert_eq!(spf["status"], "fail", "{spf}");
    assert_eq!(spf["records"][0], "v=spf1 ip4:192.0.2.0/24 +all");
    let plus_all = spf["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["code"] == "spf.plus_all"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(plus_all["severity"], "high", "{spf}");
    let dmarc = check(posture, "dmarc");
    assert_eq!(
        dmarc["records"][0],
        "v=DMARC1; p=none; rua=mailto:dmarc@posture.example"
    );
    assert_eq!(check(posture, "mx")["status"], "pass", "{posture}");
    assert_eq!(check(posture, "bimi")["status"], "missing", "{posture}");

    // The findings become issues with the exact record text.
    let issues = app
        .graphql_until(Some(&token), ISSUES, json!({}), WAIT, |d| {
            d["issues"]["edges"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["node"]["code"] == "spf.plus_all"))
        })
        .await?;
    let edges = issues["issues"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let issue = edges
        .iter()
        .map(|e| &e["node"])
        .find(|n| n["code"] == "spf.plus_all")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(issue["domain"]["name"], "posture.example");
    assert_eq!(issue["state"], "OPEN");
    if let Some(fix) = plus_all["fix"].as_object() {
        let record = &issue["fixSteps"][0]["record"];
        assert_eq!(record["proposed"], fix["suggested"], "{issue}");
        assert_eq!(record["name"], "posture.example");
    }
    assert!(
        edges
            .iter()
            .any(|e| e["node"]["code"] == "dmarc.policy_none"),
        "p=none without reports is a DNS finding: {issues}"
    );

    // On demand: a second run, and the history shows both.
    let id = data["domain"]["id"].clone();
    let now = app
        .graphql_ok(
            Some(&token),
            "mutation($id: ID!) { checkDomainNow(id: $id) { checkedAt checks { check status } } }",
            json!({ "id": id }),
        )
        .await?;
    assert_eq!(
        check(&now["checkDomainNow"], "spf")["status"],
        "fail",
        "{now}"
    );
    let data = app
        .graphql_ok(Some(&token), POSTURE, json!({ "d": "posture.example" }))
        .await?;
    let history = data["domain"]["dnsHistory"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(history.len(), 2, "{data}");
    assert_eq!(
        history[0]["changes"],
        json!([]),
        "nothing changed between the runs"
    );
    app.stop().await;
    Ok(())
}
