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
//! `proto/graphql/schema.graphql`. The subscription `issueEvents` streams the process's
//! [`postern_bus::LiveFeed`] of `issue.changed` (connection data, set by the api service),
//! filtered by the principal's tenant scope before anything else.

mod connection;
mod context;
mod engine;
mod error;
mod loader;
mod mutation;
mod query;
mod schema;
mod subscription;
mod types;

pub use engine::{PluginDescription, RuleEngine};
pub use loader::authorize;
pub use mutation::Mutation;
pub use query::Query;
pub use schema::{MAX_COMPLEXITY, MAX_DEPTH, PosternSchema, build_schema, sdl};
pub use subscription::Subscription;
