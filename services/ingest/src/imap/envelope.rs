//! The envelope of a message read from a mailbox: the delivering MTA's trace headers stand
//! in for SMTP's `MAIL FROM` and `RCPT TO`, so the routing sees the addresses it would have
//! seen over SMTP (a `bounces+<key>@` or `dmarc@` address).

use crate::bounce::MailEnvelope;

/// How far into a message headers are looked for.
const HEADER_SCAN: usize = 64 * 1024;

/// `Return-Path` as the sender (`<>`: the null sender); `Delivered-To`, `X-Original-To`
/// and `Envelope-To` as recipients, after `extra_rcpt` (the mailbox's client address).
pub(crate) fn envelope_of(bytes: &[u8], extra_rcpt: &[String]) -> MailEnvelope {
    let mut envelope = MailEnvelope {
        mail_from: None,
        rcpt_to: extra_rcpt.to_vec(),
    };
    for (name, value) in headers(&bytes[..bytes.len().min(HEADER_SCAN)]) {
        let value = value.trim();
        if name.eq_ignore_ascii_case("return-path") {
            if envelope.mail_from.is_none() {
                let address = value.trim_start_matches('<').trim_end_matches('>').trim();
                envelope.mail_from = (!address.is_empty()).then(|| address.to_owned());
            }
        } else if ["delivered-to", "x-original-to", "envelope-to"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
        {
            for address in value.split(',') {
                let address = address.trim().trim_start_matches('<').trim_end_matches('>');
                if address.contains('@') && !envelope.rcpt_to.iter().any(|r| r == address) {
                    envelope.rcpt_to.push(address.to_owned());
                }
            }
        }
    }
    envelope
}

/// The unfolded header fields of the header block (lossy UTF-8).
fn headers(bytes: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(bytes);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.to_owned()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_headers_become_the_envelope() {
        let mail = b"Return-Path: <>\r\nDelivered-To: bounces+k3y@intake.example\r\nX-Original-To:\r\n dmarc@intake.example\r\nSubject: x\r\n\r\nDelivered-To: body@not.header\r\n";
        let e = envelope_of(mail, &["bounces+abc@imap.invalid".to_owned()]);
        assert_eq!(e.mail_from, None);
        assert_eq!(
            e.rcpt_to,
            vec![
                "bounces+abc@imap.invalid".to_owned(),
                "bounces+k3y@intake.example".to_owned(),
                "dmarc@intake.example".to_owned(),
            ]
        );
    }

    #[test]
    fn the_first_return_path_is_the_sender() {
        let mail = b"Return-Path: <a@b.example>\nReturn-Path: <c@d.example>\n\n";
        let e = envelope_of(mail, &[]);
        assert_eq!(e.mail_from.as_deref(), Some("a@b.example"));
        assert!(e.rcpt_to.is_empty());
    }
}
