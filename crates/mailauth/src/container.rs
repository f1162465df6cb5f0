//! The walk over one input: sniff each stream, open containers (gzip, zip, email) within
//! the limits, and hand what is inside to the report parsers.

use crate::aggregate::{self, Parsed, XmlSource};
use crate::detect::{Format, SNIFF_BYTES, detect};
use crate::email;
use crate::limits::{Budget, Limited, Limits, io_rejection};
use crate::rejection::{RejectReason, Rejection};
use crate::sink::{AggregateEnd, Location, ReportSink};
use crate::tls::{self, TlsParsed};
use flate2::bufread::GzDecoder;
use postern_domain::{AggregateHeader, AggregateRecord, FailureReport, TlsReport};
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Buffer size of the readers between layers.
const BUFFER: usize = 64 * 1024;

/// A stream to sniff: whole bytes in memory, or a reader (decompressed data).
pub(crate) enum Input<'a> {
    Bytes(&'a [u8]),
    /// Text a MIME parser decoded from its declared charset.
    Text(&'a str),
    /// `layer` names the producer, for error messages ("gzip", "zip entry").
    Stream(Box<dyn BufRead + 'a>, &'static str),
}

/// The sink as the walk sees it: counts callbacks and knows whether an aggregate report
/// is open, so a panic can still be reported coherently.
pub(crate) struct Guard<'s> {
    inner: &'s mut dyn ReportSink,
    pub(crate) calls: u64,
    open: bool,
    /// True while the caller's sink runs: its panics are not the parser's to hide.
    in_sink: bool,
}

/// One input being walked.
pub(crate) struct Walk<'w, 's> {
    pub(crate) limits: &'w Limits,
    budget: Budget,
    pub(crate) sink: &'w mut Guard<'s>,
}

/// Reads all gzip members of a stream, and ignores what follows the last member when it
/// is not another gzip member (Mimecast appends CRLF after its gzip attachments).
struct Gunzip<R: BufRead> {
    decoder: Option<GzDecoder<R>>,
}

/// Parses `bytes` and reports everything found to `sink`. Never panics because of the
/// input: a panic in a parser library becomes an [`RejectReason::Internal`] rejection.
pub(crate) fn run(bytes: &[u8], limits: &Limits, sink: &mut dyn ReportSink) {
    let body = Location::body();
    let mut guard = Guard {
        inner: sink,
        calls: 0,
        open: false,
        in_sink: false,
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut walk = Walk {
            limits,
            budget: Budget::new(limits.max_decompressed_bytes),
            sink: &mut guard,
        };
        walk.process(Input::Bytes(bytes), &body, 0, false);
    }));
    if let Err(panic) = outcome {
        if guard.in_sink {
            std::panic::resume_unwind(panic);
        }
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let rejection = Rejection::new(
            RejectReason::Internal,
            format!("the parser stopped on a bug: {what}"),
        );
        if guard.open {
            guard.aggregate_end(AggregateEnd::Aborted(rejection));
        } else {
            guard.rejected(&body, rejection);
        }
    }
    if guard.calls == 0 {
        guard.rejected(
            &body,
            Rejection::new(
                RejectReason::NoReportFound,
                "nothing in the input is a report",
            ),
        );
    }
}

impl Walk<'_, '_> {
    pub(crate) fn reject(
        &mut self,
        at: &Location,
        reason: RejectReason,
        detail: impl Into<String>,
    ) {
        self.sink.rejected(at, Rejection::new(reason, detail));
    }

    /// Sniffs `input` and handles it. `lenient`: unrecognised content is ignored (parts
    /// of an email, entries of a zip) instead of rejected.
    pub(crate) fn process(&mut self, input: Input<'_>, at: &Location, depth: usize, lenient: bool) {
        match input {
            Input::Bytes(_) | Input::Text(_) => {
                let bytes = match input {
                    Input::Text(text) => text.as_bytes(),
                    Input::Bytes(bytes) => bytes,
                    Input::Stream(..) => &[],
                };
                let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
                let format = detect(head, bytes.len() <= SNIFF_BYTES);
                let summary = head_summary(head);
                self.dispatch(format, input, summary, at, depth, lenient);
            }
            Input::Stream(mut stream, layer) => {
                let mut head = Vec::with_capacity(SNIFF_BYTES);
                if let Err(e) = (&mut stream)
                    .take(SNIFF_BYTES as u64)
                    .read_to_end(&mut head)
                {
                    self.sink.rejected(at, io_rejection(&e, layer));
                    return;
                }
                let format = detect(&head, head.len() < SNIFF_BYTES);
                let summary = head_summary(&head);
                let joined: Box<dyn BufRead + '_> = Box::new(Cursor::new(head).chain(stream));
                self.dispatch(
                    format,
                    Input::Stream(joined, layer),
                    summary,
                    at,
                    depth,
                    lenient,
                );
            }
        }
    }

    fn dispatch(
        &mut self,
        format: Format,
        input: Input<'_>,
        summary: String,
        at: &Location,
        depth: usize,
        lenient: bool,
    ) {
        let container = matches!(format, Format::Gzip | Format::Zip | Format::Email);
        if container && depth >= self.limits.max_nesting {
            self.reject(
                at,
                RejectReason::NestingTooDeep,
                format!(
                    "more than {} containers nested (email, gzip, zip)",
                    self.limits.max_nesting
                ),
            );
            return;
        }
        match format {
            Format::Empty if lenient => {}
            Format::Empty => self.reject(at, RejectReason::Empty, "no bytes"),
            Format::Unknown if lenient => {}
            Format::Unknown => self.reject(
                at,
                RejectReason::UnrecognizedFormat,
                format!("not gzip, zip, XML, JSON or an email; starts with {summary}"),
            ),
            Format::Gzip => {
                let reader: Box<dyn BufRead + '_> = match input {
                    Input::Bytes(bytes) => Box::new(bytes),
                    Input::Text(text) => Box::new(text.as_bytes()),
                    Input::Stream(stream, _) => stream,
                };
                let gunzip = Gunzip {
                    decoder: Some(GzDecoder::new(reader)),
                };
                let limited = Limited::new(gunzip, self.budget.clone());
                let stream = Box::new(BufReader::with_capacity(BUFFER, limited));
                self.process(
                    Input::Stream(stream, "gzip"),
                    &at.child("gzip"),
                    depth + 1,
                    false,
                );
            }
            Format::Zip => {
                if let Some(bytes) = self.bytes(input, at) {
                    self.zip(bytes.as_ref(), at, depth + 1);
                }
            }
            Format::Email => {
                if let Some(bytes) = self.bytes(input, at) {
                    email::process(self, bytes.as_ref(), at, depth + 1);
                }
            }
            Format::Json => {
                if let Some(bytes) = self.bytes(input, at) {
                    match tls::parse(bytes.as_ref(), self.limits.max_problems) {
                        TlsParsed::Report(report, problems) => self.sink.tls(at, report, problems),
                        TlsParsed::Rejected(rejection) => self.sink.rejected(at, rejection),
                        TlsParsed::NotReport(_) if lenient => {}
                        TlsParsed::NotReport(detail) => {
                            self.reject(at, RejectReason::UnrecognizedFormat, detail);
                        }
                    }
                }
            }
            Format::Xml => {
                let source = XmlSource {
                    lenient,
                    decoded: matches!(input, Input::Text(_)),
                };
                let (limits, sink) = (self.limits, &mut *self.sink);
                let parsed = match input {
                    Input::Bytes(bytes) => aggregate::parse(bytes, at, limits, sink, source),
                    Input::Text(text) => {
                        aggregate::parse(text.as_bytes(), at, limits, sink, source)
                    }
                    Input::Stream(stream, _) => aggregate::parse(stream, at, limits, sink, source),
                };
                match parsed {
                    Parsed::Reported => {}
                    Parsed::NotReport(_) if lenient => {}
                    Parsed::NotReport(detail) => {
                        self.reject(at, RejectReason::UnrecognizedFormat, detail);
                    }
                }
            }
        }
    }

    /// The whole input in memory (decompressed streams are read within the budget).
    fn bytes<'a>(&mut self, input: Input<'a>, at: &Location) -> Option<std::borrow::Cow<'a, [u8]>> {
        match input {
            Input::Bytes(bytes) => Some(std::borrow::Cow::Borrowed(bytes)),
            Input::Text(text) => Some(std::borrow::Cow::Borrowed(text.as_bytes())),
            Input::Stream(mut stream, layer) => {
                let mut all = Vec::new();
                match stream.read_to_end(&mut all) {
                    Ok(_) => Some(std::borrow::Cow::Owned(all)),
                    Err(e) => {
                        self.sink.rejected(at, io_rejection(&e, layer));
                        None
                    }
                }
            }
        }
    }

    fn zip(&mut self, bytes: &[u8], at: &Location, depth: usize) {
        let opened = catch_unwind(|| zip::ZipArchive::new(Cursor::new(bytes)));
        let mut archive = match opened {
            Ok(Ok(archive)) => archive,
            Ok(Err(e)) => {
                self.sink.rejected(at, zip_rejection(e));
                return;
            }
            Err(_) => {
                self.reject(
                    at,
                    RejectReason::Internal,
                    "the zip reader stopped on a bug",
                );
                return;
            }
        };
        if archive.len() > self.limits.max_archive_entries {
            self.reject(
                at,
                RejectReason::TooManyArchiveEntries,
                format!(
                    "{} entries; at most {} are read",
                    archive.len(),
                    self.limits.max_archive_entries
                ),
            );
            return;
        }
        let before = self.sink.calls;
        for i in 0..archive.len() {
            let entry = match archive.by_index(i) {
                Ok(entry) => entry,
                Err(e) => {
                    self.sink.rejected(
                        &at.child(&format!("zip entry #{}", i + 1)),
                        zip_rejection(e),
                    );
                    continue;
                }
            };
            if entry.is_dir() {
                continue;
            }
            let here = at.child(&format!("zip entry {}", entry.name()));
            let limited = Limited::new(entry, self.budget.clone());
            let stream = Box::new(BufReader::with_capacity(BUFFER, limited));
            self.process(Input::Stream(stream, "zip entry"), &here, depth, true);
        }
        if self.sink.calls == before {
            self.reject(
                at,
                RejectReason::NoReportFound,
                format!("none of the {} zip entries is a report", archive.len()),
            );
        }
    }
}

fn zip_rejection(error: zip::result::ZipError) -> Rejection {
    use zip::result::ZipError;
    match error {
        ZipError::Io(e) => io_rejection(&e, "zip"),
        ZipError::InvalidArchive(why)
            if why.contains("EOCD") || why.to_ascii_lowercase().contains("central directory") =>
        {
            Rejection::new(
                RejectReason::TruncatedCompression,
                format!("the zip archive has no readable central directory (cut short?): {why}"),
            )
        }
        other => Rejection::new(
            RejectReason::InvalidCompression,
            format!("the zip archive cannot be read: {other}"),
        ),
    }
}

/// The first bytes, shown safely in a rejection.
fn head_summary(head: &[u8]) -> String {
    let shown: String = head
        .iter()
        .take(16)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect();
    format!("{shown:?}")
}

impl<R: BufRead> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(decoder) = self.decoder.as_mut() else {
                return Ok(0);
            };
            let n = decoder.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let Some(done) = self.decoder.take() else {
                return Ok(0);
            };
            let mut rest = done.into_inner();
            if rest.fill_buf()?.starts_with(&[0x1f, 0x8b]) {
                self.decoder = Some(GzDecoder::new(rest));
            }
        }
    }
}

impl Guard<'_> {
    fn call<T>(&mut self, f: impl FnOnce(&mut dyn ReportSink) -> T) -> T {
        self.calls += 1;
        self.in_sink = true;
        let out = f(&mut *self.inner);
        self.in_sink = false;
        out
    }
}

impl ReportSink for Guard<'_> {
    fn aggregate_begin(&mut self, at: &Location, header: &AggregateHeader) -> bool {
        self.open = true;
        self.call(|s| s.aggregate_begin(at, header))
    }

    fn aggregate_records(&mut self, records: Vec<AggregateRecord>) {
        self.call(|s| s.aggregate_records(records));
    }

    fn aggregate_end(&mut self, end: AggregateEnd) {
        self.open = false;
        self.call(|s| s.aggregate_end(end));
    }

    fn failure(&mut self, at: &Location, report: FailureReport, problems: Vec<String>) {
        self.call(|s| s.failure(at, report, problems));
    }

    fn tls(&mut self, at: &Location, report: TlsReport, problems: Vec<String>) {
        self.call(|s| s.tls(at, report, problems));
    }

    fn rejected(&mut self, at: &Location, rejection: Rejection) {
        self.call(|s| s.rejected(at, rejection));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn gunzip(data: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        Gunzip {
            decoder: Some(GzDecoder::new(data)),
        }
        .read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn gzip_members_are_joined_and_trailing_bytes_ignored() {
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"world"));
        assert_eq!(gunzip(&two).unwrap(), b"hello world");
        // Mimecast appends CRLF after the member.
        let mut crlf = gzip(b"report");
        crlf.extend_from_slice(b"\r\n");
        assert_eq!(gunzip(&crlf).unwrap(), b"report");
    }

    #[test]
    fn a_member_cut_short_is_an_unexpected_end() {
        let whole = gzip(&[b'x'; 10_000]);
        let error = gunzip(&whole[..whole.len() - 5]).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}
