//! `bounces`, `bounceGroups`, `sendVolume`, `suppressions`, `isSuppressed`.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use postern_domain::{ClientId, DomainId};
use postern_store::{
    BounceFilter as StoreBounceFilter, BounceGroupBy, SuppressionFilter as StoreSuppressionFilter,
};
use std::collections::BTreeMap;

use crate::connection::{Conn, CountSource, connection, page_request};
use crate::context::{parse_id, tenant};
use crate::error::ApiError;
use crate::types::bounces::{
    BounceGroupNode, BounceGrouping, BounceKind, BounceNode, ReasonCountNode, SendVolumeNode,
    SuppressionNode, family_of_host,
};

/// The window `bounceGroups` covers when none is given.
const DEFAULT_WINDOW_DAYS: i64 = 7;
/// The most groups `bounceGroups` returns.
const MAX_GROUPS: i32 = 1_000;
/// Recipient domains read to group by provider family.
const MAX_FAMILY_DOMAINS: u64 = 100_000;
/// The longest `sendVolume` range.
const MAX_VOLUME_DAYS: i64 = 400;

#[derive(Default)]
pub(crate) struct BounceQuery;

/// Narrows a bounce list; every field given must match.
#[derive(InputObject, Default)]
pub(crate) struct BounceFilter {
    /// Only bounces of this client.
    client_id: Option<ID>,
    /// Only bounces routed by this client domain (the original sender's).
    domain_id: Option<ID>,
    /// Only bounces for recipients at this domain (case-insensitive).
    recipient_domain: Option<String>,
    /// Only bounces with this reason (Sisimai name, e.g. `userunknown`).
    reason: Option<String>,
    /// Only hard (true) or soft (false) bounces.
    hard: Option<bool>,
    /// Only bounces of this kind.
    kind: Option<BounceKind>,
    /// Only bounces at or after this time.
    since: Option<DateTime<Utc>>,
    /// Only bounces before this time.
    until: Option<DateTime<Utc>>,
}

/// A time window `[since, until)`.
#[derive(InputObject)]
pub(crate) struct TimeWindow {
    /// The start (inclusive).
    since: DateTime<Utc>,
    /// The end (exclusive); default now.
    until: Option<DateTime<Utc>>,
}

/// Narrows a suppression list.
#[derive(InputObject, Default)]
pub(crate) struct SuppressionFilter {
    /// Only this client's list.
    client_id: Option<ID>,
    /// Also list restored addresses (default: only addresses suppressed now).
    include_restored: Option<bool>,
    /// Only addresses containing this text (case-insensitive).
    address_contains: Option<String>,
}

#[Object]
impl BounceQuery {
    /// Bounces of the clients the caller reaches (and unassigned ones for owners and admins
    /// of the operating MSP), newest first.
    async fn bounces(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Which bounces to list.")] filter: Option<BounceFilter>,
    ) -> Result<Conn<BounceNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let filter = bounce_filter(filter.unwrap_or_default())?;
        let page = db.list_bounces(&filter, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Bounces(filter),
            |b| (b.id, BounceNode::from(b)),
        ))
    }

    /// Bounces (kind `BOUNCED`) grouped by recipient domain (default), provider family,
    /// campaign or sending address, with hard/soft counts, distinct addresses and recipient
    /// domains and top reasons, most bounces first. Default window: the last 7 days.
    async fn bounce_groups(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this client's bounces.")] client_id: Option<ID>,
        #[graphql(desc = "The window; default the last 7 days.")] window: Option<TimeWindow>,
        #[graphql(desc = "The most groups returned: 1 to 1000, default 100.")] first: Option<i32>,
        #[graphql(desc = "What to group by; default RECIPIENT_DOMAIN.")] group_by: Option<
            BounceGrouping,
        >,
    ) -> Result<Vec<BounceGroupNode>, ApiError> {
        let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
        let now = Utc::now();
        let (since, until) = match window {
            Some(w) => (w.since, w.until.unwrap_or(now)),
            None => (now - TimeDelta::days(DEFAULT_WINDOW_DAYS), now),
        };
        if since >= until {
            return Err(ApiError::bad_request(
                "the window's since is not before until",
            ));
        }
        let limit = first.unwrap_or(100);
        if !(1..=MAX_GROUPS).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "first must be between 1 and {MAX_GROUPS}"
            )));
        }
        let db = tenant(ctx)?;
        if let Some(c) = client {
            db.client(c).await?;
        }
        let limit = u64::try_from(limit).unwrap_or(100);
        let group_by = group_by.unwrap_or_default();
        let store_by = match group_by {
            BounceGrouping::RecipientDomain | BounceGrouping::ProviderFamily => {
                BounceGroupBy::RecipientDomain
            }
            BounceGrouping::Campaign => BounceGroupBy::Campaign,
            BounceGrouping::SourceIp => BounceGroupBy::SendingIp,
        };
        let read = if group_by == BounceGrouping::ProviderFamily {
            MAX_FAMILY_DOMAINS
        } else {
            limit
        };
        let groups = db
            .bounce_groups_by(client, since, until, read, store_by)
            .await?;
        let mut nodes: Vec<BounceGroupNode> = groups
            .into_iter()
            .map(|g| BounceGroupNode::from_store(g, store_grouping(store_by)))
            .collect();
        if group_by == BounceGrouping::ProviderFamily {
            nodes = by_family(nodes);
        }
        nodes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(nodes)
    }

    /// Send volume (delivered, deferred, bounced, complaints) per client sender domain, day and
    /// provider, from ESP events and MTA logs, oldest day first.
    async fn send_volume(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this client's volume.")] client_id: Option<ID>,
        #[graphql(desc = "The first day (UTC).")] from: NaiveDate,
        #[graphql(desc = "The last day (UTC), inclusive.")] to: NaiveDate,
    ) -> Result<Vec<SendVolumeNode>, ApiError> {
        if from > to || (to - from).num_days() > MAX_VOLUME_DAYS {
            return Err(ApiError::bad_request(format!(
                "from must not be after to, and the range at most {MAX_VOLUME_DAYS} days"
            )));
        }
        let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
        let db = tenant(ctx)?;
        if let Some(c) = client {
            db.client(c).await?;
        }
        let rows = db.send_volume(client, from, to).await?;
        Ok(rows.into_iter().map(SendVolumeNode::from).collect())
    }

    /// Suppression lists of the clients the caller reaches, newest first.
    async fn suppressions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "Which entries to list.")] filter: Option<SuppressionFilter>,
    ) -> Result<Conn<SuppressionNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let filter = suppression_filter(filter.unwrap_or_default())?;
        let page = db.list_suppressions(&filter, request).await?;
        Ok(connection(
            &request,
            page,
            CountSource::Suppressions(filter),
            |s| (s.id, SuppressionNode::from(s)),
        ))
    }

    /// Whether an address is on a client's suppression list now: sending systems ask this
    /// before sending. `clientId` may be left out by a credential bound to one client;
    /// another tenant's client is `not_found`.
    async fn is_suppressed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client whose list to check.")] client_id: Option<ID>,
        #[graphql(desc = "The recipient address.")] address: String,
    ) -> Result<bool, ApiError> {
        let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
        Ok(tenant(ctx)?.is_suppressed(client, &address).await?)
    }

    /// The key of a client's bounce address: use `bounces+<key>@<an intake domain>` as the
    /// envelope sender (Return-Path) of the client's mail, and its bounces are filed under the
    /// client. Made on first use. `clientId` may be left out by a credential bound to one
    /// client; another tenant's client is `not_found`.
    async fn bounce_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client.")] client_id: Option<ID>,
    ) -> Result<String, ApiError> {
        let client: Option<ClientId> = client_id.as_ref().map(parse_id).transpose()?;
        Ok(tenant(ctx)?.bounce_key(client).await?)
    }
}

/// The API grouping a store grouping answers.
fn store_grouping(by: BounceGroupBy) -> BounceGrouping {
    match by {
        BounceGroupBy::RecipientDomain => BounceGrouping::RecipientDomain,
        BounceGroupBy::Campaign => BounceGrouping::Campaign,
        BounceGroupBy::SendingIp => BounceGrouping::SourceIp,
    }
}

/// Recipient-domain groups merged by their provider family, most bounces first.
fn by_family(domains: Vec<BounceGroupNode>) -> Vec<BounceGroupNode> {
    let mut families: BTreeMap<String, (BounceGroupNode, BTreeMap<String, u64>)> = BTreeMap::new();
    for d in domains {
        let family = d
            .provider_family
            .clone()
            .unwrap_or_else(|| family_of_host(None));
        let (g, reasons) = families.entry(family.clone()).or_insert_with(|| {
            (
                BounceGroupNode {
                    group_by: BounceGrouping::ProviderFamily,
                    key: Some(family.clone()),
                    recipient_domain: None,
                    provider_family: Some(family),
                    total: 0,
                    hard: 0,
                    soft: 0,
                    addresses: 0,
                    recipient_domains: 0,
                    top_reasons: Vec::new(),
                    first_seen: d.first_seen,
                    last_seen: d.last_seen,
                },
                BTreeMap::new(),
            )
        });
        g.total += d.total;
        g.hard += d.hard;
        g.soft += d.soft;
        // Addresses are distinct per recipient domain, so they add up across domains.
        g.addresses += d.addresses;
        g.recipient_domains += d.recipient_domains;
        g.first_seen = g.first_seen.min(d.first_seen);
        g.last_seen = g.last_seen.max(d.last_seen);
        for r in d.top_reasons {
            *reasons.entry(r.reason).or_default() += r.count;
        }
    }
    let mut out: Vec<BounceGroupNode> = families
        .into_values()
        .map(|(mut g, reasons)| {
            g.top_reasons = reasons
                .into_iter()
                .map(|(reason, count)| ReasonCountNode { reason, count })
                .collect();
            g.top_reasons
                .sort_by(|a, b| b.count.cmp(&a.count).then(a.reason.cmp(&b.reason)));
            g
        })
        .collect();
    out.sort_by(|a, b| b.total.cmp(&a.total).then(a.key.cmp(&b.key)));
    out
}

/// The store's bounce filter from the API's; ids must be UUIDs.
fn bounce_filter(filter: BounceFilter) -> Result<StoreBounceFilter, ApiError> {
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && since >= until
    {
        return Err(ApiError::bad_request("since is not before until"));
    }
    let domain: Option<DomainId> = filter.domain_id.as_ref().map(parse_id).transpose()?;
    Ok(StoreBounceFilter {
        client: filter.client_id.as_ref().map(parse_id).transpose()?,
        domain,
        recipient_domain: filter
            .recipient_domain
            .map(|d| d.trim().to_ascii_lowercase()),
        reason: filter.reason.map(|r| r.trim().to_ascii_lowercase()),
        hard: filter.hard,
        kind: filter.kind.map(Into::into),
        since: filter.since,
        until: filter.until,
    })
}

fn suppression_filter(filter: SuppressionFilter) -> Result<StoreSuppressionFilter, ApiError> {
    Ok(StoreSuppressionFilter {
        client: filter.client_id.as_ref().map(parse_id).transpose()?,
        include_restored: filter.include_restored.unwrap_or(false),
        address_contains: filter
            .address_contains
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty()),
    })
}
