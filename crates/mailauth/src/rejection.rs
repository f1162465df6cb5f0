//! Why an input, or one part of it, was not accepted as a report.

/// The reason for a rejection, with a stable snake_case [`code`](RejectReason::code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// The input (or a decompressed stream) holds no bytes.
    Empty,
    /// The content is none of gzip, zip, XML, JSON or an RFC 5322 message, or it is XML
    /// or JSON that is not a report.
    UnrecognizedFormat,
    /// The XML cannot be read structurally (not well-formed).
    InvalidXml,
    /// Invalid UTF-8 in a field that identifies the report (report id, policy domain),
    /// where a replacement character would corrupt deduplication or routing.
    InvalidUtf8,
    /// The JSON cannot be parsed.
    InvalidJson,
    /// The message cannot be parsed as MIME.
    InvalidMime,
    /// A gzip or zip stream ends before its end marker.
    TruncatedCompression,
    /// A gzip or zip stream is corrupt (bad header, checksum or deflate data).
    InvalidCompression,
    /// Decompression would exceed [`crate::Limits::max_decompressed_bytes`].
    DecompressedTooLarge,
    /// A zip archive holds more than [`crate::Limits::max_archive_entries`] entries.
    TooManyArchiveEntries,
    /// Containers are nested deeper than [`crate::Limits::max_nesting`].
    NestingTooDeep,
    /// The XML declares entities in a DTD (billion laughs and friends).
    EntityDeclaration,
    /// One XML token is longer than [`crate::Limits::max_xml_token_bytes`].
    OversizedElement,
    /// A required field is missing (or no record of the report is usable).
    MissingField,
    /// A required field has a value that cannot be read.
    InvalidField,
    /// An aggregate report holds more than [`crate::Limits::max_records_per_report`] records.
    TooManyRecords,
    /// A container (email, zip) holds nothing that is a report.
    NoReportFound,
    /// The parser met a bug (a panic in it or a library it uses) and stopped safely.
    Internal,
}

/// A rejection: the reason and a human-readable detail (which field, which position).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl RejectReason {
    /// The stable snake_case code stored with rejected inputs and shown by the API.
    pub fn code(&self) -> &'static str {
        match self {
            RejectReason::Empty => "empty",
            RejectReason::UnrecognizedFormat => "unrecognized_format",
            RejectReason::InvalidXml => "invalid_xml",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::InvalidMime => "invalid_mime",
            RejectReason::TruncatedCompression => "truncated_compression",
            RejectReason::InvalidCompression => "invalid_compression",
            RejectReason::DecompressedTooLarge => "decompressed_too_large",
            RejectReason::TooManyArchiveEntries => "too_many_archive_entries",
            RejectReason::NestingTooDeep => "nesting_too_deep",
            RejectReason::EntityDeclaration => "entity_declaration",
            RejectReason::OversizedElement => "oversized_element",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidField => "invalid_field",
            RejectReason::TooManyRecords => "too_many_records",
            RejectReason::NoReportFound => "no_report_found",
            RejectReason::Internal => "internal",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_snake_case_and_distinct() {
        let all = [
            RejectReason::Empty,
            RejectReason::UnrecognizedFormat,
            RejectReason::InvalidXml,
            RejectReason::InvalidUtf8,
            RejectReason::InvalidJson,
            RejectReason::InvalidMime,
            RejectReason::TruncatedCompression,
            RejectReason::InvalidCompression,
            RejectReason::DecompressedTooLarge,
            RejectReason::TooManyArchiveEntries,
            RejectReason::NestingTooDeep,
            RejectReason::EntityDeclaration,
            RejectReason::OversizedElement,
            RejectReason::MissingField,
            RejectReason::InvalidField,
            RejectReason::TooManyRecords,
            RejectReason::NoReportFound,
            RejectReason::Internal,
        ];
        let mut codes: Vec<&str> = all.iter().map(|r| r.code()).collect();
        assert!(codes.iter().all(|c| {
            c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_')
        }));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        assert_eq!(
            Rejection::new(RejectReason::Empty, "no bytes").to_string(),
            "empty: no bytes"
        );
    }
}
