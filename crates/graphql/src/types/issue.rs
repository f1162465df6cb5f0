//! Issues, their findings (text, evidence, fix steps, verification) and their history.

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use postern_domain::{DnsRecordChange, Evidence, FixStep, UserId};
use postern_store::{Issue, IssueEvent, User};
use std::collections::HashMap;
use std::sync::Arc;

use crate::connection::{Conn, CountSource, connection, page_request};
use crate::context::{tenant, to_id};
use crate::error::ApiError;
use crate::loader::{client_by_id, domain_by_id};
use crate::types::tenancy::{ClientNode, DomainNode};

pub(crate) struct IssueNode(pub(crate) Issue);
/// A history entry and the people of its page, looked up once per page.
pub(crate) struct IssueEventNode {
    event: IssueEvent,
    people: Arc<HashMap<UserId, User>>,
}
pub(crate) struct FixStepNode(FixStep);

/// How bad a finding is.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::Severity")]
pub(crate) enum Severity {
    /// Worth knowing; nothing is at risk.
    Info,
    /// A small risk or an improvement.
    Low,
    /// A real risk to deliverability or protection.
    Medium,
    /// Mail is being lost or spoofable.
    High,
    /// Act now.
    Critical,
}

/// Where an issue is in its workflow.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::IssueState")]
pub(crate) enum IssueState {
    /// Found and not yet looked at.
    Open,
    /// Someone has seen it.
    Acknowledged,
    /// Someone is working on it.
    InProgress,
    /// Its finding is gone: resolved, verified by evaluation.
    Resolved,
    /// MSP staff chose to ignore it; it stays ignored until reopened, even while the finding
    /// persists.
    Ignored,
}

/// What kind of action a fix step asks for.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_domain::FixStepKind")]
pub(crate) enum FixStepKind {
    /// Publish or change a DNS record (`record` says which, from what, to what).
    ChangeDnsRecord,
    /// Move the DMARC policy a step on (none → quarantine → reject).
    UpgradePolicy,
    /// Authorise or fix a sending source (SPF include, DKIM signing).
    FixSendingSource,
    /// Contact the recipient's admin with the facts they need.
    ContactRecipientAdmin,
    /// Suppress addresses.
    SuppressAddresses,
    /// Pause a sending segment or campaign.
    PauseSegment,
    /// Look into something the rule cannot decide.
    Investigate,
}

/// What an entry of an issue's history records.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
#[graphql(remote = "postern_store::IssueEventKind")]
pub(crate) enum IssueEventKind {
    /// Analysis found the finding for the first time.
    Opened,
    /// Analysis found the finding again with different severity, text, evidence or fix steps.
    Updated,
    /// Analysis no longer finds it: resolved, verified by evaluation.
    VerifiedResolved,
    /// The finding of a resolved issue came back.
    Reopened,
    /// Someone acknowledged the issue.
    Acknowledged,
    /// Someone started working on it.
    InProgress,
    /// Someone assigned (or unassigned) it; `assignee` says to whom.
    Assigned,
    /// Someone commented.
    Commented,
    /// MSP staff chose to ignore it.
    Ignored,
    /// MSP staff stopped ignoring it.
    Unignored,
    /// MSP staff reopened it by hand.
    ReopenedByUser,
}

/// Someone named in an issue (its assignee, or who did something in its history).
#[derive(SimpleObject)]
#[graphql(name = "IssuePerson")]
pub(crate) struct PersonNode {
    /// The user's id.
    id: ID,
    /// The name shown for them.
    display_name: String,
}

/// One named piece of evidence behind a finding.
#[derive(SimpleObject)]
#[graphql(name = "Evidence")]
pub(crate) struct EvidenceNode {
    /// What it is, e.g. `source_ip` or `messages`.
    label: String,
    /// Its value.
    value: String,
}

/// A DNS record a fix step asks to publish.
#[derive(SimpleObject)]
#[graphql(name = "DnsRecordChange")]
pub(crate) struct DnsRecordChangeNode {
    /// Owner name, e.g. `_dmarc.example.com`.
    name: String,
    /// `TXT`, `CNAME`, `MX`, …
    record_type: String,
    /// The record as it is now; null if there is none.
    current: Option<String>,
    /// The exact record text to publish.
    proposed: String,
}

/// What must be observed for an issue to count as fixed.
#[derive(SimpleObject)]
#[graphql(name = "Verification")]
pub(crate) struct VerificationNode {
    /// The observation, for a person.
    description: String,
}

/// Something a rule found wrong with a domain, tracked through its workflow. There is one
/// issue per (domain, finding code); it carries the latest finding's text, evidence, fix
/// steps and verification.
#[Object(name = "Issue")]
impl IssueNode {
    /// The issue's id.
    async fn id(&self) -> ID {
        to_id(self.0.id)
    }

    /// The finding code: dotted, starting with its area (`dmarc.policy_none`).
    async fn code(&self) -> &str {
        &self.0.code
    }

    /// How bad it is.
    async fn severity(&self) -> Severity {
        self.0.severity.into()
    }

    /// Where it is in its workflow.
    async fn state(&self) -> IssueState {
        self.0.state.into()
    }

    /// A short human title.
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// What is wrong and why it matters.
    async fn explanation(&self) -> &str {
        &self.0.explanation
    }

    /// The facts behind the finding.
    async fn evidence(&self) -> Vec<EvidenceNode> {
        self.0.evidence.iter().map(EvidenceNode::from).collect()
    }

    /// What to do, in order.
    async fn fix_steps(&self) -> Vec<FixStepNode> {
        self.0.fix_steps.iter().cloned().map(FixStepNode).collect()
    }

    /// What must be observed for the issue to count as fixed.
    async fn verification(&self) -> VerificationNode {
        VerificationNode {
            description: self.0.verification.description.clone(),
        }
    }

    /// The domain the issue is about.
    async fn domain(&self, ctx: &Context<'_>) -> Result<DomainNode, ApiError> {
        Ok(DomainNode(domain_by_id(ctx, self.0.domain_id).await?))
    }

    /// The client that owns the domain.
    async fn client(&self, ctx: &Context<'_>) -> Result<ClientNode, ApiError> {
        Ok(ClientNode(client_by_id(ctx, self.0.client_id).await?))
    }

    /// Who the issue is assigned to; null if nobody.
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<PersonNode>, ApiError> {
        let Some(id) = self.0.assignee else {
            return Ok(None);
        };
        let people = tenant(ctx)?.issue_people(&[id]).await?;
        Ok(people.iter().find(|u| u.id == id).map(PersonNode::from))
    }

    /// When the finding was first found.
    async fn opened_at(&self) -> DateTime<Utc> {
        self.0.opened_at
    }

    /// The last change of state, content or assignee.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// When it was resolved; null unless it is resolved.
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.0.resolved_at
    }

    /// The last evaluation that found the finding.
    async fn last_seen_at(&self) -> DateTime<Utc> {
        self.0.last_seen_at
    }

    /// Every transition, assignment and comment, oldest first.
    async fn history(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Items per page: 1 to 500, default 50.")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<Conn<IssueEventNode>, ApiError> {
        let db = tenant(ctx)?;
        let request = page_request(first, after.as_deref())?;
        let page = db.issue_events(self.0.id, request).await?;
        let mut ids: Vec<UserId> = page
            .items
            .iter()
            .flat_map(|e| [e.actor, e.assignee])
            .flatten()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let people: HashMap<UserId, User> = db
            .issue_people(&ids)
            .await?
            .into_iter()
            .map(|u| (u.id, u))
            .collect();
        let people = Arc::new(people);
        Ok(connection(
            &request,
            page,
            CountSource::IssueEvents(self.0.id),
            |event| {
                let id = event.id.as_uuid();
                let people = Arc::clone(&people);
                (id, IssueEventNode { event, people })
            },
        ))
    }
}

/// One entry of an issue's history: who did what, when.
#[Object(name = "IssueEvent")]
impl IssueEventNode {
    /// The entry's id.
    async fn id(&self) -> ID {
        to_id(self.event.id)
    }

    /// What happened.
    async fn kind(&self) -> IssueEventKind {
        self.event.kind.into()
    }

    /// Who did it; null for analysis (the system), API tokens and deleted users.
    async fn actor(&self) -> Option<PersonNode> {
        self.person(self.event.actor)
    }

    /// For `ASSIGNED`: the new assignee (null: unassigned).
    async fn assignee(&self) -> Option<PersonNode> {
        self.person(self.event.assignee)
    }

    /// For `COMMENTED`: the comment.
    async fn comment(&self) -> Option<&str> {
        self.event.comment.as_deref()
    }

    /// The state before; null for `OPENED`.
    async fn from_state(&self) -> Option<IssueState> {
        self.event.from_state.map(Into::into)
    }

    /// The state after (the same as `fromState` when the entry is no transition).
    async fn to_state(&self) -> IssueState {
        self.event.to_state.into()
    }

    /// When it happened.
    async fn created_at(&self) -> DateTime<Utc> {
        self.event.created_at
    }
}

/// One step of a fix, in order.
#[Object(name = "FixStep")]
impl FixStepNode {
    /// What kind of action it asks for.
    async fn kind(&self) -> FixStepKind {
        self.0.kind.into()
    }

    /// A short imperative, e.g. "Publish a DMARC record with p=quarantine".
    async fn title(&self) -> &str {
        &self.0.title
    }

    /// What to do and why, for a person.
    async fn detail(&self) -> &str {
        &self.0.detail
    }

    /// The DNS record to publish, with its exact text, when the step is about one.
    async fn record(&self) -> Option<DnsRecordChangeNode> {
        self.0.record.as_ref().map(DnsRecordChangeNode::from)
    }
}

impl IssueEventNode {
    fn person(&self, id: Option<UserId>) -> Option<PersonNode> {
        id.and_then(|id| self.people.get(&id)).map(PersonNode::from)
    }
}

impl From<&User> for PersonNode {
    fn from(u: &User) -> Self {
        Self {
            id: to_id(u.id),
            display_name: u.display_name.clone(),
        }
    }
}

impl From<&Evidence> for EvidenceNode {
    fn from(e: &Evidence) -> Self {
        Self {
            label: e.label.clone(),
            value: e.value.clone(),
        }
    }
}

impl From<&DnsRecordChange> for DnsRecordChangeNode {
    fn from(r: &DnsRecordChange) -> Self {
        Self {
            name: r.name.clone(),
            record_type: r.record_type.clone(),
            current: r.current.clone(),
            proposed: r.proposed.clone(),
        }
    }
}
