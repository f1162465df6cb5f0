//! The streaming DMARC aggregate report parser (RFC 7489, RFC 9990 and the drafts in
//! between). It pulls XML events from a `BufRead` and hands records to the sink in
//! batches, so memory does not grow with the report.

mod xml;

use crate::limits::Limits;
use crate::rejection::{RejectReason, Rejection};
use crate::sink::{AggregateEnd, Location, ReportSink};
use crate::transcode::Encoding;
use chrono::{DateTime, Utc};
use postern_domain::{
    AggregateHeader, AggregateRecord, AggregateSchema, Alignment, DiscoveryMethod, Disposition,
    DkimAuthResult, DkimResult, DmarcResult, PolicyOverride, PolicyOverrideReason, PolicyPublished,
    RequestedPolicy, SpfAuthResult, SpfDomainScope, SpfResult,
};
use std::io::BufRead;
use std::net::IpAddr;
use xml::{Tag, Tok, XmlStream};

/// The RFC 9990 namespace.
pub(crate) const DMARC2_NAMESPACE: &str = "urn:ietf:params:xml:ns:dmarc-2.0";

/// What became of an XML input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// A report or a rejection went to the sink.
    Reported,
    /// Not an aggregate report (another root element, or unreadable before the root
    /// element in lenient mode); nothing went to the sink.
    NotReport(String),
}

/// A bounded list of problem strings.
pub(crate) struct Problems {
    list: Vec<String>,
    dropped: u64,
    max: usize,
}

#[derive(Default)]
struct Metadata {
    org_name: Option<String>,
    org_email: Option<String>,
    extra_contact_info: Option<String>,
    report_id: Option<String>,
    begin: Option<String>,
    end: Option<String>,
    errors: Vec<String>,
    generator: Option<String>,
}

/// Why a record was skipped, remembered for the rejection when no record is usable.
struct Skip {
    reason: RejectReason,
    detail: String,
}

struct Parser<'a, R: BufRead> {
    xml: XmlStream<R>,
    limits: &'a Limits,
    at: &'a Location,
    sink: &'a mut dyn ReportSink,
    problems: Problems,
    namespace: Option<String>,
    version: Option<String>,
    metadata: Option<Metadata>,
    policy: Option<PolicyPublished>,
    batch: Vec<AggregateRecord>,
    begun: bool,
    records_seen: u64,
    records_usable: u64,
    messages: u64,
    first_skip: Option<Skip>,
}

/// How the parse stopped early.
enum Stop {
    /// A rejection (before begin) or an abort (after begin).
    Fail(Rejection),
    /// The sink declined the report.
    Declined,
}

impl From<Rejection> for Stop {
    fn from(r: Rejection) -> Self {
        Stop::Fail(r)
    }
}

impl Problems {
    pub(crate) fn new(max: usize) -> Self {
        Problems {
            list: Vec::new(),
            dropped: 0,
            max,
        }
    }

    /// Adds a problem; `make` runs only when the list has room.
    pub(crate) fn add(&mut self, make: impl FnOnce() -> String) {
        if self.list.len() < self.max {
            self.list.push(make());
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn into_vec(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.list
                .push(format!("… and {} more problems", self.dropped));
        }
        self.list
    }
}

/// How an XML input came.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct XmlSource {
    /// A part of an email or an archive entry: a document that is unreadable before its
    /// `<feedback>` element is [`Parsed::NotReport`], not a rejection.
    pub(crate) lenient: bool,
    /// Text a MIME parser already decoded to UTF-8.
    pub(crate) decoded: bool,
}

/// Parses one XML document from `input`.
pub(crate) fn parse<R: BufRead>(
    input: R,
    at: &Location,
    limits: &Limits,
    sink: &mut dyn ReportSink,
    source: XmlSource,
) -> Parsed {
    let lenient = source.lenient;
    let mut xml = XmlStream::new(input, limits, source.decoded);
    let root = match xml.feedback() {
        Ok(Ok(root)) => root,
        Ok(Err(name)) => {
            return Parsed::NotReport(format!(
                "the XML document element is <{name}> and holds no <feedback>"
            ));
        }
        Err(rejection) if lenient && rejection.reason == RejectReason::InvalidXml => {
            return Parsed::NotReport(rejection.detail);
        }
        Err(rejection) => {
            sink.rejected(at, rejection);
            return Parsed::Reported;
        }
    };
    let mut parser = Parser {
        xml,
        limits,
        at,
        sink,
        problems: Problems::new(limits.max_problems),
        namespace: root.namespace,
        version: None,
        metadata: None,
        policy: None,
        batch: Vec::with_capacity(limits.record_batch.clamp(1, 10_000)),
        begun: false,
        records_seen: 0,
        records_usable: 0,
        messages: 0,
        first_skip: None,
    };
    match parser.run() {
        Ok(()) => {}
        Err(Stop::Declined) => parser.sink.aggregate_end(AggregateEnd::Complete {
            records: 0,
            messages: 0,
            problems: Vec::new(),
        }),
        Err(Stop::Fail(rejection)) => {
            if parser.begun {
                parser.sink.aggregate_end(AggregateEnd::Aborted(rejection));
            } else {
                parser.sink.rejected(at, rejection);
            }
        }
    }
    Parsed::Reported
}

impl<R: BufRead> Parser<'_, R> {
    fn run(&mut self) -> Result<(), Stop> {
        loop {
            match self.xml.next()? {
                Tok::Open(Tag::Version) => {
                    self.version = Some(self.xml.read_text()?.to_owned());
                }
                Tok::Open(Tag::ReportMetadata) => self.metadata()?,
                Tok::Open(Tag::PolicyPublished) => self.policy()?,
                Tok::Open(Tag::Record) => self.record()?,
                Tok::Open(_) => self.xml.skip()?,
                Tok::Close => break,
                Tok::Eof => return Err(xml::unexpected_end().into()),
            }
        }
        // A report is only as good as the stream that carried it.
        self.xml.drain()?;
        if !self.begun {
            if self.records_seen > 0 && self.records_usable == 0 {
                let skip = self.first_skip.take();
                let (reason, first) = skip
                    .map(|s| (s.reason, s.detail))
                    .unwrap_or((RejectReason::MissingField, String::new()));
                return Err(Rejection::new(
                    reason,
                    format!(
                        "no usable record ({} skipped); first: {first}",
                        self.records_seen
                    ),
                )
                .into());
            }
            if self.records_seen == 0 {
                self.problems.add(|| "the report has no records".to_owned());
            }
            self.begin()?;
        }
        self.flush();
        let transcoder = self.xml.transcoder();
        let replaced = transcoder.replaced();
        if replaced > 0 {
            let what = match transcoder.encoding() {
                Some(Encoding::Utf16Le | Encoding::Utf16Be) => "UTF-16",
                _ => "UTF-8",
            };
            self.problems
                .add(|| format!("{replaced} invalid {what} sequences replaced with U+FFFD"));
        }
        if let Some(name) = transcoder.unknown_declared() {
            let name = name.to_owned();
            self.problems
                .add(|| format!("declared encoding {name:?} is not known; read as UTF-8"));
        }
        let unknown = self.xml.unknown_entities;
        if unknown > 0 {
            self.problems
                .add(|| format!("{unknown} references to undeclared entities kept as text"));
        }
        let problems = std::mem::replace(&mut self.problems, Problems::new(0)).into_vec();
        self.sink.aggregate_end(AggregateEnd::Complete {
            records: self.records_usable,
            messages: self.messages,
            problems,
        });
        Ok(())
    }

    fn metadata(&mut self) -> Result<(), Stop> {
        let mut m = self.metadata.take().unwrap_or_default();
        loop {
            let field = match self.xml.next()? {
                Tok::Open(Tag::OrgName) => &mut m.org_name,
                Tok::Open(Tag::Email) => &mut m.org_email,
                Tok::Open(Tag::ExtraContactInfo) => &mut m.extra_contact_info,
                Tok::Open(Tag::ReportId) => &mut m.report_id,
                Tok::Open(Tag::Generator) => &mut m.generator,
                Tok::Open(Tag::Error) => {
                    let text = self.xml.read_text()?;
                    if !text.is_empty() {
                        m.errors.push(text.to_owned());
                    }
                    continue;
                }
                Tok::Open(Tag::DateRange) => {
                    loop {
                        match self.xml.next()? {
                            Tok::Open(Tag::Begin) => m.begin = non_empty(self.xml.read_text()?),
                            Tok::Open(Tag::End) => m.end = non_empty(self.xml.read_text()?),
                            Tok::Open(_) => self.xml.skip()?,
                            Tok::Close => break,
                            Tok::Eof => return Err(xml::unexpected_end().into()),
                        }
                    }
                    continue;
                }
                Tok::Open(_) => {
                    self.xml.skip()?;
                    continue;
                }
                Tok::Close => break,
                Tok::Eof => return Err(xml::unexpected_end().into()),
            };
            *field = non_empty(self.xml.read_text()?);
        }
        self.metadata = Some(m);
        Ok(())
    }

    fn policy(&mut self) -> Result<(), Stop> {
        let mut p = PolicyPublished {
            domain: String::new(),
            adkim: None,
            aspf: None,
            p: None,
            sp: None,
            np: None,
            pct: None,
            fo: None,
            testing: None,
            discovery_method: None,
        };
        loop {
            let tag = match self.xml.next()? {
                Tok::Open(tag) => tag,
                Tok::Close => break,
                Tok::Eof => return Err(xml::unexpected_end().into()),
            };
            let known = matches!(
                tag,
                Tag::Domain
                    | Tag::Adkim
                    | Tag::Aspf
                    | Tag::P
                    | Tag::Sp
                    | Tag::Np
                    | Tag::Pct
                    | Tag::Fo
                    | Tag::Testing
                    | Tag::DiscoveryMethod
            );
            if !known {
                self.xml.skip()?;
                continue;
            }
            let text = self.xml.read_text()?;
            if text.is_empty() {
                continue;
            }
            let problems = &mut self.problems;
            let mut bad = |name: &str| {
                let (name, text) = (name.to_owned(), text.to_owned());
                problems.add(|| format!("policy_published: invalid {name} {text:?} ignored"));
            };
            match tag {
                Tag::Domain => p.domain = text.to_owned(),
                Tag::Adkim => p.adkim = alignment(text).or_else(|| none_after(|| bad("adkim"))),
                Tag::Aspf => p.aspf = alignment(text).or_else(|| none_after(|| bad("aspf"))),
                Tag::P => p.p = RequestedPolicy::parse(text).or_else(|| none_after(|| bad("p"))),
                Tag::Sp => p.sp = RequestedPolicy::parse(text).or_else(|| none_after(|| bad("sp"))),
                Tag::Np => p.np = RequestedPolicy::parse(text).or_else(|| none_after(|| bad("np"))),
                Tag::Pct => {
                    p.pct = text
                        .parse::<u8>()
                        .ok()
                        .filter(|v| *v <= 100)
                        .or_else(|| none_after(|| bad("pct")))
                }
                Tag::Fo => p.fo = Some(text.to_owned()),
                Tag::Testing => p.testing = yes_no(text).or_else(|| none_after(|| bad("testing"))),
                Tag::DiscoveryMethod => {
                    p.discovery_method = DiscoveryMethod::parse(text)
                        .or_else(|| none_after(|| bad("discovery_method")))
                }
                _ => {}
            }
        }
        self.policy = Some(p);
        Ok(())
    }

    /// Checks the header and calls the sink's `aggregate_begin`.
    fn begin(&mut self) -> Result<(), Stop> {
        let header = self.header()?;
        self.begun = true;
        if self.sink.aggregate_begin(self.at, &header) {
            Ok(())
        } else {
            Err(Stop::Declined)
        }
    }

    fn header(&mut self) -> Result<AggregateHeader, Rejection> {
        let missing = |what: &str| Rejection::new(RejectReason::MissingField, what.to_owned());
        let replaced = self.xml.transcoder().replaced() > 0;
        let m = self
            .metadata
            .take()
            .ok_or_else(|| missing("report_metadata"))?;
        let policy = self
            .policy
            .take()
            .ok_or_else(|| missing("policy_published"))?;
        let report_id = m
            .report_id
            .ok_or_else(|| missing("report_metadata/report_id"))?;
        if policy.domain.is_empty() {
            return Err(missing("policy_published/domain"));
        }
        for (name, value) in [("report_id", &report_id), ("policy domain", &policy.domain)] {
            if replaced && value.contains('\u{FFFD}') {
                return Err(Rejection::new(
                    RejectReason::InvalidUtf8,
                    format!("the {name} holds invalid UTF-8: {value:?}"),
                ));
            }
        }
        let org_name = match m.org_name {
            Some(org) => org,
            None => {
                let domain = m
                    .org_email
                    .as_deref()
                    .and_then(|e| e.rsplit_once('@'))
                    .map(|(_, d)| d.trim_end_matches('>').to_owned())
                    .filter(|d| !d.is_empty())
                    .ok_or_else(|| missing("report_metadata/org_name"))?;
                let shown = domain.clone();
                self.problems
                    .add(|| format!("org_name is empty; used the email domain {shown:?}"));
                domain
            }
        };
        let begin = m
            .begin
            .ok_or_else(|| missing("report_metadata/date_range/begin"))?;
        let end = m
            .end
            .ok_or_else(|| missing("report_metadata/date_range/end"))?;
        let date_begin = unix_time(&begin).ok_or_else(|| {
            Rejection::new(
                RejectReason::InvalidField,
                format!("date_range begin {begin:?} is not a Unix time"),
            )
        })?;
        let date_end = unix_time(&end).ok_or_else(|| {
            Rejection::new(
                RejectReason::InvalidField,
                format!("date_range end {end:?} is not a Unix time"),
            )
        })?;
        if date_end < date_begin {
            self.problems
                .add(|| format!("date_range ends ({end}) before it begins ({begin})"));
        }
        let schema = if self.namespace.as_deref() == Some(DMARC2_NAMESPACE) {
            AggregateSchema::Rfc9990
        } else if self.version.as_deref().is_some_and(|v| v.starts_with('2')) {
            AggregateSchema::Draft
        } else {
            AggregateSchema::Rfc7489
        };
        Ok(AggregateHeader {
            schema,
            version: self.version.clone(),
            org_name,
            org_email: m.org_email,
            extra_contact_info: m.extra_contact_info,
            report_id,
            date_begin,
            date_end,
            errors: m.errors,
            generator: m.generator,
            policy,
        })
    }

    fn flush(&mut self) {
        if self.begun && !self.batch.is_empty() {
            let capacity = self.batch.capacity();
            let full = std::mem::replace(&mut self.batch, Vec::with_capacity(capacity));
            self.sink.aggregate_records(full);
        }
    }

    fn record(&mut self) -> Result<(), Stop> {
        self.records_seen += 1;
        if self.records_seen > self.limits.max_records_per_report as u64 {
            return Err(Rejection::new(
                RejectReason::TooManyRecords,
                format!(
                    "more than {} records in one report",
                    self.limits.max_records_per_report
                ),
            )
            .into());
        }
        let n = self.records_seen;
        let mut r = RecordParts::default();
        loop {
            match self.xml.next()? {
                Tok::Open(Tag::Row) => self.row(&mut r)?,
                Tok::Open(Tag::Identifiers) => self.identifiers(&mut r)?,
                Tok::Open(Tag::AuthResults) => self.auth_results(&mut r)?,
                Tok::Open(_) => self.xml.skip()?,
                Tok::Close => break,
                Tok::Eof => return Err(xml::unexpected_end().into()),
            }
        }
        let record = match r.finish(n, &mut self.problems) {
            Ok(record) => record,
            Err(skip) => {
                let detail = skip.detail.clone();
                self.problems.add(|| detail);
                if self.first_skip.is_none() {
                    self.first_skip = Some(skip);
                }
                return Ok(());
            }
        };
        self.records_usable += 1;
        self.messages = self.messages.saturating_add(record.count);
        self.batch.push(record);
        let batch_full = self.batch.len() >= self.limits.record_batch.max(1);
        if !self.begun {
            if self.metadata.is_some() && self.policy.is_some() {
                self.begin()?;
            } else if batch_full {
                return Err(Rejection::new(
                    RejectReason::MissingField,
                    "records come before report_metadata and policy_published",
                )
                .into());
            }
        }
        if batch_full {
            self.flush();
        }
        Ok(())
    }

    fn row(&mut self, r: &mut RecordParts) -> Result<(), Stop> {
        loop {
            match self.xml.next()? {
                Tok::Open(Tag::SourceIp) => {
                    r.source_ip = Field::read(self.xml.read_text()?, parse_ip)
                }
                Tok::Open(Tag::Count) => {
                    r.count = Field::read(self.xml.read_text()?, |t| t.parse().ok())
                }
                Tok::Open(Tag::PolicyEvaluated) => self.policy_evaluated(r)?,
                Tok::Open(_) => self.xml.skip()?,
                Tok::Close => return Ok(()),
                Tok::Eof => return Err(xml::unexpected_end().into()),
            }
        }
    }

    fn policy_evaluated(&mut self, r: &mut RecordParts) -> Result<(), Stop> {
        loop {
            match self.xml.next()? {
                Tok::Open(Tag::Disposition) => {
                    r.disposition = Field::read(self.xml.read_text()?, Disposition::parse);
                }
                Tok::Open(Tag::Dkim) => {
                    let text = self.xml.read_text()?;
                    r.dkim = DmarcResult::parse(text);
                    if r.dkim.is_none() && !text.is_empty() {
                        r.notes
                            .push(format!("unknown policy_evaluated dkim {text:?}"));
                    }
                }
                Tok::Open(Tag::Spf) => {
                    let text = self.xml.read_text()?;
                    r.spf = DmarcResult::parse(text);
                    if r.spf.is_none() && !text.is_empty() {
                        r.notes
                            .push(format!("unknown policy_evaluated spf {text:?}"));
                    }
                }
                Tok::Open(Tag::Reason) => self.reason(r)?,
                Tok::Open(_) => self.xml.skip()?,
                Tok::Close => return Ok(()),
                Tok::Eof => return Err(xml::unexpected_end().into()),
            }
        }
    }

    fn reason(&mut self, r: &mut RecordParts) -> Result<(), Stop> {
        let mut kind = Field::Missing;
        let mut comment = None;
        loop {
            match self.xml.next()? {
                Tok::Open(Tag::Type) => {
                    kind = Field::read(self.xml.read_text()?, PolicyOverride::parse)
                }
                Tok::Open(Tag::Comment) => comment = non_empty(self.xml.read_text()?),
                Tok::Open(_) => self.xml.skip()?,
                Tok::Close => break,
                Tok::Eof => return Err(xml::unexpected_end().into()),
            }
        }
        let kind = match kind {
            Field::Ok(kind) => kind,
            Field::Invalid(text) => {
                r.notes
                    .push(format!("unknown override reason {text:?} read as other"));
                PolicyOverride::Other
            }
            // `<reason><type></type><comment></comment></reason>`: nothing said.
            Field::Missing | Field::Empty if comment.is_none() => return Ok(()),
            Field::Missing | Field::Empty => PolicyOverride::Other,
        };
        r.reasons.push(PolicyOverrideReason { kind, comment });
        Ok(())
    }

    fn identifiers(&mut self, r: &mut RecordParts) -> Result<(), Stop> {
        loop {
            match self.xml.next()? {
                Tok::Open(Tag::HeaderFrom) => {
                    r.header_from = Some(self.xml.read_text()?.to_owned())
                }
                Tok::Open(Tag::EnvelopeFrom) => r.envelope_from = non_empty(self.xml.read_text()?),
                Tok::Open(Tag::EnvelopeTo) => r.envelope_to = non_empty(self.xml.read_text()?),
                Tok::Open(_) => self.xml.skip()?,
                Tok::Close => return Ok(()),
                Tok::Eof => return Err(xml::unexpected_end().into()),
            }
        }
    }

    fn auth_results(&mut self, r: &mut RecordParts) -> Result<(), Stop> {
        loop {
            let spf = match self.xml.next()? {
                Tok::Open(Tag::Dkim) => false,
                Tok::Open(Tag::Spf) => true,
                Tok::Open(_) => {
                    self.xml.skip()?;
                    continue;
                }
                Tok::Close => return Ok(()),
                Tok::Eof => return Err(xml::unexpected_end().into()),
            };
            let a = self.auth_result(spf)?;
            let which = if spf { "spf" } else { "dkim" };
            match a.result {
                Field::Ok(Verdict::Dkim(result)) => r.dkim_results.push(DkimAuthResult {
                    domain: a.domain,
                    selector: a.selector,
                    result,
                    human_result: a.human_result,
                }),
                Field::Ok(Verdict::Spf(result)) => r.spf_results.push(SpfAuthResult {
                    domain: a.domain,
                    scope: a.scope,
                    result,
                    human_result: a.human_result,
                }),
                Field::Invalid(text) => r.notes.push(format!(
                    "{which} result {text:?} for {:?} not understood; dropped",
                    a.domain
                )),
                Field::Missing | Field::Empty => r.notes.push(format!(
                    "{which} result for {:?} missing; dropped",
                    a.domain
                )),
            }
        }
    }

    fn auth_result(&mut self, spf: bool) -> Result<AuthParts, Stop> {
        let mut a = AuthParts::default();
        loop {
            match self.xml.next()? {
                Tok::Open(Tag::Domain) => a.domain = self.xml.read_text()?.to_owned(),
                Tok::Open(Tag::Selector) => a.selector = non_empty(self.xml.read_text()?),
                Tok::Open(Tag::Result) => {
                    let text = self.xml.read_text()?;
                    a.result = Field::read(text, |t| {
                        if spf {
                            spf_result(t).map(Verdict::Spf)
                        } else {
                            DkimResult::parse(t).map(Verdict::Dkim)
                        }
                    });
                }
                Tok::Open(Tag::HumanResult) => a.human_result = non_empty(self.xml.read_text()?),
                Tok::Open(Tag::Scope) => a.scope = spf_scope(self.xml.read_text()?),
                Tok::Open(_) => self.xml.skip()?,
                Tok::Close => return Ok(a),
                Tok::Eof => return Err(xml::unexpected_end().into()),
            }
        }
    }
}

/// The raw pieces of one `<record>`.
#[derive(Default)]
struct RecordParts {
    source_ip: Field<IpAddr>,
    count: Field<u64>,
    disposition: Field<Disposition>,
    dkim: Option<DmarcResult>,
    spf: Option<DmarcResult>,
    reasons: Vec<PolicyOverrideReason>,
    header_from: Option<String>,
    envelope_from: Option<String>,
    envelope_to: Option<String>,
    dkim_results: Vec<DkimAuthResult>,
    spf_results: Vec<SpfAuthResult>,
    /// Problems that do not cost the record.
    notes: Vec<String>,
}

/// A required leaf value of a record, parsed as it is read.
#[derive(Default)]
enum Field<T> {
    #[default]
    Missing,
    Empty,
    Invalid(String),
    Ok(T),
}

/// A DKIM or SPF verdict of `auth_results`.
enum Verdict {
    Dkim(DkimResult),
    Spf(SpfResult),
}

#[derive(Default)]
struct AuthParts {
    domain: String,
    selector: Option<String>,
    result: Field<Verdict>,
    human_result: Option<String>,
    scope: Option<SpfDomainScope>,
}

impl<T> Field<T> {
    fn read(text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Self {
        if text.is_empty() {
            return Field::Empty;
        }
        match parse(text) {
            Some(value) => Field::Ok(value),
            None => Field::Invalid(text.to_owned()),
        }
    }

    fn into_result(self, name: &str) -> Result<T, (RejectReason, String)> {
        match self {
            Field::Ok(value) => Ok(value),
            Field::Missing => Err((RejectReason::MissingField, format!("no {name}"))),
            Field::Empty => Err((RejectReason::MissingField, format!("empty {name}"))),
            Field::Invalid(text) => Err((
                RejectReason::InvalidField,
                format!("invalid {name} {text:?}"),
            )),
        }
    }
}

impl RecordParts {
    /// Validates the record; `Err` says why it is skipped.
    fn finish(self, n: u64, problems: &mut Problems) -> Result<AggregateRecord, Skip> {
        let skip = |reason, what: String| Skip {
            reason,
            detail: format!("record {n}: {what}; record skipped"),
        };
        let source_ip = self
            .source_ip
            .into_result("source_ip")
            .map_err(|(r, w)| skip(r, w))?;
        let count = self
            .count
            .into_result("count")
            .map_err(|(r, w)| skip(r, w))?;
        let disposition = self
            .disposition
            .into_result("disposition")
            .map_err(|(r, w)| skip(r, w))?;
        for note in self.notes {
            problems.add(|| format!("record {n}: {note}"));
        }
        let header_from = match self.header_from {
            Some(h) if !h.is_empty() => h,
            _ => {
                problems.add(|| format!("record {n}: no header_from"));
                String::new()
            }
        };
        Ok(AggregateRecord {
            source_ip,
            count,
            disposition,
            dkim: self.dkim,
            spf: self.spf,
            reasons: self.reasons,
            header_from,
            envelope_from: self.envelope_from,
            envelope_to: self.envelope_to,
            dkim_results: self.dkim_results,
            spf_results: self.spf_results,
        })
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

/// Runs `f` (which records a problem) and yields `None`.
fn none_after<T>(f: impl FnOnce()) -> Option<T> {
    f();
    None
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim_start_matches('[').trim_end_matches(']');
    text.parse().ok()
}

fn unix_time(text: &str) -> Option<DateTime<Utc>> {
    let secs = match text.parse::<i64>() {
        Ok(secs) => secs,
        Err(_) => {
            let f = text.parse::<f64>().ok().filter(|f| f.is_finite())?;
            // Truncation to whole seconds is intended; the range check follows.
            if f.abs() > 1e15 {
                return None;
            }
            f as i64
        }
    };
    DateTime::from_timestamp(secs, 0)
}

fn alignment(text: &str) -> Option<Alignment> {
    Alignment::parse(text).or_else(|| match text.to_ascii_lowercase().as_str() {
        "relaxed" => Some(Alignment::Relaxed),
        "strict" => Some(Alignment::Strict),
        _ => None,
    })
}

fn yes_no(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "y" | "yes" | "true" | "1" => Some(true),
        "n" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// SPF results, with RFC 4408's names and the `hardfail` some reporters write.
fn spf_result(text: &str) -> Option<SpfResult> {
    SpfResult::parse(text).or_else(|| match text.to_ascii_lowercase().as_str() {
        "hardfail" => Some(SpfResult::Fail),
        "unknown" => Some(SpfResult::PermError),
        "error" => Some(SpfResult::TempError),
        _ => None,
    })
}

fn spf_scope(text: &str) -> Option<SpfDomainScope> {
    SpfDomainScope::parse(text).or_else(|| match text.to_ascii_lowercase().as_str() {
        "mailfrom" | "mail_from" | "mail-from" => Some(SpfDomainScope::MailFrom),
        "ehlo" => Some(SpfDomainScope::Helo),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_accept_whitespace_trimmed_integers_and_decimals() {
        assert_eq!(
            unix_time("1700000000").map(|d| d.timestamp()),
            Some(1_700_000_000)
        );
        assert_eq!(
            unix_time("1700000000.75").map(|d| d.timestamp()),
            Some(1_700_000_000)
        );
        assert_eq!(unix_time("yesterday"), None);
        assert_eq!(unix_time("1e300"), None);
        assert_eq!(unix_time("NaN"), None);
    }

    #[test]
    fn old_and_odd_vocabulary_is_understood() {
        assert_eq!(spf_result("HardFail"), Some(SpfResult::Fail));
        assert_eq!(spf_result("unknown"), Some(SpfResult::PermError));
        assert_eq!(spf_result("error"), Some(SpfResult::TempError));
        assert_eq!(spf_result("softfail"), Some(SpfResult::SoftFail));
        assert_eq!(spf_scope("mailfrom"), Some(SpfDomainScope::MailFrom));
        assert_eq!(alignment("Strict"), Some(Alignment::Strict));
        assert_eq!(yes_no("Y"), Some(true));
        assert_eq!(yes_no("maybe"), None);
        assert_eq!(parse_ip("[192.0.2.1]"), "192.0.2.1".parse().ok());
        assert_eq!(parse_ip("192.0.2"), None);
    }

    #[test]
    fn problems_are_capped_with_a_count_of_the_rest() {
        let mut p = Problems::new(2);
        for i in 0..5 {
            p.add(|| format!("p{i}"));
        }
        assert_eq!(p.into_vec(), vec!["p0", "p1", "… and 3 more problems"]);
    }
}
