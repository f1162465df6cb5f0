//! `createUser`, `inviteUser`, `createApiToken`, `revokeApiToken`.

use async_graphql::{Context, ID, Object};
use chrono::Utc;
use postern_auth::{generate_api_token, hash_password};
use postern_domain::{ApiTokenId, ClientId, PrincipalKind, Role as DomainRole, TenantScope};
use postern_store::TenantDb;
use rand::distr::{Alphanumeric, SampleString};

use super::{blocking, valid_name};
use crate::context::{parse_id, principal, tenant};
use crate::error::ApiError;
use crate::types::access::{ApiTokenNode, CreatedApiTokenPayload, InvitePayload, UserNode};
use crate::types::enums::Role;

/// Shortest password accepted, in characters.
pub(crate) const MIN_PASSWORD_CHARS: usize = 12;
/// Longest password accepted, in characters (hashing cost stays bounded).
const MAX_PASSWORD_CHARS: usize = 1024;
/// Length of a generated temporary password: 24 alphanumerics, about 142 bits.
const TEMPORARY_PASSWORD_CHARS: usize = 24;
/// Longest e-mail address accepted (RFC 5321 path limit).
const MAX_EMAIL_CHARS: usize = 254;

#[derive(Default)]
pub(crate) struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Creates a user with a membership in the caller's MSP (no `clientId`, MSP roles) or in
    /// one of its clients (`clientId`, client roles). The caller may grant only roles up to
    /// its own, within its own reach (`forbidden` otherwise); `conflict` if the e-mail
    /// address is taken.
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address the user logs in with.")] email: String,
        #[graphql(desc = "The name shown for the user (1 to 200 characters).")]
        display_name: String,
        #[graphql(secret, desc = "At least 12 characters.")] password: String,
        #[graphql(desc = "The role of the membership.")] role: Role,
        #[graphql(desc = "The client of the membership; omit for an MSP-wide role.")]
        client_id: Option<ID>,
    ) -> Result<UserNode, ApiError> {
        let password_chars = password.chars().count();
        if password_chars < MIN_PASSWORD_CHARS {
            return Err(ApiError::bad_request(format!(
                "password must have at least {MIN_PASSWORD_CHARS} characters"
            )));
        }
        if password_chars > MAX_PASSWORD_CHARS {
            return Err(ApiError::bad_request(format!(
                "password must have at most {MAX_PASSWORD_CHARS} characters"
            )));
        }
        let user = new_user(ctx, &email, &display_name, password, role, client_id).await?;
        Ok(UserNode(user))
    }

    /// Like `createUser`, with a random temporary password that is returned once.
    async fn invite_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address the user logs in with.")] email: String,
        #[graphql(desc = "The name shown for the user (1 to 200 characters).")]
        display_name: String,
        #[graphql(desc = "The role of the membership.")] role: Role,
        #[graphql(desc = "The client of the membership; omit for an MSP-wide role.")]
        client_id: Option<ID>,
    ) -> Result<InvitePayload, ApiError> {
        let password = Alphanumeric.sample_string(&mut rand::rng(), TEMPORARY_PASSWORD_CHARS);
        let user = new_user(
            ctx,
            &email,
            &display_name,
            password.clone(),
            role,
            client_id,
        )
        .await?;
        Ok(InvitePayload {
            user: UserNode(user),
            temporary_password: password,
        })
    }

    /// Creates an API token for the caller's MSP (no `clientId`, MSP roles) or one of its
    /// clients. The secret token is in this answer only. Same grant rules as `createUser`.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "What the token is for (1 to 200 characters).")] name: String,
        #[graphql(desc = "The role the token acts with.")] role: Role,
        #[graphql(desc = "The client the token is bound to; omit for an MSP-wide token.")]
        client_id: Option<ID>,
    ) -> Result<CreatedApiTokenPayload, ApiError> {
        let principal = principal(ctx)?;
        let db = tenant(ctx)?;
        let name = valid_name("name", &name)?;
        let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
        let role = DomainRole::from(role);
        check_grant(&principal.scope, role, client)?;
        let token = generate_api_token();
        let created_by = match principal.kind {
            PrincipalKind::User(user) => Some(user),
            PrincipalKind::ApiToken(_) => None,
        };
        let stored = db
            .create_api_token(&name, role, client, &token.prefix, &token.hash, created_by)
            .await?;
        tracing::info!(token = %stored.id, prefix = %stored.prefix, role = %role, "api token created");
        Ok(CreatedApiTokenPayload {
            token: token.plaintext,
            api_token: ApiTokenNode(stored),
        })
    }

    /// Revokes an API token: it is refused from now on. Revoking twice keeps the first time.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token's id.")] id: ID,
    ) -> Result<ApiTokenNode, ApiError> {
        let db = tenant(ctx)?;
        let id: ApiTokenId = parse_id(&id)?;
        let token = db.revoke_api_token(id, Utc::now()).await?;
        tracing::info!(token = %token.id, "api token revoked");
        Ok(ApiTokenNode(token))
    }
}

/// Validates, hashes the password and stores the user with its membership.
async fn new_user(
    ctx: &Context<'_>,
    email: &str,
    display_name: &str,
    password: String,
    role: Role,
    client_id: Option<ID>,
) -> Result<postern_store::User, ApiError> {
    let principal = principal(ctx)?;
    let db: TenantDb = tenant(ctx)?;
    let email = valid_email(email)?;
    let display_name = valid_name("displayName", display_name)?;
    let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
    let role = DomainRole::from(role);
    // Checked before hashing so a caller who may not grant cannot make us burn CPU; the
    // store checks again.
    check_grant(&principal.scope, role, client)?;
    let phc = blocking(move || hash_password(&password)).await??;
    let user = db
        .create_user(&email, &display_name, &phc, role, client)
        .await?;
    tracing::info!(user = %user.id, role = %role, "user created");
    Ok(user)
}

/// `forbidden` unless `scope` may grant `role` bound to `client`.
fn check_grant(
    scope: &TenantScope,
    role: DomainRole,
    client: Option<ClientId>,
) -> Result<(), ApiError> {
    if scope.can_grant(role, client) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "may not grant {role}{}",
            if client.is_some() {
                " for that client"
            } else {
                " MSP-wide"
            }
        )))
    }
}

/// A plausible e-mail address: one `@` with text on both sides, no spaces or control
/// characters, at most 254 characters. Lower-cased.
fn valid_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim();
    let ok = email.chars().count() <= MAX_EMAIL_CHARS
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if ok {
        Ok(email.to_lowercase())
    } else {
        Err(ApiError::bad_request("not a valid e-mail address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_domain::MspId;

    #[test]
    fn email_needs_one_at_sign_with_both_sides() {
        assert_eq!(
            valid_email(" Ann@Example.COM ").ok().as_deref(),
            Some("ann@example.com")
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "a@b@c",
            "a n@example.com",
        ] {
            assert!(valid_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn grants_follow_the_scope() {
        let admin = TenantScope::msp(MspId::new(), DomainRole::MspAdmin, false);
        assert!(check_grant(&admin, DomainRole::MspOperator, None).is_ok());
        assert!(matches!(
            check_grant(&admin, DomainRole::MspOwner, None),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            check_grant(&admin, DomainRole::ClientViewer, None),
            Err(ApiError::Forbidden(_))
        ));
    }
}
