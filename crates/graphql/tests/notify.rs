//! Notification channels, routes, test messages and the delivery log through the schema (no
//! HTTP) on an in-memory SQLite store: the secret is shown once, roles, tenant isolation.

// Fixture helpers outside `#[test]` functions unwrap too: a failing fixture is a failing test.
#![allow(clippy::unwrap_used)]

mod support;

use postern_domain::{Principal, Role, TenantScope};
use postern_graphql::{PosternSchema, build_schema};
use postern_store::Store;
use serde_json::{Value, json};
use support::{engine, user};

struct World {
    schema: PosternSchema,
    store: Store,
    admin_a: Principal,
    viewer_a: Principal,
    admin_b: Principal,
}

impl World {
    async fn new() -> World {
        let store = support::store().await;
        let jwt = support::jwt();
        let msp_a = store.system().create_msp("MSP A", true).await.unwrap().id;
        let msp_b = store.system().create_msp("MSP B", false).await.unwrap().id;
        let admin_a = user(
            &store,
            "admin@a.example",
            TenantScope::msp(msp_a, Role::MspAdmin, true),
        )
        .await;
        let viewer_a = user(
            &store,
            "viewer@a.example",
            TenantScope::msp(msp_a, Role::MspViewer, true),
        )
        .await;
        let admin_b = user(
            &store,
            "admin@b.example",
            TenantScope::msp(msp_b, Role::MspAdmin, false),
        )
        .await;
        World {
            schema: build_schema(store.clone(), jwt, engine(&store)),
            store,
            admin_a,
            viewer_a,
            admin_b,
        }
    }

    async fn run(&self, query: &str, variables: Value, principal: Principal) -> Value {
        support::run(&self.schema, &self.store, query, variables, principal).await
    }
}

fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

const CREATE: &str = "mutation($input: NotificationChannelInput!) { createNotificationChannel(input: $input) { secret channel { id kind target hasSecret enabled } } }";

#[tokio::test]
async fn channels_routes_and_test_messages_work_within_the_msp_only() {
    let w = World::new().await;
    let created = w
        .run(
            CREATE,
            json!({"input": {"name": "Ops hook", "kind": "WEBHOOK", "target": "https://hooks.example/postern/abc123"}}),
            w.admin_a,
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    let payload = &created["data"]["createNotificationChannel"];
    let secret = payload["secret"].as_str().unwrap();
    assert!(
        secret.starts_with("whsec_") && secret.len() == 6 + 64,
        "{secret}"
    );
    assert_eq!(payload["channel"]["target"], "https://hooks.example/…");
    assert_eq!(payload["channel"]["hasSecret"], true);
    let id = payload["channel"]["id"].as_str().unwrap().to_owned();

    // Plain http and bad recipients are refused.
    let http = w
        .run(
            CREATE,
            json!({"input": {"name": "x", "kind": "SLACK", "target": "http://hooks.example/x"}}),
            w.admin_a,
        )
        .await;
    assert_eq!(code(&http), Some("bad_request"));
    let mail = w
        .run(
            CREATE,
            json!({"input": {"name": "x", "kind": "EMAIL", "target": "not an address"}}),
            w.admin_a,
        )
        .await;
    assert_eq!(code(&mail), Some("bad_request"));

    // Routes: default event kinds; a bad code is refused.
    let route = w
        .run(
            "mutation($c: ID!) { createNotificationRoute(input: {channelId: $c, minSeverity: HIGH, codes: [\"dmarc.\"]}) { id minSeverity codes eventKinds mode quietPeriodSeconds } }",
            json!({"c": id}),
            w.admin_a,
        )
        .await;
    assert!(route["errors"].is_null(), "{route}");
    let r = &route["data"]["createNotificationRoute"];
    assert_eq!(r["minSeverity"], "HIGH");
    assert_eq!(r["mode"], "IMMEDIATE");
    assert_eq!(
        r["eventKinds"],
        json!([
            "opened",
            "reopened",
            "reopened_by_user",
            "verified_resolved"
        ])
    );
    let bad = w
        .run(
            "mutation($c: ID!) { createNotificationRoute(input: {channelId: $c, codes: [\"DMARC policy\"]}) { id } }",
            json!({"c": id}),
            w.admin_a,
        )
        .await;
    assert_eq!(code(&bad), Some("bad_request"));

    // A test message is queued and appears in the delivery log.
    let test = w
        .run(
            "mutation($c: ID!) { sendTestNotification(channelId: $c) { id kind status attempts } }",
            json!({"c": id}),
            w.admin_a,
        )
        .await;
    assert!(test["errors"].is_null(), "{test}");
    assert_eq!(test["data"]["sendTestNotification"]["status"], "PENDING");
    let log_query = "query($c: ID) { notificationDeliveries(filter: {channelId: $c, status: PENDING}) { totalCount edges { node { kind status channelId } } } }";
    let log = w.run(log_query, json!({"c": id}), w.viewer_a).await;
    assert_eq!(
        log["data"]["notificationDeliveries"]["totalCount"], 1,
        "{log}"
    );
    assert_eq!(
        log["data"]["notificationDeliveries"]["edges"][0]["node"]["kind"],
        "TEST"
    );

    // The secret is never shown again.
    let list = w
        .run(
            "{ notificationChannels { totalCount edges { node { id hasSecret } } } }",
            json!({}),
            w.viewer_a,
        )
        .await;
    assert_eq!(list["data"]["notificationChannels"]["totalCount"], 1);
    assert!(!list.to_string().contains(secret));

    // A viewer cannot manage; another MSP sees nothing and gets not_found.
    let denied = w
        .run(
            "mutation($c: ID!) { deleteNotificationChannel(id: $c) }",
            json!({"c": id}),
            w.viewer_a,
        )
        .await;
    assert_eq!(code(&denied), Some("forbidden"));
    for query in [
        "mutation($c: ID!) { sendTestNotification(channelId: $c) { id } }",
        "mutation($c: ID!) { deleteNotificationChannel(id: $c) }",
        "mutation($c: ID!) { updateNotificationChannel(id: $c, input: {enabled: false}) { id } }",
    ] {
        let other = w.run(query, json!({"c": id}), w.admin_b).await;
        assert_eq!(code(&other), Some("not_found"), "{query}: {other}");
    }
    let other_log = w.run(log_query, json!({"c": id}), w.admin_b).await;
    assert_eq!(other_log["data"]["notificationDeliveries"]["totalCount"], 0);

    // Disable, then delete.
    let disabled = w
        .run("mutation($c: ID!) { updateNotificationChannel(id: $c, input: {enabled: false}) { enabled } }", json!({"c": id}), w.admin_a)
        .await;
    assert_eq!(
        disabled["data"]["updateNotificationChannel"]["enabled"], false,
        "{disabled}"
    );
    let deleted = w
        .run(
            "mutation($c: ID!) { deleteNotificationChannel(id: $c) }",
            json!({"c": id}),
            w.admin_a,
        )
        .await;
    assert_eq!(deleted["data"]["deleteNotificationChannel"], true);
    let routes = w
        .run("{ notificationRoutes { id } }", json!({}), w.admin_a)
        .await;
    assert_eq!(routes["data"]["notificationRoutes"], json!([]));
}
