//! `login`.

use async_graphql::{Context, Object};
use chrono::Utc;
use postern_auth::{hash_password, verify_password};
use postern_domain::TenantScope;
use std::sync::OnceLock;

use super::blocking;
use crate::context::{jwt, store};
use crate::error::ApiError;
use crate::types::access::SessionPayload;

#[derive(Default)]
pub(crate) struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Exchanges an e-mail address and password for a short-lived session token. A wrong
    /// address, a wrong password and a disabled user all answer the same `unauthenticated`.
    /// The session acts for the user's MSP-wide membership if it has one, else for its first
    /// client membership.
    async fn login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The e-mail address (any case).")] email: String,
        #[graphql(secret, desc = "The password.")] password: String,
    ) -> Result<SessionPayload, ApiError> {
        let store = store(ctx)?;
        let keys = jwt(ctx)?;
        let system = store.system();
        let Some((user, phc, memberships)) = system.user_for_login(email.trim()).await? else {
            // Spend the same time as a real check, so timing does not tell whether the
            // address exists.
            blocking(move || {
                let _ = verify_password(&password, dummy_hash());
            })
            .await?;
            return Err(ApiError::Unauthenticated);
        };
        let matches = blocking(move || verify_password(&password, &phc)).await??;
        if !matches || user.disabled {
            return Err(ApiError::Unauthenticated);
        }
        let membership = memberships
            .iter()
            .find(|m| m.client_id.is_none())
            .or_else(|| memberships.first())
            .ok_or(ApiError::Unauthenticated)?;
        let scope = match membership.client_id {
            None => {
                let msp = system.msp(membership.msp_id).await?;
                TenantScope::msp(membership.msp_id, membership.role, msp.operator)
            }
            Some(client) => TenantScope::client(membership.msp_id, client, membership.role),
        };
        let issued = keys.issue(user.id, &scope, Utc::now())?;
        tracing::info!(user = %user.id, role = %scope.role, "login");
        Ok(SessionPayload {
            token: issued.token,
            expires_at: issued.expires_at,
        })
    }
}

/// A valid argon2 hash of a random password, made once, to verify against when the e-mail
/// address is unknown.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = postern_auth::generate_api_token().plaintext;
        hash_password(&random).unwrap_or_default()
    })
}
