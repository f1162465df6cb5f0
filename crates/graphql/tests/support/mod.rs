//! What the schema tests share: a migrated in-memory store, the schema over it with the real
//! rule engine, users, and running a request as a principal.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use async_graphql::{BatchRequest, Request, Variables};
use chrono::Duration;
use postern_analysis::{AnalysisEngine, RuleSet};
use postern_auth::{JwtKeys, JwtSettings};
use postern_domain::{ApiTokenId, MspId, Principal, PrincipalKind, Role, TenantScope};
use postern_graphql::{PosternSchema, RuleEngine, build_schema};
use postern_rules::RuleLimits;
use postern_store::{Client, Store};
use serde_json::Value;
use std::sync::{Arc, OnceLock};

/// A migrated in-memory SQLite store.
pub async fn store() -> Store {
    let store = Store::connect("sqlite::memory:", 1).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// The test JWT keys (issuer `postern-test`, audience `postern-api`, one hour).
pub fn jwt() -> Arc<JwtKeys> {
    Arc::new(
        JwtKeys::from_secret(
            &[7u8; 32],
            JwtSettings {
                issuer: "postern-test".into(),
                audience: "postern-api".into(),
                ttl: Duration::hours(1),
            },
        )
        .unwrap(),
    )
}

/// The built-in plugins, compiled once per test binary.
pub fn rules() -> Arc<RuleSet> {
    static RULES: OnceLock<Arc<RuleSet>> = OnceLock::new();
    RULES
        .get_or_init(|| Arc::new(RuleSet::builtin(RuleLimits::default()).unwrap()))
        .clone()
}

/// The real rule engine over `store`.
pub fn engine(store: &Store) -> Arc<dyn RuleEngine> {
    Arc::new(AnalysisEngine::new(store.clone(), rules()))
}

/// The schema over `store` with [`jwt`] and [`engine`].
pub fn schema(store: &Store) -> PosternSchema {
    build_schema(store.clone(), jwt(), engine(store))
}

/// A user with one membership of `scope`, as the principal a verified JWT would give.
pub async fn user(store: &Store, email: &str, scope: TenantScope) -> Principal {
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

/// Runs `query` with `variables` as `principal`; the response as JSON.
pub async fn run(
    schema: &PosternSchema,
    store: &Store,
    query: &str,
    variables: Value,
    principal: Principal,
) -> Value {
    let batch =
        BatchRequest::Single(Request::new(query).variables(Variables::from_json(variables)));
    let batch = postern_graphql::authorize(batch, store, principal);
    serde_json::to_value(schema.execute_batch(batch).await).unwrap()
}

/// Two MSPs over a fresh [`store`] with the [`schema`]: A operates the installation
/// (clients A1 and A2), B does not; the users the tenant-boundary tests act as.
pub struct Tenants {
    pub schema: PosternSchema,
    pub store: Store,
    pub msp_a: MspId,
    pub msp_b: MspId,
    pub a1: Client,
    pub a2: Client,
    /// MSP A's admin.
    pub msp_admin: Principal,
    pub a1_admin: Principal,
    pub a1_viewer: Principal,
    /// An automation token of client A1 (viewer role).
    pub a1_token: Principal,
    pub a2_admin: Principal,
    /// MSP B's admin.
    pub b_admin: Principal,
}

impl Tenants {
    pub async fn new() -> Tenants {
        let store = store().await;
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
        Tenants {
            schema: schema(&store),
            store,
            msp_a,
            msp_b,
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

    /// Runs `query` with `variables` as `principal`; the response as JSON.
    pub async fn run(&self, query: &str, variables: Value, principal: Principal) -> Value {
        run(&self.schema, &self.store, query, variables, principal).await
    }
}

/// The `extensions.code` of a response's first error.
pub fn code(response: &Value) -> Option<&str> {
    response["errors"][0]["extensions"]["code"].as_str()
}
