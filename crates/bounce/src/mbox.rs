//! Unix mbox files: split into messages.

/// Whether `bytes` look like an mbox file (they start with a `From ` separator line).
pub fn looks_like_mbox(bytes: &[u8]) -> bool {
    bytes.starts_with(b"From ") && {
        let line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        // "From sender date": a separator has at least a sender and a date after it,
        // while a header field is "From:".
        line.split(|&b| b == b' ').filter(|w| !w.is_empty()).count() >= 3
    }
}

/// Splits an mbox file into its messages (separator lines removed, `>From ` unquoted).
pub fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    let mut previous_blank = true;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") && (previous_blank || is_separator(line)) {
            if let Some(done) = current.take() {
                messages.push(done);
            }
            current = Some(Vec::new());
            previous_blank = false;
            continue;
        }
        let trimmed = line.strip_suffix(b"\n").unwrap_or(line);
        let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
        previous_blank = trimmed.is_empty();
        let body = current.get_or_insert_with(Vec::new);
        if line.starts_with(b">From ") {
            body.extend_from_slice(&line[1..]);
        } else {
            body.extend_from_slice(line);
        }
    }
    if let Some(done) = current
        && done.iter().any(|b| !b.is_ascii_whitespace())
    {
        messages.push(done);
    }
    messages
}

/// "From sender Thu Jul  2 12:05:05 2020": a separator line even without the blank
/// line before it that mboxrd requires.
fn is_separator(line: &[u8]) -> bool {
    let text = String::from_utf8_lossy(line);
    let words: Vec<&str> = text.split_whitespace().collect();
    words.len() >= 6
        && words
            .iter()
            .any(|w| w.len() == 8 && w.matches(':').count() == 2)
        && words
            .last()
            .is_some_and(|y| y.len() == 4 && y.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_on_from_lines_after_blank_lines() {
        let mbox = b"From a@b Sat Oct  4 08:00:09 2025\nSubject: one\n\nbody\nFrom here on\n\nFrom c@d Sat Oct  4 08:00:10 2025\nSubject: two\n\n>From quoted\n";
        let parts = split_mbox(mbox);
        assert_eq!(parts.len(), 2);
        assert!(parts[0].ends_with(b"From here on\n\n"));
        assert_eq!(parts[1], b"Subject: two\n\nFrom quoted\n");
    }

    #[test]
    fn a_dated_separator_needs_no_blank_line_before_it() {
        let mbox = b"From a@b Thu Jul  2 12:05:05 2020\nSubject: one\n\nbody\nFrom c@d Thu Jul  2 12:05:06 2020\nSubject: two\n\nx\n";
        assert_eq!(split_mbox(mbox).len(), 2);
    }

    #[test]
    fn header_from_is_not_an_mbox_separator() {
        assert!(!looks_like_mbox(b"From: a@b\n"));
        assert!(looks_like_mbox(
            b"From MAILER-DAEMON  Sat Oct  4 08:00:09 2025\n"
        ));
    }
}
