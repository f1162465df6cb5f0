//! A thin pull layer over quick-xml for the aggregate parser: element tags as a small
//! enum, text of leaf elements in one reused buffer, skipping of unknown subtrees, and
//! the refusal of DTD entity declarations.

use crate::limits::{Limits, io_rejection};
use crate::rejection::{RejectReason, Rejection};
use crate::transcode::Transcoder;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use std::io::BufRead;

/// The elements of the aggregate schemas (RFC 7489 appendix C, RFC 9990 appendix A and
/// the drafts between), by local name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    Version,
    ReportMetadata,
    OrgName,
    Email,
    ExtraContactInfo,
    ReportId,
    DateRange,
    Begin,
    End,
    Error,
    Generator,
    PolicyPublished,
    Domain,
    Adkim,
    Aspf,
    P,
    Sp,
    Np,
    Pct,
    Fo,
    Testing,
    DiscoveryMethod,
    Record,
    Row,
    SourceIp,
    Count,
    PolicyEvaluated,
    Disposition,
    Dkim,
    Spf,
    Reason,
    Type,
    Comment,
    Identifiers,
    EnvelopeTo,
    EnvelopeFrom,
    HeaderFrom,
    AuthResults,
    Selector,
    Result,
    HumanResult,
    Scope,
    /// Anything else, and elements of another namespace prefix: skipped.
    Other,
}

/// One step through the element structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    Open(Tag),
    Close,
    Eof,
}

/// The `<feedback>` element.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Root {
    /// The namespace bound to its prefix (or the default one) on the element itself.
    pub(crate) namespace: Option<String>,
}

pub(crate) struct XmlStream<R: BufRead> {
    reader: Reader<Transcoder<R>>,
    buf: Vec<u8>,
    text: String,
    prefix: Option<String>,
    /// Entity references other than the five predefined ones (kept literally).
    pub(crate) unknown_entities: u64,
}

impl<R: BufRead> XmlStream<R> {
    /// `decoded`: `input` is UTF-8 text already (see [`Transcoder::already_utf8`]).
    pub(crate) fn new(input: R, limits: &Limits, decoded: bool) -> Self {
        let mut transcoder = Transcoder::new(input, limits.max_xml_token_bytes);
        if decoded {
            transcoder = transcoder.already_utf8();
        }
        let mut reader = Reader::from_reader(transcoder);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        // `AT&T` happens in organisation names; read a lone `&` as text.
        config.allow_dangling_amp = true;
        config.check_end_names = true;
        XmlStream {
            reader,
            buf: Vec::with_capacity(1024),
            text: String::with_capacity(256),
            prefix: None,
            unknown_entities: 0,
        }
    }

    pub(crate) fn transcoder(&self) -> &Transcoder<R> {
        self.reader.get_ref()
    }

    /// Reads the input to its end after the report (see [`Transcoder::drain`]).
    pub(crate) fn drain(&mut self) -> Result<(), Rejection> {
        self.reader
            .get_mut()
            .drain()
            .map(|_| ())
            .map_err(|e| io_rejection(&e, "input"))
    }

    fn error(&self, error: quick_xml::Error) -> Rejection {
        match error {
            quick_xml::Error::Io(io) => io_rejection(&io, "xml"),
            other => Rejection::new(
                RejectReason::InvalidXml,
                format!(
                    "{other} (near byte {} of the XML)",
                    self.reader.error_position()
                ),
            ),
        }
    }

    /// Reads up to the `<feedback>` element: the document element, or an element inside
    /// a wrapper (one reporter wraps its report in an `<xs:schema>`). `Ok(Err(name))`
    /// when there is none; `name` is the document element's.
    pub(crate) fn feedback(&mut self) -> Result<Result<Root, String>, Rejection> {
        let mut first: Option<String> = None;
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf);
            match event {
                Ok(Event::Start(e)) => {
                    let (local, prefix) = e.name().decompose();
                    if local.into_inner() == "feedback" {
                        let prefix = prefix.map(|p| p.into_inner().to_owned());
                        let namespace = namespace_of(&e, prefix.as_deref());
                        self.prefix = prefix;
                        return Ok(Ok(Root { namespace }));
                    }
                    if first.is_none() {
                        first = Some(local.into_inner().to_owned());
                    }
                }
                Ok(Event::DocType(d)) => check_doctype(&d)?,
                Ok(Event::Eof) => {
                    return match first {
                        Some(name) => Ok(Err(name)),
                        None => Err(Rejection::new(
                            RejectReason::InvalidXml,
                            "the document has no element",
                        )),
                    };
                }
                Ok(_) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    /// The next element start or end inside the current element; text between elements
    /// is ignored here.
    pub(crate) fn next(&mut self) -> Result<Tok, Rejection> {
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf);
            match event {
                Ok(Event::Start(e)) => {
                    let (local, prefix) = e.name().decompose();
                    let ours = prefix.map(|p| p.into_inner()) == self.prefix.as_deref();
                    let tag = if ours {
                        tag(local.into_inner())
                    } else {
                        Tag::Other
                    };
                    return Ok(Tok::Open(tag));
                }
                Ok(Event::End(_)) => return Ok(Tok::Close),
                Ok(Event::Eof) => return Ok(Tok::Eof),
                Ok(Event::DocType(d)) => check_doctype(&d)?,
                Ok(_) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
    }

    /// Reads the text of the element just opened, up to and including its end tag, and
    /// returns it trimmed. Text of nested elements is included.
    pub(crate) fn read_text(&mut self) -> Result<&str, Rejection> {
        self.text.clear();
        let mut depth = 0usize;
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf);
            match event {
                Ok(Event::Text(t)) => self.text.push_str(&t),
                Ok(Event::CData(t)) => self.text.push_str(&t),
                Ok(Event::GeneralRef(r)) => {
                    if r.is_char_ref() {
                        let ch = r.resolve_char_ref().ok().flatten().unwrap_or('\u{FFFD}');
                        self.text.push(ch);
                    } else {
                        match &*r {
                            "amp" => self.text.push('&'),
                            "lt" => self.text.push('<'),
                            "gt" => self.text.push('>'),
                            "quot" => self.text.push('"'),
                            "apos" => self.text.push('\''),
                            other => {
                                self.unknown_entities += 1;
                                self.text.push('&');
                                self.text.push_str(other);
                                self.text.push(';');
                            }
                        }
                    }
                }
                Ok(Event::Start(_)) => depth += 1,
                Ok(Event::End(_)) => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                Ok(Event::Eof) => return Err(unexpected_end()),
                Ok(Event::DocType(d)) => check_doctype(&d)?,
                Ok(_) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
        Ok(self.text.trim())
    }

    /// Skips the rest of the element just opened, including its end tag.
    pub(crate) fn skip(&mut self) -> Result<(), Rejection> {
        let mut depth = 0usize;
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf);
            match event {
                Ok(Event::Start(_)) => depth += 1,
                Ok(Event::End(_)) => {
                    if depth == 0 {
                        return Ok(());
                    }
                    depth -= 1;
                }
                Ok(Event::Eof) => return Err(unexpected_end()),
                Ok(Event::DocType(d)) => check_doctype(&d)?,
                Ok(_) => {}
                Err(e) => return Err(self.error(e)),
            }
        }
    }
}

pub(crate) fn unexpected_end() -> Rejection {
    Rejection::new(
        RejectReason::InvalidXml,
        "the document ends inside an element",
    )
}

/// Any entity declaration in a DTD is refused: Postern never expands entities, and a
/// report has no reason to declare any (billion laughs, external entities).
fn check_doctype(doctype: &str) -> Result<(), Rejection> {
    let declares = doctype
        .as_bytes()
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"ENTITY"));
    if declares {
        Err(Rejection::new(
            RejectReason::EntityDeclaration,
            "the DOCTYPE declares entities",
        ))
    } else {
        Ok(())
    }
}

/// The namespace bound to `prefix` on the element itself.
fn namespace_of(e: &BytesStart<'_>, prefix: Option<&str>) -> Option<String> {
    e.attributes().flatten().find_map(|attr| {
        let binding = attr.key.as_namespace_binding()?;
        let matches = match binding {
            PrefixDeclaration::Default => prefix.is_none(),
            PrefixDeclaration::Named(name) => prefix == Some(name),
        };
        matches.then(|| attr.value.trim().to_owned())
    })
}

fn tag(local: &str) -> Tag {
    match local {
        "version" => Tag::Version,
        "report_metadata" => Tag::ReportMetadata,
        "org_name" => Tag::OrgName,
        "email" => Tag::Email,
        "extra_contact_info" => Tag::ExtraContactInfo,
        "report_id" => Tag::ReportId,
        "date_range" => Tag::DateRange,
        "begin" => Tag::Begin,
        "end" => Tag::End,
        "error" => Tag::Error,
        "generator" => Tag::Generator,
        "policy_published" => Tag::PolicyPublished,
        "domain" => Tag::Domain,
        "adkim" => Tag::Adkim,
        "aspf" => Tag::Aspf,
        "p" => Tag::P,
        "sp" => Tag::Sp,
        "np" => Tag::Np,
        "pct" => Tag::Pct,
        "fo" => Tag::Fo,
        "testing" => Tag::Testing,
        "discovery_method" => Tag::DiscoveryMethod,
        "record" => Tag::Record,
        "row" => Tag::Row,
        "source_ip" => Tag::SourceIp,
        "count" => Tag::Count,
        "policy_evaluated" => Tag::PolicyEvaluated,
        "disposition" => Tag::Disposition,
        "dkim" => Tag::Dkim,
        "spf" => Tag::Spf,
        "reason" => Tag::Reason,
        "type" => Tag::Type,
        "comment" => Tag::Comment,
        // `identities` is the name in early drafts.
        "identifiers" | "identities" => Tag::Identifiers,
        "envelope_to" => Tag::EnvelopeTo,
        "envelope_from" => Tag::EnvelopeFrom,
        "header_from" => Tag::HeaderFrom,
        "auth_results" => Tag::AuthResults,
        "selector" => Tag::Selector,
        "result" => Tag::Result,
        "human_result" => Tag::HumanResult,
        "scope" => Tag::Scope,
        _ => Tag::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(doc: &str) -> XmlStream<&[u8]> {
        XmlStream::new(doc.as_bytes(), &Limits::default(), false)
    }

    #[test]
    fn prefixed_root_scopes_the_elements_read() {
        let mut x = stream(
            "<d:feedback xmlns:d=\"urn:ietf:params:xml:ns:dmarc-2.0\" xmlns:e=\"urn:x\">\
             <d:version>2</d:version><e:version>9</e:version></d:feedback>",
        );
        let root = x.feedback().ok().and_then(Result::ok);
        assert_eq!(
            root.as_ref().and_then(|r| r.namespace.as_deref()),
            Some("urn:ietf:params:xml:ns:dmarc-2.0")
        );
        assert_eq!(x.next().ok(), Some(Tok::Open(Tag::Version)));
        assert_eq!(x.read_text().ok(), Some("2"));
        assert_eq!(x.next().ok(), Some(Tok::Open(Tag::Other)));
    }

    #[test]
    fn feedback_is_found_inside_a_wrapper_and_its_absence_named() {
        let mut x = stream(
            "<?xml version=\"1.0\"?><xs:schema xmlns:xs=\"x\"><feedback><version>1</version></feedback></xs:schema>",
        );
        assert!(x.feedback().is_ok_and(|f| f.is_ok()));
        assert_eq!(x.next().ok(), Some(Tok::Open(Tag::Version)));
        let mut x = stream("<html><body>hi</body></html>");
        assert_eq!(x.feedback().ok(), Some(Err("html".to_owned())));
    }

    #[test]
    fn text_resolves_references_and_keeps_lone_ampersands() {
        let mut x = stream(
            "<feedback><org_name> AT&T &amp; &#65;&#x42; &lt;x&gt; &nbsp;</org_name></feedback>",
        );
        assert!(x.feedback().is_ok());
        assert_eq!(x.next().ok(), Some(Tok::Open(Tag::OrgName)));
        assert_eq!(x.read_text().ok(), Some("AT&T & AB <x> &nbsp;"));
        assert_eq!(x.unknown_entities, 1);
    }

    #[test]
    fn entity_declarations_are_refused_anywhere_before_the_root() {
        let mut x = stream("<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><feedback/>");
        assert_eq!(
            x.feedback().err().map(|r| r.reason),
            Some(RejectReason::EntityDeclaration)
        );
        let mut x = stream("<!DOCTYPE feedback SYSTEM \"x.dtd\"><feedback/>");
        assert!(x.feedback().is_ok_and(|f| f.is_ok()));
    }
}
