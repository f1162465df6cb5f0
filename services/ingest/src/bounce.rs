//! Bounce intake: bounce mail (DSNs, provider bounces, complaints) and delivery events (ESP
//! webhooks, MTA logs) become stored bounces, sent volume and suppressions.
//!
//! Like report intake, the original bytes are stored first; classification runs on a
//! blocking thread; everything one client gets from an input is written with its
//! `bounces.received` outbox event in one transaction. A bounce that cannot be routed to a
//! client is kept unassigned with the reason; a message that is not a bounce is kept as a
//! rejection (`not_a_bounce`) with its bytes.
//!
//! Routing of bounce mail, first match wins: the intake recipient address
//! `bounces+<key>@<any intake domain>` (the key is per client, see
//! [`postern_store::SystemDb::bounce_key`]); else the domain of the original message's
//! sender (the returned message's `From:`/`Return-Path:`, then the bounce's `To:`) when a
//! client owns it (or a parent of it); else unassigned.

use crate::error::IngestError;
use crate::pipeline::{Ingestor, InputSummary, Source};
use chrono::{DateTime, Utc};
use postern_bounce::{Bounce, BounceError, DeliveryEvent, DeliveryKind, Limits, Reason};
use postern_bus::{Envelope, events, topics};
use postern_domain::{ClientId, MspId, RawInputId, TenantScope};
use postern_store::{
    BatchOutcome, BounceBatch, BounceKind, BounceOwner, NewBounce, NewDelivery, OutboxEvent,
    SystemDb,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use tracing::info;
use uuid::Uuid;

/// The local part of a client's bounce address, before `+<key>`.
pub const BOUNCE_LOCAL_PART: &str = "bounces";

/// The SMTP envelope of received mail.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MailEnvelope {
    /// `MAIL FROM` (`None` or empty for the null sender `<>` bounces use).
    pub mail_from: Option<String>,
    /// `RCPT TO` addresses, as given.
    pub rcpt_to: Vec<String>,
}

/// What happened to one bounced recipient (or one delivery event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    /// Stored for its client.
    Stored,
    /// Stored before (same message and recipient, or same provider event id).
    Duplicate,
    /// Stored, but no client could be found; the intake's `unassigned_reason` says why.
    Unassigned,
    /// Not stored: `detail` says why (a success notice, an invalid address).
    Skipped,
}

/// How the client of a bounce was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RoutedBy {
    /// The `bounces+<key>@` intake address.
    BounceAddress,
    /// The original sender's domain, registered by the client.
    SenderDomain,
    /// The credential that delivered the events names the client.
    Credential,
}

/// What the intake did with one recipient of a bounce message.
#[derive(Clone, Debug, Serialize)]
pub struct RecipientOutcome {
    pub recipient: String,
    pub status: RecipientStatus,
    /// The stored row's id (stored or unassigned).
    pub bounce_id: Option<Uuid>,
    pub kind: Option<BounceKind>,
    /// Sisimai reason name.
    pub reason: String,
    pub hard: bool,
    pub detail: Option<String>,
}

/// What a bounce message was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// A bounce, DSN, complaint or auto-reply: `recipients` says what was stored.
    Bounce,
    /// Not a bounce: kept as a rejection `not_a_bounce` with its bytes.
    NotABounce,
    /// Not readable as a message: kept as a rejection with the parser's reason.
    Unreadable,
}

/// The outcome of [`Ingestor::ingest_bounce_mail`].
#[derive(Clone, Debug, Serialize)]
pub struct BounceIntake {
    pub input: InputSummary,
    pub kind: MailKind,
    pub msp_id: Option<MspId>,
    pub client_id: Option<ClientId>,
    pub routed_by: Option<RoutedBy>,
    /// Why the bounces are unassigned (no client found).
    pub unassigned_reason: Option<String>,
    /// For `NotABounce`/`Unreadable`: the stable reason code and what went wrong.
    pub reason: Option<String>,
    pub detail: Option<String>,
    pub recipients: Vec<RecipientOutcome>,
    pub stored: u64,
    pub duplicates: u64,
    pub unassigned: u64,
    /// Addresses put on the client's suppression list.
    pub suppressed: u64,
}

/// What the intake did with one delivery event.
#[derive(Clone, Debug, Serialize)]
pub struct EventOutcome {
    /// Position in the `events` given.
    pub index: usize,
    pub kind: DeliveryKind,
    pub recipient: String,
    pub status: RecipientStatus,
    pub client_id: Option<ClientId>,
    pub detail: Option<String>,
}

/// The outcome of [`Ingestor::ingest_delivery_events`].
#[derive(Clone, Debug, Serialize)]
pub struct DeliveryIntake {
    pub input: InputSummary,
    pub events: Vec<EventOutcome>,
    /// Bounce rows (bounced, deferred, complained) stored for a client.
    pub stored: u64,
    /// Bounce rows kept unassigned.
    pub unassigned: u64,
    /// Events seen before (bounces and deliveries).
    pub duplicates: u64,
    /// Deliveries counted as sent volume now.
    pub delivered: u64,
    pub skipped: u64,
    pub suppressed: u64,
    /// The clients that got something.
    pub clients: Vec<ClientId>,
}

/// A client found for a bounce, or why none was.
struct Route {
    owner: Option<BounceOwner>,
    by: Option<RoutedBy>,
    sender_domain: Option<String>,
    unassigned_reason: Option<String>,
}

impl Ingestor {
    /// Takes one received mail that may be a bounce: keeps the bytes, classifies them on a
    /// blocking thread, routes them to a client (bounce address, then sender domain) and
    /// stores one bounce per recipient, suppressing hard bounces and complaints at once, with
    /// a `bounces.received` event in the same transaction. `Err` only when storage failed.
    #[tracing::instrument(name = "postern_ingest.bounce.mail", skip_all, fields(source = %source.label(), size = bytes.len()))]
    pub async fn ingest_bounce_mail(
        &self,
        bytes: Vec<u8>,
        envelope: &MailEnvelope,
        source: Source,
        received_at: DateTime<Utc>,
    ) -> Result<BounceIntake, IngestError> {
        let system = self.store().system();
        let input = keep(
            &system,
            &bytes,
            &source,
            Some("message/rfc822"),
            received_at,
        )
        .await?;
        let campaign_headers = self.settings().campaign_headers.clone();
        let (classified, senders, campaign) = tokio::task::spawn_blocking(move || {
            let classified = postern_bounce::classify_message_with(&bytes, &Limits::default());
            let senders = original_senders(&bytes);
            let campaign = original_campaign(&bytes, &campaign_headers);
            (classified, senders, campaign)
        })
        .await
        .map_err(|e| IngestError::Parser(e.to_string()))?;

        let route = route_mail(&system, envelope, &senders).await?;
        let mut intake = BounceIntake {
            input: input.clone(),
            kind: MailKind::Bounce,
            msp_id: route.owner.map(|o| o.msp_id),
            client_id: route.owner.map(|o| o.client_id),
            routed_by: route.by,
            unassigned_reason: route.unassigned_reason.clone(),
            reason: None,
            detail: None,
            recipients: Vec::new(),
            stored: 0,
            duplicates: 0,
            unassigned: 0,
            suppressed: 0,
        };
        let owner = route.owner.map(|o| (o.msp_id, Some(o.client_id)));
        let bounces = match classified {
            Ok(b) if !b.is_empty() => b,
            Ok(_) => {
                let detail = "the message is not a bounce, delivery status notification, feedback report or auto-reply";
                reject(
                    &system,
                    &input,
                    owner,
                    &source,
                    "not_a_bounce",
                    detail,
                    received_at,
                )
                .await?;
                intake.kind = MailKind::NotABounce;
                intake.reason = Some("not_a_bounce".into());
                intake.detail = Some(detail.into());
                return Ok(intake);
            }
            Err(error) => {
                let reason = unreadable_code(&error);
                let detail = error.to_string();
                reject(
                    &system,
                    &input,
                    owner,
                    &source,
                    reason,
                    &detail,
                    received_at,
                )
                .await?;
                intake.kind = MailKind::Unreadable;
                intake.reason = Some(reason.into());
                intake.detail = Some(detail);
                return Ok(intake);
            }
        };

        let mut batch = BounceBatch {
            raw_input_id: input.id,
            received_at,
            bounces: Vec::new(),
            deliveries: Vec::new(),
        };
        let mut outcomes = Vec::new();
        for (i, b) in bounces.into_iter().enumerate() {
            let Some(kind) = mail_kind(&b) else {
                outcomes.push(skipped(&b, "a success notice (delivered), not a bounce"));
                continue;
            };
            let dedup_key = format!("mail:{}:{i}:{}", input.sha256, b.recipient.to_lowercase());
            let new = new_bounce(NewParts {
                bounce: b,
                kind,
                route: &route,
                provider: "mail",
                provider_event_id: None,
                campaign: campaign.clone(),
                dedup_key,
                fallback_time: received_at,
                count_volume: false,
            });
            outcomes.push(RecipientOutcome {
                recipient: new.recipient.clone(),
                status: RecipientStatus::Stored,
                bounce_id: Some(new.id),
                kind: Some(kind),
                reason: new.reason.clone(),
                hard: new.hard,
                detail: None,
            });
            batch.bounces.push(new);
        }
        let result = store(&system, &batch, route.owner, "mail").await?;
        self.after_store(&result);
        for o in &mut outcomes {
            let Some(id) = o.bounce_id else { continue };
            if !result.stored.contains(&id) {
                o.status = RecipientStatus::Duplicate;
                o.bounce_id = None;
            } else if route.owner.is_none() {
                o.status = RecipientStatus::Unassigned;
            }
        }
        intake.stored = count(&outcomes, RecipientStatus::Stored);
        intake.duplicates = count(&outcomes, RecipientStatus::Duplicate);
        intake.unassigned = count(&outcomes, RecipientStatus::Unassigned);
        intake.suppressed = result.suppressed;
        intake.recipients = outcomes;
        info!(input = %input.id, stored = intake.stored, duplicates = intake.duplicates, unassigned = intake.unassigned, "bounce mail ingested");
        Ok(intake)
    }

    /// Takes delivery events (ESP webhooks, MTA logs) in: keeps `raw`, routes each event to
    /// the credential's client when it names one, else to the client owning the sender's
    /// domain; stores bounces, deferrals and complaints (suppressing hard bounces and
    /// complaints) and counts deliveries as sent volume, one transaction and
    /// `bounces.received` event per client. Idempotent on `provider_event_id`.
    #[tracing::instrument(name = "postern_ingest.bounce.events", skip_all, fields(source = %source.label(), events = events.len()))]
    pub async fn ingest_delivery_events(
        &self,
        scope: Option<TenantScope>,
        source: Source,
        raw: Vec<u8>,
        events: Vec<DeliveryEvent>,
        received_at: DateTime<Utc>,
    ) -> Result<DeliveryIntake, IngestError> {
        let system = self.store().system();
        let input = keep(&system, &raw, &source, None, received_at).await?;
        drop(raw);
        let mut routes: BTreeMap<Option<String>, Route> = BTreeMap::new();
        let mut batches: BTreeMap<Option<ClientId>, (Option<BounceOwner>, BounceBatch)> =
            BTreeMap::new();
        let mut outcomes = Vec::with_capacity(events.len());
        let mut ids: BTreeMap<Uuid, usize> = BTreeMap::new();
        let mut delivery_keys: BTreeMap<String, usize> = BTreeMap::new();
        for (index, event) in events.into_iter().enumerate() {
            let mut outcome = EventOutcome {
                index,
                kind: event.kind,
                recipient: event.recipient.clone(),
                status: RecipientStatus::Stored,
                client_id: None,
                detail: None,
            };
            let Some(recipient_domain) = domain_of(&event.recipient) else {
                outcome.status = RecipientStatus::Skipped;
                outcome.detail = Some(format!("{:?} is not an e-mail address", event.recipient));
                outcomes.push(outcome);
                continue;
            };
            let sender_domain = event.sender.as_deref().and_then(domain_of);
            let route = match routes.get(&sender_domain) {
                Some(r) => r.clone_route(),
                None => {
                    let r = route_event(&system, scope.as_ref(), sender_domain.as_deref()).await?;
                    let copy = r.clone_route();
                    routes.insert(sender_domain.clone(), r);
                    copy
                }
            };
            outcome.client_id = route.owner.map(|o| o.client_id);
            let (_, batch) = batches
                .entry(route.owner.map(|o| o.client_id))
                .or_insert_with(|| {
                    (
                        route.owner,
                        BounceBatch {
                            raw_input_id: input.id,
                            received_at,
                            bounces: Vec::new(),
                            deliveries: Vec::new(),
                        },
                    )
                });
            let dedup_key = match &event.provider_event_id {
                Some(id) => format!("{}:{id}", event.provider),
                None => format!("{}:{}:{index}", event.provider, input.sha256),
            };
            let kind = match event.kind {
                DeliveryKind::Delivered => {
                    delivery_keys.insert(dedup_key.clone(), index);
                    batch.deliveries.push(NewDelivery {
                        dedup_key,
                        owner: route.owner,
                        sender_domain: route.sender_domain.clone(),
                        provider: event.provider.to_owned(),
                        time: event.time,
                    });
                    outcomes.push(outcome);
                    continue;
                }
                DeliveryKind::Bounced => BounceKind::Bounced,
                DeliveryKind::Deferred => BounceKind::Deferred,
                DeliveryKind::Complained => BounceKind::Complained,
            };
            let bounce = event
                .bounce
                .unwrap_or_else(|| bare_bounce(&event.recipient, &recipient_domain, kind));
            let mut new = new_bounce(NewParts {
                bounce,
                kind,
                route: &route,
                provider: event.provider,
                provider_event_id: event.provider_event_id,
                campaign: event.campaign,
                dedup_key,
                fallback_time: event.time,
                count_volume: true,
            });
            new.time = event.time;
            if new.original_message_id.is_none() {
                new.original_message_id = event.message_id;
            }
            if new.sending_ip.is_none() {
                new.sending_ip = event.sending_ip;
            }
            ids.insert(new.id, index);
            batch.bounces.push(new);
            outcomes.push(outcome);
        }

        let mut intake = DeliveryIntake {
            input,
            events: Vec::new(),
            stored: 0,
            unassigned: 0,
            duplicates: 0,
            delivered: 0,
            skipped: 0,
            suppressed: 0,
            clients: Vec::new(),
        };
        for (client, (owner, batch)) in batches {
            let provider = batch
                .bounces
                .first()
                .map(|b| b.provider.clone())
                .or_else(|| batch.deliveries.first().map(|d| d.provider.clone()))
                .unwrap_or_else(|| source.label());
            let result = store(&system, &batch, owner, &provider).await?;
            self.after_store(&result);
            intake.suppressed += result.suppressed;
            intake.delivered += result.deliveries_new;
            intake.duplicates += result.deliveries_duplicate;
            if let Some(c) = client
                && (!result.stored.is_empty() || result.deliveries_new > 0)
            {
                intake.clients.push(c);
            }
            let stored: BTreeSet<Uuid> = result.stored.iter().copied().collect();
            for b in &batch.bounces {
                let Some(&i) = ids.get(&b.id) else { continue };
                let o = &mut outcomes[i];
                if !stored.contains(&b.id) {
                    o.status = RecipientStatus::Duplicate;
                    intake.duplicates += 1;
                } else if owner.is_none() {
                    o.status = RecipientStatus::Unassigned;
                    o.detail = b.unassigned_reason.clone();
                    intake.unassigned += 1;
                } else {
                    intake.stored += 1;
                }
            }
            for key in &result.duplicate_deliveries {
                if let Some(&i) = delivery_keys.get(key) {
                    outcomes[i].status = RecipientStatus::Duplicate;
                }
            }
        }
        intake.skipped = count_events(&outcomes, RecipientStatus::Skipped);
        intake.events = outcomes;
        info!(input = %intake.input.id, stored = intake.stored, delivered = intake.delivered, duplicates = intake.duplicates, unassigned = intake.unassigned, "delivery events ingested");
        Ok(intake)
    }

    fn after_store(&self, result: &BatchOutcome) {
        if !result.stored.is_empty() || result.deliveries_new > 0 {
            self.wake_relay();
        }
    }
}

impl Route {
    fn clone_route(&self) -> Route {
        Route {
            owner: self.owner,
            by: self.by,
            sender_domain: self.sender_domain.clone(),
            unassigned_reason: self.unassigned_reason.clone(),
        }
    }
}

/// The pieces of a new bounce row.
struct NewParts<'a> {
    bounce: Bounce,
    kind: BounceKind,
    route: &'a Route,
    provider: &'a str,
    provider_event_id: Option<String>,
    campaign: Option<String>,
    dedup_key: String,
    fallback_time: DateTime<Utc>,
    count_volume: bool,
}

fn new_bounce(p: NewParts<'_>) -> NewBounce {
    let b = p.bounce;
    let suppress = match p.kind {
        BounceKind::Bounced => b.hard,
        BounceKind::Complained => true,
        BounceKind::Deferred => false,
    };
    NewBounce {
        id: Uuid::now_v7(),
        owner: p.route.owner,
        unassigned_reason: p.route.unassigned_reason.clone(),
        kind: p.kind,
        recipient: b.recipient,
        recipient_domain: b.recipient_domain,
        status: b.status,
        reply_code: b.reply_code,
        diagnostic: b.diagnostic,
        remote_host: b.remote_host,
        reporting_mta: b.reporting_mta,
        time: b.time.unwrap_or(p.fallback_time),
        original_message_id: b.original_message_id,
        sending_ip: b.sending_ip,
        command: b.command,
        action: b.action,
        evidence: b.evidence,
        feedback_type: b.feedback_type,
        hard: b.hard && p.kind == BounceKind::Bounced,
        reason: b.reason.as_str().to_owned(),
        provider: p.provider.to_owned(),
        provider_event_id: p.provider_event_id,
        campaign: p.campaign,
        sender_domain: p.route.sender_domain.clone(),
        dedup_key: p.dedup_key,
        suppress,
        count_volume: p.count_volume,
    }
}

/// Stores the input's bytes once (content-addressed).
async fn keep(
    system: &SystemDb,
    bytes: &[u8],
    source: &Source,
    content_type: Option<&str>,
    received_at: DateTime<Utc>,
) -> Result<InputSummary, IngestError> {
    let sha256 = hex::encode(Sha256::digest(bytes));
    let (id, newly) = system
        .store_raw_input(bytes, &source.label(), content_type, received_at)
        .await?;
    Ok(InputSummary {
        id,
        sha256,
        size: bytes.len() as u64,
        already_stored: !newly,
    })
}

async fn reject(
    system: &SystemDb,
    input: &InputSummary,
    owner: Option<(MspId, Option<ClientId>)>,
    source: &Source,
    reason: &str,
    detail: &str,
    received_at: DateTime<Utc>,
) -> Result<(), IngestError> {
    system
        .insert_rejection(
            input.id,
            owner,
            &source.label(),
            "message",
            reason,
            detail,
            received_at,
        )
        .await?;
    Ok(())
}

/// Stores one client's batch with its `bounces.received` event.
async fn store(
    system: &SystemDb,
    batch: &BounceBatch,
    owner: Option<BounceOwner>,
    provider: &str,
) -> Result<BatchOutcome, IngestError> {
    let raw = batch.raw_input_id;
    let domains: BTreeSet<String> = batch
        .bounces
        .iter()
        .map(|b| b.recipient_domain.clone())
        .collect();
    let hard_ids: BTreeSet<Uuid> = batch
        .bounces
        .iter()
        .filter(|b| b.hard)
        .map(|b| b.id)
        .collect();
    let provider = provider.to_owned();
    let outcome = system
        .store_bounces(batch, move |outcome| {
            if outcome.stored.is_empty() && outcome.deliveries_new == 0 {
                return None;
            }
            let hard = outcome
                .stored
                .iter()
                .filter(|id| hard_ids.contains(id))
                .count() as u64;
            Some(received_event(
                raw,
                &provider,
                owner,
                outcome,
                hard,
                domains.into_iter().collect(),
            ))
        })
        .await?;
    Ok(outcome)
}

/// The `bounces.received` event for the outbox, carrying the current trace context.
fn received_event(
    raw: RawInputId,
    provider: &str,
    owner: Option<BounceOwner>,
    outcome: &BatchOutcome,
    hard: u64,
    recipient_domains: Vec<String>,
) -> OutboxEvent {
    let message = events::BouncesReceived {
        raw_input_id: raw.to_string(),
        provider: provider.to_owned(),
        stored: outcome.stored.len() as u64,
        hard,
        suppressed: outcome.suppressed,
        delivered: outcome.deliveries_new,
        recipient_domains,
        domain_ids: owner
            .and_then(|o| o.domain_id)
            .map(|id| id.to_string())
            .into_iter()
            .collect(),
    };
    let envelope = Envelope::new(
        topics::BOUNCES_RECEIVED,
        &message,
        owner.map(|o| o.msp_id),
        owner.map(|o| o.client_id),
        Utc::now(),
    )
    .with_trace_context(postern_telemetry::current_trace_context());
    OutboxEvent {
        id: envelope.id,
        topic: envelope.topic.clone(),
        payload: envelope.encode(),
    }
}

/// Routes bounce mail: bounce address key, then the original sender's domain.
async fn route_mail(
    system: &SystemDb,
    envelope: &MailEnvelope,
    senders: &[String],
) -> Result<Route, IngestError> {
    let mut tried_keys = Vec::new();
    for rcpt in &envelope.rcpt_to {
        let Some(key) = bounce_key_of(rcpt) else {
            continue;
        };
        if let Some(client) = system.client_for_bounce_key(&key).await? {
            // The client's own domain the original sender is of, so the bounce counts in
            // that domain's triage (analysis reads bounces by domain).
            let mut domain_id = None;
            for sender in senders {
                if let Some(domain) = domain_of(sender)
                    && let Some(owner) = owning_domain(system, &domain).await?
                    && owner.client_id == client.id
                {
                    domain_id = owner.domain_id;
                    break;
                }
            }
            return Ok(Route {
                owner: Some(BounceOwner {
                    msp_id: client.msp_id,
                    client_id: client.id,
                    domain_id,
                }),
                by: Some(RoutedBy::BounceAddress),
                sender_domain: senders.iter().find_map(|s| domain_of(s)),
                unassigned_reason: None,
            });
        }
        tried_keys.push(key);
    }
    let mut tried_domains = Vec::new();
    for sender in senders {
        let Some(domain) = domain_of(sender) else {
            continue;
        };
        if let Some(owner) = owning_domain(system, &domain).await? {
            return Ok(Route {
                owner: Some(owner),
                by: Some(RoutedBy::SenderDomain),
                sender_domain: Some(domain),
                unassigned_reason: None,
            });
        }
        tried_domains.push(domain);
    }
    let mut reason = String::new();
    if !tried_keys.is_empty() {
        reason.push_str(&format!(
            "unknown bounce address key {}; ",
            tried_keys.join(", ")
        ));
    }
    if tried_domains.is_empty() {
        reason.push_str("no bounce address key and no original sender found");
    } else {
        reason.push_str(&format!(
            "no client owns the sender domain {}",
            tried_domains.join(", ")
        ));
    }
    Ok(Route {
        owner: None,
        by: None,
        sender_domain: tried_domains.into_iter().next(),
        unassigned_reason: Some(reason),
    })
}

/// Routes a delivery event: the credential's client, else the sender domain's owner (when
/// the credential reaches it).
async fn route_event(
    system: &SystemDb,
    scope: Option<&TenantScope>,
    sender_domain: Option<&str>,
) -> Result<Route, IngestError> {
    if let Some(scope) = scope
        && let Some(client) = scope.client_id()
    {
        let domain_id = match sender_domain {
            Some(domain) => owning_domain(system, domain)
                .await?
                .filter(|o| o.client_id == client)
                .and_then(|o| o.domain_id),
            None => None,
        };
        return Ok(Route {
            owner: Some(BounceOwner {
                msp_id: scope.msp,
                client_id: client,
                domain_id,
            }),
            by: Some(RoutedBy::Credential),
            sender_domain: sender_domain.map(str::to_owned),
            unassigned_reason: None,
        });
    }
    let Some(domain) = sender_domain else {
        return Ok(unassigned(None, "the event names no sender"));
    };
    match owning_domain(system, domain).await? {
        Some(owner) if scope.is_none_or(|s| s.reaches(owner.msp_id, owner.client_id)) => {
            Ok(Route {
                owner: Some(owner),
                by: Some(RoutedBy::SenderDomain),
                sender_domain: Some(domain.to_owned()),
                unassigned_reason: None,
            })
        }
        Some(_) => Ok(unassigned(
            Some(domain),
            &format!("{domain} belongs to a client the credential does not reach"),
        )),
        None => Ok(unassigned(
            Some(domain),
            &format!("no client owns the sender domain {domain}"),
        )),
    }
}

fn unassigned(domain: Option<&str>, reason: &str) -> Route {
    Route {
        owner: None,
        by: None,
        sender_domain: domain.map(str::to_owned),
        unassigned_reason: Some(reason.to_owned()),
    }
}

/// The client domain that is `domain` or its nearest registered parent.
async fn owning_domain(
    system: &SystemDb,
    domain: &str,
) -> Result<Option<BounceOwner>, IngestError> {
    let mut name = domain;
    loop {
        if let Some(d) = system.domain_owner(name).await? {
            return Ok(Some(BounceOwner {
                msp_id: d.msp_id,
                client_id: d.client_id,
                domain_id: Some(d.id),
            }));
        }
        match name.split_once('.') {
            Some((_, parent)) if parent.contains('.') => name = parent,
            _ => return Ok(None),
        }
    }
}

/// The key of a `bounces+<key>@...` address (letters and digits after the `+`).
pub(crate) fn bounce_key_of(address: &str) -> Option<String> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, _) = address.rsplit_once('@')?;
    let (base, tag) = local.split_once('+')?;
    if !base.eq_ignore_ascii_case(BOUNCE_LOCAL_PART) {
        return None;
    }
    let key: String = tag
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    (!key.is_empty()).then_some(key)
}

/// The lower-case domain of an address, if it has one.
fn domain_of(address: &str) -> Option<String> {
    let address = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, domain) = address.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !local.is_empty()
        && domain.contains('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then_some(domain)
}

/// What kind of row a classified recipient of bounce mail becomes; `None` for a success
/// notice.
fn mail_kind(b: &Bounce) -> Option<BounceKind> {
    let action = b.action.as_deref().map(str::to_ascii_lowercase);
    if b.reason == Reason::Delivered
        || matches!(
            action.as_deref(),
            Some("delivered" | "relayed" | "expanded")
        )
    {
        return None;
    }
    if b.reason == Reason::Feedback || b.feedback_type.is_some() {
        return Some(BounceKind::Complained);
    }
    if action.as_deref() == Some("delayed") {
        return Some(BounceKind::Deferred);
    }
    Some(BounceKind::Bounced)
}

fn skipped(b: &Bounce, detail: &str) -> RecipientOutcome {
    RecipientOutcome {
        recipient: b.recipient.clone(),
        status: RecipientStatus::Skipped,
        bounce_id: None,
        kind: None,
        reason: b.reason.as_str().to_owned(),
        hard: false,
        detail: Some(detail.to_owned()),
    }
}

/// A bounce for an event that carried no details (a complaint without feedback, a bounce
/// event without a diagnostic).
fn bare_bounce(recipient: &str, domain: &str, kind: BounceKind) -> Bounce {
    let reason = match kind {
        BounceKind::Complained => Reason::Feedback,
        _ => Reason::Undefined,
    };
    Bounce {
        recipient: recipient.trim().to_owned(),
        recipient_domain: domain.to_owned(),
        status: None,
        reply_code: None,
        diagnostic: String::new(),
        remote_host: None,
        reporting_mta: None,
        time: None,
        original_message_id: None,
        sending_ip: None,
        command: None,
        action: None,
        evidence: None,
        feedback_type: None,
        hard: false,
        reason,
    }
}

fn unreadable_code(error: &BounceError) -> &'static str {
    match error {
        BounceError::Empty => "empty",
        BounceError::NotAMessage => "not_a_message",
        BounceError::ParserBug(_) => "parser_failed",
    }
}

fn count(outcomes: &[RecipientOutcome], status: RecipientStatus) -> u64 {
    outcomes.iter().filter(|o| o.status == status).count() as u64
}

fn count_events(outcomes: &[EventOutcome], status: RecipientStatus) -> u64 {
    outcomes.iter().filter(|o| o.status == status).count() as u64
}

/// Addresses that may name the original sender of a bounce, best first: `From:`,
/// `Return-Path:` and `Sender:` of the returned message (header lines after the bounce's
/// own header), then the bounce's `To:` (bounces go to the original envelope sender).
pub(crate) fn original_senders(bytes: &[u8]) -> Vec<String> {
    // Only the start matters: returned headers come before the returned body.
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(1024 * 1024)]);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut found = Vec::new();
    for field in ["from", "return-path", "sender"] {
        for line in body.lines() {
            if let Some(value) = header_value(line, field)
                && let Some(address) = address_in(value)
                && !found.contains(&address)
            {
                found.push(address);
            }
        }
    }
    for line in head.lines() {
        if let Some(value) = header_value(line, "to")
            && let Some(address) = address_in(value)
            && !found.contains(&address)
        {
            found.push(address);
        }
    }
    found
}

/// The longest campaign name kept.
const MAX_CAMPAIGN: usize = 200;

/// The campaign of a bounce message: the value of the first of `headers` (names, in order
/// of preference, case-insensitive) found among the returned original message's headers
/// (after the bounce's own header block), trimmed and at most [`MAX_CAMPAIGN`] characters.
pub(crate) fn original_campaign(bytes: &[u8], headers: &[String]) -> Option<String> {
    if headers.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(1024 * 1024)]);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let (_, body) = text.split_once("\n\n")?;
    headers.iter().find_map(|field| {
        body.lines()
            .find_map(|line| header_value(line, field.trim()))
            .map(|v| v.trim().chars().take(MAX_CAMPAIGN).collect::<String>())
            .filter(|v| !v.is_empty())
    })
}

fn header_value<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let (name, value) = line.split_once(':')?;
    name.trim_end().eq_ignore_ascii_case(field).then_some(value)
}

/// The address in a header value: inside `<...>`, else the first word with an `@`.
fn address_in(value: &str) -> Option<String> {
    let candidate = match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value
            .split_whitespace()
            .find(|w| w.contains('@'))?
            .trim_matches(|c: char| c == '"' || c == ',' || c == ';'),
    };
    domain_of(candidate).map(|_| candidate.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_campaign_comes_from_the_first_configured_header_of_the_returned_message() {
        let dsn = b"From: MAILER-DAEMON@mx.example\r\nTo: bounces@sender.example\r\n\
            X-Campaign: bounce-own-header\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n\
            From: news@sender.example\r\nX-Mailgun-Tag: spring-sale\r\nx-campaign:  Nov 2026 \r\n\r\nhi\r\n";
        let headers = ["X-Campaign".to_owned(), "X-Mailgun-Tag".to_owned()];
        assert_eq!(
            original_campaign(dsn, &headers).as_deref(),
            Some("Nov 2026")
        );
        assert_eq!(
            original_campaign(dsn, &headers[1..]).as_deref(),
            Some("spring-sale")
        );
        assert_eq!(original_campaign(dsn, &[]), None);
        assert_eq!(original_campaign(dsn, &["X-Other".to_owned()]), None);
    }

    #[test]
    fn bounce_keys_come_from_the_plus_tag_of_the_bounce_local_part() {
        assert_eq!(
            bounce_key_of("<Bounces+ab12CD@intake.example>").as_deref(),
            Some("ab12cd")
        );
        assert_eq!(
            bounce_key_of("bounces+ab12=user=example.com@intake.example").as_deref(),
            Some("ab12")
        );
        assert_eq!(bounce_key_of("dmarc+ab12@intake.example"), None);
        assert_eq!(bounce_key_of("bounces@intake.example"), None);
        assert_eq!(bounce_key_of("bounces+@intake.example"), None);
    }

    #[test]
    fn original_sender_comes_from_the_returned_headers_before_the_bounce_to() {
        let dsn =
            b"From: MAILER-DAEMON@mx.example\r\nTo: news@sender.example\r\nSubject: fail\r\n\r\n\
This is the mail system.\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n\
Return-Path: <bounce@mail.sender.example>\r\nFrom: \"Shop\" <shop@brand.example>\r\n";
        assert_eq!(
            original_senders(dsn),
            vec![
                "shop@brand.example".to_owned(),
                "bounce@mail.sender.example".to_owned(),
                "news@sender.example".to_owned()
            ]
        );
    }

    #[test]
    fn garbage_names_no_sender() {
        assert!(original_senders(&[0xff, 0xfe, 0x00, b'\n', b'\n', 0x80]).is_empty());
    }

    #[test]
    fn success_notices_are_not_stored_and_delays_are_deferrals() {
        let mut b = bare_bounce("a@b.example", "b.example", BounceKind::Bounced);
        b.action = Some("delayed".into());
        assert_eq!(mail_kind(&b), Some(BounceKind::Deferred));
        b.action = Some("delivered".into());
        assert_eq!(mail_kind(&b), None);
        b.action = Some("failed".into());
        assert_eq!(mail_kind(&b), Some(BounceKind::Bounced));
        b.feedback_type = Some("abuse".into());
        assert_eq!(mail_kind(&b), Some(BounceKind::Complained));
    }
}
