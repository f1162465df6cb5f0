//! DNS posture snapshots as the public API sees them. The report itself stays JSON here:
//! its shape belongs to `postern-mailauth` (`posture::PostureReport`), which the store
//! does not depend on.

use chrono::{DateTime, Utc};
use postern_domain::{ClientId, DomainId, MspId};
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// One posture check run of a domain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DnsSnapshot {
    pub id: Uuid,
    pub msp_id: MspId,
    pub client_id: ClientId,
    pub domain_id: DomainId,
    pub checked_at: DateTime<Utc>,
    /// Status per check name (`spf` → `pass`, `dmarc` → `warn`, ...).
    pub summary: BTreeMap<String, String>,
    /// The whole posture report.
    pub report: serde_json::Value,
    /// What changed since the snapshot before (a JSON list; empty for the first).
    pub changes: serde_json::Value,
    /// DNS queries (and policy fetches) the run made.
    pub queries: u32,
}

/// A snapshot to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDnsSnapshot {
    pub checked_at: DateTime<Utc>,
    pub summary: BTreeMap<String, String>,
    pub report: serde_json::Value,
    pub changes: serde_json::Value,
    pub queries: u32,
}
