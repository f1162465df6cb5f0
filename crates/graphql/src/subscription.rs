//! The root subscription type: `issueEvents`, the live issue feed.
//!
//! The feed is the process's [`LiveFeed`] of `issue.changed` (connection or schema data, set
//! by the api service); each subscription filters it by the verified principal's tenant scope
//! first and by the caller's filter second, so nobody ever sees another tenant's events.

use async_graphql::futures_util::stream::{self, Stream};
use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use postern_bus::events::IssueChanged;
use postern_bus::{Envelope, LiveFeed, topics};
use postern_domain::{
    ClientId, DomainId, ErrorCode, EventId, IssueId, IssueState, MspId, Severity, TenantScope,
    UserId,
};
use postern_store::{IssueEventKind, StoreError};
use std::str::FromStr;
use tokio::sync::broadcast::error::RecvError;

use crate::context::{parse_id, principal, tenant, to_id};
use crate::error::ApiError;
use crate::types::issue::{self, IssueNode, PersonNode};

/// Everything that can be followed live. Every field needs a verified credential; what it
/// streams is limited to the caller's MSP or client.
#[derive(Default)]
pub struct Subscription;

/// Narrows the live issue feed; every field given must match.
#[derive(InputObject, Default)]
pub(crate) struct IssueEventFilter {
    /// Only changes of this client's issues.
    client_id: Option<ID>,
    /// Only changes of this domain's issues.
    domain_id: Option<ID>,
    /// Only changes of issues at least this severe.
    min_severity: Option<issue::Severity>,
}

/// One change to an issue as it happens: the live counterpart of an `IssueEvent` of the
/// issue's history.
pub(crate) struct IssueChangeNode(IssueChange);

/// An `issue.changed` event, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct IssueChange {
    event_id: EventId,
    msp: MspId,
    client: ClientId,
    issue: IssueId,
    domain: DomainId,
    code: String,
    severity: Severity,
    kind: IssueEventKind,
    from_state: Option<IssueState>,
    to_state: IssueState,
    actor: Option<UserId>,
    at: DateTime<Utc>,
}

/// The caller's filter with its ids parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct FeedFilter {
    client: Option<ClientId>,
    domain: Option<DomainId>,
    min_severity: Option<Severity>,
}

/// Everything that can be followed live. Every field needs a verified credential; what it
/// streams is limited to the caller's MSP or client.
#[async_graphql::Subscription]
impl Subscription {
    /// Changes to issues as they happen (opened, updated, resolved, reopened, worked on), from
    /// the moment of subscribing: one item per entry of an issue's history. Only the
    /// caller's tenant's issues: a client user gets its client's, MSP staff their MSP's.
    ///
    /// A subscriber that reads too slowly misses events: it then gets one error with
    /// `extensions.code` `unavailable` and `extensions.missed` (how many were dropped) and the
    /// feed goes on; re-read `issues` to catch up.
    async fn issue_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<IssueEventFilter>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<IssueChangeNode>>> {
        let scope = principal(ctx)?.scope;
        let filter = FeedFilter::parse(filter.unwrap_or_default())?;
        let feed = ctx.data_opt::<LiveFeed>().ok_or_else(|| {
            tracing::error!("the issue feed is not wired into the schema");
            ApiError::Internal
        })?;
        let receiver = feed.subscribe();
        Ok(stream::unfold(receiver, move |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(envelope) => {
                        if let Some(change) = admit(&envelope, &scope, &filter) {
                            return Some((Ok(IssueChangeNode(change)), receiver));
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        return Some((Err(lagged(missed)), receiver));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }))
    }
}

/// One change to an issue as it happens: the live counterpart of an `IssueEvent` of the
/// issue's history.
#[Object(name = "IssueChange")]
impl IssueChangeNode {
    /// The event's id (unique per change).
    async fn event_id(&self) -> ID {
        to_id(self.0.event_id)
    }

    /// The issue's id.
    async fn issue_id(&self) -> ID {
        to_id(self.0.issue)
    }

    /// The issue as it is now (which may already be later than this change); null if the
    /// caller can no longer see it.
    async fn issue(&self, ctx: &Context<'_>) -> Result<Option<IssueNode>, ApiError> {
        match tenant(ctx)?.issue(self.0.issue).await {
            Ok(issue) => Ok(Some(IssueNode(issue))),
            Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The client whose issue it is.
    async fn client_id(&self) -> ID {
        to_id(self.0.client)
    }

    /// The domain the issue is about.
    async fn domain_id(&self) -> ID {
        to_id(self.0.domain)
    }

    /// The finding code, e.g. `dmarc.policy_none`.
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// How bad the issue is.
    async fn severity(&self) -> issue::Severity {
        self.0.severity.into()
    }

    /// What happened.
    async fn kind(&self) -> issue::IssueEventKind {
        self.0.kind.into()
    }

    /// The state before; null for `OPENED`.
    async fn from_state(&self) -> Option<issue::IssueState> {
        self.0.from_state.map(Into::into)
    }

    /// The state after (the same as `fromState` when the change is no transition).
    async fn to_state(&self) -> issue::IssueState {
        self.0.to_state.into()
    }

    /// Who did it; null for analysis (the system), API tokens and deleted users.
    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<PersonNode>, ApiError> {
        let Some(id) = self.0.actor else {
            return Ok(None);
        };
        let people = tenant(ctx)?.issue_people(&[id]).await?;
        Ok(people.iter().find(|u| u.id == id).map(PersonNode::from))
    }

    /// When it happened.
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
}

impl IssueChange {
    /// Reads an `issue.changed` envelope; says what is wrong with a malformed one.
    fn from_envelope(envelope: &Envelope) -> Result<Self, String> {
        let (Some(msp), Some(client)) = (envelope.msp_id, envelope.client_id) else {
            return Err("no tenant".to_owned());
        };
        let message: IssueChanged = envelope.payload_as().map_err(|e| e.to_string())?;
        let state = |field: &str, text: &str| {
            IssueState::parse(text).ok_or_else(|| format!("{field} {text:?}"))
        };
        Ok(Self {
            event_id: envelope.id,
            msp,
            client,
            issue: uuid_field("issue_id", &message.issue_id)?,
            domain: uuid_field("domain_id", &message.domain_id)?,
            severity: Severity::parse(&message.severity)
                .ok_or_else(|| format!("severity {:?}", message.severity))?,
            kind: IssueEventKind::parse(&message.kind)
                .ok_or_else(|| format!("kind {:?}", message.kind))?,
            from_state: match message.from_state.as_str() {
                "" => None,
                text => Some(state("from_state", text)?),
            },
            to_state: state("to_state", &message.to_state)?,
            actor: match message.actor_id.as_str() {
                "" => None,
                text => Some(uuid_field("actor_id", text)?),
            },
            code: message.code,
            at: envelope.occurred_at,
        })
    }
}

impl FeedFilter {
    /// The filter of the API; ids must be UUIDs.
    fn parse(filter: IssueEventFilter) -> Result<Self, ApiError> {
        Ok(Self {
            client: filter.client_id.as_ref().map(parse_id).transpose()?,
            domain: filter.domain_id.as_ref().map(parse_id).transpose()?,
            min_severity: filter.min_severity.map(Into::into),
        })
    }

    fn matches(&self, change: &IssueChange) -> bool {
        self.client.is_none_or(|c| c == change.client)
            && self.domain.is_none_or(|d| d == change.domain)
            && self
                .min_severity
                .is_none_or(|min| rank(change.severity) >= rank(min))
    }
}

/// The change an envelope carries, if the caller of `scope` may see it and it passes
/// `filter`. Another tenant's events, events of no tenant, other topics and malformed
/// payloads (logged) are left out.
pub(crate) fn admit(
    envelope: &Envelope,
    scope: &TenantScope,
    filter: &FeedFilter,
) -> Option<IssueChange> {
    if envelope.topic != topics::ISSUE_CHANGED {
        return None;
    }
    // The tenant first, from the envelope alone: nothing of another tenant is even decoded.
    let (Some(msp), Some(client)) = (envelope.msp_id, envelope.client_id) else {
        return None;
    };
    if !scope.reaches(msp, client) {
        return None;
    }
    match IssueChange::from_envelope(envelope) {
        Ok(change) => filter.matches(&change).then_some(change),
        Err(why) => {
            tracing::warn!(event_id = %envelope.id, %why, "malformed issue.changed event skipped");
            None
        }
    }
}

/// Severities in order, least severe first.
fn rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

fn uuid_field<T: FromStr>(field: &str, text: &str) -> Result<T, String> {
    text.parse().map_err(|_| format!("{field} {text:?}"))
}

/// The error a subscriber gets when it fell behind and `missed` events were dropped.
fn lagged(missed: u64) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "unavailable: this subscription fell behind and {missed} events were dropped; re-read issues to catch up"
    ))
    .extend_with(|_, ext| {
        ext.set("code", ErrorCode::Unavailable.as_str());
        ext.set("missed", missed);
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mutation, Query};
    use async_graphql::futures_util::StreamExt;
    use async_graphql::{Request, Schema, Variables};
    use postern_bus::events::{DomainRemoved, IssueChange as BusIssueChange, issue_changed};
    use postern_domain::{Principal, PrincipalKind, Role};
    use std::time::Duration;

    struct Tenant {
        msp: MspId,
        client: ClientId,
        domain: DomainId,
    }

    impl Tenant {
        fn new(msp: MspId) -> Self {
            Self {
                msp,
                client: ClientId::new(),
                domain: DomainId::new(),
            }
        }

        fn event(&self, code: &str, severity: Severity) -> Envelope {
            issue_changed(
                &BusIssueChange {
                    issue: IssueId::new(),
                    msp: self.msp,
                    client: self.client,
                    domain: self.domain,
                    code,
                    severity,
                    kind: "opened",
                    from_state: None,
                    to_state: IssueState::Open,
                    actor: None,
                },
                Utc::now(),
            )
        }

        fn client_scope(&self) -> TenantScope {
            TenantScope::client(self.msp, self.client, Role::ClientViewer)
        }
    }

    fn codes(events: &[Envelope], scope: &TenantScope, filter: &FeedFilter) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| admit(e, scope, filter))
            .map(|c| c.code)
            .collect()
    }

    #[test]
    fn a_client_user_gets_only_its_clients_events_and_msp_staff_their_msps() {
        let msp = MspId::new();
        let a = Tenant::new(msp);
        let b = Tenant::new(msp);
        let elsewhere = Tenant::new(MspId::new());
        let events = [
            a.event("a.one", Severity::Low),
            b.event("b.one", Severity::High),
            elsewhere.event("x.one", Severity::Critical),
        ];
        let all = FeedFilter::default();
        assert_eq!(codes(&events, &a.client_scope(), &all), ["a.one"]);
        assert_eq!(codes(&events, &b.client_scope(), &all), ["b.one"]);
        let staff = TenantScope::msp(msp, Role::MspViewer, false);
        assert_eq!(codes(&events, &staff, &all), ["a.one", "b.one"]);
        // A filter naming another tenant's client cannot widen the scope.
        let other = FeedFilter {
            client: Some(b.client),
            ..FeedFilter::default()
        };
        assert!(codes(&events, &a.client_scope(), &other).is_empty());
        let foreign = FeedFilter {
            client: Some(elsewhere.client),
            ..FeedFilter::default()
        };
        assert!(codes(&events, &staff, &foreign).is_empty());
    }

    #[test]
    fn the_filter_narrows_by_client_domain_and_minimum_severity() {
        let msp = MspId::new();
        let a = Tenant::new(msp);
        let b = Tenant::new(msp);
        let events = [
            a.event("a.info", Severity::Info),
            a.event("a.medium", Severity::Medium),
            a.event("a.critical", Severity::Critical),
            b.event("b.high", Severity::High),
        ];
        let staff = TenantScope::msp(msp, Role::MspOperator, false);
        let by_client = FeedFilter {
            client: Some(a.client),
            ..FeedFilter::default()
        };
        assert_eq!(
            codes(&events, &staff, &by_client),
            ["a.info", "a.medium", "a.critical"]
        );
        let by_domain = FeedFilter {
            domain: Some(b.domain),
            ..FeedFilter::default()
        };
        assert_eq!(codes(&events, &staff, &by_domain), ["b.high"]);
        let severe = FeedFilter {
            min_severity: Some(Severity::Medium),
            ..FeedFilter::default()
        };
        assert_eq!(
            codes(&events, &staff, &severe),
            ["a.medium", "a.critical", "b.high"]
        );
        let both = FeedFilter {
            client: Some(a.client),
            min_severity: Some(Severity::High),
            ..FeedFilter::default()
        };
        assert_eq!(codes(&events, &staff, &both), ["a.critical"]);
    }

    #[test]
    fn events_of_no_tenant_other_topics_and_malformed_payloads_are_left_out() {
        let msp = MspId::new();
        let a = Tenant::new(msp);
        let staff = TenantScope::msp(msp, Role::MspOwner, true);
        let all = FeedFilter::default();
        let good = a.event("a.one", Severity::Low);
        let untenanted = Envelope {
            client_id: None,
            ..good.clone()
        };
        let other_topic = Envelope::new(
            topics::DOMAIN_REMOVED,
            &DomainRemoved::default(),
            Some(msp),
            Some(a.client),
            Utc::now(),
        );
        let bad_payload = Envelope {
            payload: prost::Message::encode_to_vec(&IssueChanged {
                issue_id: "nope".to_owned(),
                ..IssueChanged::default()
            }),
            ..good.clone()
        };
        let events = [untenanted, other_topic, bad_payload, good.clone()];
        assert_eq!(codes(&events, &staff, &all), ["a.one"]);
        let change = admit(&good, &staff, &all).unwrap();
        assert_eq!(change.event_id, good.id);
        assert_eq!(change.kind, IssueEventKind::Opened);
        assert_eq!(change.from_state, None);
        assert_eq!(change.to_state, IssueState::Open);
        assert_eq!(change.at, good.occurred_at);
    }

    fn schema() -> Schema<Query, Mutation, Subscription> {
        Schema::build(Query::default(), Mutation::default(), Subscription).finish()
    }

    const FEED: &str = "subscription($f: IssueEventFilter) { issueEvents(filter: $f) { code severity kind fromState toState clientId } }";

    fn principal_of(scope: TenantScope) -> Principal {
        Principal {
            kind: PrincipalKind::User(UserId::new()),
            scope,
        }
    }

    #[tokio::test]
    async fn the_subscription_streams_the_callers_events_and_reports_a_lag() {
        let msp = MspId::new();
        let a = Tenant::new(msp);
        let b = Tenant::new(msp);
        let feed = LiveFeed::new(4);
        let request = Request::new(FEED)
            .variables(Variables::from_json(serde_json::json!({
                "f": { "minSeverity": "MEDIUM" }
            })))
            .data(principal_of(a.client_scope()))
            .data(feed.clone());
        let schema = schema();
        let mut stream = schema.execute_stream(request);
        // The first poll runs the resolver, which subscribes to the feed.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), stream.next())
                .await
                .is_err()
        );
        assert_eq!(feed.subscribers(), 1);

        feed.send(b.event("b.high", Severity::High));
        feed.send(a.event("a.low", Severity::Low));
        feed.send(a.event("a.high", Severity::High));
        let response = stream.next().await.unwrap();
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        assert_eq!(
            response.data.into_json().unwrap(),
            serde_json::json!({ "issueEvents": {
                "code": "a.high", "severity": "HIGH", "kind": "OPENED",
                "fromState": null, "toState": "OPEN", "clientId": a.client.to_string()
            } })
        );

        // Two more than the feed holds for a subscriber: it is told, then goes on.
        for code in ["a.1", "a.2", "a.3", "a.4", "a.5", "a.6"] {
            feed.send(a.event(code, Severity::Critical));
        }
        let response = stream.next().await.unwrap();
        let error = &response.errors[0];
        let ext = serde_json::to_value(&error.extensions).unwrap();
        assert_eq!(ext["code"], "unavailable", "{ext}");
        assert_eq!(ext["missed"], 2, "{ext}");
        let response = stream.next().await.unwrap();
        assert_eq!(
            response.data.into_json().unwrap()["issueEvents"]["code"],
            "a.3"
        );
    }

    #[tokio::test]
    async fn the_subscription_needs_a_principal_and_valid_ids() {
        let feed = LiveFeed::new(4);
        let schema = schema();
        let response = schema
            .execute_stream(Request::new(FEED).data(feed.clone()))
            .next()
            .await
            .unwrap();
        let ext = serde_json::to_value(&response.errors[0].extensions).unwrap();
        assert_eq!(ext["code"], "unauthenticated");

        let scope = TenantScope::msp(MspId::new(), Role::MspAdmin, false);
        let request = Request::new(FEED)
            .variables(Variables::from_json(serde_json::json!({
                "f": { "clientId": "42" }
            })))
            .data(principal_of(scope))
            .data(feed.clone());
        let response = schema.execute_stream(request).next().await.unwrap();
        let ext = serde_json::to_value(&response.errors[0].extensions).unwrap();
        assert_eq!(ext["code"], "bad_request");
        assert_eq!(feed.subscribers(), 0);
    }
}
