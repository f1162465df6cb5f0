//! Postfix log lines to delivery events: `status=sent`, `bounced` and `deferred` lines of the
//! delivery agents (smtp, lmtp, local, virtual, error, pipe), joined by queue id with the
//! `from=<...>` line of qmgr (the sender) and the `message-id=<...>` line of cleanup.
//!
//! Pure: text in, events out. Timestamps are traditional syslog (`Nov 29 10:00:00`, no year:
//! the caller gives the year; a date more than a day after `now` is taken from the year
//! before, as logs do not come from the future) or RFC 3339 (`2026-11-29T10:00:00.123+01:00`),
//! both read as UTC when they carry no offset. The said-text of a failure is classified by
//! `postern_bounce::classify_reply`, the same classifier as bounce mail.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use postern_bounce::{Bounce, DeliveryEvent, DeliveryKind};
use serde::Serialize;
use std::collections::HashMap;

/// What a Postfix log gave.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PostfixLog {
    /// One event per `status=sent|bounced|deferred` line, in log order.
    pub events: Vec<DeliveryEvent>,
    /// Lines read.
    pub lines: u64,
    /// Lines that are not delivery results (other programs, connection logs, ...).
    pub ignored: u64,
    /// Delivery-result lines that could not be read, with the line number and why.
    pub problems: Vec<String>,
}

/// What qmgr and cleanup said about a queued message.
#[derive(Default)]
struct Queued {
    from: Option<String>,
    message_id: Option<String>,
}

/// Reads a Postfix log. `now` bounds traditional timestamps (see the module docs).
pub fn parse_postfix_log(text: &str, now: DateTime<Utc>) -> PostfixLog {
    let mut log = PostfixLog::default();
    let mut queue: HashMap<String, Queued> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        log.lines += 1;
        let Some(entry) = Entry::parse(line, now) else {
            log.ignored += 1;
            continue;
        };
        if !entry.program.starts_with("postfix") {
            log.ignored += 1;
            continue;
        }
        let Some((queue_id, rest)) = entry.message.split_once(": ") else {
            log.ignored += 1;
            continue;
        };
        if queue_id.is_empty() || !queue_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            log.ignored += 1;
            continue;
        }
        let agent = entry.program.rsplit('/').next().unwrap_or_default();
        if agent == "qmgr" {
            if let Some(from) = field(rest, "from") {
                queue.entry(queue_id.to_owned()).or_default().from =
                    Some(unbracket(from)).filter(|f| !f.is_empty());
            }
            log.ignored += 1;
            continue;
        }
        if agent == "cleanup" {
            if let Some(id) = field(rest, "message-id") {
                queue.entry(queue_id.to_owned()).or_default().message_id =
                    Some(unbracket(id)).filter(|f| !f.is_empty());
            }
            log.ignored += 1;
            continue;
        }
        if !matches!(
            agent,
            "smtp" | "lmtp" | "local" | "virtual" | "error" | "pipe" | "discard"
        ) || !rest.starts_with("to=")
        {
            log.ignored += 1;
            continue;
        }
        match delivery(&entry, queue_id, rest, queue.get(queue_id)) {
            Ok(Some(event)) => log.events.push(event),
            Ok(None) => log.ignored += 1,
            Err(why) => log.problems.push(format!("line {}: {why}", n + 1)),
        }
    }
    log
}

/// One syslog line: when, which host, which program, what it said.
struct Entry<'a> {
    time: DateTime<Utc>,
    host: &'a str,
    program: &'a str,
    message: &'a str,
}

impl<'a> Entry<'a> {
    fn parse(line: &'a str, now: DateTime<Utc>) -> Option<Entry<'a>> {
        let line = line.trim_end();
        let (time, rest) = if line.as_bytes().first()?.is_ascii_digit() {
            let (stamp, rest) = line.split_once(' ')?;
            (rfc3339(stamp)?, rest)
        } else {
            // "Nov 29 10:00:00" (day padded with a space when < 10: "Nov  9").
            let month = line.get(..3)?;
            let rest = line.get(3..)?.trim_start();
            let (day, rest) = rest.split_once(' ')?;
            let (clock, rest) = rest.split_once(' ')?;
            (traditional(month, day, clock, now)?, rest)
        };
        let (host, rest) = rest.split_once(' ')?;
        let (tag, message) = rest.split_once(": ")?;
        let program = tag.split('[').next()?;
        Some(Entry {
            time,
            host,
            program,
            message,
        })
    }
}

fn rfc3339(stamp: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(stamp) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(stamp, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

fn traditional(month: &str, day: &str, clock: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))?;
    let day: u32 = day.parse().ok()?;
    let time = chrono::NaiveTime::parse_from_str(clock, "%H:%M:%S").ok()?;
    let at = |year: i32| {
        NaiveDate::from_ymd_opt(year, u32::try_from(month).ok()? + 1, day)
            .map(|d| d.and_time(time).and_utc())
    };
    let this_year = at(now.year())?;
    if this_year > now + TimeDelta::days(1) {
        at(now.year() - 1)
    } else {
        Some(this_year)
    }
}

/// The event of a `to=<...>, ..., status=...` line; `None` for statuses that are not
/// delivery results (`undeliverable` address probes, ...).
fn delivery(
    entry: &Entry<'_>,
    queue_id: &str,
    rest: &str,
    queued: Option<&Queued>,
) -> Result<Option<DeliveryEvent>, String> {
    let (fields, status_part) = rest
        .split_once(" status=")
        .ok_or("a delivery line without status=")?;
    let (status_word, said) = match status_part.split_once(' ') {
        Some((w, text)) => (w, text.trim()),
        None => (status_part, ""),
    };
    let kind = match status_word.trim_end_matches(',') {
        "sent" => DeliveryKind::Delivered,
        "bounced" => DeliveryKind::Bounced,
        "deferred" => DeliveryKind::Deferred,
        _ => return Ok(None),
    };
    let recipient = field(fields, "to")
        .map(unbracket)
        .ok_or("a delivery line without to=")?;
    let (local, domain) = recipient
        .rsplit_once('@')
        .ok_or_else(|| format!("recipient {recipient:?} is not an e-mail address"))?;
    if local.is_empty() || domain.is_empty() {
        return Err(format!("recipient {recipient:?} is not an e-mail address"));
    }
    let recipient = format!("{local}@{}", domain.to_ascii_lowercase());
    let domain = domain.to_ascii_lowercase();
    let relay = field(fields, "relay").unwrap_or("none");
    let dsn = field(fields, "dsn").map(str::to_owned);
    let said = said
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or(said);
    let bounce = (kind != DeliveryKind::Delivered).then(|| {
        failure(
            &recipient,
            &domain,
            dsn.clone(),
            relay,
            said,
            entry,
            queued.and_then(|q| q.message_id.clone()),
        )
    });
    Ok(Some(DeliveryEvent {
        kind,
        sender: queued.and_then(|q| q.from.clone()),
        time: entry.time,
        bounce,
        message_id: queued.and_then(|q| q.message_id.clone()),
        sending_ip: None,
        campaign: None,
        provider: "postfix",
        provider_event_id: Some(format!(
            "{}:{queue_id}:{recipient}:{status_word}:{}",
            entry.host,
            entry.time.timestamp_micros()
        )),
        recipient,
    }))
}

/// The bounce of a failed or deferred delivery from its said-text.
fn failure(
    recipient: &str,
    domain: &str,
    dsn: Option<String>,
    relay: &str,
    said: &str,
    entry: &Entry<'_>,
    message_id: Option<String>,
) -> Bounce {
    // "host mx.example[192.0.2.1] said: 550 5.1.1 <a@b>: ... (in reply to RCPT TO command)"
    let (remote_host, reply) = match said
        .strip_prefix("host ")
        .and_then(|s| s.split_once(" said: "))
    {
        Some((host, reply)) => (Some(host.split('[').next().unwrap_or(host)), reply),
        None => (None, said),
    };
    let (reply, command) = match reply.rfind(" (in reply to ") {
        Some(i) => {
            let tail = &reply[i + " (in reply to ".len()..];
            let command = tail
                .split_whitespace()
                .next()
                .map(|c| c.trim_end_matches(')').to_ascii_uppercase());
            let command = match command.as_deref() {
                Some("END") => Some("DATA".to_owned()),
                Some("MAIL" | "RCPT" | "DATA" | "EHLO" | "HELO") => command,
                _ => None,
            };
            (reply[..i].trim(), command)
        }
        None => (reply.trim(), None),
    };
    let reply_code = reply
        .get(..3)
        .filter(|c| c.chars().all(|ch| ch.is_ascii_digit()))
        .and_then(|c| c.parse::<u16>().ok());
    let relay_host = relay.split('[').next().filter(|h| *h != "none");
    let remote_host = remote_host.or(relay_host).map(str::to_owned);
    let (reason, hard) = postern_bounce::classify_reply(
        dsn.as_deref(),
        reply_code,
        reply,
        command.as_deref(),
        domain,
    );
    Bounce {
        recipient: recipient.to_owned(),
        recipient_domain: domain.to_owned(),
        status: dsn,
        reply_code,
        diagnostic: reply.to_owned(),
        remote_host,
        reporting_mta: Some(entry.host.to_owned()),
        time: Some(entry.time),
        original_message_id: message_id,
        sending_ip: None,
        command,
        action: None,
        evidence: None,
        feedback_type: None,
        hard,
        reason,
    }
}

/// The value of `name=` in a `k=v, k=v` list (up to the next `, `).
fn field<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut search = text;
    loop {
        let at = search.find(name)?;
        let before_ok = at == 0 || search[..at].ends_with(' ') || search[..at].ends_with(',');
        let after = &search[at + name.len()..];
        if before_ok && let Some(value) = after.strip_prefix('=') {
            return Some(
                value
                    .split(", ")
                    .next()
                    .unwrap_or(value)
                    .trim()
                    .trim_end_matches(','),
            );
        }
        search = &search[at + name.len()..];
    }
}

fn unbracket(value: &str) -> String {
    value
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_bounce::Reason;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    const LOG: &str = "\
Nov 29 10:00:00 mail postfix/pickup[1201]: 4F9D21A2B3C: uid=1000 from=<news>
Nov 29 10:00:00 mail postfix/cleanup[1202]: 4F9D21A2B3C: message-id=<20261129100000.4F9D21A2B3C@mail.brand.example>
Nov 29 10:00:00 mail postfix/qmgr[1100]: 4F9D21A2B3C: from=<news@brand.example>, size=2345, nrcpt=3 (queue active)
Nov 29 10:00:01 mail postfix/smtp[1203]: 4F9D21A2B3C: to=<gone@Contoso.example>, relay=contoso-example.mail.protection.outlook.com[52.101.0.1]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, status=bounced (host contoso-example.mail.protection.outlook.com[52.101.0.1] said: 550 5.1.1 <gone@contoso.example>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
Nov 29 10:00:01 mail postfix/smtp[1203]: 4F9D21A2B3C: to=<alice@fabrikam.example>, relay=mx.fabrikam.example[198.51.100.7]:25, delay=0.9, delays=0.1/0/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK 1732874401 x1si123)
Nov 29 10:00:02 mail postfix/smtp[1204]: 4F9D21A2B3C: to=<bob@slow.example>, relay=none, delay=30, delays=0.1/0/30/0, dsn=4.4.1, status=deferred (connect to mx.slow.example[203.0.113.9]:25: Connection timed out)
Nov 29 10:00:03 mail postfix/smtp[1203]: 4F9D21A2B3C: to=<carol@full.example>, relay=mx.full.example[192.0.2.5]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=5.2.2, status=bounced (host mx.full.example[192.0.2.5] said: 552 5.2.2 Mailbox full (in reply to end of DATA command))
Nov 29 10:00:04 mail postfix/bounce[1205]: 4F9D21A2B3C: sender non-delivery notification: 5A1B2C3D4E5
Nov 29 10:00:04 mail postfix/qmgr[1100]: 4F9D21A2B3C: removed
";

    #[test]
    fn delivery_lines_become_events_with_sender_message_id_and_classification() {
        let log = parse_postfix_log(LOG, now());
        assert_eq!(log.lines, 9);
        assert!(log.problems.is_empty(), "{:?}", log.problems);
        assert_eq!(log.events.len(), 4);
        let gone = &log.events[0];
        assert_eq!(gone.kind, DeliveryKind::Bounced);
        assert_eq!(gone.recipient, "gone@contoso.example");
        assert_eq!(gone.sender.as_deref(), Some("news@brand.example"));
        assert_eq!(
            gone.message_id.as_deref(),
            Some("20261129100000.4F9D21A2B3C@mail.brand.example")
        );
        assert_eq!(gone.time.to_rfc3339(), "2026-11-29T10:00:01+00:00");
        let b = gone.bounce.as_ref().unwrap();
        assert_eq!(b.status.as_deref(), Some("5.1.1"));
        assert_eq!(b.reply_code, Some(550));
        assert_eq!(b.command.as_deref(), Some("RCPT"));
        assert_eq!(
            b.remote_host.as_deref(),
            Some("contoso-example.mail.protection.outlook.com")
        );
        assert_eq!(b.reason, Reason::UserUnknown);
        assert!(b.hard);
        assert!(b.diagnostic.starts_with("550 5.1.1 <gone@contoso.example>"));

        assert_eq!(log.events[1].kind, DeliveryKind::Delivered);
        assert!(log.events[1].bounce.is_none());

        let deferred = &log.events[2];
        assert_eq!(deferred.kind, DeliveryKind::Deferred);
        let d = deferred.bounce.as_ref().unwrap();
        assert!(!d.hard);
        assert_eq!(d.remote_host, None);
        assert!(d.diagnostic.contains("Connection timed out"));

        let full = log.events[3].bounce.as_ref().unwrap();
        assert_eq!(full.reason, Reason::MailboxFull);
        assert_eq!(full.command.as_deref(), Some("DATA"));
        assert!(!full.hard);
    }

    #[test]
    fn event_ids_differ_per_line_and_repeat_for_the_same_line() {
        let a = parse_postfix_log(LOG, now());
        let b = parse_postfix_log(LOG, now());
        let ids: Vec<_> = a
            .events
            .iter()
            .map(|e| e.provider_event_id.clone())
            .collect();
        let again: Vec<_> = b
            .events
            .iter()
            .map(|e| e.provider_event_id.clone())
            .collect();
        assert_eq!(ids, again);
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn rfc3339_timestamps_and_offsets_are_read() {
        let line = "2026-11-28T23:30:00.250+01:00 mx1 postfix/smtp[77]: ABC123: to=<x@y.example>, relay=y.example[192.0.2.1]:25, delay=1, dsn=2.0.0, status=sent (250 ok)";
        let log = parse_postfix_log(line, now());
        assert_eq!(log.events.len(), 1);
        assert_eq!(
            log.events[0].time.to_rfc3339(),
            "2026-11-28T22:30:00.250+00:00"
        );
        assert_eq!(log.events[0].sender, None);
    }

    #[test]
    fn traditional_dates_after_now_belong_to_the_year_before() {
        let line = "Dec 31 23:59:59 mx postfix/smtp[1]: Q1: to=<x@y.example>, relay=none, dsn=2.0.0, status=sent (ok)";
        let log = parse_postfix_log(line, now());
        assert_eq!(log.events[0].time.year(), 2025);
        let line = "Nov  9 08:00:00 mx postfix/smtp[1]: Q1: to=<x@y.example>, relay=none, dsn=2.0.0, status=sent (ok)";
        let log = parse_postfix_log(line, now());
        assert_eq!(log.events[0].time.to_rfc3339(), "2026-11-09T08:00:00+00:00");
    }

    #[test]
    fn bad_lines_are_ignored_or_named_and_never_stop_the_rest() {
        let text = "garbage\n\u{fffd}\u{0}\nNov 29 10:00:00 mx postfix/smtp[1]: Q1: to=<no-at-sign>, relay=none, dsn=5.1.1, status=bounced (x)\nNov 29 10:00:00 mx postfix/smtp[1]: Q2: to=<ok@y.example>, relay=none, dsn=2.0.0, status=sent (ok)\nNov 29 10:00:00 mx sshd[1]: Q3: to=<a@b.example>, status=sent";
        let log = parse_postfix_log(text, now());
        assert_eq!(log.events.len(), 1);
        assert_eq!(log.problems.len(), 1);
        assert!(log.problems[0].starts_with("line 3:"));
        assert_eq!(log.ignored, 3);
    }
}
