//! Which domains the periodic checks look at: only the due ones across every tenant, never
//! checked first, each at its own offset within ±10 % of the interval, bounded per call; one
//! domain's checks (or another client's target of the same name) never make another due
//! or not due.

use crate::support::on_both_backends;
use crate::support::{TestDb, World, add_domain, event};
use chrono::{DateTime, Duration as ChronoDuration, SubsecRound, Utc};
use postern_domain::{ClientId, DomainId, MspId};
use postern_store::{
    BlocklistObservation, BlocklistTarget, BlocklistVerdict, Domain, NewBlocklistTarget,
    NewDnsSnapshot, ScheduledCheck, SystemDb, schedule_factor,
};
use std::collections::BTreeMap;
use std::time::Duration;

on_both_backends!(
    posture_due_domains_cross_tenants_never_checked_first_and_bounded,
    each_domain_is_due_at_its_own_offset_within_ten_percent,
    blocklist_due_domains_follow_their_own_targets_verdicts,
);

const HOUR: Duration = Duration::from_secs(3600);

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

async fn checked(sys: &SystemDb, domain: &Domain, at: DateTime<Utc>) {
    sys.record_dns_snapshot(
        domain,
        NewDnsSnapshot {
            checked_at: at,
            summary: BTreeMap::new(),
            report: serde_json::json!({ "checks": [] }),
            changes: serde_json::json!([]),
            queries: 1,
        },
    )
    .await
    .unwrap();
}

fn ids(domains: &[Domain]) -> Vec<DomainId> {
    domains.iter().map(|d| d.id).collect()
}

async fn posture_due_domains_cross_tenants_never_checked_first_and_bounded(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let now = now();
    // a1 (MSP A) was checked two hours ago: due. b1 (MSP B) ten minutes ago: not due.
    // a2 (MSP A) and b2 (MSP B) were never checked: due first.
    checked(&sys, &w.a1_domain, now - ChronoDuration::hours(3)).await;
    checked(&sys, &w.a1_domain, now - ChronoDuration::hours(2)).await;
    checked(&sys, &w.b1_domain, now - ChronoDuration::hours(5)).await;
    checked(&sys, &w.b1_domain, now - ChronoDuration::minutes(10)).await;
    let b = db.tenant(w.b_owner());
    let b2 = add_domain(&b, w.b1.id, "b2.example").await;
    let mut never = [w.a2_domain.id, b2.id];
    never.sort();

    let due = sys
        .domains_due(ScheduledCheck::Posture, HOUR, now, 100)
        .await
        .unwrap();
    assert_eq!(ids(&due), [never[0], never[1], w.a1_domain.id]);
    let row = &due[2];
    assert_eq!(
        (row.msp_id, row.client_id, &row.name, row.created_at),
        (
            w.a1_domain.msp_id,
            w.a1_domain.client_id,
            &w.a1_domain.name,
            w.a1_domain.created_at
        ),
        "the whole domain row comes back"
    );
    // Bounded: the limit keeps the never-checked ones.
    let first = sys
        .domains_due(ScheduledCheck::Posture, HOUR, now, 2)
        .await
        .unwrap();
    assert_eq!(ids(&first), never);
    // Once checked, a domain is no longer due; the others still are.
    checked(&sys, &w.a2_domain, now).await;
    checked(&sys, &b2, now).await;
    let due = sys
        .domains_due(ScheduledCheck::Posture, HOUR, now, 100)
        .await
        .unwrap();
    assert_eq!(ids(&due), [w.a1_domain.id]);
    // Posture snapshots say nothing about blocklists: every domain is due there.
    let due = sys
        .domains_due(ScheduledCheck::Blocklists, HOUR, now, 100)
        .await
        .unwrap();
    assert_eq!(due.len(), 4);
}

async fn each_domain_is_due_at_its_own_offset_within_ten_percent(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let a = db.tenant(w.a_owner());
    let now = now();
    let mut domains = Vec::new();
    for n in 0..24 {
        domains.push(add_domain(&a, w.a1.id, &format!("d{n}.spread.example")).await);
    }
    let period =
        |d: &Domain| ChronoDuration::from_std(HOUR.mul_f64(schedule_factor(d.id))).unwrap();
    // Half were checked just over their own period ago, half just under: exactly the first
    // half is due, whatever their offsets.
    let slack = ChronoDuration::seconds(5);
    for (n, d) in domains.iter().enumerate() {
        let ago = if n % 2 == 0 {
            period(d) + slack
        } else {
            period(d) - slack
        };
        checked(&sys, d, now - ago).await;
    }
    for d in [&w.a1_domain, &w.a2_domain, &w.b1_domain] {
        checked(&sys, d, now).await;
    }
    let due = sys
        .domains_due(ScheduledCheck::Posture, HOUR, now, 100)
        .await
        .unwrap();
    let mut expected: Vec<DomainId> = domains.iter().step_by(2).map(|d| d.id).collect();
    let mut got = ids(&due);
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    // The offsets spread: checked exactly one interval ago, some are due and some not.
    for d in &domains {
        checked(&sys, d, now - ChronoDuration::hours(1)).await;
    }
    let due = sys
        .domains_due(ScheduledCheck::Posture, HOUR, now, 100)
        .await
        .unwrap();
    assert!(
        !due.is_empty() && due.len() < domains.len(),
        "{}",
        due.len()
    );
    // Nobody is due before 90 % of the interval; everybody after 110 %.
    for d in &domains {
        checked(&sys, d, now - ChronoDuration::minutes(53)).await;
    }
    let due = sys
        .domains_due(ScheduledCheck::Posture, HOUR, now, 100)
        .await
        .unwrap();
    assert!(due.is_empty(), "{}", due.len());
    let later = now + ChronoDuration::minutes(14);
    let due = sys
        .domains_due(ScheduledCheck::Posture, HOUR, later, 100)
        .await
        .unwrap();
    assert_eq!(
        due.len(),
        domains.len(),
        "the three checked just now are not due"
    );
}

async fn blocklist_due_domains_follow_their_own_targets_verdicts(db: &TestDb) {
    let w = World::build(db).await;
    let sys = db.system();
    let now = now();
    let two_hours_ago = now - ChronoDuration::hours(2);
    // a1's and b1's own targets were checked two hours ago: due.
    let a1 = verdict_on(&sys, w.msp_a, w.a1.id, "a1.example", "dbl", two_hours_ago).await;
    verdict_on(&sys, w.msp_b, w.b1.id, "b1.example", "dbl", two_hours_ago).await;
    // Client A1 watching a2's name, checked just now, does not make a2 (client A2) checked.
    verdict_on(&sys, w.msp_a, w.a1.id, "a2.example", "dbl", now).await;
    let due = sys
        .domains_due(ScheduledCheck::Blocklists, HOUR, now, 100)
        .await
        .unwrap();
    assert_eq!(due[0].id, w.a2_domain.id, "never checked first");
    let mut rest = ids(&due[1..]);
    rest.sort();
    let mut expected = vec![w.a1_domain.id, w.b1_domain.id];
    expected.sort();
    assert_eq!(rest, expected);
    // A verdict of another list just now: the newest verdict counts, a1 is not due.
    let verdict_a1 = verdict_on(&sys, w.msp_a, w.a1.id, "a1.example", "surbl", now).await;
    assert_eq!(verdict_a1, a1, "the same target");
    let due = sys
        .domains_due(ScheduledCheck::Blocklists, HOUR, now, 100)
        .await
        .unwrap();
    assert_eq!(ids(&due), [w.a2_domain.id, w.b1_domain.id]);
    // Blocklist verdicts say nothing about posture.
    let due = sys
        .domains_due(ScheduledCheck::Posture, HOUR, now, 100)
        .await
        .unwrap();
    assert_eq!(due.len(), 3);
}

/// A clear verdict of `list` on `client`'s target `value` (added when missing) at `at`.
async fn verdict_on(
    sys: &SystemDb,
    msp: MspId,
    client: ClientId,
    value: &str,
    list: &str,
    at: DateTime<Utc>,
) -> BlocklistTarget {
    let new = NewBlocklistTarget {
        value: value.to_owned(),
        note: "auto: client domain".to_owned(),
    };
    let target = sys.ensure_blocklist_target(msp, client, new).await.unwrap();
    let clear = BlocklistObservation {
        list_id: list.to_owned(),
        verdict: BlocklistVerdict::Clear,
        detail: serde_json::json!({ "state": "clear" }),
    };
    sys.record_blocklist_check(&target, &[clear], at, &|_| event("blocklist.listed"))
        .await
        .unwrap();
    target
}
