//! Routing and the quiet period: which channels an issue event goes to, and whether it is
//! sent now, kept for the digest, or suppressed. A pure function of its inputs.
//!
//! **Matching.** A route matches an event when the event's client is the route's client
//! (or the route has none) and the channel's client (or the channel has none), its severity
//! is at least the route's `min_severity`, its code is one of the route's codes (an entry
//! ending in `.` or `*` is a prefix; no entries: every code) and its kind is one of the
//! route's event kinds (none: every kind). An event reaches a channel at most once, however
//! many of its routes match: immediately if any matching route is immediate, else in the
//! digest.
//!
//! **Quiet period.** Each (channel, issue) pair remembers the last notification that was
//! not suppressed (its time, severity and the state it reported). A new event for the pair
//! within the quiet period (the smallest of the matching immediate routes'; `0` turns it
//! off) is suppressed — logged as `suppressed` with the reason, not sent — unless it makes
//! things worse than what the receiver last heard:
//! * the issue is active again (open, acknowledged, in progress) after the receiver was
//!   told it was resolved or ignored (a reopen), or
//! * the issue is active and its severity is higher than the severity last reported.
//!
//! So a finding that flaps (opened, resolved, reopened, resolved, …) produces at most the
//! first "active" notice, then one "cleared" notice once the quiet period has passed, then
//! one reopen, and nothing more until the quiet period after that reopen has passed: a few
//! messages per quiet period, never one per flap. Digest routes have no quiet period: the
//! digest is one message a day and lists every event routed to it.

use chrono::{DateTime, Utc};
use postern_domain::Severity;
use postern_store::notify::{
    ChannelId, DeliveryStatus, IssueNotice, LastNotice, NotifyMode, PlannedDelivery,
    PlannedDigestItem, Route, RouteTarget,
};
use std::collections::HashMap;
use std::time::Duration;

/// What one event causes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// One per channel reached immediately: pending, or suppressed with the reason.
    pub deliveries: Vec<PlannedDelivery>,
    /// One per channel reached only through digest routes.
    pub digest: Vec<PlannedDigestItem>,
}

/// Whether the receiver should consider an issue in this state something to act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Condition {
    Active,
    Cleared,
}

/// Decides where `notice` goes: `routes` are the candidate routes with their channels,
/// `last` what each channel last told about this issue, `default_quiet` the quiet period of
/// routes without one, `now` the time the decision is made.
pub fn plan(
    notice: &IssueNotice,
    routes: &[RouteTarget],
    last: &HashMap<ChannelId, LastNotice>,
    default_quiet: Duration,
    now: DateTime<Utc>,
) -> Plan {
    let mut order: Vec<ChannelId> = Vec::new();
    let mut by_channel: HashMap<ChannelId, Vec<&Route>> = HashMap::new();
    for target in routes {
        if !channel_reaches(target, notice) || !route_matches(&target.route, notice) {
            continue;
        }
        let channel = target.channel.id;
        if !by_channel.contains_key(&channel) {
            order.push(channel);
        }
        by_channel.entry(channel).or_default().push(&target.route);
    }
    let mut plan = Plan::default();
    for channel in order {
        let matching = by_channel.get(&channel).map(Vec::as_slice).unwrap_or(&[]);
        let quiet = matching
            .iter()
            .filter(|r| r.mode == NotifyMode::Immediate)
            .map(|r| {
                r.quiet_period_secs
                    .map(Duration::from_secs)
                    .unwrap_or(default_quiet)
            })
            .min();
        match quiet {
            Some(quiet) => {
                let reason = suppression(notice, last.get(&channel), quiet, now);
                plan.deliveries.push(PlannedDelivery {
                    channel,
                    status: if reason.is_some() {
                        DeliveryStatus::Suppressed
                    } else {
                        DeliveryStatus::Pending
                    },
                    reason,
                    notice: notice.clone(),
                });
            }
            None => plan.digest.push(PlannedDigestItem {
                channel,
                notice: notice.clone(),
            }),
        }
    }
    plan
}

/// The channels that might receive the event (only these need their last notice).
pub fn immediate_channels(notice: &IssueNotice, routes: &[RouteTarget]) -> Vec<ChannelId> {
    let mut out = Vec::new();
    for target in routes {
        if target.route.mode == NotifyMode::Immediate
            && channel_reaches(target, notice)
            && route_matches(&target.route, notice)
            && !out.contains(&target.channel.id)
        {
            out.push(target.channel.id);
        }
    }
    out
}

/// Whether `route` selects the event (client, severity, code, kind).
pub fn route_matches(route: &Route, notice: &IssueNotice) -> bool {
    route.client_id.is_none_or(|c| c == notice.client_id)
        && route.msp_id == notice.msp_id
        && severity_rank(notice.severity) >= severity_rank(route.min_severity)
        && code_matches(&route.codes, &notice.code)
        && (route.event_kinds.is_empty() || route.event_kinds.contains(&notice.event_kind))
}

/// The channel belongs to the event's MSP and, when limited to a client, to its client.
fn channel_reaches(target: &RouteTarget, notice: &IssueNotice) -> bool {
    target.channel.msp_id == notice.msp_id
        && target.channel.enabled
        && target
            .channel
            .client_id
            .is_none_or(|c| c == notice.client_id)
}

/// An empty list matches every code; `x.` and `x.*` are prefixes; anything else is exact.
pub fn code_matches(patterns: &[String], code: &str) -> bool {
    patterns.is_empty()
        || patterns.iter().any(|p| {
            let prefix = p.strip_suffix('*').unwrap_or(p);
            if prefix.ends_with('.') {
                code.starts_with(prefix)
            } else {
                code == p
            }
        })
}

/// 0 (info) to 4 (critical).
pub fn severity_rank(severity: Severity) -> u8 {
    match severity {
        Severity::Info => 0,
        Severity::Low => 1,
        Severity::Medium => 2,
        Severity::High => 3,
        Severity::Critical => 4,
    }
}

fn condition(state: &str) -> Condition {
    match state {
        "resolved" | "ignored" => Condition::Cleared,
        _ => Condition::Active,
    }
}

/// `Some(reason)` when the quiet period holds the event back.
fn suppression(
    notice: &IssueNotice,
    last: Option<&LastNotice>,
    quiet: Duration,
    now: DateTime<Utc>,
) -> Option<String> {
    let last = last?;
    let elapsed = (now - last.at).to_std().unwrap_or_default();
    if elapsed >= quiet {
        return None;
    }
    let now_active = condition(&notice.to_state) == Condition::Active;
    if now_active && condition(&last.to_state) == Condition::Cleared {
        return None;
    }
    if now_active && severity_rank(notice.severity) > severity_rank(last.severity) {
        return None;
    }
    Some(format!(
        "quiet period: this channel was told about the issue {}s ago ({}, {} {}); quiet for {}s",
        elapsed.as_secs(),
        last.event_kind,
        last.severity,
        last.to_state,
        quiet.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use postern_domain::{ClientId, EventId, IssueId, MspId};
    use postern_store::notify::{Channel, ChannelKind, RouteId};

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn notice(msp: MspId, client: ClientId, kind: &str, to: &str, sev: Severity) -> IssueNotice {
        IssueNotice {
            event_id: EventId::new(),
            msp_id: msp,
            msp: "MSP".into(),
            client_id: client,
            client: "Client".into(),
            domain: "example.com".into(),
            issue_id: IssueId::new(),
            code: "dmarc.policy_none".into(),
            severity: sev,
            title: "p=none".into(),
            event_kind: kind.into(),
            from_state: String::new(),
            to_state: to.into(),
            actor: None,
            occurred_at: t(0),
        }
    }

    fn target(
        msp: MspId,
        channel_client: Option<ClientId>,
        route: impl FnOnce(&mut Route),
    ) -> RouteTarget {
        let channel = Channel {
            id: ChannelId::new(),
            msp_id: msp,
            client_id: channel_client,
            name: "ops".into(),
            kind: ChannelKind::Webhook,
            target: "https://hooks.example/x".into(),
            has_secret: true,
            enabled: true,
            created_at: t(0),
            updated_at: t(0),
        };
        let mut r = Route {
            id: RouteId::new(),
            msp_id: msp,
            client_id: None,
            channel_id: channel.id,
            min_severity: Severity::Info,
            codes: Vec::new(),
            event_kinds: Vec::new(),
            mode: NotifyMode::Immediate,
            quiet_period_secs: Some(3600),
            created_at: t(0),
            updated_at: t(0),
        };
        route(&mut r);
        RouteTarget { route: r, channel }
    }

    fn last(at: i64, kind: &str, to: &str, sev: Severity) -> LastNotice {
        LastNotice {
            at: t(at),
            event_kind: kind.into(),
            to_state: to.into(),
            severity: sev,
        }
    }

    #[test]
    fn severity_threshold_and_codes_select_events() {
        let (msp, client) = (MspId::new(), ClientId::new());
        let high_dmarc = target(msp, None, |r| {
            r.min_severity = Severity::High;
            r.codes = vec!["dmarc.".into()];
        });
        let n = notice(msp, client, "opened", "open", Severity::Medium);
        assert!(!route_matches(&high_dmarc.route, &n));
        let n = notice(msp, client, "opened", "open", Severity::Critical);
        assert!(route_matches(&high_dmarc.route, &n));
        let mut spf = n.clone();
        spf.code = "spf.too_many_lookups".into();
        assert!(!route_matches(&high_dmarc.route, &spf));
        assert!(code_matches(&["spf.*".into()], "spf.too_many_lookups"));
        assert!(code_matches(
            &["spf.too_many_lookups".into()],
            "spf.too_many_lookups"
        ));
        assert!(!code_matches(&["spf.too".into()], "spf.too_many_lookups"));
        assert!(code_matches(&[], "anything.at_all"));
    }

    #[test]
    fn event_kinds_and_clients_narrow_routes() {
        let (msp, client, other) = (MspId::new(), ClientId::new(), ClientId::new());
        let only_opened = target(msp, None, |r| r.event_kinds = vec!["opened".into()]);
        assert!(route_matches(
            &only_opened.route,
            &notice(msp, client, "opened", "open", Severity::Low)
        ));
        assert!(!route_matches(
            &only_opened.route,
            &notice(msp, client, "commented", "open", Severity::Low)
        ));
        let for_other = target(msp, None, |r| r.client_id = Some(other));
        assert!(!route_matches(
            &for_other.route,
            &notice(msp, client, "opened", "open", Severity::Low)
        ));
        let channel_for_other = target(msp, Some(other), |_| {});
        let n = notice(msp, client, "opened", "open", Severity::Low);
        assert!(
            plan(
                &n,
                &[channel_for_other],
                &HashMap::new(),
                Duration::ZERO,
                t(0)
            )
            .deliveries
            .is_empty()
        );
    }

    #[test]
    fn another_msps_routes_never_match() {
        let (msp_a, msp_b, client_b) = (MspId::new(), MspId::new(), ClientId::new());
        let a = target(msp_a, None, |_| {});
        let n = notice(msp_b, client_b, "opened", "open", Severity::Critical);
        let p = plan(&n, &[a], &HashMap::new(), Duration::ZERO, t(0));
        assert_eq!(p, Plan::default());
    }

    #[test]
    fn a_channel_gets_one_delivery_and_immediate_wins_over_digest() {
        let (msp, client) = (MspId::new(), ClientId::new());
        let digest = target(msp, None, |r| r.mode = NotifyMode::Digest);
        let mut immediate = target(msp, None, |_| {});
        immediate.channel = digest.channel.clone();
        immediate.route.channel_id = digest.channel.id;
        let n = notice(msp, client, "opened", "open", Severity::Low);
        let p = plan(
            &n,
            &[digest.clone(), immediate],
            &HashMap::new(),
            Duration::ZERO,
            t(0),
        );
        assert_eq!(p.deliveries.len(), 1);
        assert!(p.digest.is_empty());
        let p = plan(&n, &[digest], &HashMap::new(), Duration::ZERO, t(0));
        assert!(p.deliveries.is_empty());
        assert_eq!(p.digest.len(), 1);
    }

    #[test]
    fn quiet_period_suppresses_repeats_but_not_reopens_or_escalations() {
        let (msp, client) = (MspId::new(), ClientId::new());
        let route = target(msp, None, |_| {});
        let channel = route.channel.id;
        let routes = [route];
        let decide = |n: &IssueNotice, l: LastNotice, now: i64| {
            let last = HashMap::from([(channel, l)]);
            plan(n, &routes, &last, Duration::ZERO, t(now)).deliveries[0].status
        };
        let updated = notice(msp, client, "updated", "open", Severity::Medium);
        let opened_before = last(0, "opened", "open", Severity::Medium);
        assert_eq!(
            decide(&updated, opened_before.clone(), 60),
            DeliveryStatus::Suppressed
        );
        assert_eq!(
            decide(&updated, opened_before.clone(), 3600),
            DeliveryStatus::Pending
        );
        let resolved = notice(
            msp,
            client,
            "verified_resolved",
            "resolved",
            Severity::Medium,
        );
        assert_eq!(
            decide(&resolved, opened_before.clone(), 60),
            DeliveryStatus::Suppressed
        );
        let reopened = notice(msp, client, "reopened", "open", Severity::Medium);
        let resolved_before = last(0, "verified_resolved", "resolved", Severity::Medium);
        assert_eq!(
            decide(&reopened, resolved_before, 60),
            DeliveryStatus::Pending
        );
        let worse = notice(msp, client, "updated", "open", Severity::Critical);
        assert_eq!(decide(&worse, opened_before, 60), DeliveryStatus::Pending);
    }

    #[test]
    fn a_flapping_finding_sends_a_bounded_number_of_messages() {
        let (msp, client) = (MspId::new(), ClientId::new());
        let route = target(msp, None, |_| {});
        let channel = route.channel.id;
        let routes = [route];
        let mut remembered: Option<LastNotice> = None;
        let mut sent = 0;
        // Flaps every minute for two hours with a one-hour quiet period.
        for minute in 0..120 {
            let (kind, to) = match minute % 2 {
                0 if minute == 0 => ("opened", "open"),
                0 => ("reopened", "open"),
                _ => ("verified_resolved", "resolved"),
            };
            let n = notice(msp, client, kind, to, Severity::High);
            let last: HashMap<_, _> = remembered
                .clone()
                .map(|l| (channel, l))
                .into_iter()
                .collect();
            let p = plan(&n, &routes, &last, Duration::ZERO, t(minute * 60));
            if p.deliveries[0].status == DeliveryStatus::Pending {
                sent += 1;
                remembered = Some(last_of(&n, minute * 60));
            }
        }
        assert!(sent <= 6, "{sent} messages for 120 flaps");
        assert!(sent >= 2);
    }

    fn last_of(n: &IssueNotice, at: i64) -> LastNotice {
        last(at, &n.event_kind, &n.to_state, n.severity)
    }
}
