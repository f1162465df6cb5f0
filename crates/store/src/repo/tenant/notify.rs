//! Notification channels, routes and the delivery log of the scope's MSP.
//!
//! Who may do what: MSP-wide scopes read (any MSP role); MSP owners and admins
//! ([`TenantScope::can_manage_clients`](postern_domain::TenantScope::can_manage_clients))
//! create, change and delete channels and routes and send test messages. Client-bound
//! scopes get [`StoreError::Forbidden`]: channels are the MSP's. A channel's signing secret
//! is written once and never read back through this handle.

use super::TenantDb;
use crate::entity::{client, msp, notify_channel, notify_delivery, notify_route, to_json};
use crate::error::StoreError;
use crate::repo::now;
use crate::rows::notify::{
    Channel, ChannelId, ChannelKind, ChannelUpdate, Delivery, DeliveryFilter, DeliveryId,
    DeliveryKind, DeliveryStatus, NewChannel, NewRoute, Notice, Route, RouteId, TestNotice,
};
use crate::rows::{IssueEventKind, Page, PageRequest};
use crate::scope::owned_by;
use chrono::{DateTime, Utc};
use postern_domain::ClientId;
use sea_orm::sea_query::Condition;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

/// Longest channel name, in characters.
pub const MAX_CHANNEL_NAME_CHARS: usize = 200;
/// Longest channel target (URL or recipient list), in characters.
pub const MAX_TARGET_CHARS: usize = 2_000;
/// Most codes or event kinds in one route.
pub const MAX_ROUTE_ITEMS: usize = 100;
/// Longest quiet period, in seconds (30 days).
pub const MAX_QUIET_PERIOD_SECS: u64 = 30 * 24 * 3600;

impl TenantDb {
    fn notify_channels(&self) -> sea_orm::Select<notify_channel::Entity> {
        notify_channel::Entity::find().filter(owned_by(
            &self.scope,
            notify_channel::Column::MspId,
            notify_channel::Column::ClientId,
        ))
    }

    fn notify_routes(&self) -> sea_orm::Select<notify_route::Entity> {
        notify_route::Entity::find().filter(owned_by(
            &self.scope,
            notify_route::Column::MspId,
            notify_route::Column::ClientId,
        ))
    }

    fn notify_deliveries_matching(
        &self,
        filter: &DeliveryFilter,
    ) -> sea_orm::Select<notify_delivery::Entity> {
        let mut condition = owned_by(
            &self.scope,
            notify_delivery::Column::MspId,
            notify_delivery::Column::ClientId,
        );
        if let Some(channel) = filter.channel {
            condition = condition.add(notify_delivery::Column::ChannelId.eq(channel.as_uuid()));
        }
        if let Some(status) = filter.status {
            condition = condition.add(notify_delivery::Column::Status.eq(status.as_str()));
        }
        if let Some(issue) = filter.issue {
            condition = condition.add(notify_delivery::Column::IssueId.eq(issue.as_uuid()));
        }
        notify_delivery::Entity::find().filter(condition)
    }

    /// The MSP's channels, newest first.
    pub async fn list_notify_channels(
        &self,
        page: PageRequest,
    ) -> Result<Page<Channel>, StoreError> {
        self.require_notify_reader()?;
        let txn = self.read().await?;
        let mut query = self.notify_channels();
        if let Some(after) = page.after {
            query = query.filter(notify_channel::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(notify_channel::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(Channel::try_from)
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    /// How many channels [`list_notify_channels`](Self::list_notify_channels) pages through.
    pub async fn count_notify_channels(&self) -> Result<u64, StoreError> {
        self.require_notify_reader()?;
        let txn = self.read().await?;
        let count = self.notify_channels().count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    pub async fn notify_channel(&self, id: ChannelId) -> Result<Channel, StoreError> {
        self.require_notify_reader()?;
        let txn = self.read().await?;
        let channel = self.load_notify_channel(&txn, id).await?;
        txn.commit().await?;
        Channel::try_from(channel)
    }

    /// Creates a channel (enabled). The name must be 1 to [`MAX_CHANNEL_NAME_CHARS`]
    /// characters; a URL target must be `http(s)://`, an e-mail target a comma-separated
    /// list of addresses; `client_id` must be a client of the MSP.
    pub async fn create_notify_channel(&self, new: NewChannel) -> Result<Channel, StoreError> {
        self.require_notify_manager()?;
        let name = valid_name(&new.name)?;
        let target = valid_target(new.kind, &new.target)?;
        let txn = self.write().await?;
        if let Some(client) = new.client_id {
            self.check_notify_client(&txn, client).await?;
        }
        let now = now();
        let row = notify_channel::Model {
            id: ChannelId::new().as_uuid(),
            msp_id: self.scope.msp.as_uuid(),
            client_id: new.client_id.map(|c| c.as_uuid()),
            name,
            kind: new.kind.as_str().to_owned(),
            target,
            secret: new.secret,
            enabled: true,
            created_at: now,
            updated_at: now,
        };
        notify_channel::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Channel::try_from(row)
    }

    /// Changes a channel's name, target or enabled flag (validated like
    /// [`create_notify_channel`](Self::create_notify_channel)).
    pub async fn update_notify_channel(
        &self,
        id: ChannelId,
        update: ChannelUpdate,
    ) -> Result<Channel, StoreError> {
        self.require_notify_manager()?;
        let txn = self.write().await?;
        let mut row = self.load_notify_channel(&txn, id).await?;
        let kind = Channel::try_from(row.clone())?.kind;
        if let Some(name) = &update.name {
            row.name = valid_name(name)?;
        }
        if let Some(target) = &update.target {
            row.target = valid_target(kind, target)?;
        }
        if let Some(enabled) = update.enabled {
            row.enabled = enabled;
        }
        row.updated_at = now();
        let changes = notify_channel::ActiveModel {
            name: Set(row.name.clone()),
            target: Set(row.target.clone()),
            enabled: Set(row.enabled),
            updated_at: Set(row.updated_at),
            ..Default::default()
        };
        notify_channel::Entity::update_many()
            .set(changes)
            .filter(notify_channel::Column::Id.eq(id.as_uuid()))
            .filter(owned_by(
                &self.scope,
                notify_channel::Column::MspId,
                notify_channel::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Channel::try_from(row)
    }

    /// Deletes a channel with its routes, pending digest items and delivery log.
    pub async fn delete_notify_channel(&self, id: ChannelId) -> Result<(), StoreError> {
        self.require_notify_manager()?;
        let txn = self.write().await?;
        self.load_notify_channel(&txn, id).await?;
        notify_channel::Entity::delete_many()
            .filter(notify_channel::Column::Id.eq(id.as_uuid()))
            .filter(owned_by(
                &self.scope,
                notify_channel::Column::MspId,
                notify_channel::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The MSP's routes (of one channel, or all), oldest first.
    pub async fn list_notify_routes(
        &self,
        channel: Option<ChannelId>,
    ) -> Result<Vec<Route>, StoreError> {
        self.require_notify_reader()?;
        let txn = self.read().await?;
        let mut query = self.notify_routes();
        if let Some(channel) = channel {
            query = query.filter(notify_route::Column::ChannelId.eq(channel.as_uuid()));
        }
        let rows = query
            .order_by_asc(notify_route::Column::Id)
            .limit(crate::rows::MAX_PAGE_SIZE)
            .all(&txn)
            .await?;
        txn.commit().await?;
        rows.into_iter().map(Route::try_from).collect()
    }

    pub async fn notify_route(&self, id: RouteId) -> Result<Route, StoreError> {
        self.require_notify_reader()?;
        let txn = self.read().await?;
        let row = self.load_notify_route(&txn, id).await?;
        txn.commit().await?;
        Route::try_from(row)
    }

    /// Creates a route to one of the MSP's channels. Codes are exact finding codes or
    /// prefixes ending in `.` or `*`; event kinds are issue event kinds (`opened`, …);
    /// `client_id` must be a client of the MSP and, for a channel limited to one client,
    /// that client.
    pub async fn create_notify_route(&self, new: NewRoute) -> Result<Route, StoreError> {
        self.require_notify_manager()?;
        let (codes, kinds) = valid_route(&new)?;
        let txn = self.write().await?;
        self.check_notify_route_target(&txn, &new).await?;
        let now = now();
        let row = notify_route::Model {
            id: RouteId::new().as_uuid(),
            msp_id: self.scope.msp.as_uuid(),
            client_id: new.client_id.map(|c| c.as_uuid()),
            channel_id: new.channel_id.as_uuid(),
            min_severity: new.min_severity.as_str().to_owned(),
            codes: to_json("route codes", &codes)?,
            event_kinds: to_json("route event kinds", &kinds)?,
            mode: new.mode.as_str().to_owned(),
            quiet_period_secs: quiet(new.quiet_period_secs)?,
            created_at: now,
            updated_at: now,
        };
        notify_route::Entity::insert(row.clone().into_active_model())
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Route::try_from(row)
    }

    /// Replaces a route's content (validated like
    /// [`create_notify_route`](Self::create_notify_route)); it may move to another channel.
    pub async fn update_notify_route(
        &self,
        id: RouteId,
        new: NewRoute,
    ) -> Result<Route, StoreError> {
        self.require_notify_manager()?;
        let (codes, kinds) = valid_route(&new)?;
        let txn = self.write().await?;
        let mut row = self.load_notify_route(&txn, id).await?;
        self.check_notify_route_target(&txn, &new).await?;
        row.client_id = new.client_id.map(|c| c.as_uuid());
        row.channel_id = new.channel_id.as_uuid();
        row.min_severity = new.min_severity.as_str().to_owned();
        row.codes = to_json("route codes", &codes)?;
        row.event_kinds = to_json("route event kinds", &kinds)?;
        row.mode = new.mode.as_str().to_owned();
        row.quiet_period_secs = quiet(new.quiet_period_secs)?;
        row.updated_at = now();
        let changes = notify_route::ActiveModel {
            client_id: Set(row.client_id),
            channel_id: Set(row.channel_id),
            min_severity: Set(row.min_severity.clone()),
            codes: Set(row.codes.clone()),
            event_kinds: Set(row.event_kinds.clone()),
            mode: Set(row.mode.clone()),
            quiet_period_secs: Set(row.quiet_period_secs),
            updated_at: Set(row.updated_at),
            ..Default::default()
        };
        notify_route::Entity::update_many()
            .set(changes)
            .filter(notify_route::Column::Id.eq(id.as_uuid()))
            .filter(owned_by(
                &self.scope,
                notify_route::Column::MspId,
                notify_route::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Route::try_from(row)
    }

    pub async fn delete_notify_route(&self, id: RouteId) -> Result<(), StoreError> {
        self.require_notify_manager()?;
        let txn = self.write().await?;
        self.load_notify_route(&txn, id).await?;
        notify_route::Entity::delete_many()
            .filter(notify_route::Column::Id.eq(id.as_uuid()))
            .filter(owned_by(
                &self.scope,
                notify_route::Column::MspId,
                notify_route::Column::ClientId,
            ))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Queues a test message for a channel (sent by the notification service like any
    /// other delivery, so its outcome appears in the delivery log). Works on disabled
    /// channels too, so a channel can be checked before it is enabled.
    pub async fn queue_test_notification(
        &self,
        channel: ChannelId,
        requested_at: DateTime<Utc>,
    ) -> Result<Delivery, StoreError> {
        self.require_notify_manager()?;
        let txn = self.write().await?;
        let row = self.load_notify_channel(&txn, channel).await?;
        let msp = msp::Entity::find_by_id(self.scope.msp.as_uuid())
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        let notice = Notice::Test(TestNotice {
            msp: msp.name,
            channel: row.name.clone(),
            requested_at,
        });
        let now = now();
        let id = DeliveryId::new();
        let delivery = notify_delivery::Model {
            id: id.as_uuid(),
            msp_id: row.msp_id,
            client_id: row.client_id,
            channel_id: row.id,
            kind: DeliveryKind::Test.as_str().to_owned(),
            dedup_key: format!("test:{id}"),
            issue_id: None,
            event_id: None,
            event_kind: None,
            code: None,
            severity: None,
            status: DeliveryStatus::Pending.as_str().to_owned(),
            attempts: 0,
            last_error: None,
            response_code: None,
            payload: to_json("notification", &notice)?,
            created_at: now,
            updated_at: now,
            next_attempt_at: Some(now),
            delivered_at: None,
        };
        notify_delivery::Entity::insert(delivery.clone().into_active_model())
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Delivery::try_from(delivery)
    }

    /// The delivery log, newest first.
    pub async fn list_notify_deliveries(
        &self,
        filter: &DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<Delivery>, StoreError> {
        self.require_notify_reader()?;
        let txn = self.read().await?;
        let mut query = self.notify_deliveries_matching(filter);
        if let Some(after) = page.after {
            query = query.filter(notify_delivery::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(notify_delivery::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(Delivery::try_from)
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    /// How many entries [`list_notify_deliveries`](Self::list_notify_deliveries) pages
    /// through.
    pub async fn count_notify_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<u64, StoreError> {
        self.require_notify_reader()?;
        let txn = self.read().await?;
        let count = self.notify_deliveries_matching(filter).count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    /// One entry of the delivery log.
    pub async fn notify_delivery(&self, id: DeliveryId) -> Result<Delivery, StoreError> {
        self.require_notify_reader()?;
        let txn = self.read().await?;
        let row = self
            .notify_deliveries_matching(&DeliveryFilter::default())
            .filter(notify_delivery::Column::Id.eq(id.as_uuid()))
            .one(&txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        txn.commit().await?;
        Delivery::try_from(row)
    }

    /// MSP-wide scopes only: notifications are configured per MSP.
    fn require_notify_reader(&self) -> Result<(), StoreError> {
        if self.scope.client_id().is_none() {
            Ok(())
        } else {
            Err(StoreError::Forbidden("notifications belong to the MSP"))
        }
    }

    /// MSP owners and admins.
    fn require_notify_manager(&self) -> Result<(), StoreError> {
        if self.scope.can_manage_clients() {
            Ok(())
        } else {
            Err(StoreError::Forbidden("managing notifications"))
        }
    }

    async fn load_notify_channel(
        &self,
        txn: &DatabaseTransaction,
        id: ChannelId,
    ) -> Result<notify_channel::Model, StoreError> {
        self.notify_channels()
            .filter(notify_channel::Column::Id.eq(id.as_uuid()))
            .one(txn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn load_notify_route(
        &self,
        txn: &DatabaseTransaction,
        id: RouteId,
    ) -> Result<notify_route::Model, StoreError> {
        self.notify_routes()
            .filter(notify_route::Column::Id.eq(id.as_uuid()))
            .one(txn)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// `client` is a client of the scope's MSP ([`StoreError::NotFound`] otherwise).
    async fn check_notify_client(
        &self,
        txn: &DatabaseTransaction,
        client: ClientId,
    ) -> Result<(), StoreError> {
        let found = client::Entity::find()
            .filter(
                Condition::all()
                    .add(client::Column::Id.eq(client.as_uuid()))
                    .add(client::Column::MspId.eq(self.scope.msp.as_uuid())),
            )
            .count(txn)
            .await?;
        if found == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The route's channel and client exist in the MSP and agree.
    async fn check_notify_route_target(
        &self,
        txn: &DatabaseTransaction,
        new: &NewRoute,
    ) -> Result<(), StoreError> {
        let channel = self.load_notify_channel(txn, new.channel_id).await?;
        if let Some(client) = new.client_id {
            self.check_notify_client(txn, client).await?;
            if channel.client_id.is_some_and(|c| c != client.as_uuid()) {
                return Err(StoreError::Invalid(
                    "the channel is limited to another client".into(),
                ));
            }
        }
        Ok(())
    }
}

fn valid_name(name: &str) -> Result<String, StoreError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(StoreError::Invalid("channel name is empty".into()));
    }
    if name.chars().count() > MAX_CHANNEL_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(format!(
            "channel name must be at most {MAX_CHANNEL_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(name.to_owned())
}

/// A URL (`http://` or `https://`, no white space) or a comma-separated list of e-mail
/// addresses (normalised to `a@x, b@y`).
fn valid_target(kind: ChannelKind, target: &str) -> Result<String, StoreError> {
    let target = target.trim();
    if target.is_empty() || target.chars().count() > MAX_TARGET_CHARS {
        return Err(StoreError::Invalid(format!(
            "channel target must be 1 to {MAX_TARGET_CHARS} characters"
        )));
    }
    match kind {
        ChannelKind::Email => {
            let addresses: Vec<&str> = target
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect();
            if addresses.is_empty() {
                return Err(StoreError::Invalid("no e-mail recipient".into()));
            }
            for address in &addresses {
                let ok = address.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty()
                        && domain.contains('.')
                        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
                        && !address.contains(['<', '>'])
                });
                if !ok {
                    return Err(StoreError::Invalid(format!(
                        "not an e-mail address: {address:?}"
                    )));
                }
            }
            Ok(addresses.join(", "))
        }
        ChannelKind::Webhook | ChannelKind::Slack | ChannelKind::Teams => {
            let rest = target
                .strip_prefix("https://")
                .or_else(|| target.strip_prefix("http://"));
            match rest {
                Some(rest)
                    if !rest.is_empty()
                        && !rest.starts_with('/')
                        && !target.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                {
                    Ok(target.to_owned())
                }
                _ => Err(StoreError::Invalid(
                    "channel target must be an http(s):// URL".into(),
                )),
            }
        }
    }
}

/// Codes and event kinds of a route, checked and de-duplicated (order kept).
fn valid_route(new: &NewRoute) -> Result<(Vec<String>, Vec<String>), StoreError> {
    if new.codes.len() > MAX_ROUTE_ITEMS || new.event_kinds.len() > MAX_ROUTE_ITEMS {
        return Err(StoreError::Invalid(format!(
            "a route lists at most {MAX_ROUTE_ITEMS} codes and event kinds"
        )));
    }
    let mut codes: Vec<String> = Vec::new();
    for code in &new.codes {
        let code = code.trim().to_ascii_lowercase();
        let stem = code.trim_end_matches('*').trim_end_matches('.');
        let ok = !stem.is_empty()
            && code.len() <= 128
            && stem.split('.').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            });
        if !ok {
            return Err(StoreError::Invalid(format!(
                "not a finding code or prefix: {code:?}"
            )));
        }
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    let mut kinds: Vec<String> = Vec::new();
    for kind in &new.event_kinds {
        let kind = kind.trim().to_ascii_lowercase();
        if IssueEventKind::parse(&kind).is_none() {
            return Err(StoreError::Invalid(format!(
                "not an issue event kind: {kind:?}"
            )));
        }
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok((codes, kinds))
}

fn quiet(secs: Option<u64>) -> Result<Option<i64>, StoreError> {
    match secs {
        None => Ok(None),
        Some(s) if s <= MAX_QUIET_PERIOD_SECS => Ok(Some(crate::entity::count("quiet period", s)?)),
        Some(_) => Err(StoreError::Invalid(format!(
            "quiet period must be at most {MAX_QUIET_PERIOD_SECS} seconds"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_domain::Severity;

    fn route(codes: &[&str], kinds: &[&str]) -> NewRoute {
        NewRoute {
            channel_id: ChannelId::new(),
            client_id: None,
            min_severity: Severity::Low,
            codes: codes.iter().map(|c| (*c).to_owned()).collect(),
            event_kinds: kinds.iter().map(|c| (*c).to_owned()).collect(),
            mode: crate::rows::notify::NotifyMode::Immediate,
            quiet_period_secs: None,
        }
    }

    #[test]
    fn route_codes_accept_exact_codes_and_prefixes_only() {
        let (codes, kinds) = valid_route(&route(
            &["dmarc.policy_none", "SPF.", "tlsrpt.*", "spf."],
            &["opened"],
        ))
        .unwrap();
        assert_eq!(codes, ["dmarc.policy_none", "spf.", "tlsrpt.*"]);
        assert_eq!(kinds, ["opened"]);
        for bad in ["", "*", "dmarc..x", "dmarc policy", "dm-arc."] {
            assert!(valid_route(&route(&[bad], &[])).is_err(), "{bad}");
        }
        assert!(valid_route(&route(&[], &["resolved"])).is_err());
    }

    #[test]
    fn targets_are_urls_or_address_lists_by_kind() {
        assert_eq!(
            valid_target(ChannelKind::Email, " a@x.example ,b@y.example, ").unwrap(),
            "a@x.example, b@y.example"
        );
        assert!(valid_target(ChannelKind::Email, "nobody").is_err());
        assert!(valid_target(ChannelKind::Email, "a@b.example\r\nBcc: c@d.example").is_err());
        assert!(valid_target(ChannelKind::Webhook, "https://hooks.example/x").is_ok());
        for bad in [
            "ftp://x",
            "https://",
            "https:///x",
            "https://a b",
            "hooks.example",
        ] {
            assert!(valid_target(ChannelKind::Slack, bad).is_err(), "{bad}");
        }
    }
}
