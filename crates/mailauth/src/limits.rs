//! The limits every input is held to, and the readers that enforce them while data is
//! decompressed.

use crate::rejection::{RejectReason, Rejection};
use std::cell::Cell;
use std::io::{self, Read};
use std::rc::Rc;

/// How much one input may cost. One input is one call of [`crate::extract`]; the
/// decompression budget is shared by everything inside it (every zip entry, every
/// attachment, every nested gzip layer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes that decompression may produce for one input (zip/gzip bombs).
    pub max_decompressed_bytes: u64,
    /// Entries a zip archive may hold.
    pub max_archive_entries: usize,
    /// Containers inside containers: email, gzip and zip layers around a report.
    pub max_nesting: usize,
    /// `<record>` elements one aggregate report may hold.
    pub max_records_per_report: usize,
    /// Records handed to [`crate::ReportSink::aggregate_records`] per call.
    pub record_batch: usize,
    /// Bytes one XML token (a text node, a tag) may span; bounds the parser's buffer.
    pub max_xml_token_bytes: usize,
    /// Problem strings kept per report; the rest are counted in one last line.
    pub max_problems: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed_bytes: 256 * 1024 * 1024,
            max_archive_entries: 64,
            max_nesting: 4,
            max_records_per_report: 2_000_000,
            record_batch: 1000,
            max_xml_token_bytes: 4 * 1024 * 1024,
            max_problems: 100,
        }
    }
}

/// The decompression budget left for the current input, shared by every limiting reader.
#[derive(Clone, Debug)]
pub(crate) struct Budget {
    left: Rc<Cell<u64>>,
    limit: u64,
}

/// Why a limiting reader stopped: the payload of its `io::Error`, so the cause survives
/// the trip through decompressors and the XML reader.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LimitHit {
    #[error("decompressed data exceeds the limit of {0} bytes")]
    Decompressed(u64),
    #[error("an XML token exceeds the limit of {0} bytes")]
    XmlToken(usize),
}

/// A reader of decompressed data that draws every byte from the shared [`Budget`].
pub(crate) struct Limited<R> {
    inner: R,
    budget: Budget,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Self {
        Budget {
            left: Rc::new(Cell::new(limit)),
            limit,
        }
    }

    fn exceeded(&self) -> io::Error {
        io::Error::other(LimitHit::Decompressed(self.limit))
    }
}

impl<R: Read> Limited<R> {
    pub(crate) fn new(inner: R, budget: Budget) -> Self {
        Limited { inner, budget }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let left = self.budget.left.get();
        if left == 0 {
            // Allowed exactly up to the limit: only more data is an error.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(self.budget.exceeded()),
            };
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.budget.left.set(left - n as u64);
        Ok(n)
    }
}

/// Turns an I/O error met while reading decompressed data into a rejection.
/// `layer` names what was being read ("gzip", "zip entry", "xml").
pub(crate) fn io_rejection(error: &io::Error, layer: &str) -> Rejection {
    if let Some(hit) = error.get_ref().and_then(|e| e.downcast_ref::<LimitHit>()) {
        let reason = match hit {
            LimitHit::Decompressed(_) => RejectReason::DecompressedTooLarge,
            LimitHit::XmlToken(_) => RejectReason::OversizedElement,
        };
        return Rejection::new(reason, hit.to_string());
    }
    match error.kind() {
        io::ErrorKind::UnexpectedEof => Rejection::new(
            RejectReason::TruncatedCompression,
            format!("{layer} data ends early: {error}"),
        ),
        _ => Rejection::new(
            RejectReason::InvalidCompression,
            format!("{layer} data is corrupt: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_reader_allows_exactly_the_limit() {
        let data = [7u8; 100];
        let mut r = Limited::new(&data[..], Budget::new(100));
        let mut out = Vec::new();
        assert_eq!(r.read_to_end(&mut out).ok(), Some(100));
    }

    #[test]
    fn limited_reader_fails_past_the_limit_and_shares_the_budget() {
        let budget = Budget::new(150);
        let data = [7u8; 100];
        let mut first = Limited::new(&data[..], budget.clone());
        let mut out = Vec::new();
        assert!(first.read_to_end(&mut out).is_ok());
        let mut second = Limited::new(&data[..], budget.clone());
        let error = second.read_to_end(&mut out).err();
        let rejection = error.map(|e| io_rejection(&e, "gzip"));
        assert_eq!(
            rejection.map(|r| r.reason),
            Some(RejectReason::DecompressedTooLarge)
        );
        assert_eq!(budget.left.get(), 0);
    }
}
