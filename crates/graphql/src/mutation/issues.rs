//! `acknowledgeIssue`, `startIssue`, `assignIssue`, `commentIssue`, `ignoreIssue`,
//! `reopenIssue`: the issue workflow. Each change is recorded in the issue's history with the
//! calling user as its actor (none for API tokens).

use async_graphql::{Context, ID, Object};
use chrono::Utc;
use postern_bus::events;
use postern_domain::{IssueId, PrincipalKind, UserId};
use postern_store::{Issue, IssueEvent, OutboxEvent};

use crate::context::{parse_id, principal, tenant};
use crate::error::ApiError;
use crate::types::issue::IssueNode;

#[derive(Default)]
pub(crate) struct IssueMutation;

#[Object]
impl IssueMutation {
    /// Marks an open issue as seen (an acknowledged one stays as it is); `conflict` from any
    /// other state. MSP owners, admins and operators, and client admins for their client.
    async fn acknowledge_issue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The issue's id.")] id: ID,
    ) -> Result<IssueNode, ApiError> {
        let (id, actor) = target(ctx, &id)?;
        let issue = tenant(ctx)?
            .acknowledge_issue(id, actor, &issue_changed)
            .await?;
        Ok(IssueNode(issue))
    }

    /// Marks an open or acknowledged issue as being worked on; `conflict` from resolved or
    /// ignored. MSP owners, admins and operators, and client admins for their client.
    async fn start_issue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The issue's id.")] id: ID,
    ) -> Result<IssueNode, ApiError> {
        let (id, actor) = target(ctx, &id)?;
        let issue = tenant(ctx)?
            .set_in_progress(id, actor, &issue_changed)
            .await?;
        Ok(IssueNode(issue))
    }

    /// Assigns an issue to a member who reaches its client (`bad_request` otherwise), or to
    /// nobody. MSP owners, admins and operators only.
    async fn assign_issue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The issue's id.")] id: ID,
        #[graphql(desc = "The user's id; null to unassign.")] user_id: Option<ID>,
    ) -> Result<IssueNode, ApiError> {
        let (id, actor) = target(ctx, &id)?;
        let user: Option<UserId> = user_id.as_ref().map(parse_id).transpose()?;
        let issue = tenant(ctx)?
            .assign_issue(id, user, actor, &issue_changed)
            .await?;
        Ok(IssueNode(issue))
    }

    /// Adds a comment (1 to 10,000 characters) to an issue's history. MSP owners, admins and
    /// operators, and client admins for their client.
    async fn comment_issue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The issue's id.")] id: ID,
        #[graphql(desc = "The comment.")] text: String,
    ) -> Result<IssueNode, ApiError> {
        let (id, actor) = target(ctx, &id)?;
        let issue = tenant(ctx)?
            .comment_issue(id, &text, actor, &issue_changed)
            .await?;
        Ok(IssueNode(issue))
    }

    /// Ignores an issue: it stays ignored, whatever analysis finds, until reopened. MSP
    /// owners, admins and operators only.
    async fn ignore_issue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The issue's id.")] id: ID,
    ) -> Result<IssueNode, ApiError> {
        let (id, actor) = target(ctx, &id)?;
        let issue = tenant(ctx)?.ignore_issue(id, actor, &issue_changed).await?;
        Ok(IssueNode(issue))
    }

    /// Puts an issue back to open: un-ignores an ignored one, reopens a resolved,
    /// acknowledged or in-progress one (an open one stays as it is). The next evaluation
    /// resolves it again if its finding is gone. MSP owners, admins and operators only.
    async fn reopen_issue(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The issue's id.")] id: ID,
    ) -> Result<IssueNode, ApiError> {
        let (id, actor) = target(ctx, &id)?;
        let issue = tenant(ctx)?.reopen_issue(id, actor, &issue_changed).await?;
        Ok(IssueNode(issue))
    }
}

/// The issue id argument and the acting user (none for an API token).
fn target(ctx: &Context<'_>, id: &ID) -> Result<(IssueId, Option<UserId>), ApiError> {
    let actor = match principal(ctx)?.kind {
        PrincipalKind::User(user) => Some(user),
        PrincipalKind::ApiToken(_) => None,
    };
    Ok((parse_id(id)?, actor))
}

/// The `issue.changed` outbox event of a workflow change, written in the same transaction
/// as the history entry it describes (notify consumes it).
fn issue_changed(issue: &Issue, event: &IssueEvent) -> Vec<OutboxEvent> {
    let change = events::IssueChange {
        issue: issue.id,
        msp: issue.msp_id,
        client: issue.client_id,
        domain: issue.domain_id,
        code: &issue.code,
        severity: issue.severity,
        kind: event.kind.as_str(),
        from_state: event.from_state,
        to_state: event.to_state,
        actor: event.actor,
    };
    let envelope = events::issue_changed(&change, Utc::now());
    vec![OutboxEvent {
        id: envelope.id,
        topic: envelope.topic.clone(),
        payload: envelope.encode(),
    }]
}
