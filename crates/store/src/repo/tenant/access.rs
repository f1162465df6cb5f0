//! Users, memberships and API tokens of the scope's tenant.

use super::TenantDb;
use crate::entity::{api_token, app_user, client, membership};
use crate::error::{StoreError, conflict_on_unique};
use crate::repo::now;
use crate::rows::{ApiToken, Membership, Page, PageRequest, User};
use crate::scope::owned_by;
use chrono::{DateTime, Utc};
use postern_domain::{ApiTokenId, ClientId, Role, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

impl TenantDb {
    fn require_grant(&self, role: Role, client: Option<ClientId>) -> Result<(), StoreError> {
        if self.scope.can_grant(role, client) {
            Ok(())
        } else {
            Err(StoreError::Forbidden(
                "this role may not grant that role for that client",
            ))
        }
    }

    /// The client must be one this scope reaches (else `NotFound`).
    async fn require_client(
        &self,
        txn: &DatabaseTransaction,
        client: Option<ClientId>,
    ) -> Result<(), StoreError> {
        if let Some(id) = client {
            self.clients()
                .filter(client::Column::Id.eq(id.as_uuid()))
                .one(txn)
                .await?
                .ok_or(StoreError::NotFound)?;
        }
        Ok(())
    }

    /// Creates a user with one membership in this scope's MSP (`client` None = MSP-wide).
    /// Needs `can_grant(role, client)`; `Conflict` when the e-mail address is taken.
    pub async fn create_user(
        &self,
        email: &str,
        display_name: &str,
        password_hash: &str,
        role: Role,
        client: Option<ClientId>,
    ) -> Result<User, StoreError> {
        self.require_grant(role, client)?;
        let txn = self.write().await?;
        self.require_client(&txn, client).await?;
        let user = insert_user(
            &txn,
            email,
            display_name,
            password_hash,
            self.scope.msp.as_uuid(),
            client,
            role,
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }

    /// Users with their membership in this scope, newest membership first (a client-bound
    /// scope sees its client's memberships only).
    /// How many memberships [`TenantDb::list_members`] pages through.
    pub async fn count_members(&self) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = membership::Entity::find()
            .filter(owned_by(
                &self.scope,
                membership::Column::MspId,
                membership::Column::ClientId,
            ))
            .count(&txn)
            .await?;
        txn.commit().await?;
        Ok(count)
    }

    pub async fn list_members(
        &self,
        page: PageRequest,
    ) -> Result<Page<(User, Membership)>, StoreError> {
        let txn = self.read().await?;
        let mut query = membership::Entity::find().filter(owned_by(
            &self.scope,
            membership::Column::MspId,
            membership::Column::ClientId,
        ));
        if let Some(after) = page.after {
            query = query.filter(membership::Column::Id.lt(after));
        }
        let memberships = query
            .order_by_desc(membership::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        let user_ids: Vec<Uuid> = memberships.iter().map(|m| m.user_id).collect();
        let users: HashMap<Uuid, app_user::Model> = app_user::Entity::find()
            .filter(app_user::Column::Id.is_in(user_ids))
            .all(&txn)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        txn.commit().await?;
        let mut items = Vec::with_capacity(memberships.len());
        for m in memberships {
            let user = users
                .get(&m.user_id)
                .cloned()
                .ok_or_else(|| crate::error::corrupt("membership", "user row is missing"))?;
            items.push((User::from(user), Membership::try_from(m)?));
        }
        Ok(page.page(items))
    }

    /// Stores a token made by the caller (needs `can_grant(role, client)`); only `prefix` and
    /// `hash` are kept. `Conflict` when the prefix is taken.
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
        client: Option<ClientId>,
        prefix: &str,
        hash: &str,
        created_by: Option<UserId>,
    ) -> Result<ApiToken, StoreError> {
        self.require_grant(role, client)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("token name is empty".into()));
        }
        let model = api_token::Model {
            id: Uuid::now_v7(),
            msp_id: self.scope.msp.as_uuid(),
            client_id: client.map(|c| c.as_uuid()),
            role: role.as_str().to_owned(),
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            token_hash: hash.to_owned(),
            created_by: created_by.map(|u| u.as_uuid()),
            created_at: now(),
            last_used_at: None,
            revoked_at: None,
        };
        let txn = self.write().await?;
        self.require_client(&txn, client).await?;
        api_token::Entity::insert(model.clone().into_active_model())
            .exec_without_returning(&txn)
            .await
            .map_err(|e| conflict_on_unique(e, "token prefix already in use"))?;
        txn.commit().await?;
        ApiToken::try_from(model)
    }

    fn tokens(&self) -> sea_orm::Select<api_token::Entity> {
        api_token::Entity::find().filter(owned_by(
            &self.scope,
            api_token::Column::MspId,
            api_token::Column::ClientId,
        ))
    }

    /// How many tokens [`TenantDb::list_api_tokens`] pages through.
    pub async fn count_api_tokens(&self) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = self.tokens().count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    /// Tokens of this scope (a client-bound scope sees its client's only), newest first.
    pub async fn list_api_tokens(&self, page: PageRequest) -> Result<Page<ApiToken>, StoreError> {
        let txn = self.read().await?;
        let mut query = self.tokens();
        if let Some(after) = page.after {
            query = query.filter(api_token::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(api_token::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(ApiToken::try_from)
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    /// Revokes a token this scope could have granted; revoking twice keeps the first time.
    pub async fn revoke_api_token(
        &self,
        id: ApiTokenId,
        now: DateTime<Utc>,
    ) -> Result<ApiToken, StoreError> {
        let txn = self.write().await?;
        let row = self
            .tokens()
            .filter(api_token::Column::Id.eq(id.as_uuid()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let token = ApiToken::try_from(row)?;
        self.require_grant(token.role, token.client_id)?;
        if token.revoked_at.is_some() {
            txn.commit().await?;
            return Ok(token);
        }
        api_token::Entity::update_many()
            .col_expr(api_token::Column::RevokedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(id.as_uuid()))
            .filter(owned_by(
                &self.scope,
                api_token::Column::MspId,
                api_token::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(ApiToken {
            revoked_at: Some(now),
            ..token
        })
    }
}

/// Inserts a user and its first membership. Validates the e-mail address (stored lower
/// case) and that the role fits the membership's reach.
pub(crate) async fn insert_user(
    txn: &DatabaseTransaction,
    email: &str,
    display_name: &str,
    password_hash: &str,
    msp: Uuid,
    client: Option<ClientId>,
    role: Role,
) -> Result<User, StoreError> {
    let email = email.trim().to_lowercase();
    if email.len() < 3 || !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(StoreError::Invalid("not an e-mail address".into()));
    }
    if role.is_msp_staff() == client.is_some() {
        return Err(StoreError::Invalid(
            "msp roles are msp-wide and client roles need a client".into(),
        ));
    }
    let created_at = now();
    let user = app_user::Model {
        id: Uuid::now_v7(),
        email,
        display_name: display_name.trim().to_owned(),
        password_hash: password_hash.to_owned(),
        disabled: false,
        created_at,
    };
    app_user::Entity::insert(user.clone().into_active_model())
        .exec_without_returning(txn)
        .await
        .map_err(|e| conflict_on_unique(e, "e-mail address already in use"))?;
    membership::Entity::insert(
        membership::Model {
            id: Uuid::now_v7(),
            user_id: user.id,
            msp_id: msp,
            client_id: client.map(|c| c.as_uuid()),
            role: role.as_str().to_owned(),
            created_at,
        }
        .into_active_model(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(User::from(user))
}
