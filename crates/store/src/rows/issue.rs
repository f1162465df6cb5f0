//! The row types of the issue workflow: issues, their history, filters and what a
//! reconciliation did.

use crate::rows::OutboxEvent;
use chrono::{DateTime, Utc};
use postern_domain::{
    ClientId, DomainId, Evidence, FixStep, IssueEventId, IssueId, IssueState, MspId, Severity,
    UserId, Verification,
};
use serde::Serialize;

/// One (domain, finding code) tracked through its workflow, with the latest finding's text,
/// evidence, fix steps and verification.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Issue {
    pub id: IssueId,
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub domain_id: DomainId,
    /// The finding code, e.g. `dmarc.policy_none`; unique per domain.
    pub code: String,
    pub state: IssueState,
    pub severity: Severity,
    pub title: String,
    pub explanation: String,
    pub evidence: Vec<Evidence>,
    pub fix_steps: Vec<FixStep>,
    pub verification: Verification,
    pub assignee: Option<UserId>,
    pub opened_at: DateTime<Utc>,
    /// Last change of state, content or assignee.
    pub updated_at: DateTime<Utc>,
    /// When it was last resolved; `None` unless the state is resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// The last evaluation that found the finding.
    pub last_seen_at: DateTime<Utc>,
}

/// What an entry of an issue's history records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueEventKind {
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
    /// Someone (un)assigned it; the event's `assignee` says to whom.
    Assigned,
    /// Someone commented.
    Commented,
    /// MSP staff chose to ignore it (it stays ignored while the finding persists).
    Ignored,
    /// MSP staff stopped ignoring it.
    Unignored,
    /// MSP staff reopened it by hand.
    ReopenedByUser,
}

/// One entry of an issue's history: who (None: the system or an API token) did what, when.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IssueEvent {
    pub id: IssueEventId,
    pub issue_id: IssueId,
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub kind: IssueEventKind,
    pub actor: Option<UserId>,
    /// For [`IssueEventKind::Assigned`]: the new assignee (None: unassigned).
    pub assignee: Option<UserId>,
    pub comment: Option<String>,
    /// None for [`IssueEventKind::Opened`].
    pub from_state: Option<IssueState>,
    /// The state after the event (equal to `from_state` when it is no transition).
    pub to_state: IssueState,
    pub created_at: DateTime<Utc>,
}

/// Narrows an issue list; every field given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IssueFilter {
    pub client: Option<ClientId>,
    pub domain: Option<DomainId>,
    /// The domain's name (lower case, no trailing dot).
    pub domain_name: Option<String>,
    pub state: Option<IssueState>,
    pub severity: Option<Severity>,
    /// The exact finding code.
    pub code: Option<String>,
}

/// What one reconciliation changed, by issue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileOutcome {
    /// New issues.
    pub opened: Vec<IssueId>,
    /// Persisting findings whose content changed (ignored issues included).
    pub updated: Vec<IssueId>,
    /// Issues whose finding is gone: resolved with a `verified_resolved` event.
    pub resolved: Vec<IssueId>,
    /// Resolved issues whose finding came back.
    pub reopened: Vec<IssueId>,
}

/// Makes the outbox events (topic `issue.changed`, payload encoded by the caller) for one
/// history entry of an issue; they are written in the same transaction.
pub type IssueOutbox<'a> = dyn Fn(&Issue, &IssueEvent) -> Vec<OutboxEvent> + Send + Sync + 'a;

impl IssueEventKind {
    /// Every kind, in declaration order.
    pub const ALL: [IssueEventKind; 11] = [
        IssueEventKind::Opened,
        IssueEventKind::Updated,
        IssueEventKind::VerifiedResolved,
        IssueEventKind::Reopened,
        IssueEventKind::Acknowledged,
        IssueEventKind::InProgress,
        IssueEventKind::Assigned,
        IssueEventKind::Commented,
        IssueEventKind::Ignored,
        IssueEventKind::Unignored,
        IssueEventKind::ReopenedByUser,
    ];

    /// The stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            IssueEventKind::Opened => "opened",
            IssueEventKind::Updated => "updated",
            IssueEventKind::VerifiedResolved => "verified_resolved",
            IssueEventKind::Reopened => "reopened",
            IssueEventKind::Acknowledged => "acknowledged",
            IssueEventKind::InProgress => "in_progress",
            IssueEventKind::Assigned => "assigned",
            IssueEventKind::Commented => "commented",
            IssueEventKind::Ignored => "ignored",
            IssueEventKind::Unignored => "unignored",
            IssueEventKind::ReopenedByUser => "reopened_by_user",
        }
    }

    /// Parses a name written by [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for IssueEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_round_trip_their_names() {
        for kind in IssueEventKind::ALL {
            assert_eq!(IssueEventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(IssueEventKind::parse("verified"), None);
        assert_eq!(
            IssueEventKind::VerifiedResolved.as_str(),
            "verified_resolved"
        );
    }
}
