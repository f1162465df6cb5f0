//! Content sniffing: what a stream is, judged from its first bytes only (never from a
//! file name or a declared MIME type).

/// How many leading bytes [`detect`] wants to see.
pub(crate) const SNIFF_BYTES: usize = 4096;

/// What a stream of bytes is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// No bytes, or white space only.
    Empty,
    Gzip,
    Zip,
    /// Starts (after a BOM and white space) with `<`, or is UTF-16 with a BOM.
    Xml,
    /// Starts (after a BOM and white space) with `{`.
    Json,
    /// An RFC 5322 message: header fields first, at least one of them a well-known one.
    Email,
    Unknown,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Header names that mark a message (compared case-insensitively).
const MAIL_HEADERS: &[&str] = &[
    "received",
    "from",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "return-path",
    "delivered-to",
    "reply-to",
    "sender",
    "dkim-signature",
    "authentication-results",
    "arc-seal",
    "feedback-type",
];

/// Sniffs `prefix`, the first bytes of a stream. `complete` says whether `prefix` is the
/// whole stream (so a white-space-only prefix is an empty input).
pub(crate) fn detect(prefix: &[u8], complete: bool) -> Format {
    if prefix.is_empty() {
        return Format::Empty;
    }
    if prefix.starts_with(&[0x1f, 0x8b]) {
        return Format::Gzip;
    }
    if prefix.starts_with(b"PK\x03\x04") || prefix.starts_with(b"PK\x05\x06") {
        return Format::Zip;
    }
    if prefix.starts_with(b"\xFF\xFE") || prefix.starts_with(b"\xFE\xFF") {
        return Format::Xml;
    }
    if prefix.starts_with(b"<\0") || prefix.starts_with(b"\0<") {
        return Format::Xml;
    }
    let text = prefix.strip_prefix(UTF8_BOM).unwrap_or(prefix);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        None if complete => return Format::Empty,
        None => return Format::Unknown,
        Some(b'<') => return Format::Xml,
        Some(b'{') => return Format::Json,
        Some(_) => {}
    }
    if looks_like_message(prefix) {
        Format::Email
    } else {
        Format::Unknown
    }
}

/// True when `prefix` starts with header fields (an mbox `From ` line may come first),
/// one of them a well-known message header.
fn looks_like_message(prefix: &[u8]) -> bool {
    let mut lines = prefix.split(|&b| b == b'\n').peekable();
    if lines.peek().is_some_and(|l| l.starts_with(b"From ")) {
        lines.next();
    }
    let mut known = false;
    let mut fields = 0usize;
    while let Some(line) = lines.next() {
        let last = lines.peek().is_none();
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if fields == 0 {
                return false;
            }
            continue;
        }
        match line.iter().position(|&b| b == b':') {
            Some(colon) if colon > 0 && line[..colon].iter().all(|&b| (33..=126).contains(&b)) => {
                fields += 1;
                let name = &line[..colon];
                known |= MAIL_HEADERS
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
                    || name.len() > 2 && name[..2].eq_ignore_ascii_case(b"x-");
            }
            // The prefix may end in the middle of a line.
            _ if last => break,
            _ => return false,
        }
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_by_magic_and_first_character() {
        assert_eq!(detect(b"", true), Format::Empty);
        assert_eq!(detect(b" \r\n\t", true), Format::Empty);
        assert_eq!(detect(b"\x1f\x8b\x08\x00", true), Format::Gzip);
        assert_eq!(detect(b"PK\x03\x04rest", true), Format::Zip);
        assert_eq!(detect(b"\xEF\xBB\xBF  <?xml?>", true), Format::Xml);
        assert_eq!(detect(b"\n\n<feedback>", true), Format::Xml);
        assert_eq!(detect(b"\xFF\xFE<\0f\0", true), Format::Xml);
        assert_eq!(detect(b"  {\"a\":1}", true), Format::Json);
    }

    #[test]
    fn detects_messages_by_their_header_fields() {
        assert_eq!(
            detect(b"Received: from x\n\tby y\nSubject: hi\n\nbody", true),
            Format::Email
        );
        assert_eq!(
            detect(b"From a@b Mon Jan 1\nFrom: a@b\nTo: c@d\n\nx", true),
            Format::Email
        );
        assert_eq!(
            detect(b"Feedback-Type: auth-failure\nUser-Agent: x\n", true),
            Format::Email
        );
        // A prefix cut in the middle of a header line is still a message.
        assert_eq!(
            detect(b"X-Mailer: a\nSubject: a very long su", false),
            Format::Email
        );
    }

    #[test]
    fn prose_and_binary_are_unknown() {
        assert_eq!(
            detect(
                b"Hello there: this is prose\nnot a header line at all\n",
                true
            ),
            Format::Unknown
        );
        assert_eq!(
            detect(b"Note: unknown header only\n\n", true),
            Format::Unknown
        );
        assert_eq!(detect(&[0u8, 1, 2, 3, 200, 100], true), Format::Unknown);
    }
}
