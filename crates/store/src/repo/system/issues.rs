//! Reconciling a domain's findings with its issues (analysis), and the history writes the
//! tenant workflow shares.

use super::SystemDb;
use crate::entity::{domain, issue, issue_event, to_json};
use crate::error::StoreError;
use crate::repo::write_events;
use crate::rows::{Domain, Issue, IssueEvent, IssueEventKind, IssueOutbox, ReconcileOutcome};
use crate::store::Backend;
use chrono::{DateTime, SubsecRound, Utc};
use postern_domain::{DomainId, Finding, IssueEventId, IssueId, IssueState, UserId};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::{BTreeMap, HashSet};

impl SystemDb {
    /// Brings `domain`'s issues in line with one evaluation's `findings`, in ONE transaction
    /// (the domain row is locked on PostgreSQL, so evaluations of one domain do not interleave):
    ///
    /// * a finding whose code has no issue opens one (`opened`);
    /// * a finding whose issue is resolved reopens it (`reopened`);
    /// * a finding whose issue is open, acknowledged, in progress or ignored refreshes its
    ///   severity, text, evidence, fix steps and verification; an `updated` event is written
    ///   only when one of them changed (`last_seen_at` moves on every time). Ignored issues
    ///   stay ignored;
    /// * an open, acknowledged or in-progress issue whose code is **covered by `evaluated`**
    ///   and absent from `findings` is resolved (`verified_resolved`). Ignored and resolved
    ///   issues are left as they are, and so is every issue whose code `evaluated` does not
    ///   cover: a rule that was not evaluated (disabled, failed, not applicable) says nothing
    ///   about its findings.
    ///
    /// `evaluated` lists what this evaluation covered: each entry is either a complete code
    /// (`dmarc.policy_none`) or a prefix ending in a dot (`dmarc.` covers every `dmarc.*`
    /// code). Pass the codes (or code areas) of the rules that ran successfully.
    ///
    /// Every history entry is written with the events `events(issue, entry)` returns, in the
    /// same transaction; the actor of these entries is the system (`None`). Findings are
    /// taken as given, except that a code must be valid ([`Finding::valid_code`], else
    /// [`StoreError::Invalid`]) and a repeated code counts once (the first wins).
    /// [`StoreError::NotFound`] when the domain is gone.
    #[tracing::instrument(name = "store.issues.reconcile", skip_all, fields(tenant = %domain.msp_id, domain = %domain.id, findings = findings.len()))]
    pub async fn reconcile_findings(
        &self,
        domain: &Domain,
        evaluated: &[String],
        findings: &[Finding],
        now: DateTime<Utc>,
        events: &IssueOutbox<'_>,
    ) -> Result<ReconcileOutcome, StoreError> {
        let now = now.trunc_subsecs(6);
        if let Some(bad) = findings.iter().find(|f| !Finding::valid_code(&f.code)) {
            return Err(StoreError::Invalid(format!(
                "finding code {:?} is not a dotted lower-case code",
                bad.code
            )));
        }
        if evaluated.iter().any(|e| e.is_empty()) {
            return Err(StoreError::Invalid("an evaluated code is empty".into()));
        }
        let txn = self.write().await?;
        let mut lookup = domain::Entity::find().filter(domain::Column::Id.eq(domain.id.as_uuid()));
        if self.store.backend == Backend::Postgres {
            lookup = lookup.lock_exclusive();
        }
        let owner = lookup.one(&txn).await?.ok_or(StoreError::NotFound)?;
        let existing = issue::Entity::find()
            .filter(issue::Column::DomainId.eq(owner.id))
            .all(&txn)
            .await?;
        // Ordered by code, so the events of one evaluation are written in a stable order.
        let mut by_code: BTreeMap<String, Issue> = BTreeMap::new();
        for row in existing {
            let issue = Issue::try_from(row)?;
            by_code.insert(issue.code.clone(), issue);
        }

        let mut outcome = ReconcileOutcome::default();
        let mut seen: HashSet<&str> = HashSet::with_capacity(findings.len());
        for finding in findings {
            if !seen.insert(finding.code.as_str()) {
                continue;
            }
            match by_code.get(&finding.code) {
                None => {
                    let issue = open_issue(&txn, &owner, finding, now).await?;
                    let entry = history(&issue, IssueEventKind::Opened, None, None, now);
                    record(&txn, &issue, &entry, events).await?;
                    outcome.opened.push(issue.id);
                }
                Some(current) if current.state == IssueState::Resolved => {
                    let mut issue = refreshed(current, finding, now);
                    issue.state = IssueState::Open;
                    issue.resolved_at = None;
                    issue.updated_at = now;
                    save_finding(&txn, &issue).await?;
                    let entry = history(
                        &issue,
                        IssueEventKind::Reopened,
                        Some(IssueState::Resolved),
                        None,
                        now,
                    );
                    record(&txn, &issue, &entry, events).await?;
                    outcome.reopened.push(issue.id);
                }
                Some(current) => {
                    let mut issue = refreshed(current, finding, now);
                    let changed = !same_content(current, &issue);
                    if changed {
                        issue.updated_at = now;
                    }
                    save_finding(&txn, &issue).await?;
                    if changed {
                        let entry = history(
                            &issue,
                            IssueEventKind::Updated,
                            Some(issue.state),
                            None,
                            now,
                        );
                        record(&txn, &issue, &entry, events).await?;
                        outcome.updated.push(issue.id);
                    }
                }
            }
        }

        for (code, current) in &by_code {
            let workable = matches!(
                current.state,
                IssueState::Open | IssueState::Acknowledged | IssueState::InProgress
            );
            if seen.contains(code.as_str()) || !workable || !covers(evaluated, code) {
                continue;
            }
            let mut issue = current.clone();
            issue.state = IssueState::Resolved;
            issue.resolved_at = Some(now);
            issue.updated_at = now;
            save_state(&txn, &issue).await?;
            let entry = history(
                &issue,
                IssueEventKind::VerifiedResolved,
                Some(current.state),
                None,
                now,
            );
            record(&txn, &issue, &entry, events).await?;
            outcome.resolved.push(issue.id);
        }
        txn.commit().await?;
        Ok(outcome)
    }
}

impl SystemDb {
    /// The codes of every issue of `domain`, whatever their state, sorted. Analysis uses
    /// them to decide which issues an evaluation covers.
    pub async fn domain_issue_codes(&self, domain: DomainId) -> Result<Vec<String>, StoreError> {
        let txn = self.read().await?;
        let codes: Vec<String> = issue::Entity::find()
            .select_only()
            .column(issue::Column::Code)
            .filter(issue::Column::DomainId.eq(domain.as_uuid()))
            .order_by_asc(issue::Column::Code)
            .into_tuple()
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(codes)
    }
}

/// Whether `evaluated` (complete codes, or prefixes ending in a dot) covers `code`.
pub(crate) fn covers(evaluated: &[String], code: &str) -> bool {
    evaluated.iter().any(|entry| {
        if entry.ends_with('.') {
            code.starts_with(entry.as_str())
        } else {
            code == entry
        }
    })
}

/// A history entry of `issue` (in its current state) written now.
pub(crate) fn history(
    issue: &Issue,
    kind: IssueEventKind,
    from_state: Option<IssueState>,
    actor: Option<UserId>,
    now: DateTime<Utc>,
) -> IssueEvent {
    IssueEvent {
        id: IssueEventId::new(),
        issue_id: issue.id,
        msp_id: issue.msp_id,
        client_id: issue.client_id,
        kind,
        actor,
        assignee: None,
        comment: None,
        from_state,
        to_state: issue.state,
        created_at: now,
    }
}

/// Writes a history entry and the outbox events `events` makes for it.
pub(crate) async fn record(
    txn: &DatabaseTransaction,
    issue: &Issue,
    entry: &IssueEvent,
    events: &IssueOutbox<'_>,
) -> Result<(), StoreError> {
    issue_event::Entity::insert(issue_event::Model::from(entry).into_active_model())
        .exec_without_returning(txn)
        .await?;
    write_events(txn, &events(issue, entry)).await
}

/// Inserts a new open issue for `finding` on `owner`.
async fn open_issue(
    txn: &DatabaseTransaction,
    owner: &domain::Model,
    finding: &Finding,
    now: DateTime<Utc>,
) -> Result<Issue, StoreError> {
    let model = issue::Model {
        id: IssueId::new().as_uuid(),
        msp_id: owner.msp_id,
        client_id: owner.client_id,
        domain_id: owner.id,
        code: finding.code.clone(),
        state: IssueState::Open.as_str().to_owned(),
        severity: finding.severity.as_str().to_owned(),
        title: finding.title.clone(),
        explanation: finding.explanation.clone(),
        evidence: to_json("issue evidence", &finding.evidence)?,
        fix_steps: to_json("issue fix steps", &finding.fix_steps)?,
        verification: to_json("issue verification", &finding.verification)?,
        assignee_id: None,
        opened_at: now,
        updated_at: now,
        resolved_at: None,
        last_seen_at: now,
    };
    issue::Entity::insert(model.clone().into_active_model())
        .exec_without_returning(txn)
        .await
        .map_err(|e| crate::error::conflict_on_unique(e, "issue was opened concurrently"))?;
    Issue::try_from(model)
}

/// `current` with `finding`'s content, seen now (state and times otherwise unchanged).
fn refreshed(current: &Issue, finding: &Finding, now: DateTime<Utc>) -> Issue {
    Issue {
        severity: finding.severity,
        title: finding.title.clone(),
        explanation: finding.explanation.clone(),
        evidence: finding.evidence.clone(),
        fix_steps: finding.fix_steps.clone(),
        verification: finding.verification.clone(),
        last_seen_at: now,
        ..current.clone()
    }
}

/// Whether two versions of an issue say the same (severity, text, evidence, fix steps,
/// verification).
fn same_content(a: &Issue, b: &Issue) -> bool {
    a.severity == b.severity
        && a.title == b.title
        && a.explanation == b.explanation
        && a.evidence == b.evidence
        && a.fix_steps == b.fix_steps
        && a.verification == b.verification
}

/// Stores an issue's content, state and times after a finding was seen.
async fn save_finding(txn: &DatabaseTransaction, issue: &Issue) -> Result<(), StoreError> {
    let changes = issue::ActiveModel {
        state: Set(issue.state.as_str().to_owned()),
        severity: Set(issue.severity.as_str().to_owned()),
        title: Set(issue.title.clone()),
        explanation: Set(issue.explanation.clone()),
        evidence: Set(to_json("issue evidence", &issue.evidence)?),
        fix_steps: Set(to_json("issue fix steps", &issue.fix_steps)?),
        verification: Set(to_json("issue verification", &issue.verification)?),
        updated_at: Set(issue.updated_at),
        resolved_at: Set(issue.resolved_at),
        last_seen_at: Set(issue.last_seen_at),
        ..Default::default()
    };
    issue::Entity::update_many()
        .set(changes)
        .filter(issue::Column::Id.eq(issue.id.as_uuid()))
        .exec(txn)
        .await?;
    Ok(())
}

/// Stores an issue's state and its times.
async fn save_state(txn: &DatabaseTransaction, issue: &Issue) -> Result<(), StoreError> {
    let changes = issue::ActiveModel {
        state: Set(issue.state.as_str().to_owned()),
        updated_at: Set(issue.updated_at),
        resolved_at: Set(issue.resolved_at),
        ..Default::default()
    };
    issue::Entity::update_many()
        .set(changes)
        .filter(issue::Column::Id.eq(issue.id.as_uuid()))
        .exec(txn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluated_entries_cover_exact_codes_and_dotted_prefixes() {
        let evaluated = vec!["dmarc.".to_owned(), "spf.too_many_lookups".to_owned()];
        assert!(covers(&evaluated, "dmarc.policy_none"));
        assert!(covers(&evaluated, "spf.too_many_lookups"));
        assert!(!covers(&evaluated, "spf.too_many_lookups_x"));
        assert!(!covers(&evaluated, "spf.other"));
        assert!(!covers(&evaluated, "dmarcx.policy"));
        assert!(!covers(&[], "dmarc.policy_none"));
    }
}
