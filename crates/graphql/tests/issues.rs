//! Issues through the schema (no HTTP) against a migrated in-memory SQLite store: the list
//! and its filters, the detail with fix steps and history, the workflow mutations, role
//! rules and tenant isolation.

// Fixture helpers outside `#[test]` functions unwrap too: a failing fixture is a failing test.
#![allow(clippy::unwrap_used)]

mod support;

use chrono::{TimeZone, Utc};
use postern_domain::{
    ClientId, DnsRecordChange, DomainName, Evidence, Finding, FixStep, FixStepKind, MspId,
    Principal, PrincipalKind, Role, Severity, TenantScope, Verification,
};
use postern_graphql::{PosternSchema, build_schema};
use postern_store::{Client, Domain, Store};
use serde_json::{Value, json};
use support::{engine, user};

/// Two MSPs: A with clients A1 (two findings) and A2 (one), B with client B1 (one).
struct World {
    schema: PosternSchema,
    store: Store,
    msp_a: MspId,
    a1: Client,
    a2: Client,
    a1_domain: Domain,
    owner_a: Principal,
    owner_b: Principal,
}

impl World {
    async fn new() -> World {
        let store = support::store().await;
        let jwt = support::jwt();
        let system = store.system();
        let msp_a = system.create_msp("Operator MSP", true).await.unwrap().id;
        let msp_b = system.create_msp("Other MSP", false).await.unwrap().id;
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
        let a1_domain = domain(&store, &a1, "one.example").await;
        let a2_domain = domain(&store, &a2, "two.example").await;
        let b1_domain = domain(&store, &b1, "bee.example").await;
        let reconcile = |d: Domain, findings: Vec<Finding>| {
            let system = store.system();
            async move {
                system
                    .reconcile_findings(
                        &d,
                        &["dmarc.".to_owned(), "spf.".to_owned()],
                        &findings,
                        Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
                        &|_, _| Vec::new(),
                    )
                    .await
                    .unwrap()
            }
        };
        reconcile(
            a1_domain.clone(),
            vec![
                finding("dmarc.policy_none", Severity::High),
                finding("spf.too_many_lookups", Severity::Medium),
            ],
        )
        .await;
        reconcile(a2_domain, vec![finding("dmarc.policy_none", Severity::Low)]).await;
        reconcile(
            b1_domain,
            vec![finding("dmarc.policy_none", Severity::High)],
        )
        .await;
        let owner_a = user(&store, "owner@a.example", owner_a_scope).await;
        let owner_b = user(&store, "owner@b.example", owner_b_scope).await;
        World {
            schema: build_schema(store.clone(), jwt, engine(&store)),
            store,
            msp_a,
            a1,
            a2,
            a1_domain,
            owner_a,
            owner_b,
        }
    }

    async fn user(&self, email: &str, scope: TenantScope) -> Principal {
        user(&self.store, email, scope).await
    }

    async fn client_user(&self, email: &str, client: ClientId, role: Role) -> Principal {
        self.user(email, TenantScope::client(self.msp_a, client, role))
            .await
    }

    async fn run(&self, query: &str, variables: Value, principal: Principal) -> Value {
        support::run(&self.schema, &self.store, query, variables, principal).await
    }

    /// The id of A1's `code` issue, as the owner of A lists it.
    async fn issue_id(&self, code: &str) -> String {
        let response = self
            .run(
                "query($code: String!, $domain: String!) { issues(filter: {code: $code, domain: $domain}) { edges { node { id } } } }",
                json!({"code": code, "domain": self.a1_domain.name.as_str()}),
                self.owner_a,
            )
            .await;
        response["data"]["issues"]["edges"][0]["node"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn domain(store: &Store, client: &Client, name: &str) -> Domain {
    let scope = TenantScope::msp(client.msp_id, Role::MspOwner, false);
    let name = DomainName::parse(name).unwrap();
    store
        .tenant(scope)
        .add_domain(client.id, &name, &|_, _| Vec::new())
        .await
        .unwrap()
        .0
}

fn finding(code: &str, severity: Severity) -> Finding {
    Finding {
        code: code.to_owned(),
        severity,
        title: format!("Title of {code}"),
        explanation: "Receivers deliver spoofed mail.".into(),
        evidence: vec![Evidence {
            label: "messages".into(),
            value: "1200".into(),
        }],
        fix_steps: vec![
            FixStep {
                kind: FixStepKind::UpgradePolicy,
                title: "Publish a DMARC record with p=quarantine".into(),
                detail: "Clean traffic for 30 days.".into(),
                record: Some(DnsRecordChange {
                    name: "_dmarc.one.example".into(),
                    record_type: "TXT".into(),
                    current: Some("v=DMARC1; p=none".into()),
                    proposed: "v=DMARC1; p=quarantine; t=y".into(),
                }),
            },
            FixStep {
                kind: FixStepKind::Investigate,
                title: "Watch the reports".into(),
                detail: "A week.".into(),
                record: None,
            },
        ],
        verification: Verification {
            description: "p=quarantine is published".into(),
        },
    }
}

/// The `extensions.code` of the first error, if any.
fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

const CONTRACT: &str = "query($first: Int, $filter: IssueFilter) { issues(first: $first, filter: $filter) { totalCount edges { node { id code severity state domain { name } fixSteps { title } } } } }";

async fn contract(world: &World, filter: Value, principal: Principal) -> Value {
    let response = world
        .run(CONTRACT, json!({"first": 10, "filter": filter}), principal)
        .await;
    assert!(response["errors"].is_null(), "{response}");
    response["data"]["issues"].clone()
}

fn codes(issues: &Value) -> Vec<String> {
    let mut codes: Vec<String> = issues["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}@{}",
                e["node"]["code"].as_str().unwrap(),
                e["node"]["domain"]["name"].as_str().unwrap()
            )
        })
        .collect();
    codes.sort();
    codes
}

#[tokio::test]
async fn the_contract_query_lists_issues_with_fix_steps_and_a_total_count() {
    let world = World::new().await;
    let all = contract(&world, json!(null), world.owner_a).await;
    assert_eq!(all["totalCount"], 3);
    assert_eq!(
        codes(&all),
        [
            "dmarc.policy_none@one.example",
            "dmarc.policy_none@two.example",
            "spf.too_many_lookups@one.example"
        ]
    );
    let node = &all["edges"][0]["node"];
    assert_eq!(node["state"], "OPEN");
    assert_eq!(
        node["fixSteps"][0]["title"],
        "Publish a DMARC record with p=quarantine"
    );
}

#[tokio::test]
async fn issue_filters_narrow_the_list_and_its_total() {
    let world = World::new().await;
    let cases = [
        (json!({"clientId": world.a2.id.to_string()}), 1),
        (json!({"domainId": world.a1_domain.id.to_string()}), 2),
        (json!({"domain": "ONE.example."}), 2),
        (json!({"state": "OPEN"}), 3),
        (json!({"state": "RESOLVED"}), 0),
        (json!({"severity": "HIGH"}), 1),
        (json!({"code": "dmarc.policy_none"}), 2),
        (json!({"code": "dmarc.policy_none", "severity": "LOW"}), 1),
        (
            json!({"clientId": world.a1.id.to_string(), "code": "spf.too_many_lookups"}),
            1,
        ),
    ];
    for (filter, expected) in cases {
        let issues = contract(&world, filter.clone(), world.owner_a).await;
        assert_eq!(issues["totalCount"], expected, "{filter}");
        assert_eq!(
            issues["edges"].as_array().unwrap().len(),
            expected as usize,
            "{filter}"
        );
    }
    let bad = world
        .run(
            CONTRACT,
            json!({"filter": {"clientId": "not-a-uuid"}}),
            world.owner_a,
        )
        .await;
    assert_eq!(code(&bad), Some("bad_request"), "{bad}");
}

#[tokio::test]
async fn issue_detail_shows_the_finding_and_its_history() {
    let world = World::new().await;
    let id = world.issue_id("dmarc.policy_none").await;
    let response = world
        .run(
            "query($id: ID!) { issue(id: $id) { id code severity state title explanation \
             evidence { label value } \
             fixSteps { kind title detail record { name recordType current proposed } } \
             verification { description } domain { name } client { name } assignee { id } \
             openedAt resolvedAt \
             history(first: 10) { totalCount edges { node { kind actor { id } comment fromState toState createdAt } } } } }",
            json!({"id": id}),
            world.owner_a,
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let issue = &response["data"]["issue"];
    assert_eq!(issue["code"], "dmarc.policy_none");
    assert_eq!(issue["severity"], "HIGH");
    assert_eq!(issue["title"], "Title of dmarc.policy_none");
    assert_eq!(
        issue["evidence"],
        json!([{"label": "messages", "value": "1200"}])
    );
    assert_eq!(issue["fixSteps"][0]["kind"], "UPGRADE_POLICY");
    assert_eq!(
        issue["fixSteps"][0]["record"],
        json!({"name": "_dmarc.one.example", "recordType": "TXT", "current": "v=DMARC1; p=none", "proposed": "v=DMARC1; p=quarantine; t=y"})
    );
    assert_eq!(issue["fixSteps"][1]["record"], Value::Null);
    assert_eq!(
        issue["verification"]["description"],
        "p=quarantine is published"
    );
    assert_eq!(issue["domain"]["name"], "one.example");
    assert_eq!(issue["client"]["name"], "A one");
    assert_eq!(issue["assignee"], Value::Null);
    assert_eq!(issue["resolvedAt"], Value::Null);
    assert_eq!(issue["history"]["totalCount"], 1);
    let opened = &issue["history"]["edges"][0]["node"];
    assert_eq!(opened["kind"], "OPENED");
    assert_eq!(opened["actor"], Value::Null);
    assert_eq!(opened["fromState"], Value::Null);
    assert_eq!(opened["toState"], "OPEN");
}

const HISTORY: &str = "query($id: ID!) { issue(id: $id) { state assignee { id displayName } history { edges { node { kind actor { id displayName } assignee { id } comment fromState toState } } } } }";

#[tokio::test]
async fn mutations_work_an_issue_and_record_who_did_it() {
    let world = World::new().await;
    let id = world.issue_id("dmarc.policy_none").await;
    let client_admin = world
        .client_user("admin@one.example", world.a1.id, Role::ClientAdmin)
        .await;
    let operator = world
        .user(
            "op@a.example",
            TenantScope::msp(world.msp_a, Role::MspOperator, true),
        )
        .await;
    let user_id = |p: Principal| match p.kind {
        PrincipalKind::User(u) => u.to_string(),
        PrincipalKind::ApiToken(_) => unreachable!(),
    };
    let steps = [
        (
            "mutation($id: ID!) { acknowledgeIssue(id: $id) { state } }",
            json!({"id": id}),
            client_admin,
            "acknowledgeIssue",
            "ACKNOWLEDGED",
        ),
        (
            "mutation($id: ID!, $text: String!) { commentIssue(id: $id, text: $text) { state } }",
            json!({"id": id, "text": "we will publish p=quarantine"}),
            client_admin,
            "commentIssue",
            "ACKNOWLEDGED",
        ),
        (
            "mutation($id: ID!, $user: ID) { assignIssue(id: $id, userId: $user) { state } }",
            json!({"id": id, "user": user_id(client_admin)}),
            operator,
            "assignIssue",
            "ACKNOWLEDGED",
        ),
        (
            "mutation($id: ID!) { startIssue(id: $id) { state } }",
            json!({"id": id}),
            client_admin,
            "startIssue",
            "IN_PROGRESS",
        ),
        (
            "mutation($id: ID!) { ignoreIssue(id: $id) { state } }",
            json!({"id": id}),
            operator,
            "ignoreIssue",
            "IGNORED",
        ),
        (
            "mutation($id: ID!) { reopenIssue(id: $id) { state } }",
            json!({"id": id}),
            world.owner_a,
            "reopenIssue",
            "OPEN",
        ),
    ];
    for (query, variables, who, field, state) in steps {
        let response = world.run(query, variables, who).await;
        assert!(response["errors"].is_null(), "{field}: {response}");
        assert_eq!(response["data"][field]["state"], state, "{field}");
    }
    let response = world.run(HISTORY, json!({"id": id}), world.owner_a).await;
    let issue = &response["data"]["issue"];
    assert_eq!(issue["state"], "OPEN");
    assert_eq!(issue["assignee"]["id"], user_id(client_admin));
    assert_eq!(issue["assignee"]["displayName"], "admin@one.example");
    let history: Vec<&Value> = issue["history"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    let kinds: Vec<&str> = history
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "OPENED",
            "ACKNOWLEDGED",
            "COMMENTED",
            "ASSIGNED",
            "IN_PROGRESS",
            "IGNORED",
            "UNIGNORED"
        ]
    );
    assert_eq!(history[0]["actor"], Value::Null);
    assert_eq!(history[1]["actor"]["id"], user_id(client_admin));
    assert_eq!(history[1]["actor"]["displayName"], "admin@one.example");
    assert_eq!(history[2]["comment"], "we will publish p=quarantine");
    assert_eq!(history[3]["actor"]["id"], user_id(operator));
    assert_eq!(history[3]["assignee"]["id"], user_id(client_admin));
    assert_eq!(history[6]["actor"]["id"], user_id(world.owner_a));
    assert_eq!(history[6]["fromState"], "IGNORED");
    assert_eq!(history[6]["toState"], "OPEN");

    // Invalid transitions and input answer conflict and bad_request.
    world
        .run(
            "mutation($id: ID!) { startIssue(id: $id) { state } }",
            json!({"id": id}),
            operator,
        )
        .await;
    let again = world
        .run(
            "mutation($id: ID!) { acknowledgeIssue(id: $id) { state } }",
            json!({"id": id}),
            operator,
        )
        .await;
    assert_eq!(code(&again), Some("conflict"), "{again}");
    let empty = world
        .run(
            "mutation($id: ID!) { commentIssue(id: $id, text: \"  \") { state } }",
            json!({"id": id}),
            operator,
        )
        .await;
    assert_eq!(code(&empty), Some("bad_request"), "{empty}");
    let outsider = world
        .run(
            "mutation($id: ID!, $user: ID) { assignIssue(id: $id, userId: $user) { state } }",
            json!({"id": id, "user": user_id(world.owner_b)}),
            operator,
        )
        .await;
    assert_eq!(code(&outsider), Some("bad_request"), "{outsider}");
}

#[tokio::test]
async fn client_users_acknowledge_and_comment_but_only_msp_staff_ignore_assign_and_reopen() {
    let world = World::new().await;
    let id = world.issue_id("dmarc.policy_none").await;
    let client_admin = world
        .client_user("admin@one.example", world.a1.id, Role::ClientAdmin)
        .await;
    let client_viewer = world
        .client_user("viewer@one.example", world.a1.id, Role::ClientViewer)
        .await;
    let msp_viewer = world
        .user(
            "viewer@a.example",
            TenantScope::msp(world.msp_a, Role::MspViewer, true),
        )
        .await;
    let staff_only = [
        "mutation($id: ID!) { ignoreIssue(id: $id) { state } }",
        "mutation($id: ID!) { reopenIssue(id: $id) { state } }",
        "mutation($id: ID!) { assignIssue(id: $id, userId: null) { state } }",
    ];
    let workers = [
        "mutation($id: ID!) { acknowledgeIssue(id: $id) { state } }",
        "mutation($id: ID!) { commentIssue(id: $id, text: \"hello\") { state } }",
        "mutation($id: ID!) { startIssue(id: $id) { state } }",
    ];
    for viewer in [msp_viewer] {
        // Viewers read…
        let read = world.run(HISTORY, json!({"id": id}), viewer).await;
        assert_eq!(read["data"]["issue"]["state"], "OPEN", "{read}");
        assert_eq!(
            contract(&world, json!(null), viewer).await["totalCount"]
                .as_u64()
                .map(|n| n > 0),
            Some(true)
        );
        // …and change nothing.
        for query in staff_only.iter().chain(workers.iter()) {
            let response = world.run(query, json!({"id": id}), viewer).await;
            assert_eq!(code(&response), Some("forbidden"), "{query}: {response}");
        }
    }
    // Client users, admin or viewer, work their client's issues; staff-only stays out.
    for client_user in [client_admin, client_viewer] {
        for query in staff_only {
            let response = world.run(query, json!({"id": id}), client_user).await;
            assert_eq!(code(&response), Some("forbidden"), "{query}: {response}");
        }
    }
    for query in workers {
        let response = world.run(query, json!({"id": id}), client_admin).await;
        assert!(response["errors"].is_null(), "{query}: {response}");
    }
    let response = world
        .run(workers[1], json!({"id": id}), client_viewer)
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let history = world.run(HISTORY, json!({"id": id}), world.owner_a).await;
    assert_eq!(
        history["data"]["issue"]["history"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        // opened, the admin's three, the viewer's comment
        5
    );
}

#[tokio::test]
async fn another_tenants_issues_answer_exactly_like_missing_ones() {
    let world = World::new().await;
    let id = world.issue_id("dmarc.policy_none").await;
    let missing = uuid::Uuid::now_v7().to_string();
    let a2_admin = world
        .client_user("admin@two.example", world.a2.id, Role::ClientAdmin)
        .await;
    // B sees only its own issue; A2's admin only A2's.
    let b = contract(&world, json!(null), world.owner_b).await;
    assert_eq!(codes(&b), ["dmarc.policy_none@bee.example"]);
    assert_eq!(b["totalCount"], 1);
    let a2 = contract(
        &world,
        json!({"clientId": world.a1.id.to_string()}),
        a2_admin,
    )
    .await;
    assert_eq!(a2["totalCount"], 0);
    let queries = [
        "query($id: ID!) { issue(id: $id) { id } }",
        "mutation($id: ID!) { acknowledgeIssue(id: $id) { id } }",
        "mutation($id: ID!) { startIssue(id: $id) { id } }",
        "mutation($id: ID!) { commentIssue(id: $id, text: \"x\") { id } }",
        "mutation($id: ID!) { ignoreIssue(id: $id) { id } }",
        "mutation($id: ID!) { reopenIssue(id: $id) { id } }",
        "mutation($id: ID!) { assignIssue(id: $id, userId: null) { id } }",
    ];
    for query in queries {
        let theirs = world.run(query, json!({"id": id}), world.owner_b).await;
        let nobodys = world
            .run(query, json!({"id": missing}), world.owner_b)
            .await;
        assert_eq!(code(&theirs), Some("not_found"), "{query}: {theirs}");
        assert_eq!(
            theirs["errors"][0]["message"],
            nobodys["errors"][0]["message"]
        );
        assert_eq!(theirs["data"], nobodys["data"]);
    }
    for query in &queries[..4] {
        let response = world.run(query, json!({"id": id}), a2_admin).await;
        assert_eq!(code(&response), Some("not_found"), "{query}: {response}");
    }
    let malformed = world
        .run(queries[0], json!({"id": "42"}), world.owner_a)
        .await;
    assert_eq!(code(&malformed), Some("bad_request"), "{malformed}");
    // Untouched by all of that.
    let history = world.run(HISTORY, json!({"id": id}), world.owner_a).await;
    assert_eq!(history["data"]["issue"]["state"], "OPEN");
    assert_eq!(
        history["data"]["issue"]["history"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn issues_and_history_page_with_cursors_exactly_once() {
    let world = World::new().await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let response = world
            .run(
                "query($after: String) { issues(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id } } }",
                json!({"after": after}),
                world.owner_a,
            )
            .await;
        let issues = &response["data"]["issues"];
        assert_eq!(issues["totalCount"], 3, "{response}");
        for node in issues["nodes"].as_array().unwrap() {
            seen.push(node["id"].as_str().unwrap().to_owned());
        }
        if issues["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = issues["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (3, 3));

    let id = world.issue_id("dmarc.policy_none").await;
    for text in ["one", "two"] {
        world
            .run(
                "mutation($id: ID!, $text: String!) { commentIssue(id: $id, text: $text) { id } }",
                json!({"id": id, "text": text}),
                world.owner_a,
            )
            .await;
    }
    let first = world
        .run(
            "query($id: ID!) { issue(id: $id) { history(first: 2) { totalCount pageInfo { endCursor } nodes { kind } } } }",
            json!({"id": id}),
            world.owner_a,
        )
        .await;
    let history = &first["data"]["issue"]["history"];
    assert_eq!(history["totalCount"], 3);
    assert_eq!(
        history["nodes"],
        json!([{"kind": "OPENED"}, {"kind": "COMMENTED"}])
    );
    let rest = world
        .run(
            "query($id: ID!, $after: String) { issue(id: $id) { history(first: 2, after: $after) { pageInfo { hasNextPage } nodes { comment } } } }",
            json!({"id": id, "after": history["pageInfo"]["endCursor"]}),
            world.owner_a,
        )
        .await;
    let rest = &rest["data"]["issue"]["history"];
    assert_eq!(rest["nodes"], json!([{"comment": "two"}]));
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn an_api_token_acts_without_a_user() {
    let world = World::new().await;
    let id = world.issue_id("dmarc.policy_none").await;
    let token = Principal {
        kind: PrincipalKind::ApiToken(postern_domain::ApiTokenId::new()),
        scope: TenantScope::msp(world.msp_a, Role::MspOperator, true),
    };
    let response = world
        .run(
            "mutation($id: ID!) { ignoreIssue(id: $id) { state } }",
            json!({"id": id}),
            token,
        )
        .await;
    assert_eq!(
        response["data"]["ignoreIssue"]["state"], "IGNORED",
        "{response}"
    );
    let history = world.run(HISTORY, json!({"id": id}), world.owner_a).await;
    let last = &history["data"]["issue"]["history"]["edges"][1]["node"];
    assert_eq!(last["kind"], "IGNORED");
    assert_eq!(last["actor"], Value::Null);
}

#[tokio::test]
async fn working_an_issue_writes_issue_changed_events_to_the_outbox() {
    let world = World::new().await;
    let id = world.issue_id("dmarc.policy_none").await;
    let before = world
        .store
        .system()
        .outbox_unpublished(1000)
        .await
        .unwrap()
        .len();
    let response = world
        .run(
            "mutation($id: ID!) { acknowledgeIssue(id: $id) { state } }",
            json!({"id": id}),
            world.owner_a,
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let outbox = world.store.system().outbox_unpublished(1000).await.unwrap();
    assert_eq!(outbox.len(), before + 1);
    let last = outbox.last().unwrap();
    assert_eq!(last.topic, postern_bus::topics::ISSUE_CHANGED);
    let envelope = postern_bus::Envelope::decode(&last.payload).unwrap();
    let event: postern_bus::events::IssueChanged = envelope.payload_as().unwrap();
    assert_eq!(event.kind, "acknowledged");
    assert_eq!(
        (event.from_state.as_str(), event.to_state.as_str()),
        ("open", "acknowledged")
    );
    assert_eq!(event.code, "dmarc.policy_none");
    assert!(!event.actor_id.is_empty());
}
