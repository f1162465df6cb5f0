//! Issues of the scope's clients and the workflow people drive: acknowledge, start, assign,
//! comment, ignore, un-ignore and reopen. Every change writes a history entry with its actor
//! (and the caller's outbox events) in the same transaction.
//!
//! Who may do what: every role reads. MSP owners, admins and operators and client admins
//! acknowledge, start and comment (a client admin on their own client's issues only, which
//! the tenant filter ensures). Only MSP owners, admins and operators ignore, un-ignore,
//! reopen and assign. Viewers (MSP or client) only read.

use super::TenantDb;
use crate::entity::{app_user, domain, issue, issue_event, membership};
use crate::error::StoreError;
use crate::repo::now;
use crate::repo::system::{history, record};
use crate::rows::{
    Issue, IssueEvent, IssueEventKind, IssueFilter, IssueOutbox, Page, PageRequest, User,
};
use crate::scope::owned_by;
use postern_domain::{IssueId, IssueState, Role, UserId};
use sea_orm::sea_query::{Condition, Query};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::HashSet;
use uuid::Uuid;

/// Longest comment accepted, in characters.
pub const MAX_COMMENT_CHARS: usize = 10_000;

/// What one workflow call changes: the history entry's kind, the state after it and, for
/// assignments, the new assignee.
struct Step {
    kind: IssueEventKind,
    to: IssueState,
    assign: Option<Option<UserId>>,
    comment: Option<String>,
}

impl TenantDb {
    fn issues(&self) -> sea_orm::Select<issue::Entity> {
        issue::Entity::find().filter(owned_by(
            &self.scope,
            issue::Column::MspId,
            issue::Column::ClientId,
        ))
    }

    fn issues_matching(&self, filter: &IssueFilter) -> sea_orm::Select<issue::Entity> {
        let mut condition = Condition::all();
        if let Some(client) = filter.client {
            condition = condition.add(issue::Column::ClientId.eq(client.as_uuid()));
        }
        if let Some(domain) = filter.domain {
            condition = condition.add(issue::Column::DomainId.eq(domain.as_uuid()));
        }
        if let Some(name) = &filter.domain_name {
            let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
            condition = condition.add(
                issue::Column::DomainId.in_subquery(
                    Query::select()
                        .column(domain::Column::Id)
                        .from(domain::Entity)
                        .and_where(domain::Column::Name.eq(name))
                        .to_owned(),
                ),
            );
        }
        if let Some(state) = filter.state {
            condition = condition.add(issue::Column::State.eq(state.as_str()));
        }
        if let Some(severity) = filter.severity {
            condition = condition.add(issue::Column::Severity.eq(severity.as_str()));
        }
        if let Some(code) = &filter.code {
            condition = condition.add(issue::Column::Code.eq(code.as_str()));
        }
        self.issues().filter(condition)
    }

    /// The issues of the scope's clients that match `filter`, newest first.
    pub async fn list_issues(
        &self,
        filter: &IssueFilter,
        page: PageRequest,
    ) -> Result<Page<Issue>, StoreError> {
        let txn = self.read().await?;
        let mut query = self.issues_matching(filter);
        if let Some(after) = page.after {
            query = query.filter(issue::Column::Id.lt(after));
        }
        let rows = query
            .order_by_desc(issue::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(Issue::try_from)
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    /// How many issues [`list_issues`](Self::list_issues) pages through.
    pub async fn count_issues(&self, filter: &IssueFilter) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        let count = self.issues_matching(filter).count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    pub async fn issue(&self, id: IssueId) -> Result<Issue, StoreError> {
        let txn = self.read().await?;
        let issue = self.load_issue(&txn, id).await?;
        txn.commit().await?;
        Ok(issue)
    }

    /// An issue's history, oldest first (`after` = the last entry's id of the previous page).
    pub async fn issue_events(
        &self,
        id: IssueId,
        page: PageRequest,
    ) -> Result<Page<IssueEvent>, StoreError> {
        let txn = self.read().await?;
        self.load_issue(&txn, id).await?;
        let mut query = self.events_of(id);
        if let Some(after) = page.after {
            query = query.filter(issue_event::Column::Id.gt(after));
        }
        let rows = query
            .order_by_asc(issue_event::Column::Id)
            .limit(page.fetch())
            .all(&txn)
            .await?;
        txn.commit().await?;
        let items = rows
            .into_iter()
            .map(IssueEvent::try_from)
            .collect::<Result<_, _>>()?;
        Ok(page.page(items))
    }

    /// How many entries [`issue_events`](Self::issue_events) pages through.
    pub async fn count_issue_events(&self, id: IssueId) -> Result<u64, StoreError> {
        let txn = self.read().await?;
        self.load_issue(&txn, id).await?;
        let count = self.events_of(id).count(&txn).await?;
        txn.commit().await?;
        Ok(count)
    }

    /// The users among `ids` who are the assignee of an issue this scope sees or appear in
    /// such an issue's history (as actor or assignee); the others are left out, exactly as
    /// if they did not exist. For showing who did what; in no particular order.
    pub async fn issue_people(&self, ids: &[UserId]) -> Result<Vec<User>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<Uuid> = ids.iter().map(|u| u.as_uuid()).collect();
        let txn = self.read().await?;
        let assignees: Vec<Option<Uuid>> = self
            .issues()
            .select_only()
            .column(issue::Column::AssigneeId)
            .filter(issue::Column::AssigneeId.is_in(wanted.clone()))
            .distinct()
            .into_tuple()
            .all(&txn)
            .await?;
        let named: Vec<(Option<Uuid>, Option<Uuid>)> = issue_event::Entity::find()
            .filter(owned_by(
                &self.scope,
                issue_event::Column::MspId,
                issue_event::Column::ClientId,
            ))
            .filter(
                Condition::any()
                    .add(issue_event::Column::ActorId.is_in(wanted.clone()))
                    .add(issue_event::Column::AssigneeId.is_in(wanted.clone())),
            )
            .select_only()
            .column(issue_event::Column::ActorId)
            .column(issue_event::Column::AssigneeId)
            .distinct()
            .into_tuple()
            .all(&txn)
            .await?;
        let wanted: HashSet<Uuid> = wanted.into_iter().collect();
        let visible: HashSet<Uuid> = assignees
            .into_iter()
            .chain(named.into_iter().flat_map(|(a, b)| [a, b]))
            .flatten()
            .filter(|id| wanted.contains(id))
            .collect();
        let users = if visible.is_empty() {
            Vec::new()
        } else {
            app_user::Entity::find()
                .filter(app_user::Column::Id.is_in(visible))
                .all(&txn)
                .await?
        };
        txn.commit().await?;
        Ok(users.into_iter().map(User::from).collect())
    }

    /// Open → acknowledged (acknowledged: unchanged). [`StoreError::Conflict`] from any
    /// other state. MSP owners, admins, operators and client admins.
    pub async fn acknowledge_issue(
        &self,
        id: IssueId,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
    ) -> Result<Issue, StoreError> {
        self.require_worker("acknowledging issues")?;
        self.change(id, actor, events, |issue| match issue.state {
            IssueState::Acknowledged => Ok(None),
            IssueState::Open => Ok(Some(step(
                IssueEventKind::Acknowledged,
                IssueState::Acknowledged,
            ))),
            other => Err(cannot("acknowledged", other)),
        })
        .await
    }

    /// Open or acknowledged → in progress (in progress: unchanged). [`StoreError::Conflict`]
    /// from resolved or ignored. MSP owners, admins, operators and client admins.
    pub async fn set_in_progress(
        &self,
        id: IssueId,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
    ) -> Result<Issue, StoreError> {
        self.require_worker("working on issues")?;
        self.change(id, actor, events, |issue| match issue.state {
            IssueState::InProgress => Ok(None),
            IssueState::Open | IssueState::Acknowledged => Ok(Some(step(
                IssueEventKind::InProgress,
                IssueState::InProgress,
            ))),
            other => Err(cannot("started", other)),
        })
        .await
    }

    /// Adds a comment (trimmed, 1 to [`MAX_COMMENT_CHARS`] characters, else
    /// [`StoreError::Invalid`]) to the history; the issue itself does not change. MSP owners,
    /// admins, operators and client admins.
    pub async fn comment_issue(
        &self,
        id: IssueId,
        text: &str,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
    ) -> Result<Issue, StoreError> {
        self.require_worker("commenting on issues")?;
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::Invalid("comment is empty".into()));
        }
        if text.chars().count() > MAX_COMMENT_CHARS {
            return Err(StoreError::Invalid(format!(
                "comment is longer than {MAX_COMMENT_CHARS} characters"
            )));
        }
        self.change(id, actor, events, |issue| {
            Ok(Some(Step {
                comment: Some(text.to_owned()),
                ..step(IssueEventKind::Commented, issue.state)
            }))
        })
        .await
    }

    /// Assigns the issue to `user` (None: nobody); the state does not change. The user must
    /// be a member of the issue's MSP reaching its client ([`StoreError::Invalid`] otherwise).
    /// Assigning the current assignee again changes nothing. MSP owners, admins, operators.
    pub async fn assign_issue(
        &self,
        id: IssueId,
        user: Option<UserId>,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
    ) -> Result<Issue, StoreError> {
        self.require_staff("assigning issues")?;
        let txn = self.write().await?;
        let current = self.load_issue(&txn, id).await?;
        if current.assignee == user {
            txn.commit().await?;
            return Ok(current);
        }
        if let Some(user) = user {
            self.check_assignee(&txn, &current, user).await?;
        }
        let step = Step {
            assign: Some(user),
            ..step(IssueEventKind::Assigned, current.state)
        };
        let issue = self.apply(&txn, current, step, actor, events).await?;
        txn.commit().await?;
        Ok(issue)
    }

    /// Any state but ignored → ignored: it stays ignored, whatever analysis finds, until
    /// un-ignored (ignored: unchanged). MSP owners, admins, operators.
    pub async fn ignore_issue(
        &self,
        id: IssueId,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
    ) -> Result<Issue, StoreError> {
        self.require_staff("ignoring issues")?;
        self.change(id, actor, events, |issue| match issue.state {
            IssueState::Ignored => Ok(None),
            _ => Ok(Some(step(IssueEventKind::Ignored, IssueState::Ignored))),
        })
        .await
    }

    /// Ignored → open (`unignored`); the next evaluation resolves it if its finding is gone.
    /// [`StoreError::Conflict`] when the issue is not ignored. MSP owners, admins, operators.
    pub async fn unignore_issue(
        &self,
        id: IssueId,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
    ) -> Result<Issue, StoreError> {
        self.require_staff("un-ignoring issues")?;
        self.change(id, actor, events, |issue| match issue.state {
            IssueState::Ignored => Ok(Some(step(IssueEventKind::Unignored, IssueState::Open))),
            other => Err(cannot("un-ignored", other)),
        })
        .await
    }

    /// Back to open: an ignored issue is un-ignored (`unignored`), a resolved, acknowledged
    /// or in-progress one is reopened (`reopened_by_user`); an open one is unchanged. MSP
    /// owners, admins, operators.
    pub async fn reopen_issue(
        &self,
        id: IssueId,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
    ) -> Result<Issue, StoreError> {
        self.require_staff("reopening issues")?;
        self.change(id, actor, events, |issue| match issue.state {
            IssueState::Open => Ok(None),
            IssueState::Ignored => Ok(Some(step(IssueEventKind::Unignored, IssueState::Open))),
            IssueState::Resolved | IssueState::Acknowledged | IssueState::InProgress => {
                Ok(Some(step(IssueEventKind::ReopenedByUser, IssueState::Open)))
            }
        })
        .await
    }

    /// MSP owners, admins and operators, and the client's own users (issue 3: "client users
    /// can see and acknowledge/comment their own client's issues"), work issues. MSP viewers
    /// only read.
    fn require_worker(&self, what: &'static str) -> Result<(), StoreError> {
        if self.scope.can_operate()
            || matches!(self.scope.role, Role::ClientAdmin | Role::ClientViewer)
        {
            Ok(())
        } else {
            Err(StoreError::Forbidden(what))
        }
    }

    /// Only MSP owners, admins and operators.
    fn require_staff(&self, what: &'static str) -> Result<(), StoreError> {
        if self.scope.can_operate() {
            Ok(())
        } else {
            Err(StoreError::Forbidden(what))
        }
    }

    fn events_of(&self, id: IssueId) -> sea_orm::Select<issue_event::Entity> {
        issue_event::Entity::find()
            .filter(issue_event::Column::IssueId.eq(id.as_uuid()))
            .filter(owned_by(
                &self.scope,
                issue_event::Column::MspId,
                issue_event::Column::ClientId,
            ))
    }

    async fn load_issue(
        &self,
        txn: &DatabaseTransaction,
        id: IssueId,
    ) -> Result<Issue, StoreError> {
        let row = self
            .issues()
            .filter(issue::Column::Id.eq(id.as_uuid()))
            .one(txn)
            .await?
            .ok_or(StoreError::NotFound)?;
        Issue::try_from(row)
    }

    /// Loads the issue, asks `plan` what to do (None: nothing) and does it, in one
    /// transaction.
    async fn change(
        &self,
        id: IssueId,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
        plan: impl FnOnce(&Issue) -> Result<Option<Step>, StoreError>,
    ) -> Result<Issue, StoreError> {
        let txn = self.write().await?;
        let current = self.load_issue(&txn, id).await?;
        let issue = match plan(&current)? {
            Some(step) => self.apply(&txn, current, step, actor, events).await?,
            None => current,
        };
        txn.commit().await?;
        Ok(issue)
    }

    /// Stores `step` on `current` and writes its history entry and events.
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        current: Issue,
        step: Step,
        actor: Option<UserId>,
        events: &IssueOutbox<'_>,
    ) -> Result<Issue, StoreError> {
        let now = now();
        let from = current.state;
        let mut issue = current;
        if step.kind != IssueEventKind::Commented {
            issue.state = step.to;
            if step.to != IssueState::Resolved {
                issue.resolved_at = None;
            }
            if let Some(assignee) = step.assign {
                issue.assignee = assignee;
            }
            issue.updated_at = now;
            let changes = issue::ActiveModel {
                state: Set(issue.state.as_str().to_owned()),
                assignee_id: Set(issue.assignee.map(|u| u.as_uuid())),
                updated_at: Set(issue.updated_at),
                resolved_at: Set(issue.resolved_at),
                ..Default::default()
            };
            issue::Entity::update_many()
                .set(changes)
                .filter(issue::Column::Id.eq(issue.id.as_uuid()))
                .filter(owned_by(
                    &self.scope,
                    issue::Column::MspId,
                    issue::Column::ClientId,
                ))
                .exec(txn)
                .await?;
        }
        let mut entry = history(&issue, step.kind, Some(from), actor, now);
        entry.assignee = step.assign.flatten();
        entry.comment = step.comment;
        record(txn, &issue, &entry, events).await?;
        Ok(issue)
    }

    /// `user` is an enabled member of the issue's MSP, MSP-wide or of the issue's client.
    async fn check_assignee(
        &self,
        txn: &DatabaseTransaction,
        issue: &Issue,
        user: UserId,
    ) -> Result<(), StoreError> {
        let reaches = membership::Entity::find()
            .filter(membership::Column::UserId.eq(user.as_uuid()))
            .filter(membership::Column::MspId.eq(issue.msp_id.as_uuid()))
            .filter(
                Condition::any()
                    .add(membership::Column::ClientId.is_null())
                    .add(membership::Column::ClientId.eq(issue.client_id.as_uuid())),
            )
            .count(txn)
            .await?;
        let enabled = app_user::Entity::find()
            .filter(app_user::Column::Id.eq(user.as_uuid()))
            .filter(app_user::Column::Disabled.eq(false))
            .count(txn)
            .await?;
        if reaches == 0 || enabled == 0 {
            return Err(StoreError::Invalid(
                "the assignee is not an enabled member reaching the issue's client".into(),
            ));
        }
        Ok(())
    }
}

fn step(kind: IssueEventKind, to: IssueState) -> Step {
    Step {
        kind,
        to,
        assign: None,
        comment: None,
    }
}

fn cannot(what: &str, state: IssueState) -> StoreError {
    StoreError::Conflict(format!("an issue that is {state} cannot be {what}"))
}
