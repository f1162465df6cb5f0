//! What resolvers read from the schema and request data: the store and JWT keys (schema
//! data, set once by [`crate::build_schema`]) and the verified [`Principal`] (request data,
//! set per request by the api service from a verified credential only).

use async_graphql::{Context, ID};
use postern_auth::JwtKeys;
use postern_domain::Principal;
use postern_store::{Store, TenantDb};
use std::str::FromStr;
use std::sync::Arc;

use crate::engine::RuleEngine;
use crate::error::ApiError;

/// The verified caller; `unauthenticated` when the request carries none.
pub(crate) fn principal(ctx: &Context<'_>) -> Result<Principal, ApiError> {
    ctx.data_opt::<Principal>()
        .copied()
        .ok_or(ApiError::Unauthenticated)
}

/// The store, for calls that must not be scoped (login, the caller's own rows).
pub(crate) fn store<'a>(ctx: &Context<'a>) -> Result<&'a Store, ApiError> {
    ctx.data_opt::<Store>().ok_or_else(|| {
        tracing::error!("schema was built without a store");
        ApiError::Internal
    })
}

/// The rule engine (schema data, set once by [`crate::build_schema`]).
pub(crate) fn engine<'a>(ctx: &Context<'a>) -> Result<&'a dyn RuleEngine, ApiError> {
    ctx.data_opt::<Arc<dyn RuleEngine>>()
        .map(|engine| engine.as_ref())
        .ok_or_else(|| {
            tracing::error!("schema was built without a rule engine");
            ApiError::Internal
        })
}

pub(crate) fn jwt<'a>(ctx: &Context<'a>) -> Result<&'a JwtKeys, ApiError> {
    ctx.data_opt::<Arc<JwtKeys>>()
        .map(|keys| keys.as_ref())
        .ok_or_else(|| {
            tracing::error!("schema was built without jwt keys");
            ApiError::Internal
        })
}

/// The store handle scoped to the caller's tenant; `unauthenticated` without a principal.
pub(crate) fn tenant(ctx: &Context<'_>) -> Result<TenantDb, ApiError> {
    let principal = principal(ctx)?;
    Ok(store(ctx)?.tenant(principal.scope))
}

/// Parses an id argument; anything but a UUID is `bad_request`.
pub(crate) fn parse_id<T: FromStr>(id: &ID) -> Result<T, ApiError> {
    id.parse::<T>()
        .map_err(|_| ApiError::bad_request("not a valid id"))
}

/// An id for the API.
pub(crate) fn to_id(id: impl std::fmt::Display) -> ID {
    ID(id.to_string())
}
