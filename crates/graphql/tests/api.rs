//! The schema executed directly (no HTTP) against a migrated in-memory SQLite store.

// Fixture helpers outside `#[test]` functions unwrap too: a failing fixture is a failing test.
#![allow(clippy::unwrap_used)]

mod support;

use async_graphql::{BatchRequest, Request, Variables};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use postern_auth::{JwtKeys, hash_password};
use postern_bus::Envelope;
use postern_bus::events::{DomainAdded, ReportIngested};
use postern_domain::{
    AggregateHeader, AggregateRecord, AggregateSchema, Disposition, DmarcResult, DomainName,
    EventId, MspId, PolicyPublished, Principal, PrincipalKind, ReportId, Role, TenantScope,
};
use postern_graphql::{PosternSchema, build_schema};
use postern_store::{Client, DailySummary, Domain, OutboxEvent, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use support::engine;

const PASSWORD: &str = "correct horse battery staple";

/// Two MSPs: A (operates the installation) with clients A1 and A2, and B with client B1.
struct World {
    schema: PosternSchema,
    store: Store,
    jwt: Arc<JwtKeys>,
    msp_a: MspId,
    msp_b: MspId,
    a1: Client,
    a2: Client,
    b1: Client,
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
        let a1 = store
            .tenant(owner_a_scope)
            .create_client("A one")
            .await
            .unwrap();
        let a2 = store
            .tenant(owner_a_scope)
            .create_client("A two")
            .await
            .unwrap();
        let b1 = store
            .tenant(owner_b_scope)
            .create_client("B one")
            .await
            .unwrap();
        let owner_a = user_principal(&store, "owner@a.example", owner_a_scope).await;
        let owner_b = user_principal(&store, "owner@b.example", owner_b_scope).await;
        World {
            schema: build_schema(store.clone(), jwt.clone(), engine(&store)),
            store,
            jwt,
            msp_a,
            msp_b,
            a1,
            a2,
            b1,
            owner_a,
            owner_b,
        }
    }

    /// A stored user with one membership, as the principal a verified JWT would give.
    async fn user(&self, email: &str, scope: TenantScope) -> Principal {
        user_principal(&self.store, email, scope).await
    }

    async fn run(&self, query: &str, principal: Option<Principal>) -> Value {
        self.run_with(query, json!({}), principal).await
    }

    async fn run_with(&self, query: &str, variables: Value, principal: Option<Principal>) -> Value {
        // As the api service does: the principal and its request-scoped loaders.
        let mut batch =
            BatchRequest::Single(Request::new(query).variables(Variables::from_json(variables)));
        if let Some(p) = principal {
            batch = postern_graphql::authorize(batch, &self.store, p);
        }
        let response = self.schema.execute_batch(batch).await;
        serde_json::to_value(&response).unwrap()
    }

    /// A domain registered directly in the store.
    async fn domain(&self, client: &Client, name: &str) -> Domain {
        let scope = TenantScope::msp(client.msp_id, Role::MspOwner, false);
        let name = DomainName::parse(name).unwrap();
        let (domain, _) = self
            .store
            .tenant(scope)
            .add_domain(client.id, &name, &|_, _| Vec::new())
            .await
            .unwrap();
        domain
    }

    /// Stores an aggregate report with `messages` in two records; `owner` None = unassigned.
    async fn report(&self, owner: Option<&Domain>, domain: &str, external_id: &str) -> ReportId {
        let system = self.store.system();
        let now = Utc::now();
        let (raw, _) = system
            .store_raw_input(external_id.as_bytes(), "test", None, now)
            .await
            .unwrap();
        let id = ReportId::new();
        let mut writer = system
            .begin_aggregate(id, raw, owner, &header(domain, external_id), now)
            .await
            .unwrap();
        writer
            .add_records(&[record("192.0.2.1", 3, true), record("192.0.2.2", 2, false)])
            .await
            .unwrap();
        let event = OutboxEvent {
            id: EventId::new(),
            topic: "report.ingested".into(),
            payload: Vec::new(),
        };
        writer.commit(&[], event).await.unwrap();
        id
    }
}

async fn user_principal(store: &Store, email: &str, scope: TenantScope) -> Principal {
    let user = store
        .system()
        .create_user_with_membership(
            email,
            email,
            "$argon2id$v=19$m=19456,t=2,p=1$not-used",
            scope.msp,
            scope.client_id(),
            scope.role,
        )
        .await
        .unwrap();
    Principal {
        kind: PrincipalKind::User(user.id),
        scope,
    }
}

fn header(domain: &str, external_id: &str) -> AggregateHeader {
    AggregateHeader {
        schema: AggregateSchema::Rfc7489,
        version: None,
        org_name: "receiver.example".into(),
        org_email: Some("dmarc@receiver.example".into()),
        extra_contact_info: None,
        report_id: external_id.into(),
        date_begin: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
        date_end: Utc.with_ymd_and_hms(2026, 3, 1, 23, 59, 59).unwrap(),
        errors: Vec::new(),
        generator: None,
        policy: PolicyPublished {
            domain: domain.into(),
            adkim: None,
            aspf: None,
            p: Some(postern_domain::RequestedPolicy::Reject),
            sp: None,
            np: None,
            pct: Some(100),
            fo: None,
            testing: None,
            discovery_method: None,
        },
    }
}

fn record(ip: &str, count: u64, pass: bool) -> AggregateRecord {
    let verdict = if pass {
        DmarcResult::Pass
    } else {
        DmarcResult::Fail
    };
    AggregateRecord {
        source_ip: ip.parse().unwrap(),
        count,
        disposition: if pass {
            Disposition::None
        } else {
            Disposition::Reject
        },
        dkim: Some(verdict),
        spf: Some(verdict),
        reasons: Vec::new(),
        header_from: "example.com".into(),
        envelope_from: None,
        envelope_to: None,
        dkim_results: Vec::new(),
        spf_results: Vec::new(),
    }
}

/// The `extensions.code` of the first error, if any.
fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}

fn ids(nodes: &Value) -> Vec<String> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn login_issues_a_session_and_wrong_credentials_are_unauthenticated() {
    let world = World::new().await;
    let phc = hash_password(PASSWORD).unwrap();
    let system = world.store.system();
    let owner = system
        .create_user_with_membership(
            "Ann@A.example",
            "Ann",
            &phc,
            world.msp_a,
            None,
            Role::MspAdmin,
        )
        .await
        .unwrap();
    let client_user = system
        .create_user_with_membership(
            "carl@a1.example",
            "Carl",
            &phc,
            world.msp_a,
            Some(world.a1.id),
            Role::ClientViewer,
        )
        .await
        .unwrap();
    let login =
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token expiresAt } }";

    let ok = world
        .run_with(login, json!({"e": "ann@a.example", "p": PASSWORD}), None)
        .await;
    assert!(ok["errors"].is_null(), "{ok}");
    let token = ok["data"]["login"]["token"].as_str().unwrap();
    let principal = world.jwt.verify(token).unwrap();
    assert_eq!(principal.kind, PrincipalKind::User(owner.id));
    assert_eq!(
        principal.scope,
        TenantScope::msp(world.msp_a, Role::MspAdmin, true),
        "MSP-wide membership, operator flag from the MSP row"
    );
    let expires: DateTime<Utc> = ok["data"]["login"]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires > Utc::now());

    let ok = world
        .run_with(login, json!({"e": "carl@a1.example", "p": PASSWORD}), None)
        .await;
    let token = ok["data"]["login"]["token"].as_str().unwrap();
    let principal = world.jwt.verify(token).unwrap();
    assert_eq!(principal.kind, PrincipalKind::User(client_user.id));
    assert_eq!(
        principal.scope,
        TenantScope::client(world.msp_a, world.a1.id, Role::ClientViewer)
    );

    let wrong_password = world
        .run_with(
            login,
            json!({"e": "ann@a.example", "p": "correct horse battery stapler"}),
            None,
        )
        .await;
    let unknown_email = world
        .run_with(login, json!({"e": "nobody@a.example", "p": PASSWORD}), None)
        .await;
    for refused in [&wrong_password, &unknown_email] {
        assert_eq!(code(refused), Some("unauthenticated"), "{refused}");
        assert!(refused["data"].is_null(), "{refused}");
    }
    assert_eq!(
        wrong_password["errors"][0]["message"],
        unknown_email["errors"][0]["message"]
    );
}

#[tokio::test]
async fn every_field_but_login_needs_a_principal() {
    let world = World::new().await;
    for query in [
        "{ viewer { id } }",
        "{ clients { totalCount } }",
        "{ reports { nodes { id } } }",
        "{ apiTokens { nodes { id } } }",
        "mutation { createClient(name: \"x\") { id } }",
    ] {
        let response = world.run(query, None).await;
        assert_eq!(
            code(&response),
            Some("unauthenticated"),
            "{query}: {response}"
        );
    }
}

#[tokio::test]
async fn viewer_describes_the_caller() {
    let world = World::new().await;
    let viewer = world
        .user(
            "vera@a1.example",
            TenantScope::client(world.msp_a, world.a1.id, Role::ClientAdmin),
        )
        .await;
    let response = world
        .run(
            "{ viewer { kind id email role msp { id name } client { id name } } }",
            Some(viewer),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    let v = &response["data"]["viewer"];
    assert_eq!(v["kind"], "USER");
    assert_eq!(v["email"], "vera@a1.example");
    assert_eq!(v["role"], "CLIENT_ADMIN");
    assert_eq!(v["msp"]["id"], world.msp_a.to_string());
    assert_eq!(v["msp"]["name"], "Operator MSP");
    assert_eq!(v["client"]["id"], world.a1.id.to_string());
}

#[tokio::test]
async fn a_client_user_sees_only_their_client() {
    let world = World::new().await;
    let d1 = world.domain(&world.a1, "one.example").await;
    let d2 = world.domain(&world.a2, "two.example").await;
    let r1 = world.report(Some(&d1), "one.example", "r-1").await;
    world.report(Some(&d2), "two.example", "r-2").await;
    world.report(None, "nobody.example", "r-3").await;
    let carl = world
        .user(
            "carl@a1.example",
            TenantScope::client(world.msp_a, world.a1.id, Role::ClientViewer),
        )
        .await;

    let response = world
        .run(
            "{ clients { totalCount nodes { id } } reports { totalCount nodes { id client { id } } } }",
            Some(carl),
        )
        .await;
    assert!(response["errors"].is_null(), "{response}");
    assert_eq!(response["data"]["clients"]["totalCount"], 1);
    assert_eq!(
        ids(&response["data"]["clients"]["nodes"]),
        vec![world.a1.id.to_string()]
    );
    assert_eq!(response["data"]["reports"]["totalCount"], 1);
    assert_eq!(
        ids(&response["data"]["reports"]["nodes"]),
        vec![r1.to_string()]
    );

    let own = world
        .run(
            "{ domain(name: \"ONE.example.\") { id name client { id } } }",
            Some(carl),
        )
        .await;
    assert_eq!(own["data"]["domain"]["id"], d1.id.to_string(), "{own}");
    let sibling = world
        .run("{ domain(name: \"two.example\") { id } }", Some(carl))
        .await;
    assert_eq!(code(&sibling), Some("not_found"), "{sibling}");

    // The whole MSP sees both clients' reports, not the unassigned one.
    let msp = world
        .run("{ reports { totalCount } }", Some(world.owner_a))
        .await;
    assert_eq!(msp["data"]["reports"]["totalCount"], 2, "{msp}");
}

#[tokio::test]
async fn another_tenants_ids_answer_exactly_like_missing_ones() {
    let world = World::new().await;
    let d1 = world.domain(&world.a1, "one.example").await;
    let r1 = world.report(Some(&d1), "one.example", "r-1").await;
    let b = Some(world.owner_b);
    let missing = uuid::Uuid::now_v7().to_string();
    let queries = |id: &str| {
        [
            format!("{{ client(id: \"{id}\") {{ id }} }}"),
            format!("{{ domain(id: \"{id}\") {{ id }} }}"),
            format!("{{ report(id: \"{id}\") {{ id }} }}"),
        ]
    };
    for (theirs, nobodys) in [
        (world.a1.id.to_string(), missing.clone()),
        (d1.id.to_string(), missing.clone()),
        (r1.to_string(), missing.clone()),
    ]
    .iter()
    .zip(0..)
    .map(|((a, m), i)| (queries(a)[i].clone(), queries(m)[i].clone()))
    {
        let theirs = world.run(&theirs, b).await;
        let nobodys = world.run(&nobodys, b).await;
        assert_eq!(code(&theirs), Some("not_found"), "{theirs}");
        assert_eq!(
            theirs["errors"][0]["message"],
            nobodys["errors"][0]["message"]
        );
        assert_eq!(theirs["data"], nobodys["data"]);
    }
    let by_name = world
        .run("{ domain(name: \"one.example\") { id } }", b)
        .await;
    assert_eq!(code(&by_name), Some("not_found"), "{by_name}");

    let malformed = world.run("{ client(id: \"42\") { id } }", b).await;
    assert_eq!(code(&malformed), Some("bad_request"), "{malformed}");
    let both = world
        .run(
            &format!("{{ domain(name: \"one.example\", id: \"{missing}\") {{ id }} }}"),
            b,
        )
        .await;
    assert_eq!(code(&both), Some("bad_request"), "{both}");
}

#[tokio::test]
async fn a_viewer_cannot_create_clients() {
    let world = World::new().await;
    let viewer = world
        .user(
            "vic@a.example",
            TenantScope::msp(world.msp_a, Role::MspViewer, true),
        )
        .await;
    let refused = world
        .run(
            "mutation { createClient(name: \"New\") { id } }",
            Some(viewer),
        )
        .await;
    assert_eq!(code(&refused), Some("forbidden"), "{refused}");

    let created = world
        .run(
            "mutation { createClient(name: \"  New  \") { id name } }",
            Some(world.owner_a),
        )
        .await;
    assert_eq!(created["data"]["createClient"]["name"], "New", "{created}");
    let blank = world
        .run(
            "mutation { createClient(name: \" \") { id } }",
            Some(world.owner_a),
        )
        .await;
    assert_eq!(code(&blank), Some("bad_request"), "{blank}");
}

#[tokio::test]
async fn adding_a_domain_another_msp_holds_is_a_conflict() {
    let world = World::new().await;
    let add = "mutation($c: ID!, $n: String!) { addDomain(clientId: $c, name: $n) { id name client { id } } }";
    let first = world
        .run_with(
            add,
            json!({"c": world.a1.id.to_string(), "n": "Shared.Example"}),
            Some(world.owner_a),
        )
        .await;
    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(first["data"]["addDomain"]["name"], "shared.example");
    let second = world
        .run_with(
            add,
            json!({"c": world.b1.id.to_string(), "n": "shared.example"}),
            Some(world.owner_b),
        )
        .await;
    assert_eq!(code(&second), Some("conflict"), "{second}");
    // Another MSP's client id is not found, whatever the name.
    let foreign = world
        .run_with(
            add,
            json!({"c": world.a1.id.to_string(), "n": "free.example"}),
            Some(world.owner_b),
        )
        .await;
    assert_eq!(code(&foreign), Some("not_found"), "{foreign}");
    let bad_name = world
        .run_with(
            add,
            json!({"c": world.b1.id.to_string(), "n": "not a domain"}),
            Some(world.owner_b),
        )
        .await;
    assert_eq!(code(&bad_name), Some("bad_request"), "{bad_name}");
}

#[tokio::test]
async fn adding_a_domain_assigns_its_reports_and_writes_events() {
    let world = World::new().await;
    let waiting = world.report(None, "late.example", "r-late").await;
    let before = world
        .store
        .system()
        .outbox_unpublished(100)
        .await
        .unwrap()
        .len();

    let unassigned = world
        .run(
            "{ unassignedReports { totalCount nodes { id assigned } } }",
            Some(world.owner_a),
        )
        .await;
    assert_eq!(
        unassigned["data"]["unassignedReports"]["totalCount"], 1,
        "{unassigned}"
    );
    let forbidden = world
        .run(
            "{ unassignedReports { nodes { id } } }",
            Some(world.owner_b),
        )
        .await;
    assert_eq!(code(&forbidden), Some("forbidden"), "{forbidden}");

    let added = world
        .run(
            &format!(
                "mutation {{ addDomain(clientId: \"{}\", name: \"late.example\") {{ id }} }}",
                world.a2.id
            ),
            Some(world.owner_a),
        )
        .await;
    assert!(added["errors"].is_null(), "{added}");
    let domain_id = added["data"]["addDomain"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let report = world
        .run(
            &format!("{{ report(id: \"{waiting}\") {{ assigned client {{ id }} }} }}"),
            Some(world.owner_a),
        )
        .await;
    assert_eq!(report["data"]["report"]["assigned"], true, "{report}");
    assert_eq!(
        report["data"]["report"]["client"]["id"],
        world.a2.id.to_string()
    );

    let events: Vec<Envelope> = world
        .store
        .system()
        .outbox_unpublished(100)
        .await
        .unwrap()
        .into_iter()
        .skip(before)
        .map(|e| Envelope::decode(&e.payload).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    let ingested: ReportIngested = events[0].payload_as().unwrap();
    assert_eq!(events[0].topic, "report.ingested");
    assert_eq!(ingested.report_id, waiting.to_string());
    assert_eq!(ingested.domain_id, domain_id);
    let domain_added: DomainAdded = events[1].payload_as().unwrap();
    assert_eq!(events[1].topic, "domain.added");
    assert_eq!(domain_added.assigned_report_ids, vec![waiting.to_string()]);
    assert_eq!(events[1].client_id, Some(world.a2.id));

    let removed = world
        .run(
            &format!("mutation {{ removeDomain(id: \"{domain_id}\") }}"),
            Some(world.owner_a),
        )
        .await;
    assert_eq!(removed["data"]["removeDomain"], true, "{removed}");
    let gone = world
        .run(
            &format!("{{ domain(id: \"{domain_id}\") {{ id }} }}"),
            Some(world.owner_a),
        )
        .await;
    assert_eq!(code(&gone), Some("not_found"), "{gone}");
}

#[tokio::test]
async fn depth_limit_refuses_an_over_deep_query() {
    let world = World::new().await;
    // `clients nodes (domains nodes client)* id`: 12 levels with three rounds, 15 with four.
    let nested = |rounds: usize| {
        let mut query = "{ clients { nodes { ".to_owned();
        query += &"domains { nodes { client { ".repeat(rounds);
        query += "id";
        query += &" } } }".repeat(rounds);
        query + " } } }"
    };
    let deep = world.run(&nested(4), Some(world.owner_a)).await;
    let message = deep["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(message.contains("nested too deep"), "{deep}");
    assert!(deep["data"].is_null(), "{deep}");
    let at_limit = world.run(&nested(3), Some(world.owner_a)).await;
    assert!(at_limit["errors"].is_null(), "{at_limit}");
}

#[tokio::test]
async fn summary_equals_the_sums_applied_by_analysis() {
    let world = World::new().await;
    let domain = world.domain(&world.a1, "stats.example").await;
    let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    let summary = |messages, pass| DailySummary {
        messages,
        dmarc_pass: pass,
        dmarc_fail: messages - pass,
        spf_aligned_pass: pass,
        dkim_aligned_pass: pass / 2,
        disposition_none: pass,
        disposition_quarantine: 0,
        disposition_reject: messages - pass,
        disposition_pass: 0,
    };
    let system = world.store.system();
    let applied = [
        (day(1), summary(10, 7)),
        (day(2), summary(5, 5)),
        (day(3), summary(8, 1)),
    ];
    for (d, s) in &applied[..2] {
        system
            .apply_aggregates("analysis", EventId::new(), &domain, &[(*d, *s)], &[])
            .await
            .unwrap();
    }
    // Two events for the same day add up.
    system
        .apply_aggregates("analysis", EventId::new(), &domain, &[applied[2]], &[])
        .await
        .unwrap();
    system
        .apply_aggregates(
            "analysis",
            EventId::new(),
            &domain,
            &[(day(3), summary(2, 2))],
            &[],
        )
        .await
        .unwrap();

    let query = "query($f: DateTime!, $t: DateTime!) { domain(name: \"stats.example\") { \
                 summary(from: $f, to: $t) { messages dmarcPass dmarcFail spfAlignedPass dkimAlignedPass \
                 dispositionNone dispositionReject passRate } days(from: $f, to: $t) { day summary { messages } } } }";
    let vars = json!({"f": "2026-03-02T00:00:00Z", "t": "2026-03-03T12:00:00Z"});
    let response = world.run_with(query, vars, Some(world.owner_a)).await;
    assert!(response["errors"].is_null(), "{response}");
    let got = &response["data"]["domain"]["summary"];
    let mut want = DailySummary::default();
    for s in [summary(5, 5), summary(8, 1), summary(2, 2)] {
        want.add(&s);
    }
    assert_eq!(got["messages"], want.messages);
    assert_eq!(got["dmarcPass"], want.dmarc_pass);
    assert_eq!(got["dmarcFail"], want.dmarc_fail);
    assert_eq!(got["spfAlignedPass"], want.spf_aligned_pass);
    assert_eq!(got["dkimAlignedPass"], want.dkim_aligned_pass);
    assert_eq!(got["dispositionNone"], want.disposition_none);
    assert_eq!(got["dispositionReject"], want.disposition_reject);
    assert_eq!(got["passRate"], json!(8.0 / 15.0));
    assert_eq!(
        response["data"]["domain"]["days"],
        json!([
            {"day": "2026-03-02", "summary": {"messages": 5}},
            {"day": "2026-03-03", "summary": {"messages": 10}},
        ])
    );

    // Another tenant cannot read the statistics by any route.
    let other = world
        .run_with(
            query,
            json!({"f": "2026-03-01T00:00:00Z", "t": "2026-03-03T00:00:00Z"}),
            Some(world.owner_b),
        )
        .await;
    assert_eq!(code(&other), Some("not_found"), "{other}");
}

#[tokio::test]
async fn after_cursors_page_through_every_row_exactly_once() {
    let world = World::new().await;
    let scope = TenantScope::msp(world.msp_b, Role::MspOwner, false);
    for i in 0..6 {
        world
            .store
            .tenant(scope)
            .create_client(&format!("B client {i}"))
            .await
            .unwrap();
    }
    let query = "query($a: String) { clients(first: 3, after: $a) { totalCount \
                 edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let response = world
            .run_with(query, json!({"a": after}), Some(world.owner_b))
            .await;
        assert!(response["errors"].is_null(), "{response}");
        let conn = &response["data"]["clients"];
        assert_eq!(conn["totalCount"], 7);
        let edges = conn["edges"].as_array().unwrap();
        seen.extend(
            edges
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_owned()),
        );
        assert_eq!(
            conn["pageInfo"]["endCursor"],
            edges.last().unwrap()["cursor"]
        );
        pages += 1;
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
        assert!(pages < 10, "pagination does not end");
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7, "{seen:?}");
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert!(seen.contains(&world.b1.id.to_string()));

    let bad = world
        .run(
            "{ clients(first: 501) { totalCount } }",
            Some(world.owner_b),
        )
        .await;
    assert_eq!(code(&bad), Some("bad_request"), "{bad}");
    let bad = world
        .run(
            "{ clients(after: \"garbage\") { totalCount } }",
            Some(world.owner_b),
        )
        .await;
    assert_eq!(code(&bad), Some("bad_request"), "{bad}");
}

#[tokio::test]
async fn members_page_through_every_membership_exactly_once() {
    let world = World::new().await;
    for i in 0..4 {
        let scope = TenantScope::client(world.msp_b, world.b1.id, Role::ClientViewer);
        world.user(&format!("user{i}@b1.example"), scope).await;
    }
    let query = "query($a: String) { members(first: 2, after: $a) { totalCount \
                 nodes { user { email } } pageInfo { hasNextPage endCursor } } }";
    let mut emails = Vec::new();
    let mut after = Value::Null;
    for _ in 0..10 {
        let response = world
            .run_with(query, json!({"a": after}), Some(world.owner_b))
            .await;
        assert!(response["errors"].is_null(), "{response}");
        let conn = &response["data"]["members"];
        assert_eq!(conn["totalCount"], 5, "{response}");
        emails.extend(
            conn["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["user"]["email"].as_str().unwrap().to_owned()),
        );
        if conn["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    emails.sort();
    assert_eq!(
        emails,
        [
            "owner@b.example",
            "user0@b1.example",
            "user1@b1.example",
            "user2@b1.example",
            "user3@b1.example"
        ]
    );
}

#[tokio::test]
async fn report_records_page_in_report_order() {
    let world = World::new().await;
    let d1 = world.domain(&world.a1, "one.example").await;
    let id = world.report(Some(&d1), "one.example", "r-1").await;
    let query = format!(
        "{{ report(id: \"{id}\") {{ kind recordCount messageCount aggregate {{ schema orgEmail policy {{ domain p pct }} }} \
         failure {{ feedbackType }} records(first: 1) {{ totalCount nodes {{ sourceIp count disposition dkim spf }} pageInfo {{ hasNextPage endCursor }} }} }} }}"
    );
    let response = world.run(&query, Some(world.owner_a)).await;
    assert!(response["errors"].is_null(), "{response}");
    let report = &response["data"]["report"];
    assert_eq!(report["kind"], "AGGREGATE");
    assert_eq!(report["recordCount"], 2);
    assert_eq!(report["messageCount"], 5);
    assert_eq!(
        report["aggregate"]["policy"],
        json!({"domain": "one.example", "p": "REJECT", "pct": 100})
    );
    assert!(report["failure"].is_null());
    assert_eq!(report["records"]["totalCount"], 2);
    assert_eq!(
        report["records"]["nodes"],
        json!([{"sourceIp": "192.0.2.1", "count": 3, "disposition": "NONE", "dkim": "PASS", "spf": "PASS"}])
    );
    let cursor = report["records"]["pageInfo"]["endCursor"].as_str().unwrap();
    let next = world
        .run(
            &format!("{{ report(id: \"{id}\") {{ records(first: 5, after: \"{cursor}\") {{ nodes {{ sourceIp }} pageInfo {{ hasNextPage }} }} }} }}"),
            Some(world.owner_a),
        )
        .await;
    assert_eq!(
        next["data"]["report"]["records"],
        json!({"nodes": [{"sourceIp": "192.0.2.2"}], "pageInfo": {"hasNextPage": false}}),
        "{next}"
    );
}

#[tokio::test]
async fn rejections_show_their_reason_and_raw_input() {
    let world = World::new().await;
    let system = world.store.system();
    let bytes = b"<feedback>truncated";
    let (raw, _) = system
        .store_raw_input(bytes, "http", Some("text/xml"), Utc::now())
        .await
        .unwrap();
    system
        .insert_rejection(
            raw,
            Some((world.msp_a, Some(world.a1.id))),
            "http",
            "body",
            "invalid_xml",
            "unexpected end of input",
            Utc::now(),
        )
        .await
        .unwrap();
    let query = "{ rejections { totalCount nodes { reason detail source location rawInput { id sha256 size } } } }";
    let response = world.run(query, Some(world.owner_a)).await;
    assert!(response["errors"].is_null(), "{response}");
    let node = &response["data"]["rejections"]["nodes"][0];
    assert_eq!(node["reason"], "invalid_xml");
    assert_eq!(node["detail"], "unexpected end of input");
    assert_eq!(node["rawInput"]["id"], raw.to_string());
    assert_eq!(node["rawInput"]["size"], bytes.len());
    assert_eq!(node["rawInput"]["sha256"].as_str().map(str::len), Some(64));
    let other = world.run(query, Some(world.owner_b)).await;
    assert_eq!(other["data"]["rejections"]["totalCount"], 0, "{other}");
}

#[tokio::test]
async fn api_token_is_shown_once_and_listed_by_prefix_only() {
    let world = World::new().await;
    let created = world
        .run(
            &format!(
                "mutation {{ createApiToken(name: \"ci\", role: CLIENT_VIEWER, clientId: \"{}\") {{ token apiToken {{ id name prefix role client {{ id }} revokedAt }} }} }}",
                world.a1.id
            ),
            Some(world.owner_a),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    let payload = &created["data"]["createApiToken"];
    let token = payload["token"].as_str().unwrap();
    assert!(token.starts_with("pst_"), "{token}");
    assert_eq!(payload["apiToken"]["prefix"], &token[..14]);
    assert_eq!(payload["apiToken"]["role"], "CLIENT_VIEWER");
    assert_eq!(payload["apiToken"]["client"]["id"], world.a1.id.to_string());

    let listed = world
        .run(
            "{ apiTokens { totalCount nodes { id name prefix lastUsedAt revokedAt } } }",
            Some(world.owner_a),
        )
        .await;
    assert!(listed["errors"].is_null(), "{listed}");
    assert_eq!(listed["data"]["apiTokens"]["totalCount"], 1);
    assert_eq!(
        listed["data"]["apiTokens"]["nodes"][0]["prefix"],
        &token[..14]
    );
    assert!(
        !listed.to_string().contains(token),
        "the secret is listed: {listed}"
    );

    let id = payload["apiToken"]["id"].as_str().unwrap();
    let revoked = world
        .run(
            &format!("mutation {{ revokeApiToken(id: \"{id}\") {{ revokedAt }} }}"),
            Some(world.owner_a),
        )
        .await;
    assert!(
        revoked["data"]["revokeApiToken"]["revokedAt"].is_string(),
        "{revoked}"
    );
    let foreign = world
        .run(
            &format!("mutation {{ revokeApiToken(id: \"{id}\") {{ revokedAt }} }}"),
            Some(world.owner_b),
        )
        .await;
    assert_eq!(code(&foreign), Some("not_found"), "{foreign}");

    let too_high = world
        .run(
            "mutation { createApiToken(name: \"x\", role: MSP_OWNER) { token } }",
            Some(world.owner_b),
        )
        .await;
    assert!(
        too_high["errors"].is_null(),
        "an owner may grant owner: {too_high}"
    );
    let viewer = world
        .user(
            "vic@b.example",
            TenantScope::msp(world.msp_b, Role::MspViewer, false),
        )
        .await;
    let refused = world
        .run(
            "mutation { createApiToken(name: \"x\", role: MSP_VIEWER) { token } }",
            Some(viewer),
        )
        .await;
    assert_eq!(code(&refused), Some("forbidden"), "{refused}");
}

#[tokio::test]
async fn users_are_created_with_checked_passwords_and_invited_with_a_random_one() {
    let world = World::new().await;
    let create = "mutation($e: String!, $p: String!, $c: ID) { createUser(email: $e, displayName: \"Dee\", password: $p, role: CLIENT_ADMIN, clientId: $c) { id email } }";
    let short = world
        .run_with(
            create,
            json!({"e": "dee@a1.example", "p": "short", "c": world.a1.id.to_string()}),
            Some(world.owner_a),
        )
        .await;
    assert_eq!(code(&short), Some("bad_request"), "{short}");
    let created = world
        .run_with(
            create,
            json!({"e": "Dee@A1.example", "p": PASSWORD, "c": world.a1.id.to_string()}),
            Some(world.owner_a),
        )
        .await;
    assert_eq!(
        created["data"]["createUser"]["email"], "dee@a1.example",
        "{created}"
    );
    let duplicate = world
        .run_with(
            create,
            json!({"e": "dee@a1.example", "p": PASSWORD, "c": world.a1.id.to_string()}),
            Some(world.owner_a),
        )
        .await;
    assert_eq!(code(&duplicate), Some("conflict"), "{duplicate}");

    let invite = format!(
        "mutation {{ inviteUser(email: \"eve@a1.example\", displayName: \"Eve\", role: CLIENT_VIEWER, clientId: \"{}\") {{ user {{ email }} temporaryPassword }} }}",
        world.a1.id
    );
    let invited = world.run(&invite, Some(world.owner_a)).await;
    assert!(invited["errors"].is_null(), "{invited}");
    let password = invited["data"]["inviteUser"]["temporaryPassword"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(password.len() >= 20, "{password}");
    let login = world
        .run_with(
            "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            json!({"e": "eve@a1.example", "p": password}),
            None,
        )
        .await;
    assert!(login["data"]["login"]["token"].is_string(), "{login}");

    let members = world
        .run(
            "{ members { totalCount nodes { user { email } role client { id } } } }",
            Some(world.owner_a),
        )
        .await;
    assert!(members["errors"].is_null(), "{members}");
    let emails: Vec<&str> = members["data"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"]["email"].as_str().unwrap())
        .collect();
    assert!(
        emails.contains(&"eve@a1.example") && emails.contains(&"dee@a1.example"),
        "{emails:?}"
    );

    // A client admin may not reach another client.
    let admin = world
        .user(
            "ada@a1.example",
            TenantScope::client(world.msp_a, world.a1.id, Role::ClientAdmin),
        )
        .await;
    let refused = world
        .run_with(
            create,
            json!({"e": "x@a2.example", "p": PASSWORD, "c": world.a2.id.to_string()}),
            Some(admin),
        )
        .await;
    assert_eq!(code(&refused), Some("forbidden"), "{refused}");
}

#[tokio::test]
async fn an_api_token_principal_is_a_viewer_without_email() {
    let world = World::new().await;
    let principal = Principal {
        kind: PrincipalKind::ApiToken(postern_domain::ApiTokenId::new()),
        scope: TenantScope::client(world.msp_b, world.b1.id, Role::ClientViewer),
    };
    let response = world
        .run(
            "{ viewer { kind email role client { id } } }",
            Some(principal),
        )
        .await;
    assert_eq!(
        response["data"]["viewer"],
        json!({"kind": "API_TOKEN", "email": null, "role": "CLIENT_VIEWER", "client": {"id": world.b1.id.to_string()}}),
        "{response}"
    );
}
