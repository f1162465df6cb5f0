//! Rule plugins through the schema (no HTTP) against a migrated in-memory SQLite store and
//! the real rule engine (postern-analysis over the wasm host): uploads (good, WASI-importing,
//! garbage, built-in id), switching rules per MSP and client, role rules, tenant isolation,
//! plugin failures and `verifyIssueNow`.

// Fixture helpers outside `#[test]` functions unwrap too: a failing fixture is a failing test.
#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{TimeZone, Utc};
use postern_domain::{
    DomainName, Finding, MspId, Principal, Role, Severity, TenantScope, Verification,
};
use postern_graphql::{PosternSchema, build_schema};
use postern_rules::testing;
use postern_store::{Client, Domain, NewPluginFailure, Store};
use serde_json::{Value, json};
use support::user;

const UPLOAD: &str = "mutation($c: String!) { uploadRulePlugin(component: $c) { ruleId version builtin enabled sha256 size } }";
const SWITCH: &str = "mutation($r: String!, $c: ID, $on: Boolean!) { a: enableRulePlugin(ruleId: $r, clientId: $c) @include(if: $on) { ruleId enabled } b: disableRulePlugin(ruleId: $r, clientId: $c) @skip(if: $on) { ruleId enabled } }";
const RULES: &str =
    "query($c: ID) { rulePlugins(clientId: $c) { ruleId builtin enabled enabledByDefault } }";

/// Two MSPs: A with clients A1 (one domain) and A2, B with client B1.
struct World {
    schema: PosternSchema,
    store: Store,
    msp_a: MspId,
    a1: Client,
    a2: Client,
    b1: Client,
    a1_domain: Domain,
    owner_a: Principal,
    owner_b: Principal,
}

impl World {
    async fn new() -> World {
        let store = support::store().await;
        let jwt = support::jwt();
        let system = store.system();
        let msp_a = system.create_msp("A", true).await.unwrap().id;
        let msp_b = system.create_msp("B", false).await.unwrap().id;
        let owner_a_scope = TenantScope::msp(msp_a, Role::MspOwner, true);
        let owner_b_scope = TenantScope::msp(msp_b, Role::MspOwner, false);
        let a = store.tenant(owner_a_scope);
        let a1 = a.create_client("A one").await.unwrap();
        let a2 = a.create_client("A two").await.unwrap();
        let b1 = store
            .tenant(owner_b_scope)
            .create_client("B one")
            .await
            .unwrap();
        let a1_domain = store
            .tenant(owner_a_scope)
            .add_domain(
                a1.id,
                &DomainName::parse("one.example").unwrap(),
                &|_, _| Vec::new(),
            )
            .await
            .unwrap()
            .0;
        let owner_a = user(&store, "owner@a.example", owner_a_scope).await;
        let owner_b = user(&store, "owner@b.example", owner_b_scope).await;
        let engine = support::engine(&store);
        World {
            schema: build_schema(store.clone(), jwt, engine),
            store,
            msp_a,
            a1,
            a2,
            b1,
            a1_domain,
            owner_a,
            owner_b,
        }
    }

    async fn user(&self, email: &str, scope: TenantScope) -> Principal {
        user(&self.store, email, scope).await
    }

    async fn run(&self, query: &str, variables: Value, principal: Principal) -> Value {
        support::run(&self.schema, &self.store, query, variables, principal).await
    }

    async fn upload(&self, bytes: &[u8], principal: Principal) -> Value {
        self.run(UPLOAD, json!({"c": STANDARD.encode(bytes)}), principal)
            .await
    }

    async fn switch(&self, rule: &str, client: Option<&Client>, on: bool, who: Principal) -> Value {
        let client = client.map(|c| c.id.to_string());
        self.run(SWITCH, json!({"r": rule, "c": client, "on": on}), who)
            .await
    }

    /// `ruleId → enabled` of `rulePlugins(clientId)` as the owner of A sees it.
    async fn enabled(&self, client: Option<&Client>, rule: &str) -> Option<bool> {
        let client = client.map(|c| c.id.to_string());
        let response = self.run(RULES, json!({"c": client}), self.owner_a).await;
        response["data"]["rulePlugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ruleId"] == rule)
            .map(|r| r["enabled"].as_bool().unwrap())
    }
}

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {response}"))
}

fn message(response: &Value) -> &str {
    response["errors"][0]["message"].as_str().unwrap()
}

#[tokio::test]
async fn a_good_plugin_uploads_and_is_listed_with_its_msp_only() {
    let w = World::new().await;
    let response = w.upload(testing::GOOD, w.owner_a).await;
    let plugin = &response["data"]["uploadRulePlugin"];
    assert_eq!(plugin["ruleId"], "test.good", "{response}");
    assert_eq!(plugin["version"], "1.0.0");
    assert_eq!(plugin["builtin"], false);
    assert_eq!(plugin["enabled"], true);
    assert_eq!(plugin["size"], testing::GOOD.len());
    assert_eq!(plugin["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(w.enabled(None, "test.good").await, Some(true));
    assert_eq!(w.enabled(None, "dmarc.policy").await, Some(true));

    // Uploading it again replaces it (one plugin per rule id).
    let again = w.upload(testing::GOOD, w.owner_a).await;
    assert_eq!(again["data"]["uploadRulePlugin"]["ruleId"], "test.good");
    let listed = w.run(RULES, json!({}), w.owner_a).await;
    let uploaded = listed["data"]["rulePlugins"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["builtin"] == false)
        .count();
    assert_eq!(uploaded, 1);

    // MSP B does not see it, and cannot switch it.
    let listed_b = w.run(RULES, json!({}), w.owner_b).await;
    assert!(
        listed_b["data"]["rulePlugins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ruleId"] != "test.good"),
        "{listed_b}"
    );
    let other = w.switch("test.good", None, false, w.owner_b).await;
    assert_eq!(code(&other), "not_found");
}

#[tokio::test]
async fn components_that_cannot_be_rules_are_refused_with_the_reason() {
    let w = World::new().await;
    let wasi = w.upload(testing::WASI_IMPORT, w.owner_a).await;
    assert_eq!(code(&wasi), "bad_request");
    assert!(message(&wasi).contains("imports"), "{wasi}");
    assert!(message(&wasi).contains("wasi"), "{wasi}");

    let version = w.upload(testing::WRONG_VERSION, w.owner_a).await;
    assert_eq!(code(&version), "bad_request");
    assert!(message(&version).contains("postern:rules@"), "{version}");

    let garbage = w.upload(b"this is not wasm at all", w.owner_a).await;
    assert_eq!(code(&garbage), "bad_request");
    assert!(
        message(&garbage).contains("not a valid webassembly component"),
        "{garbage}"
    );

    let not_base64 = w
        .run(UPLOAD, json!({"c": "%%% not base64 %%%"}), w.owner_a)
        .await;
    assert_eq!(code(&not_base64), "bad_request");
    assert!(message(&not_base64).contains("base64"));

    // A built-in plugin's component claims a built-in id.
    let builtin = postern_rules::builtin_plugins()[0].component;
    let taken = w.upload(builtin, w.owner_a).await;
    assert_eq!(code(&taken), "bad_request");
    assert!(message(&taken).contains("built-in"), "{taken}");

    // Nothing was stored.
    let listed = w.run(RULES, json!({}), w.owner_a).await;
    assert!(
        listed["data"]["rulePlugins"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["builtin"] == true),
        "{listed}"
    );
}

#[tokio::test]
async fn only_msp_staff_who_operate_upload_and_switch_rules() {
    let w = World::new().await;
    let client_admin = w
        .user(
            "admin@a1.example",
            TenantScope::client(w.msp_a, w.a1.id, Role::ClientAdmin),
        )
        .await;
    let viewer = w
        .user(
            "viewer@a.example",
            TenantScope::msp(w.msp_a, Role::MspViewer, false),
        )
        .await;
    for who in [client_admin, viewer] {
        assert_eq!(code(&w.upload(testing::GOOD, who).await), "forbidden");
        assert_eq!(
            code(&w.switch("dmarc.policy", None, false, who).await),
            "forbidden"
        );
    }
    let listed = w.run(RULES, json!({}), client_admin).await;
    assert_eq!(code(&listed), "forbidden");
    // The viewer reads.
    let listed = w.run(RULES, json!({}), viewer).await;
    assert!(listed["errors"].is_null(), "{listed}");
}

#[tokio::test]
async fn a_client_setting_beats_the_msp_setting() {
    let w = World::new().await;
    let off = w
        .switch("dmarc.policy", Some(&w.a1), false, w.owner_a)
        .await;
    assert_eq!(off["data"]["b"]["enabled"], false, "{off}");
    assert_eq!(w.enabled(Some(&w.a1), "dmarc.policy").await, Some(false));
    assert_eq!(w.enabled(Some(&w.a2), "dmarc.policy").await, Some(true));
    assert_eq!(w.enabled(None, "dmarc.policy").await, Some(true));

    w.switch("dmarc.policy", None, false, w.owner_a).await;
    w.switch("dmarc.policy", Some(&w.a2), true, w.owner_a).await;
    assert_eq!(w.enabled(None, "dmarc.policy").await, Some(false));
    assert_eq!(w.enabled(Some(&w.a1), "dmarc.policy").await, Some(false));
    assert_eq!(w.enabled(Some(&w.a2), "dmarc.policy").await, Some(true));

    // An uploaded plugin uploaded disabled runs where a client switches it on.
    let response = w
        .run(
            "mutation($c: String!) { uploadRulePlugin(component: $c, enabled: false) { enabled enabledByDefault } }",
            json!({"c": STANDARD.encode(testing::GOOD)}),
            w.owner_a,
        )
        .await;
    assert_eq!(response["data"]["uploadRulePlugin"]["enabled"], false);
    let on = w.switch("test.good", Some(&w.a1), true, w.owner_a).await;
    assert_eq!(on["data"]["a"]["enabled"], true, "{on}");
    assert_eq!(w.enabled(Some(&w.a2), "test.good").await, Some(false));
}

#[tokio::test]
async fn unknown_rules_and_other_tenants_clients_are_not_found() {
    let w = World::new().await;
    let unknown = w.switch("acme.nothing", None, true, w.owner_a).await;
    assert_eq!(code(&unknown), "not_found");
    let other_client = w
        .switch("dmarc.policy", Some(&w.b1), false, w.owner_a)
        .await;
    assert_eq!(code(&other_client), "not_found");
    let listed = w
        .run(RULES, json!({"c": w.b1.id.to_string()}), w.owner_a)
        .await;
    assert_eq!(code(&listed), "not_found");
    // B's plugin with the same id as a rule A never uploaded.
    w.upload(testing::GOOD, w.owner_b).await;
    let theirs = w.switch("test.good", None, true, w.owner_a).await;
    assert_eq!(code(&theirs), "not_found");
}

#[tokio::test]
async fn plugin_failures_are_listed_to_those_who_reach_the_client() {
    let w = World::new().await;
    let failure = |rule: &str| NewPluginFailure {
        rule_id: rule.to_owned(),
        kind: "trap".to_owned(),
        reason: "trapped: unreachable".to_owned(),
    };
    w.store
        .system()
        .record_plugin_failures(
            &w.a1_domain,
            &[failure("test.panic"), failure("test.other")],
            Utc::now(),
        )
        .await
        .unwrap();
    let query = "query($f: PluginFailureFilter) { pluginFailures(filter: $f) { totalCount edges { node { ruleId kind reason domain { name } } } } }";
    let all = w.run(query, json!({}), w.owner_a).await;
    assert_eq!(all["data"]["pluginFailures"]["totalCount"], 2, "{all}");
    let one = w
        .run(query, json!({"f": {"ruleId": "test.panic"}}), w.owner_a)
        .await;
    let node = &one["data"]["pluginFailures"]["edges"][0]["node"];
    assert_eq!(one["data"]["pluginFailures"]["totalCount"], 1);
    assert_eq!(node["kind"], "trap");
    assert_eq!(node["domain"]["name"], "one.example");
    let by_domain = w
        .run(
            query,
            json!({"f": {"domainId": w.a1_domain.id.to_string()}}),
            w.owner_a,
        )
        .await;
    assert_eq!(by_domain["data"]["pluginFailures"]["totalCount"], 2);

    let a1_viewer = w
        .user(
            "viewer@a1.example",
            TenantScope::client(w.msp_a, w.a1.id, Role::ClientViewer),
        )
        .await;
    let a2_viewer = w
        .user(
            "viewer@a2.example",
            TenantScope::client(w.msp_a, w.a2.id, Role::ClientViewer),
        )
        .await;
    let seen = w.run(query, json!({}), a1_viewer).await;
    assert_eq!(seen["data"]["pluginFailures"]["totalCount"], 2);
    let unseen = w.run(query, json!({}), a2_viewer).await;
    assert_eq!(unseen["data"]["pluginFailures"]["totalCount"], 0);
    let other = w.run(query, json!({}), w.owner_b).await;
    assert_eq!(other["data"]["pluginFailures"]["totalCount"], 0);
}

#[tokio::test]
async fn verify_issue_now_re_evaluates_and_answers_the_issue_as_it_now_is() {
    let w = World::new().await;
    // An issue of the built-in dmarc.policy rule, whose finding the domain (no reports, no
    // policy seen) does not give.
    w.store
        .system()
        .reconcile_findings(
            &w.a1_domain,
            &["dmarc.policy_none".to_owned()],
            &[Finding {
                code: "dmarc.policy_none".into(),
                severity: Severity::High,
                title: "p=none".into(),
                explanation: String::new(),
                evidence: Vec::new(),
                fix_steps: Vec::new(),
                verification: Verification {
                    description: "p=quarantine is published".into(),
                },
            }],
            Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
            &|_, _| Vec::new(),
        )
        .await
        .unwrap();
    let listed = w
        .run(
            "{ issues { edges { node { id state } } } }",
            json!({}),
            w.owner_a,
        )
        .await;
    let node = &listed["data"]["issues"]["edges"][0]["node"];
    assert_eq!(node["state"], "OPEN", "{listed}");
    let id = node["id"].as_str().unwrap().to_owned();

    let verify = "mutation($id: ID!) { verifyIssueNow(id: $id) { id state history { edges { node { kind } } } } }";
    let other = w.run(verify, json!({"id": id}), w.owner_b).await;
    assert_eq!(code(&other), "not_found");

    let response = w.run(verify, json!({"id": id}), w.owner_a).await;
    let issue = &response["data"]["verifyIssueNow"];
    assert_eq!(issue["state"], "RESOLVED", "{response}");
    let kinds: Vec<&str> = issue["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.last(), Some(&"VERIFIED_RESOLVED"));
}
