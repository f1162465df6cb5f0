//! Postern's GraphQL API: the async-graphql schema (queries and mutations over the
//! tenant-scoped store), without any HTTP; the api service mounts it.
//!
//! Promises: every field except `login` needs a verified [`postern_domain::Principal`] in the
//! request data and answers `unauthenticated` without one; every read and write goes through
//! the store's [`postern_store::TenantDb`] for that principal's scope, so another tenant's
//! object answers `not_found` exactly like a missing one. Errors carry a stable
//! `extensions.code` (`unauthenticated`, `forbidden`, `not_found`, `bad_request`, `conflict`,
//! `internal`); internal causes are logged, never sent. Every list is a Relay connection with
//! opaque cursors and a `totalCount` counted only when selected. Depth and complexity are
//! limited ([`MAX_DEPTH`], [`MAX_COMPLEXITY`]). The SDL ([`sdl`]) is committed as
//! `proto/graphql/schema.graphql`.

mod connection;
mod context;
mod error;
mod loader;
mod mutation;
mod query;
mod schema;
mod types;

pub use loader::authorize;
pub use mutation::Mutation;
pub use query::Query;
pub use schema::{MAX_COMPLEXITY, MAX_DEPTH, PosternSchema, build_schema, sdl};
