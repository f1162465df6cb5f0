//! Bounce parsing and classification: delivery status notifications (RFC 3464), the
//! non-standard bounce messages of common MTAs and mailbox providers, feedback reports
//! (RFC 5965) and auto-replies (RFC 3834), each recipient turned into one [`Bounce`]
//! with a reason from a vocabulary compatible with Sisimai 5.
//!
//! Pure: bytes in, bounces out, no I/O, no clock. Line endings (CRLF, LF, CR) are
//! normalised before parsing; MIME parts in any transfer encoding and charset are decoded
//! by mail-parser, whose panics are caught. The reason comes from the structure of the
//! notification (enhanced status code, SMTP reply code, the SMTP command that failed, the
//! DSN action) and from the diagnostic texts providers document, never from sample
//! names. Input size and recipient count are bounded by [`Limits`].

mod bounce;
mod classify;
mod dsn;
mod mbox;
mod message;
mod normalize;
mod ses;
mod smtp;
mod text;

pub use bounce::{Bounce, BounceError, Limits, Reason};
pub use mbox::{looks_like_mbox, split_mbox};

/// Parses one message and returns one [`Bounce`] per recipient it reports on, or an
/// empty list when the message is not a bounce, feedback report or auto-reply.
pub fn classify_message(bytes: &[u8]) -> Result<Vec<Bounce>, BounceError> {
    classify_message_with(bytes, &Limits::default())
}

/// Splits a file into messages (an mbox file into its messages, anything else is one
/// message) and classifies each; results are in message order. The CLI and the service
/// use this for files.
pub fn classify_file(bytes: &[u8]) -> Vec<Result<Vec<Bounce>, BounceError>> {
    if looks_like_mbox(bytes) {
        let messages = split_mbox(&normalize::line_endings(bytes));
        if messages.is_empty() {
            return vec![Err(BounceError::Empty)];
        }
        messages.iter().map(|m| classify_message(m)).collect()
    } else {
        vec![classify_message(bytes)]
    }
}

/// [`classify_message`] with explicit limits.
pub fn classify_message_with(bytes: &[u8], limits: &Limits) -> Result<Vec<Bounce>, BounceError> {
    message::classify(bytes, limits)
}
