//! Relay connections: opaque cursors, `first`/`after` arguments and a lazily counted
//! `totalCount`.
//!
//! Every list is keyset-paginated on ids by the store; a cursor is the base64url text of the
//! last id of a page. `totalCount` is a resolver of its own, so the count query runs only
//! when a client selects the field (under any alias or fragment), never otherwise.

use async_graphql::connection::CursorType;
use async_graphql::{Context, Object, OutputType, SimpleObject, TypeName};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use postern_domain::{ClientId, IssueId};
use postern_store::{IssueFilter, Page, PageRequest, PluginFailureFilter, ReportFilter};
use std::borrow::Cow;
use uuid::Uuid;

use crate::context::tenant;
use crate::error::ApiError;

/// Items per page when `first` is not given.
pub(crate) const DEFAULT_PAGE_SIZE: u64 = 50;
/// The largest `first` accepted.
pub(crate) const MAX_PAGE_SIZE: u64 = 500;

/// A node type that is listed in connections, with the GraphQL names of its connection and
/// edge types.
pub(crate) trait Node: OutputType {
    /// E.g. `ClientConnection`.
    const CONNECTION: &'static str;
    /// E.g. `ClientEdge`.
    const EDGE: &'static str;
}

/// One page of a list of `N`: a Relay connection.
pub(crate) struct Conn<N> {
    edges: Vec<Edge<N>>,
    has_next_page: bool,
    has_previous_page: bool,
    count: CountSource,
}

/// One item of a page with its cursor.
pub(crate) struct Edge<N> {
    cursor: String,
    node: N,
}

/// Where a page is in its list.
#[derive(SimpleObject)]
pub(crate) struct PageInfo {
    /// More items follow this page: ask again with `after: endCursor`.
    has_next_page: bool,
    /// This page was asked for with `after`, so items precede it.
    has_previous_page: bool,
    /// The cursor of the first item of this page; null if the page is empty.
    start_cursor: Option<String>,
    /// The cursor of the last item of this page, for `after`; null if the page is empty.
    end_cursor: Option<String>,
}

/// The position after one item of a list: its id.
pub(crate) struct IdCursor(pub(crate) Uuid);

/// The cursor text is not one this API handed out.
#[derive(Debug, thiserror::Error)]
#[error("invalid cursor")]
pub(crate) struct InvalidCursor;

/// Where `totalCount` comes from; resolved only when selected.
pub(crate) enum CountSource {
    /// Already known (e.g. a report's record count).
    Known(u64),
    /// `TenantDb::count_clients`.
    Clients,
    /// `TenantDb::count_domains` (of one client, or all reached).
    Domains(Option<ClientId>),
    /// `TenantDb::count_reports` with the list's filter.
    Reports(ReportFilter),
    /// `TenantDb::count_unassigned_reports`.
    UnassignedReports,
    /// `TenantDb::count_rejections`.
    Rejections,
    /// Memberships in the caller's scope.
    Members,
    /// API tokens in the caller's scope.
    ApiTokens,
    /// `TenantDb::count_issues` with the list's filter.
    Issues(IssueFilter),
    /// `TenantDb::count_issue_events` of one issue.
    IssueEvents(IssueId),
    /// `TenantDb::count_notify_channels`.
    NotificationChannels,
    /// `TenantDb::count_notify_deliveries` with the list's filter.
    NotificationDeliveries(postern_store::notify::DeliveryFilter),
    /// `TenantDb::count_plugin_failures` with the list's filter.
    PluginFailures(PluginFailureFilter),
    /// `TenantDb::count_bounces` with the list's filter.
    Bounces(postern_store::BounceFilter),
    /// `TenantDb::count_suppressions` with the list's filter.
    Suppressions(postern_store::SuppressionFilter),
}

impl CursorType for IdCursor {
    type Error = InvalidCursor;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| InvalidCursor)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| InvalidCursor)?;
        Uuid::parse_str(text)
            .map(IdCursor)
            .map_err(|_| InvalidCursor)
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.hyphenated().to_string())
    }
}

/// One page of a list, with cursors to ask for the next (a Relay connection).
#[Object(name_type)]
impl<N: Node> Conn<N> {
    /// The items of this page with their cursors.
    async fn edges(&self) -> &[Edge<N>] {
        &self.edges
    }

    /// The items of this page.
    async fn nodes(&self) -> Vec<&N> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where this page is in the list.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            start_cursor: self.edges.first().map(|e| e.cursor.clone()),
            end_cursor: self.edges.last().map(|e| e.cursor.clone()),
        }
    }

    /// The number of items in the whole list, over all pages. Counted only when selected.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64, ApiError> {
        if let CountSource::Known(n) = self.count {
            return Ok(n);
        }
        let db = tenant(ctx)?;
        let count = match &self.count {
            CountSource::Known(n) => *n,
            CountSource::Clients => db.count_clients().await?,
            CountSource::Domains(client) => db.count_domains(*client).await?,
            CountSource::Reports(filter) => db.count_reports(filter).await?,
            CountSource::UnassignedReports => db.count_unassigned_reports().await?,
            CountSource::Rejections => db.count_rejections().await?,
            CountSource::Members => db.count_members().await?,
            CountSource::ApiTokens => db.count_api_tokens().await?,
            CountSource::Issues(filter) => db.count_issues(filter).await?,
            CountSource::IssueEvents(id) => db.count_issue_events(*id).await?,
            CountSource::NotificationChannels => db.count_notify_channels().await?,
            CountSource::NotificationDeliveries(filter) => {
                db.count_notify_deliveries(filter).await?
            }
            CountSource::PluginFailures(filter) => db.count_plugin_failures(filter).await?,
            CountSource::Bounces(filter) => db.count_bounces(filter).await?,
            CountSource::Suppressions(filter) => db.count_suppressions(filter).await?,
        };
        Ok(count)
    }
}

impl<N: Node> TypeName for Conn<N> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(N::CONNECTION)
    }
}

/// An item of a page and the cursor after it.
#[Object(name_type)]
impl<N: Node> Edge<N> {
    /// The position of this item, for `after`.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    /// The item.
    async fn node(&self) -> &N {
        &self.node
    }
}

impl<N: Node> TypeName for Edge<N> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(N::EDGE)
    }
}

/// Validates `first`/`after` into a store page request: `first` defaults to
/// [`DEFAULT_PAGE_SIZE`] and must be within 1..=[`MAX_PAGE_SIZE`]; `after` must be a cursor
/// this API handed out.
pub(crate) fn page_request(
    first: Option<i32>,
    after: Option<&str>,
) -> Result<PageRequest, ApiError> {
    let limit = page_size(first)?;
    let after = after
        .map(IdCursor::decode_cursor)
        .transpose()
        .map_err(|_| ApiError::bad_request("invalid cursor"))?
        .map(|c| c.0);
    Ok(PageRequest { after, limit })
}

/// Validates a `first` argument: default [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`].
pub(crate) fn page_size(first: Option<i32>) -> Result<u64, ApiError> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) => u64::try_from(n)
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("first must be between 1 and {MAX_PAGE_SIZE}"))
            }),
    }
}

/// Builds a connection from a store page; `node` gives each item's cursor id and node.
pub(crate) fn connection<T, N: Node>(
    request: &PageRequest,
    page: Page<T>,
    count: CountSource,
    mut node: impl FnMut(T) -> (Uuid, N),
) -> Conn<N> {
    let edges = page
        .items
        .into_iter()
        .map(|item| {
            let (id, node) = node(item);
            Edge {
                cursor: IdCursor(id).encode_cursor(),
                node,
            }
        })
        .collect();
    Conn {
        edges,
        has_next_page: page.has_next,
        has_previous_page: request.after.is_some(),
        count,
    }
}

/// A connection with no items.
pub(crate) fn empty_connection<N: Node>() -> Conn<N> {
    Conn {
        edges: Vec::new(),
        has_next_page: false,
        has_previous_page: false,
        count: CountSource::Known(0),
    }
}

/// Implements [`Node`] for node types: `node_names!(ClientNode => "Client", …)`.
macro_rules! node_names {
    ($($ty:ty => $name:literal),+ $(,)?) => {
        $(impl $crate::connection::Node for $ty {
            const CONNECTION: &'static str = concat!($name, "Connection");
            const EDGE: &'static str = concat!($name, "Edge");
        })+
    };
}
pub(crate) use node_names;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_is_opaque() {
        let id = Uuid::now_v7();
        let text = IdCursor(id).encode_cursor();
        assert!(!text.contains('-'), "{text}");
        assert_eq!(IdCursor::decode_cursor(&text).map(|c| c.0).ok(), Some(id));
    }

    #[test]
    fn foreign_cursors_are_refused() {
        for bad in ["", "!!", "bm90IGEgdXVpZA", &Uuid::now_v7().to_string()] {
            assert!(IdCursor::decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn first_defaults_and_is_bounded() {
        assert_eq!(page_request(None, None).map(|p| p.limit).ok(), Some(50));
        assert_eq!(
            page_request(Some(500), None).map(|p| p.limit).ok(),
            Some(500)
        );
        for bad in [0, -1, 501] {
            assert!(matches!(
                page_request(Some(bad), None),
                Err(ApiError::BadRequest(_))
            ));
        }
        assert!(matches!(
            page_request(None, Some("nope")),
            Err(ApiError::BadRequest(_))
        ));
    }
}
