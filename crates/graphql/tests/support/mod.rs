//! What the schema tests share: a migrated in-memory store, the schema over it with the real
//! rule engine, users, and running a request as a principal.

// Each test binary compiles this module and uses part of it.
#![allow(dead_code)]

use async_graphql::{BatchRequest, Request, Variables};
use chrono::Duration;
use postern_analysis::{AnalysisEngine, RuleSet};
use postern_auth::{JwtKeys, JwtSettings};
use postern_domain::{Principal, PrincipalKind, TenantScope};
use postern_graphql::{PosternSchema, RuleEngine, build_schema};
use postern_rules::RuleLimits;
use postern_store::Store;
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
