//! Building the schema and exporting its SDL.

use async_graphql::extensions::Tracing;
use async_graphql::{Schema, SchemaBuilder};
use postern_auth::JwtKeys;
use postern_store::Store;
use std::sync::Arc;

use crate::engine::RuleEngine;
use crate::mutation::Mutation;
use crate::query::Query;
use crate::subscription::Subscription;

/// Postern's GraphQL schema.
pub type PosternSchema = Schema<Query, Mutation, Subscription>;

/// Deepest selection nesting accepted.
pub const MAX_DEPTH: usize = 12;
/// Highest query complexity accepted (each selected field counts one).
pub const MAX_COMPLEXITY: usize = 1000;

/// The schema with its limits and tracing, serving `store` and signing sessions with `jwt`.
///
/// Each request must carry the caller's verified [`postern_domain::Principal`] as request
/// data (`Request::new(query).data(principal)`), taken only from a verified JWT or API token;
/// a request without one can only call `login`.
///
/// `engine` checks uploaded rule plugins and re-evaluates domains (`verifyIssueNow`).
pub fn build_schema(store: Store, jwt: Arc<JwtKeys>, engine: Arc<dyn RuleEngine>) -> PosternSchema {
    builder().data(store).data(jwt).data(engine).finish()
}

/// The schema's SDL, as committed in `proto/graphql/schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .extension(Tracing)
}
