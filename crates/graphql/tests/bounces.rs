//! Bounces, bounce groups and the suppression list through the schema (no HTTP) on an
//! in-memory SQLite store: client users see and change only their own client, automation
//! tokens can ask `isSuppressed`, viewers only read, another tenant's client is `not_found`.

#![allow(clippy::unwrap_used)]

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use postern_store::{BounceBatch, BounceKind, BounceOwner, Client, NewBounce};
use serde_json::json;
use support::{Tenants as World, code};
use uuid::Uuid;

impl World {
    /// Stores bounces for `client` as ingestion would. Bounces to `contoso.example` carry the
    /// campaign `spring`, Microsoft 365's answering host and 192.0.2.1; the others none of
    /// these and 192.0.2.2.
    async fn bounces(&self, client: &Client, list: &[(&str, &str, bool)]) {
        let raw = self
            .store
            .system()
            .store_raw_input(Uuid::now_v7().as_bytes(), "test", None, Utc::now())
            .await
            .unwrap()
            .0;
        let owner = BounceOwner {
            msp_id: client.msp_id,
            client_id: client.id,
            domain_id: None,
        };
        let bounces = list
            .iter()
            .map(|(recipient, reason, hard)| NewBounce {
                id: Uuid::now_v7(),
                owner: Some(owner),
                unassigned_reason: None,
                kind: BounceKind::Bounced,
                recipient: (*recipient).to_owned(),
                recipient_domain: recipient.rsplit_once('@').unwrap().1.to_owned(),
                status: Some("5.1.1".into()),
                reply_code: Some(550),
                diagnostic: "550 5.1.1 unknown".into(),
                remote_host: recipient
                    .ends_with("@contoso.example")
                    .then(|| "contoso-example.mail.protection.outlook.com".to_owned()),
                reporting_mta: None,
                time: now() - TimeDelta::hours(1),
                original_message_id: None,
                sending_ip: Some(if recipient.ends_with("@contoso.example") {
                    "192.0.2.1".to_owned()
                } else {
                    "192.0.2.2".to_owned()
                }),
                command: None,
                action: None,
                evidence: None,
                feedback_type: None,
                hard: *hard,
                reason: (*reason).to_owned(),
                provider: "mail".into(),
                provider_event_id: None,
                campaign: recipient
                    .ends_with("@contoso.example")
                    .then(|| "spring".to_owned()),
                sender_domain: None,
                dedup_key: Uuid::now_v7().to_string(),
                suppress: *hard,
                count_volume: false,
            })
            .collect();
        let batch = BounceBatch {
            raw_input_id: raw,
            received_at: Utc::now(),
            bounces,
            deliveries: Vec::new(),
        };
        self.store
            .system()
            .store_bounces(&batch, |_| None)
            .await
            .unwrap();
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

const SUPPRESS: &str = "mutation($c: ID!, $a: String!, $r: String!) { suppressAddress(clientId: $c, address: $a, reason: $r) { address reason active } }";
const RESTORE: &str = "mutation($c: ID!, $a: String!, $r: String!) { restoreSuppressed(clientId: $c, address: $a, reason: $r) { address active restoreReason history { action reason } } }";
const IS: &str = "query($c: ID, $a: String!) { isSuppressed(clientId: $c, address: $a) }";

#[tokio::test]
async fn suppress_and_restore_stay_within_the_callers_client() {
    let w = World::new().await;
    let a1 = w.a1.id.to_string();
    let vars = |a: &str, r: &str| json!({"c": a1, "a": a, "r": r});

    let done = w
        .run(
            SUPPRESS,
            vars("Jane@Example.com", "asked to stop"),
            w.a1_admin,
        )
        .await;
    assert!(done["errors"].is_null(), "{done}");
    assert_eq!(
        done["data"]["suppressAddress"]["address"],
        "jane@example.com"
    );
    assert_eq!(done["data"]["suppressAddress"]["active"], true);

    // An automation token of the client asks before sending; no clientId needed.
    let asked = w
        .run(IS, json!({"a": "jane@example.com"}), w.a1_token)
        .await;
    assert_eq!(asked["data"]["isSuppressed"], true, "{asked}");
    let asked = w
        .run(IS, json!({"a": "john@example.com"}), w.a1_token)
        .await;
    assert_eq!(asked["data"]["isSuppressed"], false);

    // Another client of the MSP and another MSP: not found, for reads and writes alike.
    for other in [w.a2_admin, w.b_admin] {
        let r = w
            .run(IS, json!({"c": a1, "a": "jane@example.com"}), other)
            .await;
        assert_eq!(code(&r), Some("not_found"), "{r}");
        let r = w.run(RESTORE, vars("jane@example.com", "x"), other).await;
        assert_eq!(code(&r), Some("not_found"), "{r}");
        let r = w.run(SUPPRESS, vars("x@example.com", "x"), other).await;
        assert_eq!(code(&r), Some("not_found"), "{r}");
    }
    // Viewers read only.
    let r = w
        .run(RESTORE, vars("jane@example.com", "x"), w.a1_viewer)
        .await;
    assert_eq!(code(&r), Some("forbidden"), "{r}");
    // Bad input: a malformed address, an empty reason, a client id that is not an id.
    let r = w
        .run(SUPPRESS, vars("not an address", "x"), w.a1_admin)
        .await;
    assert_eq!(code(&r), Some("bad_request"), "{r}");
    let r = w
        .run(RESTORE, vars("jane@example.com", " "), w.a1_admin)
        .await;
    assert_eq!(code(&r), Some("bad_request"), "{r}");
    let r = w
        .run(
            IS,
            json!({"c": "nope", "a": "jane@example.com"}),
            w.a1_admin,
        )
        .await;
    assert_eq!(code(&r), Some("bad_request"), "{r}");

    let restored = w
        .run(
            RESTORE,
            vars("jane@example.com", "re-subscribed"),
            w.a1_admin,
        )
        .await;
    assert!(restored["errors"].is_null(), "{restored}");
    let s = &restored["data"]["restoreSuppressed"];
    assert_eq!(s["active"], false);
    assert_eq!(s["restoreReason"], "re-subscribed");
    assert_eq!(s["history"][1]["action"], "restored");
    let asked = w
        .run(IS, json!({"a": "jane@example.com"}), w.a1_token)
        .await;
    assert_eq!(asked["data"]["isSuppressed"], false);

    // The bounce address key: the client's own, never another tenant's.
    let key = w.run("query { bounceKey }", json!({}), w.a1_admin).await;
    assert_eq!(
        key["data"]["bounceKey"].as_str().unwrap().len(),
        16,
        "{key}"
    );
    let cross = w
        .run(
            "query($c: ID) { bounceKey(clientId: $c) }",
            json!({"c": a1}),
            w.b_admin,
        )
        .await;
    assert_eq!(code(&cross), Some("not_found"), "{cross}");
}

#[tokio::test]
async fn bounces_groups_and_suppressions_show_only_what_the_caller_reaches() {
    let w = World::new().await;
    w.bounces(
        &w.a1,
        &[
            ("a@contoso.example", "userunknown", true),
            ("b@contoso.example", "userunknown", true),
            ("c@contoso.example", "blocked", false),
            ("d@fabrikam.example", "mailboxfull", false),
        ],
    )
    .await;
    w.bounces(&w.a2, &[("e@contoso.example", "userunknown", true)])
        .await;

    let list = "query($f: BounceFilter) { bounces(first: 2, filter: $f) { totalCount pageInfo { hasNextPage } nodes { recipient reason hard kind clientId } } }";
    let mine = w.run(list, json!({}), w.a1_admin).await;
    assert!(mine["errors"].is_null(), "{mine}");
    assert_eq!(mine["data"]["bounces"]["totalCount"], 4);
    assert_eq!(mine["data"]["bounces"]["pageInfo"]["hasNextPage"], true);
    let hard = w
        .run(
            list,
            json!({"f": {"hard": true, "recipientDomain": "CONTOSO.example"}}),
            w.a1_admin,
        )
        .await;
    assert_eq!(hard["data"]["bounces"]["totalCount"], 2);
    assert_eq!(hard["data"]["bounces"]["nodes"][0]["kind"], "BOUNCED");
    let msp = w.run(list, json!({}), w.msp_admin).await;
    assert_eq!(msp["data"]["bounces"]["totalCount"], 5);
    let b = w.run(list, json!({}), w.b_admin).await;
    assert_eq!(b["data"]["bounces"]["totalCount"], 0);
    // A client user naming another client gets nothing of it.
    let other = w
        .run(
            list,
            json!({"f": {"clientId": w.a2.id.to_string()}}),
            w.a1_admin,
        )
        .await;
    assert_eq!(other["data"]["bounces"]["totalCount"], 0);

    let groups = "query($c: ID) { bounceGroups(clientId: $c) { recipientDomain total hard soft topReasons { reason count } } }";
    let g = w.run(groups, json!({}), w.a1_admin).await;
    assert!(g["errors"].is_null(), "{g}");
    let g = &g["data"]["bounceGroups"];
    assert_eq!(g[0]["recipientDomain"], "contoso.example");
    assert_eq!(
        (g[0]["total"].as_u64(), g[0]["hard"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(g[0]["topReasons"][0]["reason"], "userunknown");
    let cross = w
        .run(groups, json!({"c": w.a1.id.to_string()}), w.b_admin)
        .await;
    assert_eq!(code(&cross), Some("not_found"), "{cross}");

    let sup =
        "query { suppressions(first: 10) { totalCount nodes { address reason active clientId } } }";
    let s = w.run(sup, json!({}), w.a1_admin).await;
    assert_eq!(s["data"]["suppressions"]["totalCount"], 2, "{s}");
    let s = w.run(sup, json!({}), w.a2_admin).await;
    assert_eq!(s["data"]["suppressions"]["totalCount"], 1);
    assert_eq!(
        s["data"]["suppressions"]["nodes"][0]["address"],
        "e@contoso.example"
    );
    let s = w.run(sup, json!({}), w.b_admin).await;
    assert_eq!(s["data"]["suppressions"]["totalCount"], 0);
}

#[tokio::test]
async fn bounce_groups_group_by_provider_family_campaign_and_source_ip() {
    let w = World::new().await;
    w.bounces(
        &w.a1,
        &[
            ("a@contoso.example", "userunknown", true),
            ("b@contoso.example", "rejected", true),
            ("c@fabrikam.example", "mailboxfull", false),
            ("d@northwind.example", "userunknown", true),
        ],
    )
    .await;
    let q = "query($by: BounceGrouping) { bounceGroups(groupBy: $by) { groupBy key recipientDomain providerFamily total hard soft addresses recipientDomains topReasons { reason count } } }";
    let groups = |by: &'static str| {
        let w = &w;
        async move {
            let g = w.run(q, json!({ "by": by }), w.a1_admin).await;
            assert!(g["errors"].is_null(), "{g}");
            g["data"]["bounceGroups"].clone()
        }
    };

    let domains = groups("RECIPIENT_DOMAIN").await;
    assert_eq!(domains[0]["recipientDomain"], "contoso.example");
    assert_eq!(domains[0]["key"], "contoso.example");
    assert_eq!(domains[0]["providerFamily"], "microsoft365");
    assert_eq!(domains[1]["providerFamily"], "unknown");

    let families = groups("PROVIDER_FAMILY").await;
    assert_eq!(families.as_array().unwrap().len(), 2, "{families}");
    assert_eq!(families[0]["key"], "microsoft365");
    assert_eq!(families[0]["total"], 2);
    assert_eq!(families[1]["key"], "unknown");
    assert_eq!(
        (
            families[1]["total"].as_u64(),
            families[1]["recipientDomains"].as_u64()
        ),
        (Some(2), Some(2))
    );
    assert!(families[1]["recipientDomain"].is_null());

    let campaigns = groups("CAMPAIGN").await;
    assert_eq!(campaigns[0]["key"], "spring");
    assert_eq!(campaigns[0]["addresses"], 2);
    assert_eq!(campaigns[0]["topReasons"].as_array().unwrap().len(), 2);
    assert!(campaigns[1]["key"].is_null(), "{campaigns}");
    assert_eq!(campaigns[1]["recipientDomains"], 2);

    let sources = groups("SOURCE_IP").await;
    assert_eq!(sources[0]["groupBy"], "SOURCE_IP");
    let keys: Vec<&str> = sources
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["192.0.2.1", "192.0.2.2"]);
    assert_eq!(
        (sources[1]["hard"].as_u64(), sources[1]["soft"].as_u64()),
        (Some(1), Some(1))
    );

    // Another tenant's caller sees no groups.
    let other = w.run(q, json!({ "by": "CAMPAIGN" }), w.b_admin).await;
    assert_eq!(other["data"]["bounceGroups"], json!([]), "{other}");
}
