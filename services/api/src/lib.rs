//! The api service: GraphQL at `/graphql` (async-graphql on actix-web), GraphiQL at
//! `/graphiql`, health at `/healthz` and `/readyz`, and the HTTP intake routes of
//! `postern-ingest` (`/v1/reports`, `/v1/tlsrpt`).
//!
//! Promises: the principal of a request comes only from its verified `Authorization`
//! credential (a JWT or a `pst_` API token); a credential that fails verification is
//! refused with `unauthenticated` before any resolver runs.

mod graphql;
mod server;

pub use actix_web::dev::{Server, ServerHandle};
pub use server::{ApiServices, HttpSettings, serve};
