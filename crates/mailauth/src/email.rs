//! Report emails (RFC 5322, MIME through mail-parser): an ARF failure report, or a
//! message whose parts and attachments, in any transfer encoding and of any declared
//! type, are sniffed for reports.

use crate::container::{Input, Walk};
use crate::failure;
use crate::rejection::RejectReason;
use crate::sink::{Location, ReportSink};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use std::panic::catch_unwind;

/// Handles the message in `bytes`; `depth` already counts the message itself.
pub(crate) fn process(walk: &mut Walk<'_, '_>, bytes: &[u8], at: &Location, depth: usize) {
    let parsed = catch_unwind(|| MessageParser::new().parse(bytes));
    match parsed {
        Ok(Some(message)) => process_message(walk, &message, at, depth, false),
        Ok(None) => walk.reject(at, RejectReason::InvalidMime, "no header fields found"),
        Err(_) => walk.reject(
            at,
            RejectReason::Internal,
            "the MIME parser stopped on a bug",
        ),
    }
}

/// Handles a parsed message. `nested`: a message attached to another one, which says
/// nothing when it holds no report.
fn process_message(
    walk: &mut Walk<'_, '_>,
    message: &Message<'_>,
    at: &Location,
    depth: usize,
    nested: bool,
) {
    if let Some(parts) = failure::find_arf(message) {
        match failure::parse_arf(message, &parts, walk.limits.max_problems) {
            Ok((report, problems)) => walk.sink.failure(at, report, problems),
            Err(rejection) => walk.sink.rejected(at, rejection),
        }
        return;
    }
    let before = walk.sink.calls;
    for (i, part) in message.parts.iter().enumerate() {
        let here = match part.attachment_name() {
            Some(name) => at.child(&format!("part {i} ({name})")),
            None => at.child(&format!("part {i}")),
        };
        match &part.body {
            PartType::Multipart(_) => {}
            PartType::Message(inner) => {
                if depth >= walk.limits.max_nesting {
                    walk.reject(
                        &here,
                        RejectReason::NestingTooDeep,
                        format!(
                            "more than {} containers nested (email, gzip, zip)",
                            walk.limits.max_nesting
                        ),
                    );
                    continue;
                }
                process_message(walk, inner, &here, depth + 1, true);
            }
            PartType::Text(text) | PartType::Html(text) => {
                walk.process(Input::Text(text), &here, depth, true);
            }
            PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
                walk.process(Input::Bytes(bytes), &here, depth, true);
            }
        }
    }
    if walk.sink.calls > before {
        return;
    }
    if let Some((report, problems)) = failure::parse_plain_text(message) {
        walk.sink.failure(at, report, problems);
    } else if failure::declares_feedback_report(message) {
        walk.reject(
            at,
            RejectReason::MissingField,
            "a multipart/report of type feedback-report without a message/feedback-report part",
        );
    } else if !nested {
        walk.reject(
            at,
            RejectReason::NoReportFound,
            format!(
                "none of the {} MIME parts holds a report",
                message.parts.len()
            ),
        );
    }
}
