//! Who may do what: the viewer, users and their memberships, API tokens, and the payloads of
//! the access mutations.

use crate::loader::client_by_id;
use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use postern_domain::{ClientId, Principal, PrincipalKind as DomainPrincipalKind};
use postern_store::{ApiToken, Membership, User};

use crate::context::{store, to_id};
use crate::error::ApiError;
use crate::types::enums::{PrincipalKind, Role};
use crate::types::tenancy::{ClientNode, MspNode};

pub(crate) struct ViewerNode(pub(crate) Principal);
pub(crate) struct UserNode(pub(crate) User);
pub(crate) struct MemberNode(pub(crate) User, pub(crate) Membership);
pub(crate) struct ApiTokenNode(pub(crate) ApiToken);

/// A session token from `login`.
#[derive(SimpleObject)]
#[graphql(name = "Session")]
pub(crate) struct SessionPayload {
    /// The JWT: send it as `Authorization: Bearer <token>`.
    pub(crate) token: String,
    /// When the token stops being accepted; log in again after.
    pub(crate) expires_at: DateTime<Utc>,
}

/// A user created by `inviteUser`, with the password to hand over.
#[derive(SimpleObject)]
#[graphql(name = "InvitedUser")]
pub(crate) struct InvitePayload {
    /// The new user.
    pub(crate) user: UserNode,
    /// A random password, shown only in this answer; the user should change it.
    pub(crate) temporary_password: String,
}

/// An API token created by `createApiToken`.
#[derive(SimpleObject)]
#[graphql(name = "CreatedApiToken")]
pub(crate) struct CreatedApiTokenPayload {
    /// The secret token (`pst_…`), shown only in this answer; Postern keeps only its hash.
    /// Send it as `Authorization: Bearer <token>`.
    pub(crate) token: String,
    /// The stored token.
    pub(crate) api_token: ApiTokenNode,
}

/// The caller: the user or API token the request was authenticated as.
#[Object(name = "Viewer")]
impl ViewerNode {
    /// Whether the caller is a person or an API token.
    async fn kind(&self) -> PrincipalKind {
        match self.0.kind {
            DomainPrincipalKind::User(_) => PrincipalKind::User,
            DomainPrincipalKind::ApiToken(_) => PrincipalKind::ApiToken,
        }
    }

    /// The user's or the API token's id.
    async fn id(&self) -> ID {
        match self.0.kind {
            DomainPrincipalKind::User(id) => to_id(id),
            DomainPrincipalKind::ApiToken(id) => to_id(id),
        }
    }

    /// The user's e-mail address; null for API tokens.
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        let DomainPrincipalKind::User(id) = self.0.kind else {
            return Ok(None);
        };
        Ok(Some(store(ctx)?.system().user(id).await?.email))
    }

    /// The role the caller acts with.
    async fn role(&self) -> Role {
        self.0.scope.role.into()
    }

    /// The MSP the caller belongs to.
    async fn msp(&self, ctx: &Context<'_>) -> Result<MspNode, ApiError> {
        Ok(MspNode(store(ctx)?.system().msp(self.0.scope.msp).await?))
    }

    /// The one client the caller is bound to; null for MSP-wide callers.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<ClientNode>, ApiError> {
        client_node(ctx, self.0.scope.client_id()).await
    }
}

/// A person who can log in.
#[Object(name = "User")]
impl UserNode {
    /// The user's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The e-mail address they log in with (lower case).
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// The name shown for them.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// When the user was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// A disabled user cannot log in.
    async fn disabled(&self) -> bool {
        self.0.disabled
    }
}

/// A user's membership in the caller's MSP or client.
#[Object(name = "Member")]
impl MemberNode {
    /// The user.
    async fn user(&self) -> UserNode {
        UserNode(self.0.clone())
    }

    /// The role the membership grants.
    async fn role(&self) -> Role {
        self.1.role.into()
    }

    /// The client the membership is bound to; null for MSP-wide memberships.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<ClientNode>, ApiError> {
        client_node(ctx, self.1.client_id).await
    }
}

/// A token for automation, scoped to the MSP or one client, with a role. Its secret is shown
/// once, at creation; this object never carries it.
#[Object(name = "ApiToken")]
impl ApiTokenNode {
    /// The token's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// What the token is for.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The token's public start (`pst_` and ten characters), to recognise it in logs and
    /// secret scanners.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }

    /// The role the token acts with.
    async fn role(&self) -> Role {
        self.0.role.into()
    }

    /// The client the token is bound to; null for MSP-wide tokens.
    async fn client(&self, ctx: &Context<'_>) -> Result<Option<ClientNode>, ApiError> {
        client_node(ctx, self.0.client_id).await
    }

    /// When the token was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the token was last used to authenticate.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    /// When the token was revoked; a revoked token is refused.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// The client `id` as the caller may see it.
async fn client_node(
    ctx: &Context<'_>,
    id: Option<ClientId>,
) -> Result<Option<ClientNode>, ApiError> {
    match id {
        None => Ok(None),
        Some(id) => Ok(Some(ClientNode(client_by_id(ctx, id).await?))),
    }
}
