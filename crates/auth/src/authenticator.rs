//! From an `Authorization` header to a verified principal.

use crate::api_token::{api_token_matches, api_token_prefix};
use crate::credential::{Credential, parse_authorization};
use crate::error::AuthError;
use crate::jwt::JwtKeys;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postern_domain::{ApiTokenId, Principal, PrincipalKind, TenantScope};
use std::sync::Arc;

/// An API token as the store keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredApiToken {
    pub id: ApiTokenId,
    /// Lowercase hex SHA-256 of the whole token.
    pub hash: String,
    /// What the token may reach: an MSP or one client, with a role.
    pub scope: TenantScope,
    pub revoked: bool,
}

/// Where API tokens are looked up (the store implements it; tests use a fake).
#[async_trait]
pub trait ApiTokenLookup: Send + Sync {
    /// The token whose stored prefix (`pst_` + id) is `prefix`, revoked or not.
    async fn find_by_prefix(&self, prefix: &str) -> Result<Option<StoredApiToken>, AuthError>;
    /// Records that the token was used at `now`.
    async fn touch(&self, id: ApiTokenId, now: DateTime<Utc>) -> Result<(), AuthError>;
}

/// A shared store is a store.
#[async_trait]
impl<T: ApiTokenLookup + ?Sized> ApiTokenLookup for Arc<T> {
    async fn find_by_prefix(&self, prefix: &str) -> Result<Option<StoredApiToken>, AuthError> {
        (**self).find_by_prefix(prefix).await
    }

    async fn touch(&self, id: ApiTokenId, now: DateTime<Utc>) -> Result<(), AuthError> {
        (**self).touch(id, now).await
    }
}

/// Verifies bearer credentials: session JWTs with [`JwtKeys`], API tokens through an
/// [`ApiTokenLookup`].
#[derive(Debug)]
pub struct Authenticator<L> {
    jwt: JwtKeys,
    tokens: L,
}

impl<L: ApiTokenLookup> Authenticator<L> {
    pub fn new(jwt: JwtKeys, tokens: L) -> Self {
        Self { jwt, tokens }
    }

    /// The JWT keys, to issue session tokens at login.
    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// The principal behind an `Authorization` header value, as of `now`.
    ///
    /// An API token is refused as unknown unless both its prefix is on file and its whole
    /// value matches the stored hash; only then does "revoked" come into it, so a caller
    /// that does not hold the secret learns nothing about the token's state. Recording the
    /// last-used time is best effort: a failure there is logged and does not refuse a valid
    /// token.
    pub async fn authenticate(
        &self,
        authorization: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        match parse_authorization(authorization)? {
            Credential::Jwt(token) => self.jwt.verify_at(token, now),
            Credential::ApiToken(token) => {
                let prefix = api_token_prefix(token).ok_or(AuthError::UnknownToken)?;
                let stored = self
                    .tokens
                    .find_by_prefix(prefix)
                    .await?
                    .ok_or(AuthError::UnknownToken)?;
                if !api_token_matches(token, &stored.hash) {
                    return Err(AuthError::UnknownToken);
                }
                if stored.revoked {
                    return Err(AuthError::Revoked);
                }
                if let Err(error) = self.tokens.touch(stored.id, now).await {
                    tracing::warn!(%error, token = %stored.id, "could not record api token use");
                }
                Ok(Principal {
                    kind: PrincipalKind::ApiToken(stored.id),
                    scope: stored.scope,
                })
            }
        }
    }
}
