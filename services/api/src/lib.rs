//! The api service: GraphQL at `/graphql` (async-graphql on actix-web; subscriptions over
//! WebSocket at `/graphql` by GET upgrade and at `/graphql/ws`), GraphiQL at
//! `/graphiql`, health at `/healthz` and `/readyz`, and the HTTP intake routes of
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

pub use actix_web::dev::{Server, ServerHandle};
pub use server::{ApiServices, HttpSettings, serve};
