//! Bootstrap and authentication: MSPs, first users, login and API token lookup.

use super::SystemDb;
use crate::entity::{api_token, app_user, client, membership, msp};
use crate::error::StoreError;
use crate::repo::now;
use crate::repo::tenant::insert_user;
use crate::rows::{ApiToken, Membership, Msp, User};
use chrono::{DateTime, Utc};
use postern_domain::{ApiTokenId, ClientId, MspId, Role, UserId};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

impl SystemDb {
    pub async fn msp_count(&self) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = msp::Entity::find().count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    /// `operator`: this MSP operates the installation (sees unassigned input).
    pub async fn create_msp(&self, name: &str, operator: bool) -> Result<Msp, StoreError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(StoreError::Invalid("msp name is empty".into()));
        }
        let model = msp::Model {
            id: Uuid::now_v7(),
            name: name.to_owned(),
            operator,
            created_at: now(),
        };
        let txn = self.write().await?;
        msp::Entity::insert(model.clone().into_active_model())
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(Msp::from(model))
    }

    /// A user by id (the verified principal's own row); `NotFound` when gone.
    pub async fn user(&self, id: UserId) -> Result<User, StoreError> {
        let txn = self.read().await?;
        let row = app_user::Entity::find_by_id(id.as_uuid()).one(&txn).await?;
        txn.commit().await?;
        row.map(User::from).ok_or(StoreError::NotFound)
    }

    pub async fn msp(&self, id: MspId) -> Result<Msp, StoreError> {
        let txn = self.read().await?;
        let row = msp::Entity::find_by_id(id.as_uuid()).one(&txn).await?;
        txn.commit().await?;
        row.map(Msp::from).ok_or(StoreError::NotFound)
    }

    /// A user with one membership (bootstrap, admin CLI). `client` must belong to `msp`.
    pub async fn create_user_with_membership(
        &self,
        email: &str,
        display_name: &str,
        password_hash: &str,
        msp: MspId,
        client: Option<ClientId>,
        role: Role,
    ) -> Result<User, StoreError> {
        let txn = self.write().await?;
        if msp::Entity::find_by_id(msp.as_uuid())
            .one(&txn)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        if let Some(c) = client {
            client::Entity::find_by_id(c.as_uuid())
                .filter(client::Column::MspId.eq(msp.as_uuid()))
                .one(&txn)
                .await?
                .ok_or(StoreError::NotFound)?;
        }
        let user = insert_user(
            &txn,
            email,
            display_name,
            password_hash,
            msp.as_uuid(),
            client,
            role,
        )
        .await?;
        txn.commit().await?;
        Ok(user)
    }

    /// The user with this e-mail address (any case), its password hash and memberships
    /// (oldest first). Disabled users are returned too: the caller refuses them.
    pub async fn user_for_login(
        &self,
        email: &str,
    ) -> Result<Option<(User, String, Vec<Membership>)>, StoreError> {
        let email = email.trim().to_lowercase();
        let txn = self.read().await?;
        let Some(user) = app_user::Entity::find()
            .filter(app_user::Column::Email.eq(email))
            .one(&txn)
            .await?
        else {
            txn.commit().await?;
            return Ok(None);
        };
        let memberships = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user.id))
            .order_by_asc(membership::Column::Id)
            .all(&txn)
            .await?;
        txn.commit().await?;
        let memberships = memberships
            .into_iter()
            .map(Membership::try_from)
            .collect::<Result<_, _>>()?;
        let hash = user.password_hash.clone();
        Ok(Some((User::from(user), hash, memberships)))
    }

    /// The token with this prefix, its hash and whether its MSP is the operator. Revoked
    /// tokens are returned too: the caller refuses them.
    pub async fn api_token_by_prefix(
        &self,
        prefix: &str,
    ) -> Result<Option<(ApiToken, String, bool)>, StoreError> {
        let txn = self.read().await?;
        let found = api_token::Entity::find()
            .filter(api_token::Column::Prefix.eq(prefix))
            .one(&txn)
            .await?;
        let Some(token) = found else {
            txn.commit().await?;
            return Ok(None);
        };
        let operator = msp::Entity::find_by_id(token.msp_id)
            .one(&txn)
            .await?
            .is_some_and(|m| m.operator);
        txn.commit().await?;
        let hash = token.token_hash.clone();
        Ok(Some((ApiToken::try_from(token)?, hash, operator)))
    }

    /// Records that a token was just used.
    pub async fn touch_api_token(
        &self,
        id: ApiTokenId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.write().await?;
        api_token::Entity::update_many()
            .col_expr(api_token::Column::LastUsedAt, Expr::value(now))
            .filter(api_token::Column::Id.eq(id.as_uuid()))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }
}
