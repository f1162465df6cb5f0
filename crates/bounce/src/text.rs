//! Free-text bounces (qmail, Exim, Sendmail without DSN, Exchange, Gmail, Yahoo, ...):
//! where the returned message starts, which addresses are the failed recipients and
//! which text explains each failure.

/// One recipient found in the text and the text that explains its failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub address: String,
    pub paragraph: String,
    /// The transcript reply (`<<< 550 ...`) just before the recipient's line.
    pub reply: Option<String>,
    /// The command that reply answered.
    pub command: Option<&'static str>,
}

/// Lines (lower-case, trimmed) that start the returned message in free-text bounces.
const ORIGINAL_MARKERS: &[&str] = &[
    "below this line is a copy of the message",
    "this is a copy of the message",
    "original message follows",
    "original message header",
    "original message headers",
    "----- original message",
    "-----original message",
    "--- original message",
    "------ original message",
    "original message ----",
    "undelivered message headers",
    "headers of the original message",
    "message headers follow",
    "---- the header of original message",
    "content-type: message/rfc822",
    "content-type: text/rfc822-headers",
    "----- unsent message below",
    "------ unsent message below",
    "--- message header ---",
    "----- transcript of session follows",
    "returned message follows",
    "--- the header of the original message is following",
    "your message reads",
    "--- below this line is a copy",
    "the header of the original message",
    "----- message text follows",
    "--------message header",
    "original header follows",
    "original mail as follows",
    "original message as follows",
];

/// Where the returned original message starts in a free-text bounce body (a byte
/// offset into `body`), when it can be told.
pub(crate) fn original_start(body: &str) -> Option<usize> {
    let mut offset = 0;
    let lines: Vec<&str> = body.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let lower = line.trim().to_ascii_lowercase();
        if !lower.is_empty()
            && ORIGINAL_MARKERS.iter().any(|m| lower.contains(m))
            && !lower.contains("transcript of session")
        {
            return Some(offset);
        }
        // A header block in column 0: a Received/Return-Path/Message-ID field followed
        // by another header field.
        if is_original_header_start(line)
            && lines
                .get(i + 1)
                .is_some_and(|n| looks_like_header(n) || n.starts_with([' ', '\t']))
        {
            return Some(offset);
        }
        // Three header fields in a row (or an mbox separator before them) start a
        // returned message even without a marker line.
        let block = |from: usize| {
            (from..from + 3).all(|k| {
                lines
                    .get(k)
                    .is_some_and(|l| is_known_header(l) || (k > from && l.starts_with([' ', '\t'])))
            }) && (from..from + 4).any(|k| {
                lines.get(k).is_some_and(|l| {
                    let l = l.to_ascii_lowercase();
                    ["from: ", "received: ", "return-path: ", "message-id: "]
                        .iter()
                        .any(|p| l.starts_with(p))
                })
            })
        };
        if (line.starts_with("From ") && block(i + 1)) || block(i) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

fn is_original_header_start(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    [
        "received: ",
        "return-path: ",
        "message-id: ",
        "x-original-to: ",
        "delivered-to: ",
        "dkim-signature: ",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

fn is_known_header(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    [
        "from: ",
        "to: ",
        "subject: ",
        "date: ",
        "message-id: ",
        "mime-version: ",
        "content-type: ",
        "received: ",
        "return-path: ",
        "cc: ",
        "reply-to: ",
        "sender: ",
        "x-mailer: ",
        "content-transfer-encoding: ",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

fn looks_like_header(line: &str) -> bool {
    match line.split_once(':') {
        Some((name, _)) => {
            !name.is_empty()
                && name.len() < 40
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => false,
    }
}

/// Every e-mail address in `text` with its byte range, in order.
pub(crate) fn addresses(text: &str) -> Vec<(usize, usize, String)> {
    let b = text.as_bytes();
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-=/'!#$&*?^`{|}~".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || c == b'.' || c == b'-';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'@' {
            i += 1;
            continue;
        }
        let mut s = i;
        while s > 0 && local(b[s - 1]) {
            s -= 1;
        }
        while s < i && matches!(b[s], b'.' | b'\'' | b'=' | b'/' | b'-') {
            s += 1;
        }
        let mut e = i + 1;
        while e < b.len() && domain(b[e]) {
            e += 1;
        }
        while e > i + 1 && matches!(b[e - 1], b'.' | b'-') {
            e -= 1;
        }
        let dom = &text[i + 1..e];
        if s < i
            && dom.contains('.')
            && !dom.starts_with('.')
            && dom.bytes().any(|c| c.is_ascii_alphabetic())
        {
            out.push((s, e, text[s..e].to_owned()));
        }
        i = e.max(i + 1);
    }
    out
}

/// Labels that introduce a failed recipient on a line.
const RECIPIENT_LABELS: &[&str] = &[
    "original-recipient",
    "final-recipient",
    "failed recipient",
    "recipient address",
    "recipients",
    "recipient",
    "rcpt to",
    "rcpt",
    "e-mail address",
    "email address",
    "destinataire",
    "undeliverable to",
];

/// Finds the failed recipients in the explanatory text of a bounce. `exclude` holds
/// addresses that are known not to be recipients (the sender, the bounce's own
/// addresses), lower-case.
pub(crate) fn recipients(section: &str, exclude: &[String], max: usize) -> Vec<Found> {
    let lines: Vec<&str> = section.lines().collect();
    // Every line naming a recipient ends the paragraph before it; a recipient named
    // twice (a notice repeated in two languages) is reported once.
    let mut starts: Vec<(usize, String, bool)> = Vec::new();
    let mut unique = 0;
    for (n, line) in lines.iter().enumerate() {
        if let Some(address) = leading_address(line)
            && !(exclude.contains(&address.to_ascii_lowercase())
                && line.to_ascii_lowercase().contains("sender"))
        {
            let first = !starts
                .iter()
                .any(|(_, a, _)| a.eq_ignore_ascii_case(&address));
            // the same address again within its own paragraph continues it
            // (Postfix: "<a@b>: host x said: 550" then "    <a@b>: User unknown")
            if let Some((m, last, _)) = starts.last()
                && last.eq_ignore_ascii_case(&address)
                && !lines[*m..n].iter().any(|l| l.trim().is_empty())
            {
                continue;
            }
            if first {
                if unique >= max {
                    break;
                }
                unique += 1;
            }
            starts.push((n, address, first));
        }
    }
    let mut found: Vec<Found> = Vec::new();
    for (k, (n, address, first)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(lines.len(), |(m, _, _)| *m);
        let mut paragraph = String::new();
        let sendmail_style = starts_with_code(lines[*n]);
        for (i, line) in lines[*n..end].iter().enumerate() {
            if i > 0
                && line.trim().is_empty()
                && !paragraph.trim().is_empty()
                && paragraph_complete(&lines[*n + i..end])
            {
                break;
            }
            // "554 <a@b>... text" lines of a transcript: the next coded line is
            // about something else.
            if i > 0 && sendmail_style && starts_with_code(line) {
                break;
            }
            paragraph.push_str(line);
            paragraph.push('\n');
        }
        // In an SMTP transcript the reply that concerns this line comes just before it,
        // after the line of the recipient before.
        let from = if k == 0 { 0 } else { starts[k - 1].0 + 1 };
        let (mut reply, command) = transcript_before(&lines[from.min(*n)..*n]);
        // Sendmail: a local mailer's complaint ("mail.local: unknown user: x") stands on
        // the line before "554 <x>... Service unavailable".
        if reply.is_none()
            && starts_with_code(lines[*n])
            && *n > from
            && let Some(above) = lines.get(*n - 1)
            && !above.trim().is_empty()
            && !above.trim_start().starts_with('-')
            && !starts_with_code(above)
            && above.contains(':')
        {
            reply = Some(above.trim().to_owned());
        }
        let informative = |p: &str| {
            crate::smtp::find_reply_code(p).is_some() || crate::smtp::find_status(p).is_some()
        };
        if *first {
            found.push(Found {
                address: address.clone(),
                paragraph,
                reply,
                command,
            });
        } else if let Some(f) = found
            .iter_mut()
            .find(|f| f.address.eq_ignore_ascii_case(address))
        {
            // A later mention explains more than a bare list entry.
            let bare = f
                .paragraph
                .trim()
                .trim_matches(|c: char| c == '<' || c == '>' || c == ':')
                .len()
                <= f.address.len() + 2;
            if bare && !informative(&f.paragraph) && informative(&paragraph) {
                f.paragraph = paragraph;
                f.reply = reply;
                f.command = command;
            }
        }
    }
    found
}

/// A line that starts in column 0 with an SMTP reply code and a space.
fn starts_with_code(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 4
        && b[..3].iter().all(u8::is_ascii_digit)
        && b[3] == b' '
        && matches!(b[0], b'4' | b'5')
}

/// The nearest failure reply of an SMTP transcript (`<<< 5xx ...`) above a line, and
/// the command (`>>> RCPT ...`) it answered. Stops at a blank line.
fn transcript_before(lines: &[&str]) -> (Option<String>, Option<&'static str>) {
    for (i, line) in lines.iter().enumerate().rev() {
        let t = line.trim_start();
        if t.is_empty() {
            break;
        }
        if let Some(reply) = t.strip_prefix("<<<") {
            let reply = reply.trim();
            if reply.starts_with('4') || reply.starts_with('5') {
                let command = lines[..i].iter().rev().find_map(|l| {
                    let sent = l
                        .trim_start()
                        .strip_prefix(">>>")?
                        .trim_start()
                        .to_ascii_uppercase();
                    ["RCPT", "MAIL", "DATA", "EHLO", "HELO", "STARTTLS"]
                        .into_iter()
                        .find(|c| sent.starts_with(c))
                });
                return (Some(reply.to_owned()), command);
            }
        }
    }
    (None, None)
}

/// A blank line ends a recipient's paragraph unless only more explanation follows
/// before the next recipient (then the text after it still belongs to this one).
fn paragraph_complete(rest: &[&str]) -> bool {
    let text: String = rest.iter().take(12).copied().collect::<Vec<_>>().join(" ");
    let lower = text.to_ascii_lowercase();
    !(lower.contains(" said:")
        || lower.contains("error")
        || lower.contains("reason")
        || crate::smtp::find_status(&text).is_some())
}

/// The address a line starts with (after white space, `<`, quotes and a label such as
/// `Recipient:`), or `None`.
fn leading_address(line: &str) -> Option<String> {
    let mut rest = line.trim_start();
    // a transcript reply quotes addresses; the MTA's own line after it names the recipient
    if rest.starts_with("<<<") || rest.starts_with(">>>") {
        return None;
    }
    if rest.len() > 4
        && rest.as_bytes()[..3].iter().all(u8::is_ascii_digit)
        && matches!(rest.as_bytes()[3], b' ' | b'-')
    {
        rest = rest[4..].trim_start();
    }
    let lower = rest.to_ascii_lowercase();
    for label in RECIPIENT_LABELS {
        if lower.starts_with(label) {
            let after = &rest[label.len()..];
            let trimmed = after.trim_start();
            let bare = label.ends_with(" to") && after.starts_with(' ');
            if let Some(stripped) = trimmed.strip_prefix(':').or_else(|| {
                (label.len() > 3)
                    .then_some(trimmed)
                    .filter(|t| t.starts_with('<') || bare)
            }) {
                rest = stripped.trim_start();
                break;
            }
        }
    }
    let rest = rest.trim_start_matches(['<', '"', '\'', '(', '[', '*', ' ']);
    let found = addresses(rest);
    let (s, e, address) = found.first()?;
    if *s != 0 {
        return None;
    }
    let after = rest[*e..].trim_start_matches(['>', '"', '\'', ')', ']']);
    let ok = after.is_empty()
        || after.starts_with([':', ' ', '\t', '.', ','])
        || after.starts_with("...");
    ok.then(|| address.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_found_with_their_positions() {
        let found = addresses("to <kijitora@example.jp>: said neko@example.org.");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].2, "kijitora@example.jp");
        assert_eq!(found[1].2, "neko@example.org");
    }

    #[test]
    fn qmail_and_exim_recipient_paragraphs() {
        let text = "Hi.\n\n<kijitora@example.ne.jp>:\nremote host said: 550 Unknown user\n\n  neko@example.org\n    SMTP error from remote mail server after RCPT TO:<neko@example.org>:\n    host mx [192.0.2.1]: 550 5.1.1 unknown\n";
        let found = recipients(text, &[], 10);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].address, "kijitora@example.ne.jp");
        assert!(found[0].paragraph.contains("Unknown user"));
        assert!(found[1].paragraph.contains("5.1.1"));
    }

    #[test]
    fn excluded_addresses_are_not_recipients() {
        let text = "<sender@example.jp>... sender ok\n<rcpt@example.org>... User unknown\n";
        let found = recipients(text, &["sender@example.jp".into()], 10);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].address, "rcpt@example.org");
    }

    #[test]
    fn original_message_start_is_found_by_marker_or_header_block() {
        let body =
            "error text\n--- Below this line is a copy of the message.\n\nReturn-Path: <a@b>\n";
        assert_eq!(original_start(body), Some(11));
        let body = "error text\n\nReceived: from x\n\tby y\nFrom: a@b\n";
        assert_eq!(original_start(body), Some(12));
    }
}
