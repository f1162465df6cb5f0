//! Bounces, bounce groups, send volume and the suppression list of the scope's clients.
//!
//! Who may do what: every role reads (bounces, groups, volume, suppressions, whether an
//! address is suppressed). MSP owners, admins and operators, and client admins for their own
//! client, suppress and restore addresses; viewers only read. Unassigned bounces are visible
//! to scopes that see unassigned input. Another tenant's client answers `NotFound`.

use super::TenantDb;
use crate::entity::{bounce, client, send_volume, suppression, suppression_event, uncount};
use crate::error::{StoreError, conflict_on_unique};
use crate::repo::now;
use crate::rows::{
    BounceFilter, BounceGroup, BounceGroupBy, BounceRecord, Page, PageRequest, ReasonCount,
    SendVolume, Suppression, SuppressionEvent, SuppressionFilter, normalize_address,
};
use crate::scope::{Params, owned_by, owned_or_unassigned};
use chrono::{DateTime, NaiveDate, Utc};
use postern_domain::{ClientId, MspId, UserId};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The longest reason text kept.
const MAX_REASON: usize = 1_000;

impl TenantDb {
    fn bounces_matching(&self, filter: &BounceFilter) -> sea_orm::Select<bounce::Entity> {
        let mut condition = Condition::all().add(owned_or_unassigned(
            &self.scope,
            bounce::Column::MspId,
            bounce::Column::ClientId,
        ));
        if let Some(client) = filter.client {
            condition = condition.add(bounce::Column::ClientId.eq(client.as_uuid()));
        }
        if let Some(domain) = filter.domain {
            condition = condition.add(bounce::Column::DomainId.eq(domain.as_uuid()));
        }
        if let Some(d) = &filter.recipient_domain {
            condition = condition.add(bounce::Column::RecipientDomain.eq(d.to_ascii_lowercase()));
        }
        if let Some(reason) = &filter.reason {
            condition = condition.add(bounce::Column::Reason.eq(reason.to_ascii_lowercase()));
        }
        if let Some(hard) = filter.hard {
            condition = condition.add(bounce::Column::Hard.eq(hard));
        }
        if let Some(kind) = filter.kind {
            condition = condition.add(bounce::Column::Kind.eq(kind.as_str()));
        }
        if let Some(since) = filter.since {
            condition = condition.add(bounce::Column::Time.gte(since));
        }
        if let Some(until) = filter.until {
            condition = condition.add(bounce::Column::Time.lt(until));
        }
        bounce::Entity::find().filter(condition)
    }

    /// Bounces, newest first (by id).
    pub async fn list_bounces(
        &self,
        filter: &BounceFilter,
        page: PageRequest,
    ) -> Result<Page<BounceRecord>, StoreError> {
        let txn = self.read().await?;
        let mut query = self.bounces_matching(filter);
        if let Some(after) = page.after {
            query = query.filter(bounce::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(bounce::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(BounceRecord::try_from)
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    pub async fn count_bounces(&self, filter: &BounceFilter) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let n = self.bounces_matching(filter).count(&txn).await?;
        txn.commit().await?;
        Ok(n)
    }

    /// Bounced recipients (kind `bounced`: not deferrals or complaints) in
    /// `[since, until)` grouped by recipient domain, most bounces first; `client` narrows to
    /// one client. At most `limit` groups.
    pub async fn bounce_groups(
        &self,
        client: Option<ClientId>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<BounceGroup>, StoreError> {
        self.bounce_groups_by(client, since, until, limit, BounceGroupBy::RecipientDomain)
            .await
    }

    /// Bounced recipients (kind `bounced`) in `[since, until)` grouped `by` recipient
    /// domain, campaign or sending address, most bounces first (then by key, no key last);
    /// bounces without a campaign (address) make one group with no key. `client` narrows to one
    /// client. At most `limit` groups. Counts are exact per group (distinct addresses and
    /// recipient domains included); reasons come from a second query over the same rows.
    pub async fn bounce_groups_by(
        &self,
        client: Option<ClientId>,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: u64,
        by: BounceGroupBy,
    ) -> Result<Vec<BounceGroup>, StoreError> {
        let key = match by {
            BounceGroupBy::RecipientDomain => "b.recipient_domain",
            BounceGroupBy::Campaign => "b.campaign",
            BounceGroupBy::SendingIp => "b.sending_ip",
        };
        let filtered = |params: &mut Params| {
            let tenant = params.owned_by(&self.scope, "b");
            let client = match client {
                Some(c) => format!("AND b.client_id = {}", params.push(c.as_uuid())),
                None => String::new(),
            };
            let since = params.push(since);
            let until = params.push(until);
            format!(
                "{tenant} {client} AND b.kind = 'bounced' AND b.time >= {since} AND b.time < {until}"
            )
        };
        let txn = self.read().await?;
        let mut params = Params::default();
        let filter = filtered(&mut params);
        let limit_param = params.push(i64::try_from(limit).unwrap_or(i64::MAX));
        let totals = txn
            .query_all_raw(params.statement(
                self.store.backend,
                format!(
                    "SELECT {key} AS group_key, \
                       CAST(COUNT(*) AS BIGINT) AS total, \
                       CAST(SUM(CASE WHEN b.hard THEN 1 ELSE 0 END) AS BIGINT) AS hard, \
                       CAST(COUNT(DISTINCT b.recipient) AS BIGINT) AS addresses, \
                       CAST(COUNT(DISTINCT b.recipient_domain) AS BIGINT) AS domains, \
                       MAX(b.remote_host) AS remote_host, \
                       MIN(b.time) AS first_seen, MAX(b.time) AS last_seen \
                     FROM bounce b WHERE {filter} \
                     GROUP BY {key} ORDER BY total DESC, {key} IS NULL, {key} ASC LIMIT {limit_param}"
                ),
            ))
            .await?;
        let mut params = Params::default();
        let filter = filtered(&mut params);
        let reasons = txn
            .query_all_raw(params.statement(
                self.store.backend,
                format!(
                    "SELECT {key} AS group_key, b.reason AS reason, \
                       CAST(COUNT(*) AS BIGINT) AS total \
                     FROM bounce b WHERE {filter} GROUP BY {key}, b.reason"
                ),
            ))
            .await?;
        txn.commit().await?;
        let mut groups = Vec::with_capacity(totals.len());
        let mut index: BTreeMap<Option<String>, usize> = BTreeMap::new();
        for row in totals {
            let group_key: Option<String> = row.try_get("", "group_key")?;
            let total = uncount(row.try_get("", "total")?);
            let hard = uncount(row.try_get("", "hard")?);
            index.insert(group_key.clone(), groups.len());
            groups.push(BounceGroup {
                recipient_domain: match by {
                    BounceGroupBy::RecipientDomain => group_key.clone().unwrap_or_default(),
                    _ => String::new(),
                },
                key: group_key,
                total,
                hard,
                soft: total.saturating_sub(hard),
                addresses: uncount(row.try_get("", "addresses")?),
                recipient_domains: uncount(row.try_get("", "domains")?),
                remote_host: row.try_get("", "remote_host")?,
                reasons: Vec::new(),
                first_seen: row.try_get("", "first_seen")?,
                last_seen: row.try_get("", "last_seen")?,
            });
        }
        for row in reasons {
            let group_key: Option<String> = row.try_get("", "group_key")?;
            let Some(group) = index.get(&group_key).and_then(|&i| groups.get_mut(i)) else {
                continue;
            };
            group.reasons.push(ReasonCount {
                reason: row.try_get("", "reason")?,
                count: uncount(row.try_get("", "total")?),
            });
        }
        for g in &mut groups {
            g.reasons
                .sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
        }
        Ok(groups)
    }

    /// Send volume of the scope's clients per sender domain, day and provider in
    /// `[from, to]`, oldest day first; `client` narrows to one client.
    pub async fn send_volume(
        &self,
        client: Option<ClientId>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<SendVolume>, StoreError> {
        let txn = self.read().await?;
        let mut query = send_volume::Entity::find()
            .filter(owned_by(
                &self.scope,
                send_volume::Column::MspId,
                send_volume::Column::ClientId,
            ))
            .filter(send_volume::Column::Day.gte(from))
            .filter(send_volume::Column::Day.lte(to));
        if let Some(c) = client {
            query = query.filter(send_volume::Column::ClientId.eq(c.as_uuid()));
        }
        let rows = query
            .order_by_asc(send_volume::Column::Day)
            .order_by_asc(send_volume::Column::SenderDomain)
            .order_by_asc(send_volume::Column::Provider)
            .limit(crate::rows::MAX_PAGE_SIZE)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows.into_iter().map(SendVolume::from).collect())
    }

    fn suppressions_matching(
        &self,
        filter: &SuppressionFilter,
    ) -> sea_orm::Select<suppression::Entity> {
        let mut query = suppression::Entity::find().filter(owned_by(
            &self.scope,
            suppression::Column::MspId,
            suppression::Column::ClientId,
        ));
        if let Some(c) = filter.client {
            query = query.filter(suppression::Column::ClientId.eq(c.as_uuid()));
        }
        if !filter.include_restored {
            query = query.filter(suppression::Column::RestoredAt.is_null());
        }
        if let Some(text) = &filter.address_contains {
            query = query.filter(suppression::Column::Address.contains(text.to_lowercase()));
        }
        query
    }

    /// Suppressions, newest first (by id).
    pub async fn list_suppressions(
        &self,
        filter: &SuppressionFilter,
        page: PageRequest,
    ) -> Result<Page<Suppression>, StoreError> {
        let txn = self.read().await?;
        let mut query = self.suppressions_matching(filter);
        if let Some(after) = page.after {
            query = query.filter(suppression::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(suppression::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(page.page(rows.into_iter().map(Suppression::from).collect()))
    }

    pub async fn count_suppressions(&self, filter: &SuppressionFilter) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let n = self.suppressions_matching(filter).count(&txn).await?;
        txn.commit().await?;
        Ok(n)
    }

    /// The history of one suppression, oldest first.
    pub async fn suppression_history(
        &self,
        suppression: Uuid,
    ) -> Result<Vec<SuppressionEvent>, StoreError> {
        let txn = self.read().await?;
        let rows = suppression_event::Entity::find()
            .filter(owned_by(
                &self.scope,
                suppression_event::Column::MspId,
                suppression_event::Column::ClientId,
            ))
            .filter(suppression_event::Column::SuppressionId.eq(suppression))
            .order_by_asc(suppression_event::Column::Id)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(rows.into_iter().map(SuppressionEvent::from).collect())
    }

    /// Whether `address` is on `client`'s suppression list now. `client` may be `None` for a
    /// scope bound to one client. A malformed address is `Invalid`; another tenant's client
    /// `NotFound`.
    pub async fn is_suppressed(
        &self,
        client: Option<ClientId>,
        address: &str,
    ) -> Result<bool, StoreError> {
        let address = checked_address(address)?;
        let txn = self.read().await?;
        let (_, client) = self.visible_client(&txn, client).await?;
        let n = suppression::Entity::find()
            .filter(suppression::Column::ClientId.eq(client.as_uuid()))
            .filter(suppression::Column::Address.eq(address))
            .filter(suppression::Column::RestoredAt.is_null())
            .count(&txn)
            .await?;
        txn.commit().await?;
        Ok(n > 0)
    }

    /// Puts `address` on `client`'s suppression list (again, if it was restored) with
    /// `reason`; suppressing an address that is suppressed already changes nothing.
    pub async fn suppress_address(
        &self,
        client: Option<ClientId>,
        address: &str,
        reason: &str,
        actor: Option<UserId>,
    ) -> Result<Suppression, StoreError> {
        self.require_suppression_writer()?;
        let address = checked_address(address)?;
        let reason = checked_reason(reason)?;
        let txn = self.write().await?;
        let (msp, client) = self.visible_client(&txn, client).await?;
        let (row, _) =
            suppress_in(&txn, msp, client, &address, &reason, None, actor, now()).await?;
        txn.commit().await?;
        Ok(row)
    }

    /// Takes `address` off `client`'s suppression list, recording who and why. `NotFound`
    /// when it is not suppressed now; a reason is required.
    pub async fn restore_suppressed(
        &self,
        client: Option<ClientId>,
        address: &str,
        reason: &str,
        actor: Option<UserId>,
    ) -> Result<Suppression, StoreError> {
        self.require_suppression_writer()?;
        let address = checked_address(address)?;
        let reason = checked_reason(reason)?;
        let txn = self.write().await?;
        let (msp, client) = self.visible_client(&txn, client).await?;
        let row = suppression::Entity::find()
            .filter(suppression::Column::ClientId.eq(client.as_uuid()))
            .filter(suppression::Column::Address.eq(address.clone()))
            .filter(suppression::Column::RestoredAt.is_null())
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let at = now();
        let mut active = row.clone().into_active_model();
        active.restored_at = sea_orm::Set(Some(at));
        active.restored_by = sea_orm::Set(actor.map(|a| a.as_uuid()));
        active.restore_reason = sea_orm::Set(Some(reason.clone()));
        let updated = suppression::Entity::update(active).exec(&txn).await?;
        history(
            &txn, msp, client, row.id, &address, "restored", &reason, None, actor, at,
        )
        .await?;
        txn.commit().await?;
        Ok(updated.into())
    }

    /// The key of `client`'s bounce address (`bounces+<key>@<intake domain>`): bounce mail
    /// sent there is routed to the client. Made on first use. `client` may be `None` for a
    /// scope bound to one client; another tenant's client is `NotFound`.
    pub async fn bounce_key(&self, client: Option<ClientId>) -> Result<String, StoreError> {
        let txn = self.read().await?;
        let (_, client) = self.visible_client(&txn, client).await?;
        txn.commit().await?;
        crate::repo::system::SystemDb::new(self.store.clone())
            .bounce_key(client)
            .await
    }

    fn require_suppression_writer(&self) -> Result<(), StoreError> {
        if self.scope.can_upload_reports() {
            Ok(())
        } else {
            Err(StoreError::Forbidden(
                "changing the suppression list needs an operator or client admin role",
            ))
        }
    }

    /// The client a suppression call is about: `client`, or the scope's own client.
    async fn visible_client(
        &self,
        txn: &DatabaseTransaction,
        client: Option<ClientId>,
    ) -> Result<(MspId, ClientId), StoreError> {
        let Some(client) = client.or(self.scope.client_id()) else {
            return Err(StoreError::Invalid(
                "a client id is required for an msp-wide credential".into(),
            ));
        };
        let found = client::Entity::find_by_id(client.as_uuid())
            .filter(owned_by(
                &self.scope,
                client::Column::MspId,
                client::Column::Id,
            ))
            .count(txn)
            .await?;
        if found == 0 {
            return Err(StoreError::NotFound);
        }
        Ok((self.scope.msp, client))
    }
}

/// Suppresses `address` for `client` inside `txn`: inserts it, re-activates a restored
/// entry, or leaves an active one alone. Returns the row and whether anything changed.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn suppress_in(
    txn: &DatabaseTransaction,
    msp: MspId,
    client: ClientId,
    address: &str,
    reason: &str,
    bounce: Option<Uuid>,
    actor: Option<UserId>,
    at: DateTime<Utc>,
) -> Result<(Suppression, bool), StoreError> {
    let existing = suppression::Entity::find()
        .filter(suppression::Column::ClientId.eq(client.as_uuid()))
        .filter(suppression::Column::Address.eq(address))
        .one(txn)
        .await?;
    let row = match existing {
        Some(row) if row.restored_at.is_none() => return Ok((row.into(), false)),
        Some(row) => {
            suppression::Entity::update_many()
                .col_expr(suppression::Column::Reason, Expr::value(reason))
                .col_expr(suppression::Column::SourceBounceId, Expr::value(bounce))
                .col_expr(suppression::Column::SuppressedAt, Expr::value(at))
                .col_expr(
                    suppression::Column::SuppressedBy,
                    Expr::value(actor.map(|a| a.as_uuid())),
                )
                .col_expr(
                    suppression::Column::RestoredAt,
                    Expr::value(Option::<DateTime<Utc>>::None),
                )
                .col_expr(
                    suppression::Column::RestoredBy,
                    Expr::value(Option::<Uuid>::None),
                )
                .col_expr(
                    suppression::Column::RestoreReason,
                    Expr::value(Option::<String>::None),
                )
                .filter(suppression::Column::Id.eq(row.id))
                .exec(txn)
                .await?;
            suppression::Model {
                reason: reason.to_owned(),
                source_bounce_id: bounce,
                suppressed_at: at,
                suppressed_by: actor.map(|a| a.as_uuid()),
                restored_at: None,
                restored_by: None,
                restore_reason: None,
                ..row
            }
        }
        None => {
            let row = suppression::Model {
                id: Uuid::now_v7(),
                msp_id: msp.as_uuid(),
                client_id: client.as_uuid(),
                address: address.to_owned(),
                reason: reason.to_owned(),
                source_bounce_id: bounce,
                suppressed_at: at,
                suppressed_by: actor.map(|a| a.as_uuid()),
                restored_at: None,
                restored_by: None,
                restore_reason: None,
            };
            suppression::Entity::insert(row.clone().into_active_model())
                .exec_without_returning(txn)
                .await
                .map_err(|e| conflict_on_unique(e, "address suppressed concurrently"))?;
            row
        }
    };
    history(
        txn,
        msp,
        client,
        row.id,
        address,
        "suppressed",
        reason,
        bounce,
        actor,
        at,
    )
    .await?;
    Ok((row.into(), true))
}

#[allow(clippy::too_many_arguments)]
async fn history(
    txn: &DatabaseTransaction,
    msp: MspId,
    client: ClientId,
    suppression: Uuid,
    address: &str,
    action: &str,
    reason: &str,
    bounce: Option<Uuid>,
    actor: Option<UserId>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    suppression_event::Entity::insert(
        suppression_event::Model {
            id: Uuid::now_v7(),
            msp_id: msp.as_uuid(),
            client_id: client.as_uuid(),
            suppression_id: suppression,
            address: address.to_owned(),
            action: action.to_owned(),
            reason: reason.to_owned(),
            bounce_id: bounce,
            actor_id: actor.map(|a| a.as_uuid()),
            at,
        }
        .into_active_model(),
    )
    .exec_without_returning(txn)
    .await?;
    Ok(())
}

fn checked_address(address: &str) -> Result<String, StoreError> {
    normalize_address(address)
        .ok_or_else(|| StoreError::Invalid(format!("{address:?} is not an e-mail address")))
}

fn checked_reason(reason: &str) -> Result<String, StoreError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::Invalid("a reason is required".into()));
    }
    Ok(reason.chars().take(MAX_REASON).collect())
}
