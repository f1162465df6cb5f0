//! SMTP details found in free text: enhanced status codes (RFC 3463), reply codes
//! (RFC 5321), the command a reply answered, provider evidence codes.

/// The first enhanced status code (`5.1.1`, `4.7.650`) in `text`, skipping the pieces
/// of IP addresses and version numbers.
pub(crate) fn find_status(text: &str) -> Option<String> {
    all_statuses(text).next()
}

/// Every enhanced status code in `text`, in order.
pub(crate) fn all_statuses(text: &str) -> impl Iterator<Item = String> + '_ {
    let b = text.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() {
            let start = i;
            i += 1;
            if !matches!(b[start], b'2' | b'4' | b'5') {
                continue;
            }
            if start > 0 && (b[start - 1].is_ascii_digit() || b[start - 1] == b'.') {
                continue;
            }
            if start > 0 && b[start - 1].is_ascii_alphabetic() {
                continue;
            }
            let mut j = start + 1;
            let mut ok = true;
            for _ in 0..2 {
                if b.get(j) != Some(&b'.') {
                    ok = false;
                    break;
                }
                j += 1;
                let digits = b[j..].iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 || digits > 3 {
                    ok = false;
                    break;
                }
                j += digits;
            }
            if !ok {
                continue;
            }
            let next = b.get(j).copied();
            let after = b.get(j + 1).copied();
            if next.is_some_and(|c| c.is_ascii_alphanumeric())
                || (next == Some(b'.') && after.is_some_and(|c| c.is_ascii_digit()))
            {
                continue;
            }
            i = j;
            return Some(text[start..j].to_owned());
        }
        None
    })
}

/// The first SMTP reply code (2xx, 4xx, 5xx) in `text` that stands as a word.
pub(crate) fn find_reply_code(text: &str) -> Option<u16> {
    let b = text.as_bytes();
    let mut found = None;
    for start in 0..b.len().saturating_sub(2) {
        if !matches!(b[start], b'2' | b'4' | b'5')
            || !b[start + 1].is_ascii_digit()
            || !b[start + 2].is_ascii_digit()
            || b[start + 1] > b'5'
        {
            continue;
        }
        if start > 0
            && !matches!(
                b[start - 1],
                b' ' | b'(' | b'[' | b'#' | b'\'' | b'"' | b':' | b'<' | b'\t' | b'>'
            )
        {
            continue;
        }
        let next = b.get(start + 3).copied();
        if !matches!(
            next,
            None | Some(b' ' | b'-' | b']' | b')' | b'\'' | b'"' | b'\t' | b',')
        ) {
            continue;
        }
        // "550-5.1.1" and "550 5.1.1" are replies; "250 2.0.0" too. A bare number inside
        // prose ("within 550 days") is rare enough to accept.
        let code = u16::from(b[start] - b'0') * 100
            + u16::from(b[start + 1] - b'0') * 10
            + u16::from(b[start + 2] - b'0');
        if code < 300 {
            // remember a success code only when no failure code follows
            if found.is_none() && matches!(code, 250..=252) {
                found = Some(code);
            }
            continue;
        }
        return Some(code);
    }
    found
}

/// The SMTP command a failure answered, from the wording MTAs use around the reply.
pub(crate) fn find_command(text: &str) -> Option<&'static str> {
    let t = text.to_ascii_lowercase();
    const TABLE: &[(&str, &str)] = &[
        ("in reply to rcpt to", "RCPT"),
        ("rcpt to response", "RCPT"),
        ("[rcpt_to]", "RCPT"),
        ("after rcpt command", "RCPT"),
        ("[mail_from]", "MAIL"),
        ("mail from response", "MAIL"),
        ("[data]", "DATA"),
        ("after end of data", "DATA"),
        ("after rcpt to", "RCPT"),
        ("did not like our rcpt to", "RCPT"),
        ("does not like recipient", "RCPT"),
        (">>> rcpt to", "RCPT"),
        ("in reply to mail from", "MAIL"),
        ("after mail from", "MAIL"),
        ("did not like our mail from", "MAIL"),
        (">>> mail from", "MAIL"),
        ("sender was rejected", "MAIL"),
        ("in reply to end of data", "DATA"),
        ("in reply to data", "DATA"),
        ("after end of data", "DATA"),
        ("after data", "DATA"),
        ("did not like our final data", "DATA"),
        ("did not like our data", "DATA"),
        ("failed after i sent the message", "DATA"),
        (">>> data", "DATA"),
        ("in reply to ehlo", "EHLO"),
        ("in reply to helo", "HELO"),
        ("after ehlo", "EHLO"),
        ("after helo", "HELO"),
        ("while performing the helo handshake", "HELO"),
        ("while performing the ehlo handshake", "EHLO"),
        ("my name was rejected", "HELO"),
        ("refused to talk to me", "CONN"),
        ("after initial connection", "CONN"),
        ("in reply to starttls", "STARTTLS"),
    ];
    TABLE.iter().find(|(k, _)| t.contains(k)).map(|(_, c)| *c)
}

/// The command of an SMTP transcript (`>>> RCPT TO:<a@b>` then `<<< 550 ...`) that drew
/// the first failure reply.
pub(crate) fn transcript_command(text: &str) -> Option<&'static str> {
    let mut last = None;
    for line in text.lines() {
        let line = line.trim_start();
        if let Some(sent) = line.strip_prefix(">>>") {
            let word = sent.trim_start().to_ascii_uppercase();
            last = ["RCPT", "MAIL", "DATA", "EHLO", "HELO", "STARTTLS"]
                .into_iter()
                .find(|c| word.starts_with(c));
        } else if let Some(reply) = line.strip_prefix("<<<") {
            let reply = reply.trim_start();
            if reply.starts_with('4') || reply.starts_with('5') {
                return last;
            }
        }
    }
    None
}

/// Microsoft's anti-spam evidence code, `AS(1234)`, when present.
pub(crate) fn find_as_code(text: &str) -> Option<String> {
    let start = text.find("AS(")?;
    let rest = &text[start + 3..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || !rest[digits.len()..].starts_with(')') {
        return None;
    }
    Some(format!("AS({digits})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_found_but_not_inside_ip_addresses() {
        assert_eq!(
            find_status("host 192.0.2.25 said: 550 5.1.1 <a@b>"),
            Some("5.1.1".into())
        );
        assert_eq!(find_status("from 10.2.0.2 and 4.2.2.2"), None);
        assert_eq!(find_status("code (#5.5.0)"), Some("5.5.0".into()));
        assert_eq!(
            find_status("451 4.7.650 The mail server"),
            Some("4.7.650".into())
        );
        assert_eq!(find_status("rejected. 5.7.1."), Some("5.7.1".into()));
    }

    #[test]
    fn reply_code_stands_as_a_word() {
        assert_eq!(find_reply_code("said: 550-5.1.1 The email"), Some(550));
        assert_eq!(find_reply_code("port 25501 then 421 busy"), Some(421));
        assert_eq!(find_reply_code("no code here 5.1.1"), None);
        assert_eq!(find_reply_code("250 ok then 550 no"), Some(550));
    }

    #[test]
    fn command_comes_from_mta_wording() {
        assert_eq!(find_command("(in reply to RCPT TO command)"), Some("RCPT"));
        assert_eq!(
            find_command("SMTP error from remote mail server after MAIL FROM:<a@b>"),
            Some("MAIL")
        );
        assert_eq!(
            find_command("host x refused to talk to me: 554"),
            Some("CONN")
        );
    }

    #[test]
    fn microsoft_as_code_is_kept() {
        assert_eq!(
            find_as_code("550 5.7.1 Service unavailable; [AS(1440)]"),
            Some("AS(1440)".into())
        );
        assert_eq!(find_as_code("AS(x)"), None);
    }
}
