//! `addDomain`, `removeDomain`, `checkDomainNow`.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use postern_bus::events::{DomainAdded, DomainRemoved, ReportIngested};
use postern_bus::{Envelope, topics};
use postern_domain::{ClientId, DomainId, DomainName, MspId, ReportId};
use postern_store::OutboxEvent;

use crate::context::{engine, parse_id, principal, tenant};
use crate::error::ApiError;
use crate::types::posture::DnsPostureNode;
use crate::types::tenancy::DomainNode;

#[derive(Default)]
pub(crate) struct DomainMutation;

#[Object]
impl DomainMutation {
    /// Registers a domain for a client. Reports already received for the name are assigned
    /// to the client and analysed. `conflict` if any client (of any MSP) holds the name.
    /// MSP owners, admins and operators only.
    async fn add_domain(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The client that owns the domain.")] client_id: ID,
        #[graphql(desc = "The domain name (any case, trailing dot allowed).")] name: String,
    ) -> Result<DomainNode, ApiError> {
        let scope = principal(ctx)?.scope;
        let db = tenant(ctx)?;
        let client: ClientId = parse_id(&client_id)?;
        let name = DomainName::parse(&name).map_err(|e| ApiError::bad_request(e.to_string()))?;
        let now = Utc::now();
        let events = |domain: DomainId, assigned: &[ReportId]| {
            let mut out: Vec<OutboxEvent> = assigned
                .iter()
                .map(|report| {
                    // The kind is left empty: the consumer reads it from the store.
                    let message = ReportIngested {
                        report_id: report.to_string(),
                        kind: String::new(),
                        domain: name.to_string(),
                        domain_id: domain.to_string(),
                    };
                    outbox_event(topics::REPORT_INGESTED, &message, scope.msp, client, now)
                })
                .collect();
            let added = DomainAdded {
                domain_id: domain.to_string(),
                name: name.to_string(),
                assigned_report_ids: assigned.iter().map(ToString::to_string).collect(),
            };
            out.push(outbox_event(
                topics::DOMAIN_ADDED,
                &added,
                scope.msp,
                client,
                now,
            ));
            out
        };
        let (domain, assigned) = db.add_domain(client, &name, &events).await?;
        tracing::info!(domain = %domain.name, client = %client, assigned = assigned.len(), "domain added");
        Ok(DomainNode(domain))
    }

    /// Removes a domain. Its reports stay with the client; the name is free to be added
    /// again. MSP owners, admins and operators only.
    async fn remove_domain(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The domain's id.")] id: ID,
    ) -> Result<bool, ApiError> {
        let db = tenant(ctx)?;
        let id: DomainId = parse_id(&id)?;
        let domain = db.domain(id).await?;
        let message = DomainRemoved {
            domain_id: domain.id.to_string(),
            name: domain.name.to_string(),
        };
        let event = outbox_event(
            topics::DOMAIN_REMOVED,
            &message,
            domain.msp_id,
            domain.client_id,
            Utc::now(),
        );
        db.remove_domain(id, event).await?;
        tracing::info!(domain = %domain.name, "domain removed");
        Ok(true)
    }

    /// Runs the DNS posture checks of a domain now (SPF, DMARC, DKIM, MTA-STS, TLS-RPT,
    /// BIMI, MX), stores the result as its newest snapshot, turns the findings into issues
    /// and answers the posture. Every role that sees the domain may ask.
    async fn check_domain_now(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The domain's id.")] id: ID,
    ) -> Result<DnsPostureNode, ApiError> {
        let db = tenant(ctx)?;
        let id: DomainId = parse_id(&id)?;
        let domain = db.domain(id).await?;
        engine(ctx)?
            .check_domain_dns(domain.id)
            .await
            .map_err(|why| {
                tracing::error!(error = %why, domain = %domain.name, "posture check failed");
                ApiError::Internal
            })?;
        db.dns_posture(domain.id)
            .await?
            .map(DnsPostureNode)
            .ok_or(ApiError::Internal)
    }
}

/// The outbox row of one event.
fn outbox_event<M: prost::Message>(
    topic: &str,
    message: &M,
    msp: MspId,
    client: ClientId,
    now: DateTime<Utc>,
) -> OutboxEvent {
    let envelope = Envelope::new(topic, message, Some(msp), Some(client), now);
    OutboxEvent {
        id: envelope.id,
        topic: envelope.topic.clone(),
        payload: envelope.encode(),
    }
}
