//! The machine-readable part of a DSN (RFC 3464 `message/delivery-status`): per-message
//! fields, then one block of fields per recipient.

use crate::normalize::one_line;

/// Fields of the per-message block.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PerMessage {
    pub reporting_mta: Option<String>,
    pub arrival_date: Option<String>,
}

/// Fields of one per-recipient block.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PerRecipient {
    pub final_recipient: Option<String>,
    pub original_recipient: Option<String>,
    pub action: Option<String>,
    pub status: Option<String>,
    pub status_comment: Option<String>,
    pub remote_mta: Option<String>,
    pub diagnostic_type: Option<String>,
    pub diagnostic: Option<String>,
    pub last_attempt: Option<String>,
}

/// A parsed `message/delivery-status` body.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryStatus {
    pub message: PerMessage,
    pub recipients: Vec<PerRecipient>,
}

impl PerRecipient {
    fn is_empty(&self) -> bool {
        self.final_recipient.is_none() && self.original_recipient.is_none()
    }
}

/// Parses the fields of a delivery-status body (LF line endings). Unknown fields are
/// skipped; a block without a recipient is ignored; `max` bounds the recipients kept.
pub(crate) fn parse(text: &str, max: usize) -> DeliveryStatus {
    let mut out = DeliveryStatus::default();
    let mut current = PerRecipient::default();
    for (name, value) in fields(text) {
        if name.is_empty() {
            // a blank line ends a block
            if !current.is_empty() {
                push(&mut out, std::mem::take(&mut current), max);
            }
            continue;
        }
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "reporting-mta" => out.message.reporting_mta = Some(typed_value(&value)),
            "arrival-date" => out.message.arrival_date = Some(value),
            "final-recipient" => {
                if current.final_recipient.is_some() {
                    push(&mut out, std::mem::take(&mut current), max);
                }
                current.final_recipient = Some(address_value(&value));
            }
            "original-recipient" => {
                if current.original_recipient.is_some() {
                    push(&mut out, std::mem::take(&mut current), max);
                }
                current.original_recipient = Some(address_value(&value));
            }
            "action" => current.action = Some(value.to_ascii_lowercase()),
            "status" => {
                // "4.0.0 (cat.example.net: host name lookup failure)": keep the comment
                if let Some((code, comment)) = value.split_once('(') {
                    current.status_comment = Some(comment.trim_end_matches(')').trim().to_owned());
                    current.status = Some(code.trim().to_owned());
                } else {
                    current.status = Some(value);
                }
            }
            "remote-mta" => current.remote_mta = Some(typed_value(&value)),
            "diagnostic-code" => {
                let (kind, text) = match value.split_once(';') {
                    Some((k, t)) if !k.trim().contains(' ') => {
                        (Some(k.trim().to_ascii_uppercase()), t.trim().to_owned())
                    }
                    _ => (None, value.clone()),
                };
                current.diagnostic_type = kind;
                current.diagnostic = Some(text);
            }
            "last-attempt-date" => current.last_attempt = Some(value),
            _ => {}
        }
        if out.recipients.len() >= max {
            break;
        }
    }
    push(&mut out, current, max);
    out
}

fn push(out: &mut DeliveryStatus, r: PerRecipient, max: usize) {
    if !r.is_empty() && out.recipients.len() < max {
        out.recipients.push(r);
    }
}

/// Header-style fields with folded continuation lines joined.
fn fields(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push((String::new(), String::new()));
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((name, value)) = out.last_mut()
                && !name.is_empty()
            {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':')
            && !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            out.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    for (_, value) in &mut out {
        *value = one_line(value);
    }
    out
}

/// `dns; mx.example.com` → `mx.example.com`.
fn typed_value(value: &str) -> String {
    match value.split_once(';') {
        Some((_, v)) => v.trim().to_owned(),
        None => value.trim().to_owned(),
    }
}

/// `rfc822; <a@b>` → `a@b`.
fn address_value(value: &str) -> String {
    typed_value(value)
        .trim_matches(|c: char| c == '<' || c == '>' || c == '"' || c.is_whitespace())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Reporting-MTA: dns; mx.example.jp\nArrival-Date: Thu, 29 Apr 2010 23:34:45 +0900\n\nFinal-Recipient: rfc822; <kijitora@example.org>\nOriginal-Recipient: rfc822;kijitora@example.org\nAction: failed\nStatus: 5.1.1\nRemote-MTA: dns; mx.example.org\nDiagnostic-Code: smtp; 550 5.1.1 <kijitora@example.org>:\n Recipient address rejected: User unknown\nLast-Attempt-Date: Thu, 29 Apr 2010 23:34:46 +0900\n\nFinal-Recipient: rfc822; neko@example.net\nAction: delayed\nStatus: 4.4.7\n";

    #[test]
    fn per_message_and_per_recipient_fields_are_read() {
        let dsn = parse(SAMPLE, 10);
        assert_eq!(dsn.message.reporting_mta.as_deref(), Some("mx.example.jp"));
        assert_eq!(dsn.recipients.len(), 2);
        let first = &dsn.recipients[0];
        assert_eq!(
            first.final_recipient.as_deref(),
            Some("kijitora@example.org")
        );
        assert_eq!(first.action.as_deref(), Some("failed"));
        assert_eq!(first.status.as_deref(), Some("5.1.1"));
        assert_eq!(first.remote_mta.as_deref(), Some("mx.example.org"));
        assert_eq!(first.diagnostic_type.as_deref(), Some("SMTP"));
        assert_eq!(
            first.diagnostic.as_deref(),
            Some("550 5.1.1 <kijitora@example.org>: Recipient address rejected: User unknown")
        );
        assert_eq!(dsn.recipients[1].action.as_deref(), Some("delayed"));
    }

    #[test]
    fn recipients_without_blank_lines_between_are_split() {
        let dsn = parse(
            "Final-Recipient: rfc822; a@x\nStatus: 5.1.1\nFinal-Recipient: rfc822; b@x\nStatus: 5.2.2\n",
            10,
        );
        assert_eq!(dsn.recipients.len(), 2);
        assert_eq!(dsn.recipients[1].status.as_deref(), Some("5.2.2"));
    }

    #[test]
    fn recipient_count_is_bounded() {
        let many: String = (0..100)
            .map(|i| format!("Final-Recipient: rfc822; u{i}@x\n\n"))
            .collect();
        assert_eq!(parse(&many, 7).recipients.len(), 7);
    }
}
