//! Bounces, bounce groups, send volume and the suppression list.

use async_graphql::{ComplexObject, Context, Enum, ID, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use postern_store::{
    BounceGroup, BounceRecord, ReasonCount, SendVolume, Suppression, SuppressionEvent,
};

use crate::context::{tenant, to_id};
use crate::error::ApiError;

/// What a bounce records.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BounceKind {
    /// Refused for good (or given up on).
    Bounced,
    /// Refused for now; the sender retries.
    Deferred,
    /// The recipient complained (feedback report, ESP complaint event).
    Complained,
}

/// One bounced, deferred or complained-about recipient, from bounce mail, an ESP event or
/// an MTA log line. The original input's bytes are kept (`rawInputId`).
#[derive(SimpleObject)]
#[graphql(name = "Bounce")]
pub(crate) struct BounceNode {
    /// The bounce's id.
    id: ID,
    /// The client it belongs to; null when no client could be found (see `unassignedReason`).
    client_id: Option<ID>,
    /// The client's domain the original message was sent from, when routed by it.
    domain_id: Option<ID>,
    /// The stored input (bounce message, webhook payload, log file) it came from.
    raw_input_id: ID,
    /// Why no client could be found, for an unassigned bounce.
    unassigned_reason: Option<String>,
    /// Bounced, deferred or complained.
    kind: BounceKind,
    /// The recipient address.
    recipient: String,
    /// The recipient's domain, lower case.
    recipient_domain: String,
    /// Enhanced status code (RFC 3463), e.g. `5.1.1`.
    status: Option<String>,
    /// SMTP reply code, e.g. 550.
    reply_code: Option<i32>,
    /// The remote server's reply or the MTA's explanation.
    diagnostic: String,
    /// The remote host that answered.
    remote_host: Option<String>,
    /// The MTA that reported the failure.
    reporting_mta: Option<String>,
    /// When delivery failed (or the event happened).
    time: DateTime<Utc>,
    /// Message-ID of the original message.
    original_message_id: Option<String>,
    /// The IP address the original message was sent from.
    sending_ip: Option<String>,
    /// The SMTP command the failure answered (`RCPT`, `DATA`, ...).
    command: Option<String>,
    /// DSN action (`failed`, `delayed`, ...).
    action: Option<String>,
    /// Provider evidence kept verbatim, e.g. Microsoft's `AS(1234)` code.
    evidence: Option<String>,
    /// Feedback type of a complaint (`abuse`, ...).
    feedback_type: Option<String>,
    /// A hard bounce: the address will not work later either (it is suppressed at once).
    hard: bool,
    /// The reason, as Sisimai 5 names it (`userunknown`, `mailboxfull`, `blocked`, ...).
    reason: String,
    /// Who reported it: `mail` (bounce mail), `ses`, `sendgrid`, `mailgun`, `postmark`,
    /// `postfix`.
    provider: String,
    /// Campaign, tag or category of the original message, when known.
    campaign: Option<String>,
    /// The domain of the original sender, lower case, when known.
    sender_domain: Option<String>,
    /// When Postern received it.
    received_at: DateTime<Utc>,
}

/// What `bounceGroups` groups bounces by.
#[derive(Enum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum BounceGrouping {
    /// The recipient's domain.
    #[default]
    RecipientDomain,
    /// Who runs the recipient domain's mail (`microsoft365`, `google`, `yahoo`, `apple`,
    /// `proofpoint`, `mimecast`, `other`, `unknown`), from the host that answered.
    ProviderFamily,
    /// The campaign: a configured header of the original message (`ingest.campaign_headers`)
    /// or the ESP's tag.
    Campaign,
    /// The address the bounced message was sent from.
    SourceIp,
}

/// The bounces of one recipient domain, provider family, campaign or sending address in a
/// window.
#[derive(SimpleObject)]
#[graphql(name = "BounceGroup")]
pub(crate) struct BounceGroupNode {
    /// What the group is of.
    pub(crate) group_by: BounceGrouping,
    /// The value grouped by: the recipient domain, provider family, campaign or sending
    /// address; null for the bounces that carry no campaign (or no sending address).
    pub(crate) key: Option<String>,
    /// The recipient domain, lower case, when grouped by `RECIPIENT_DOMAIN`.
    pub(crate) recipient_domain: Option<String>,
    /// The provider family of the recipient domain(s), when grouped by `RECIPIENT_DOMAIN`
    /// or `PROVIDER_FAMILY`.
    pub(crate) provider_family: Option<String>,
    /// Bounces (kind `BOUNCED`).
    pub(crate) total: u64,
    /// Hard bounces among them.
    pub(crate) hard: u64,
    /// Soft bounces among them.
    pub(crate) soft: u64,
    /// Distinct recipient addresses.
    pub(crate) addresses: u64,
    /// Distinct recipient domains.
    pub(crate) recipient_domains: u64,
    /// Reasons, most frequent first.
    pub(crate) top_reasons: Vec<ReasonCountNode>,
    /// The first bounce in the window.
    pub(crate) first_seen: DateTime<Utc>,
    /// The last bounce in the window.
    pub(crate) last_seen: DateTime<Utc>,
}

/// How often one reason occurred.
#[derive(SimpleObject)]
#[graphql(name = "ReasonCount")]
pub(crate) struct ReasonCountNode {
    /// The reason, as Sisimai 5 names it.
    pub(crate) reason: String,
    /// Bounces with this reason.
    pub(crate) count: u64,
}

/// Delivery outcomes of one client's sender domain on one day from one provider (ESP events,
/// MTA logs): the volume bounce rates are computed from.
#[derive(SimpleObject)]
#[graphql(name = "SendVolume")]
pub(crate) struct SendVolumeNode {
    /// The client.
    client_id: ID,
    /// The sender domain, lower case.
    sender_domain: String,
    /// The day (UTC).
    day: NaiveDate,
    /// Who reported it: `ses`, `postfix`, ...
    provider: String,
    /// Messages accepted by the recipient's server.
    delivered: u64,
    /// Deferrals.
    deferred: u64,
    /// Bounces.
    bounced: u64,
    /// Complaints.
    complaints: u64,
}

/// An address on a client's suppression list: mail to it should not be sent. Hard bounces
/// and complaints put addresses here at once; only an explicit `restoreSuppressed` with a
/// reason takes them off.
#[derive(SimpleObject)]
#[graphql(name = "Suppression", complex)]
pub(crate) struct SuppressionNode {
    /// The entry's id.
    id: ID,
    /// The client whose list it is on.
    client_id: ID,
    /// The address, lower case.
    address: String,
    /// Why it was suppressed (a bounce reason such as `userunknown`, or the text given).
    reason: String,
    /// The bounce that suppressed it, if a bounce did.
    source_bounce_id: Option<ID>,
    /// When it was (last) suppressed.
    suppressed_at: DateTime<Utc>,
    /// The user who suppressed it by hand.
    suppressed_by: Option<ID>,
    /// Suppressed now (not restored).
    active: bool,
    /// When it was restored; null while suppressed.
    restored_at: Option<DateTime<Utc>>,
    /// The user who restored it.
    restored_by: Option<ID>,
    /// Why it was restored.
    restore_reason: Option<String>,
}

/// One entry of a suppression's history.
#[derive(SimpleObject)]
#[graphql(name = "SuppressionEvent")]
pub(crate) struct SuppressionEventNode {
    /// The entry's id.
    id: ID,
    /// `suppressed` or `restored`.
    action: String,
    /// The reason given (or the bounce reason).
    reason: String,
    /// The bounce that caused it, if any.
    bounce_id: Option<ID>,
    /// The user who acted; null for ingestion and API tokens.
    actor_id: Option<ID>,
    /// When.
    at: DateTime<Utc>,
}

#[ComplexObject]
impl SuppressionNode {
    /// Every suppress and restore of this address, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<SuppressionEventNode>, ApiError> {
        let id = uuid::Uuid::parse_str(self.id.as_str())
            .map_err(|_| ApiError::bad_request("invalid suppression id"))?;
        let events = tenant(ctx)?.suppression_history(id).await?;
        Ok(events.into_iter().map(SuppressionEventNode::from).collect())
    }
}

impl From<postern_store::BounceKind> for BounceKind {
    fn from(kind: postern_store::BounceKind) -> Self {
        match kind {
            postern_store::BounceKind::Bounced => BounceKind::Bounced,
            postern_store::BounceKind::Deferred => BounceKind::Deferred,
            postern_store::BounceKind::Complained => BounceKind::Complained,
        }
    }
}

impl From<BounceKind> for postern_store::BounceKind {
    fn from(kind: BounceKind) -> Self {
        match kind {
            BounceKind::Bounced => postern_store::BounceKind::Bounced,
            BounceKind::Deferred => postern_store::BounceKind::Deferred,
            BounceKind::Complained => postern_store::BounceKind::Complained,
        }
    }
}

impl From<BounceRecord> for BounceNode {
    fn from(b: BounceRecord) -> Self {
        Self {
            id: to_id(b.id),
            client_id: b.client_id.map(to_id),
            domain_id: b.domain_id.map(to_id),
            raw_input_id: to_id(b.raw_input_id),
            unassigned_reason: b.unassigned_reason,
            kind: b.kind.into(),
            recipient: b.recipient,
            recipient_domain: b.recipient_domain,
            status: b.status,
            reply_code: b.reply_code.map(i32::from),
            diagnostic: b.diagnostic,
            remote_host: b.remote_host,
            reporting_mta: b.reporting_mta,
            time: b.time,
            original_message_id: b.original_message_id,
            sending_ip: b.sending_ip,
            command: b.command,
            action: b.action,
            evidence: b.evidence,
            feedback_type: b.feedback_type,
            hard: b.hard,
            reason: b.reason,
            provider: b.provider,
            campaign: b.campaign,
            sender_domain: b.sender_domain,
            received_at: b.received_at,
        }
    }
}

impl BounceGroupNode {
    /// A store group under `group_by` (`RECIPIENT_DOMAIN`, `CAMPAIGN` or `SOURCE_IP`); a
    /// recipient domain's provider family comes from the host that answered for it.
    pub(crate) fn from_store(g: BounceGroup, group_by: BounceGrouping) -> Self {
        let by_domain = group_by == BounceGrouping::RecipientDomain;
        Self {
            group_by,
            provider_family: by_domain.then(|| family_of_host(g.remote_host.as_deref())),
            recipient_domain: by_domain.then_some(g.recipient_domain),
            key: g.key,
            total: g.total,
            hard: g.hard,
            soft: g.soft,
            addresses: g.addresses,
            recipient_domains: g.recipient_domains,
            top_reasons: g.reasons.into_iter().map(ReasonCountNode::from).collect(),
            first_seen: g.first_seen,
            last_seen: g.last_seen,
        }
    }
}

/// The provider family of a host that answered for a recipient domain: a known provider's
/// name, `other` for any other host, `unknown` without one.
pub(crate) fn family_of_host(host: Option<&str>) -> String {
    match host.filter(|h| !h.is_empty()) {
        Some(h) => postern_bounce::ProviderFamily::of_host(h)
            .unwrap_or(postern_bounce::ProviderFamily::Other),
        None => postern_bounce::ProviderFamily::Unknown,
    }
    .as_str()
    .to_owned()
}

impl From<ReasonCount> for ReasonCountNode {
    fn from(r: ReasonCount) -> Self {
        Self {
            reason: r.reason,
            count: r.count,
        }
    }
}

impl From<SendVolume> for SendVolumeNode {
    fn from(v: SendVolume) -> Self {
        Self {
            client_id: to_id(v.client_id),
            sender_domain: v.sender_domain,
            day: v.day,
            provider: v.provider,
            delivered: v.delivered,
            deferred: v.deferred,
            bounced: v.bounced,
            complaints: v.complaints,
        }
    }
}

impl From<Suppression> for SuppressionNode {
    fn from(s: Suppression) -> Self {
        Self {
            id: to_id(s.id),
            client_id: to_id(s.client_id),
            active: s.is_active(),
            address: s.address,
            reason: s.reason,
            source_bounce_id: s.source_bounce_id.map(to_id),
            suppressed_at: s.suppressed_at,
            suppressed_by: s.suppressed_by.map(to_id),
            restored_at: s.restored_at,
            restored_by: s.restored_by.map(to_id),
            restore_reason: s.restore_reason,
        }
    }
}

impl From<SuppressionEvent> for SuppressionEventNode {
    fn from(e: SuppressionEvent) -> Self {
        Self {
            id: to_id(e.id),
            action: e.action,
            reason: e.reason,
            bounce_id: e.bounce_id.map(to_id),
            actor_id: e.actor_id.map(to_id),
            at: e.at,
        }
    }
}
