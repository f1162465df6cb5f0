//! Bounces, bounce groups and the suppression list through the schema (no HTTP) on an
//! in-memory SQLite store: client users see and change only their own client, automation
//! tokens can ask `isSuppressed`, viewers only read, another tenant's client is `not_found`.

#![allow(clippy::unwrap_used)]

mod support;

use chrono::{DateTime, TimeDelta, Utc};
use postern_domain::{ApiTokenId, Principal, PrincipalKind, Role, TenantScope};
use postern_graphql::{PosternSchema, build_schema};
use postern_store::{BounceBatch, BounceKind, BounceOwner, Client, NewBounce, Store};
use serde_json::{Value, json};
use support::{engine, user};
use uuid::Uuid;

struct World {
    schema: PosternSchema,
    store: Store,
    a1: Client,
    a2: Client,
    msp_admin: Principal,
    a1_admin: Principal,
    a1_viewer: Principal,
    a1_token: Principal,
    a2_admin: Principal,
    b_admin: Principal,
}

impl World {
    async fn new() -> World {
        let store = support::store().await;
        let sys = store.system();
        let msp_a = sys.create_msp("MSP A", true).await.unwrap().id;
        let msp_b = sys.create_msp("MSP B", false).await.unwrap().id;
        let owner = store.tenant(TenantScope::msp(msp_a, Role::MspOwner, true));
        let a1 = owner.create_client("A1").await.unwrap();
        let a2 = owner.create_client("A2").await.unwrap();
        let msp_admin = user(
            &store,
            "admin@a.example",
            TenantScope::msp(msp_a, Role::MspAdmin, true),
        )
        .await;
        let a1_admin = user(
            &store,
            "admin@a1.example",
            TenantScope::client(msp_a, a1.id, Role::ClientAdmin),
        )
        .await;
        let a1_viewer = user(
            &store,
            "viewer@a1.example",
            TenantScope::client(msp_a, a1.id, Role::ClientViewer),
        )
        .await;
        let a2_admin = user(
            &store,
            "admin@a2.example",
            TenantScope::client(msp_a, a2.id, Role::ClientAdmin),
        )
        .await;
        let b_admin = user(
            &store,
            "admin@b.example",
            TenantScope::msp(msp_b, Role::MspAdmin, false),
        )
        .await;
        let a1_token = Principal {
            kind: PrincipalKind::ApiToken(ApiTokenId::new()),
            scope: TenantScope::client(msp_a, a1.id, Role::ClientViewer),
        };
        World {
            schema: build_schema(store.clone(), support::jwt(), engine(&store)),
            store,
            a1,
            a2,
            msp_admin,
            a1_admin,
            a1_viewer,
            a1_token,
            a2_admin,
            b_admin,
        }
    }

    async fn run(&self, query: &str, variables: Value, principal: Principal) -> Value {
        support::run(&self.schema, &self.store, query, variables, principal).await
    }

    /// Stores bounces for `client` as ingestion would.
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
                remote_host: None,
                reporting_mta: None,
                time: now() - TimeDelta::hours(1),
                original_message_id: None,
                sending_ip: None,
                command: None,
                action: None,
                evidence: None,
                feedback_type: None,
                hard: *hard,
                reason: (*reason).to_owned(),
                provider: "mail".into(),
                provider_event_id: None,
                campaign: None,
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

fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
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
