//! Line endings: CRLF and CR-only input become LF before anything else looks at it.

use std::borrow::Cow;

/// Returns `bytes` with every CRLF and every lone CR replaced by LF.
pub(crate) fn line_endings(bytes: &[u8]) -> Cow<'_, [u8]> {
    if !bytes.contains(&b'\r') {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\r' {
            out.push(b'\n');
            if bytes.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
        } else {
            out.push(b);
        }
        i += 1;
    }
    Cow::Owned(out)
}

/// Collapses runs of white space into one space and trims.
pub(crate) fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_cr_and_lf_all_become_lf() {
        assert_eq!(&*line_endings(b"a\r\nb\rc\nd\r\r\n"), b"a\nb\nc\nd\n\n");
    }

    #[test]
    fn lf_input_is_borrowed_unchanged() {
        assert!(matches!(line_endings(b"a\nb\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn one_line_collapses_folding() {
        assert_eq!(
            one_line("  550 5.1.1\n\t user\n unknown "),
            "550 5.1.1 user unknown"
        );
    }
}
