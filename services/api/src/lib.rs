//! The api service: GraphQL at `/graphql` (async-graphql on actix-web; subscriptions over
//! WebSocket at `/graphql` by GET upgrade and at `/graphql/ws`), GraphiQL at
//! `/graphiql`, a client's suppression list as CSV at `/v1/suppressions.csv` (same
//! authentication as GraphQL), health at `/healthz` and `/readyz`, and the HTTP intake routes of
//! `postern-ingest` (`/v1/reports`, `/v1/tlsrpt`).
//!
//! Promises: the principal of a request comes only from its verified `Authorization`
//! credential (a JWT or a `pst_` API token); a credential that fails verification is
//! refused with `unauthenticated` before any resolver runs. A WebSocket connection is
//! authenticated by its `connection_init` payload (`{"token": …}`) or its upgrade request's
//! `Authorization` header and closed at `connection_init` without a valid one.

mod graphql;
mod server;
mod subscription;
mod suppressions;

pub use actix_web::dev::{Server, ServerHandle};
pub use server::{ApiServices, HttpSettings, serve};
pub use subscription::WsLimits;
