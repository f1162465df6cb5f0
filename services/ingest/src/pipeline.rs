//! The intake pipeline: keep the bytes, parse on a blocking thread, route and store each
//! report with its outbox event, record every rejected part with its reason.

use crate::error::IngestError;
use crate::sink::{ChannelSink, Found};
use chrono::{DateTime, Utc};
use postern_bus::{Envelope, events, topics};
use postern_domain::{
    AggregateHeader, ClientId, DomainName, FailureReport, MspId, RawInputId, ReportId, ReportKind,
    TenantScope, TlsReport,
};
use postern_mailauth::{AggregateEnd, Limits};
use postern_store::{AggregateWriter, Domain, OutboxEvent, Store, StoreError, SystemDb};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

/// Where an input came from; decides what it may contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// `POST /v1/reports` by an authenticated principal.
    Http,
    /// RFC 8460 HTTPS delivery (`POST /v1/tlsrpt`): TLS reports only, and only for
    /// domains some client has registered.
    TlsRptHttps,
    /// `postern import`: the path (and message number inside an mbox).
    Import(String),
    /// Mail received by the intake (SMTP, IMAP): a detail such as the peer or mailbox.
    Mail(String),
    /// An ESP's event webhook: the ESP's name.
    Esp(String),
}

impl Source {
    pub(crate) fn label(&self) -> String {
        match self {
            Source::Http => "http".to_owned(),
            Source::TlsRptHttps => "tlsrpt-https".to_owned(),
            Source::Import(path) => format!("import:{path}"),
            Source::Mail(detail) => format!("mail:{detail}"),
            Source::Esp(esp) => format!("esp:{esp}"),
        }
    }
}

/// Limits and switches of the pipeline.
#[derive(Clone, Debug, Default)]
pub struct IngestSettings {
    pub limits: Limits,
    /// Headers of a bounced message naming its campaign, in order of preference
    /// (`ingest.campaign_headers`); none read when empty.
    pub campaign_headers: Vec<String>,
}

/// What happened to one part of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Stored as a new report.
    Accepted,
    /// The same report (reporting org, report id, domain) was stored before.
    Duplicate,
    /// Not usable; `reason` and `detail` say why. The bytes are kept.
    Rejected,
}

/// One report (or rejected part) found in an input.
#[derive(Clone, Debug, Serialize)]
pub struct ItemOutcome {
    pub location: String,
    pub kind: Option<ReportKind>,
    pub status: ItemStatus,
    pub report_id: Option<ReportId>,
    pub org_name: Option<String>,
    pub external_id: Option<String>,
    pub domain: Option<String>,
    /// Routed to the client that owns the domain (false: kept unassigned).
    pub assigned: bool,
    pub records: Option<u64>,
    pub messages: Option<u64>,
    pub problems: Vec<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// The stored copy of the input.
#[derive(Clone, Debug, Serialize)]
pub struct InputSummary {
    pub id: RawInputId,
    pub sha256: String,
    pub size: u64,
    /// The same bytes had been received before (one copy is kept).
    pub already_stored: bool,
}

/// Everything one input gave.
#[derive(Clone, Debug, Serialize)]
pub struct IngestOutcome {
    pub input: InputSummary,
    pub items: Vec<ItemOutcome>,
}

impl IngestOutcome {
    pub fn count(&self, status: ItemStatus) -> usize {
        self.items.iter().filter(|i| i.status == status).count()
    }
}

/// Why a whole input was refused before parsing, with a stable reason code.
#[derive(Clone, Copy, Debug)]
pub struct Refusal<'a> {
    pub reason: &'a str,
    pub detail: &'a str,
}

/// The pipeline. Cheap to clone.
#[derive(Clone)]
pub struct Ingestor {
    store: Store,
    settings: Arc<IngestSettings>,
    wake: Arc<Notify>,
}

impl Ingestor {
    /// `wake` is notified whenever outbox events were written, so the relay publishes at once.
    pub fn new(store: Store, settings: IngestSettings, wake: Arc<Notify>) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
            wake,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &IngestSettings {
        &self.settings
    }

    /// Tells the outbox relay that events were written.
    pub(crate) fn wake_relay(&self) {
        self.wake.notify_one();
    }

    /// Records an input that was refused before it could be read whole (too large, wrong
    /// media type): what was read is kept and the reason recorded.
    pub async fn refuse(
        &self,
        prefix: &[u8],
        content_type: Option<&str>,
        source: Source,
        uploader: Option<&TenantScope>,
        refusal: Refusal<'_>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, IngestError> {
        let Refusal { reason, detail } = refusal;
        let system = self.store.system();
        let sha256 = hex::encode(Sha256::digest(prefix));
        let (raw, newly) = system
            .store_raw_input(prefix, &source.label(), content_type, received_at)
            .await?;
        let owner = uploader.map(|s| (s.msp, s.client_id()));
        system
            .insert_rejection(
                raw,
                owner,
                &source.label(),
                "body",
                reason,
                detail,
                received_at,
            )
            .await?;
        Ok(IngestOutcome {
            input: InputSummary {
                id: raw,
                sha256,
                size: prefix.len() as u64,
                already_stored: !newly,
            },
            items: vec![rejected_item("body".to_owned(), None, reason, detail)],
        })
    }

    /// Takes one input in. `Err` only when storage itself failed; every problem with the
    /// input is an [`ItemStatus::Rejected`] item in the outcome.
    #[tracing::instrument(name = "postern_ingest.pipeline.ingest", skip_all, fields(source = %source.label(), size = bytes.len()))]
    pub async fn ingest(
        &self,
        bytes: Vec<u8>,
        content_type: Option<&str>,
        source: Source,
        uploader: Option<TenantScope>,
        received_at: DateTime<Utc>,
    ) -> Result<IngestOutcome, IngestError> {
        let system = self.store.system();
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let size = bytes.len() as u64;
        let (raw, newly) = system
            .store_raw_input(&bytes, &source.label(), content_type, received_at)
            .await?;

        let (tx, mut rx) = mpsc::channel::<Found>(4);
        let limits = self.settings.limits.clone();
        let parser = tokio::task::spawn_blocking(move || {
            let mut sink = ChannelSink { tx };
            postern_mailauth::extract(&bytes, &limits, &mut sink);
        });

        let mut run = Run {
            system,
            raw,
            sha256: sha256.clone(),
            source,
            uploader,
            received_at,
            items: Vec::new(),
            current: None,
            events: 0,
        };
        let mut failure = None;
        while let Some(found) = rx.recv().await {
            if let Err(error) = run.handle(found).await {
                failure = Some(error);
                break;
            }
        }
        // Dropping the receiver lets a parser that is still running finish unheard.
        drop(rx);
        if let Some(current) = run.current.take() {
            let _ = current.writer.rollback().await;
        }
        parser
            .await
            .map_err(|e| IngestError::Parser(e.to_string()))?;
        if run.events > 0 {
            self.wake.notify_one();
        }
        if let Some(error) = failure {
            warn!(%error, input = %raw, "storing the input's reports failed");
            return Err(error);
        }
        info!(
            input = %raw,
            accepted = run.items.iter().filter(|i| i.status == ItemStatus::Accepted).count(),
            rejected = run.items.iter().filter(|i| i.status == ItemStatus::Rejected).count(),
            "input ingested"
        );
        Ok(IngestOutcome {
            input: InputSummary {
                id: raw,
                sha256,
                size,
                already_stored: !newly,
            },
            items: run.items,
        })
    }
}

/// The aggregate report whose records are being written.
struct Current {
    item: ItemOutcome,
    owner: Option<Domain>,
    writer: AggregateWriter,
}

/// State of one input's storing side.
struct Run {
    system: SystemDb,
    raw: RawInputId,
    sha256: String,
    source: Source,
    uploader: Option<TenantScope>,
    received_at: DateTime<Utc>,
    items: Vec<ItemOutcome>,
    current: Option<Current>,
    events: usize,
}

/// What was stored for a report.
struct Stored {
    id: ReportId,
    assigned: bool,
    records: u64,
    messages: u64,
    problems: Vec<String>,
}

/// Where a report goes: its owner, or a reason to refuse it.
enum Route {
    To(Option<Domain>),
    Refuse(&'static str, String),
}

impl Run {
    async fn handle(&mut self, found: Found) -> Result<(), IngestError> {
        match found {
            Found::Begin { at, header, reply } => {
                let accepted = self.begin_aggregate(at, *header).await;
                let go_on = matches!(accepted, Ok(true));
                let _ = reply.send(go_on);
                accepted.map(|_| ())
            }
            Found::Records(records) => {
                if let Some(current) = self.current.as_mut() {
                    current.writer.add_records(&records).await?;
                }
                Ok(())
            }
            Found::End(end) => self.end_aggregate(end).await,
            Found::Failure {
                at,
                report,
                problems,
            } => self.failure(at, *report, problems).await,
            Found::Tls {
                at,
                report,
                problems,
            } => self.tls(at, *report, problems).await,
            Found::Rejected { at, rejection } => {
                let owner = self.uploader_owner();
                self.reject(at, None, owner, rejection.reason.code(), &rejection.detail)
                    .await
            }
        }
    }

    fn uploader_owner(&self) -> Option<(MspId, Option<ClientId>)> {
        self.uploader.map(|s| (s.msp, s.client_id()))
    }

    /// Finds the owner of `domain` and checks the uploader may send reports for it.
    async fn route(&self, domain: &str) -> Result<Route, IngestError> {
        let Ok(name) = DomainName::parse(domain) else {
            return Ok(Route::Refuse(
                "invalid_field",
                format!("report domain {domain:?} is not a domain name"),
            ));
        };
        let owner = self.system.domain_owner(name.as_str()).await?;
        if let (Some(owner), Some(scope)) = (&owner, &self.uploader)
            && !scope.reaches(owner.msp_id, owner.client_id)
        {
            return Ok(Route::Refuse(
                "domain_not_in_scope",
                format!("{name} belongs to a client the credential does not reach"),
            ));
        }
        Ok(Route::To(owner))
    }

    async fn begin_aggregate(
        &mut self,
        at: String,
        header: AggregateHeader,
    ) -> Result<bool, IngestError> {
        if self.source == Source::TlsRptHttps {
            self.reject(
                at,
                Some(ReportKind::Aggregate),
                None,
                "not_tlsrpt",
                "this endpoint takes SMTP TLS reports only",
            )
            .await?;
            return Ok(false);
        }
        let domain = header
            .policy
            .domain
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let item = report_item(
            at.clone(),
            ReportKind::Aggregate,
            &header.org_name,
            &header.report_id,
            &domain,
        );
        let owner = match self.route(&domain).await? {
            Route::Refuse(reason, detail) => {
                let owner = self.uploader_owner();
                self.reject(at, Some(ReportKind::Aggregate), owner, reason, &detail)
                    .await?;
                return Ok(false);
            }
            Route::To(owner) => owner,
        };
        let Some(mut item) = self.unless_stored(item).await? else {
            return Ok(false);
        };
        let id = ReportId::new();
        let mut header = header;
        header.policy.domain = domain;
        match self
            .system
            .begin_aggregate(id, self.raw, owner.as_ref(), &header, self.received_at)
            .await
        {
            Ok(writer) => {
                item.report_id = Some(id);
                item.assigned = owner.is_some();
                self.current = Some(Current {
                    item,
                    owner,
                    writer,
                });
                Ok(true)
            }
            Err(StoreError::Conflict(_)) => {
                item.status = ItemStatus::Duplicate;
                self.items.push(item);
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn end_aggregate(&mut self, end: AggregateEnd) -> Result<(), IngestError> {
        let Some(Current {
            mut item,
            owner,
            writer,
        }) = self.current.take()
        else {
            // The report was skipped (duplicate, refused): nothing was begun.
            return Ok(());
        };
        match end {
            AggregateEnd::Complete { problems, .. } => {
                let report_id = item.report_id.unwrap_or_default();
                let event = ingested_event(
                    report_id,
                    ReportKind::Aggregate,
                    item.domain.as_deref().unwrap_or(""),
                    owner.as_ref(),
                );
                match writer.commit(&problems, event).await {
                    Ok((records, messages)) => {
                        item.records = Some(records);
                        item.messages = Some(messages);
                        item.problems = problems;
                        self.events += 1;
                        self.items.push(item);
                        Ok(())
                    }
                    Err(StoreError::Conflict(_)) => {
                        item.status = ItemStatus::Duplicate;
                        item.report_id = None;
                        self.items.push(item);
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            }
            AggregateEnd::Aborted(rejection) => {
                writer.rollback().await?;
                // Attributed to the report's domain, so the rejection follows the domain to
                // its client when the domain is added later.
                let owner = owner
                    .map(|d| (d.msp_id, Some(d.client_id)))
                    .or_else(|| self.uploader_owner());
                let domain = item.domain.clone().unwrap_or_default();
                self.system
                    .insert_rejection_for_domain(
                        self.raw,
                        &domain,
                        owner,
                        &self.source.label(),
                        &item.location,
                        rejection.reason.code(),
                        &rejection.detail,
                        self.received_at,
                    )
                    .await?;
                self.items.push(rejected_item(
                    item.location,
                    Some(ReportKind::Aggregate),
                    rejection.reason.code(),
                    &rejection.detail,
                ));
                Ok(())
            }
        }
    }

    async fn failure(
        &mut self,
        at: String,
        report: FailureReport,
        problems: Vec<String>,
    ) -> Result<(), IngestError> {
        if self.source == Source::TlsRptHttps {
            return self
                .reject(
                    at,
                    Some(ReportKind::Failure),
                    None,
                    "not_tlsrpt",
                    "this endpoint takes SMTP TLS reports only",
                )
                .await;
        }
        let domain = report
            .reported_domain
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let org = report
            .reporter
            .clone()
            .or_else(|| report.user_agent.clone())
            .unwrap_or_else(|| "unknown".to_owned());
        // A failure report has no report id: the same bytes at the same place are the same report.
        let external_id = format!("{}:{}", &self.sha256[..16], at);
        let item = report_item(at.clone(), ReportKind::Failure, &org, &external_id, &domain);
        let owner = match self.route(&domain).await? {
            Route::Refuse(reason, detail) => {
                let owner = self.uploader_owner();
                return self
                    .reject(at, Some(ReportKind::Failure), owner, reason, &detail)
                    .await;
            }
            Route::To(owner) => owner,
        };
        let Some(item) = self.unless_stored(item).await? else {
            return Ok(());
        };
        let id = ReportId::new();
        let mut report = report;
        report.reported_domain = domain.clone();
        if report.reporter.is_none() {
            report.reporter = Some(org);
        }
        let event = ingested_event(id, ReportKind::Failure, &domain, owner.as_ref());
        let inserted = self
            .system
            .insert_failure_report(
                id,
                self.raw,
                owner.as_ref(),
                &report,
                &external_id,
                self.received_at,
                event,
            )
            .await;
        let stored = Stored {
            id,
            assigned: owner.is_some(),
            records: 1,
            messages: 1,
            problems,
        };
        self.finish(item, stored, inserted)
    }

    async fn tls(
        &mut self,
        at: String,
        report: TlsReport,
        problems: Vec<String>,
    ) -> Result<(), IngestError> {
        let domains: Vec<String> = report
            .policies
            .iter()
            .map(|p| {
                p.policy_domain
                    .trim()
                    .trim_end_matches('.')
                    .to_ascii_lowercase()
            })
            .collect();
        // Route by the first policy domain that someone owns, else the first one.
        let mut owner = None;
        let mut domain = domains.first().cloned();
        for d in &domains {
            match self.route(d).await? {
                Route::To(Some(o)) => {
                    domain = Some(d.clone());
                    owner = Some(o);
                    break;
                }
                Route::To(None) => {}
                Route::Refuse(reason, detail) => {
                    let up = self.uploader_owner();
                    return self
                        .reject(at, Some(ReportKind::Tls), up, reason, &detail)
                        .await;
                }
            }
        }
        let Some(domain) = domain else {
            let up = self.uploader_owner();
            return self
                .reject(
                    at,
                    Some(ReportKind::Tls),
                    up,
                    "missing_field",
                    "the report has no policy with a policy-domain",
                )
                .await;
        };
        if self.source == Source::TlsRptHttps && owner.is_none() {
            return self
                .reject(
                    at,
                    Some(ReportKind::Tls),
                    None,
                    "unregistered_domain",
                    &format!("no client has registered {}", domains.join(", ")),
                )
                .await;
        }
        let item = report_item(
            at,
            ReportKind::Tls,
            &report.organization_name,
            &report.report_id,
            &domain,
        );
        let Some(item) = self.unless_stored(item).await? else {
            return Ok(());
        };
        let id = ReportId::new();
        let event = ingested_event(id, ReportKind::Tls, &domain, owner.as_ref());
        let inserted = self
            .system
            .insert_tls_report(
                id,
                self.raw,
                owner.as_ref(),
                &report,
                self.received_at,
                event,
            )
            .await;
        let stored = Stored {
            id,
            assigned: owner.is_some(),
            records: report.policies.len() as u64,
            messages: report
                .policies
                .iter()
                .map(|p| p.total_successful_session_count + p.total_failure_session_count)
                .sum(),
            problems,
        };
        self.finish(item, stored, inserted)
    }

    /// Pushes `item` as a duplicate when the same report (kind, org, id, domain) is stored
    /// already; otherwise hands it back to be stored.
    async fn unless_stored(
        &mut self,
        mut item: ItemOutcome,
    ) -> Result<Option<ItemOutcome>, IngestError> {
        let (Some(kind), Some(org), Some(external), Some(domain)) =
            (item.kind, &item.org_name, &item.external_id, &item.domain)
        else {
            return Ok(Some(item));
        };
        match self
            .system
            .report_exists(kind, org, external, domain)
            .await?
        {
            Some(existing) => {
                item.status = ItemStatus::Duplicate;
                item.report_id = Some(existing);
                self.items.push(item);
                Ok(None)
            }
            None => Ok(Some(item)),
        }
    }

    /// Records the outcome of storing a report: accepted, or a duplicate that won a race.
    fn finish(
        &mut self,
        mut item: ItemOutcome,
        stored: Stored,
        inserted: Result<(), StoreError>,
    ) -> Result<(), IngestError> {
        match inserted {
            Ok(()) => {
                item.report_id = Some(stored.id);
                item.assigned = stored.assigned;
                item.records = Some(stored.records);
                item.messages = Some(stored.messages);
                item.problems = stored.problems;
                self.events += 1;
            }
            Err(StoreError::Conflict(_)) => item.status = ItemStatus::Duplicate,
            Err(e) => return Err(e.into()),
        }
        self.items.push(item);
        Ok(())
    }

    async fn reject(
        &mut self,
        at: String,
        kind: Option<ReportKind>,
        owner: Option<(MspId, Option<ClientId>)>,
        reason: &str,
        detail: &str,
    ) -> Result<(), IngestError> {
        self.system
            .insert_rejection(
                self.raw,
                owner,
                &self.source.label(),
                &at,
                reason,
                detail,
                self.received_at,
            )
            .await?;
        self.items.push(rejected_item(at, kind, reason, detail));
        Ok(())
    }
}

fn report_item(
    at: String,
    kind: ReportKind,
    org: &str,
    external_id: &str,
    domain: &str,
) -> ItemOutcome {
    ItemOutcome {
        location: at,
        kind: Some(kind),
        status: ItemStatus::Accepted,
        report_id: None,
        org_name: Some(org.to_owned()),
        external_id: Some(external_id.to_owned()),
        domain: Some(domain.to_owned()),
        assigned: false,
        records: None,
        messages: None,
        problems: Vec::new(),
        reason: None,
        detail: None,
    }
}

fn rejected_item(at: String, kind: Option<ReportKind>, reason: &str, detail: &str) -> ItemOutcome {
    ItemOutcome {
        location: at,
        kind,
        status: ItemStatus::Rejected,
        report_id: None,
        org_name: None,
        external_id: None,
        domain: None,
        assigned: false,
        records: None,
        messages: None,
        problems: Vec::new(),
        reason: Some(reason.to_owned()),
        detail: Some(detail.to_owned()),
    }
}

/// The `report.ingested` event for the outbox, carrying the current trace context.
pub(crate) fn ingested_event(
    id: ReportId,
    kind: ReportKind,
    domain: &str,
    owner: Option<&Domain>,
) -> OutboxEvent {
    let message = events::ReportIngested {
        report_id: id.to_string(),
        kind: kind.as_str().to_owned(),
        domain: domain.to_owned(),
        domain_id: owner.map(|d| d.id.to_string()).unwrap_or_default(),
    };
    let envelope = Envelope::new(
        topics::REPORT_INGESTED,
        &message,
        owner.map(|d| d.msp_id),
        owner.map(|d| d.client_id),
        Utc::now(),
    )
    .with_trace_context(postern_telemetry::current_trace_context());
    OutboxEvent {
        id: envelope.id,
        topic: envelope.topic.clone(),
        payload: envelope.encode(),
    }
}
