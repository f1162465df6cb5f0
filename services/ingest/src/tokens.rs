//! API-token lookup for the authenticator, backed by the store.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use postern_auth::{ApiTokenLookup, AuthError, StoredApiToken};
use postern_domain::{ApiTokenId, TenantScope};
use postern_store::Store;

/// Finds API tokens by their public prefix and records their last use.
#[derive(Clone)]
pub struct StoreTokens(Store);

impl StoreTokens {
    pub fn new(store: Store) -> Self {
        Self(store)
    }
}

#[async_trait]
impl ApiTokenLookup for StoreTokens {
    async fn find_by_prefix(&self, prefix: &str) -> Result<Option<StoredApiToken>, AuthError> {
        let found = self
            .0
            .system()
            .api_token_by_prefix(prefix)
            .await
            .map_err(|e| AuthError::Lookup(e.to_string()))?;
        Ok(found.map(|(token, hash, operator)| StoredApiToken {
            id: token.id,
            hash,
            revoked: token.revoked_at.is_some(),
            scope: match token.client_id {
                Some(client) => TenantScope::client(token.msp_id, client, token.role),
                None => TenantScope::msp(token.msp_id, token.role, operator),
            },
        }))
    }

    async fn touch(&self, id: ApiTokenId, now: DateTime<Utc>) -> Result<(), AuthError> {
        self.0
            .system()
            .touch_api_token(id, now)
            .await
            .map_err(|e| AuthError::Lookup(e.to_string()))
    }
}
