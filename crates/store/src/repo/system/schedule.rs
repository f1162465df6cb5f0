//! Which domains a periodic check should look at now: one query over every tenant that
//! answers only the domains whose last check is older than their period, instead of the
//! schedule walking every domain and deciding in Rust.
//!
//! Each domain's period is the schedule's interval scaled by a factor in [0.9, 1.1) taken
//! from the last two bytes of its id ([`schedule_factor`]; the random tail of a UUIDv7), so a
//! large MSP's domains spread over the interval instead of coming due together, and a
//! domain keeps its own rhythm from tick to tick. The factor is computed in SQL on both
//! backends; [`schedule_factor`] is the same rule in Rust.

use super::SystemDb;
use crate::entity::{count, domain};
use crate::error::StoreError;
use crate::rows::Domain;
use crate::scope::Params;
use crate::store::Backend;
use chrono::{DateTime, Utc};
use postern_domain::DomainId;
use sea_orm::ConnectionTrait;
use std::time::Duration;

/// The periodic check whose last run decides whether a domain is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduledCheck {
    /// DNS posture: the domain's newest `dns_snapshot`.
    Posture,
    /// Blocklists: the newest verdict recorded on the domain's own target (the client's
    /// `blocklist_target` whose value is the domain name).
    Blocklists,
}

impl SystemDb {
    /// Up to `limit` domains of every tenant due for `check` at `now`: never checked, or
    /// last checked at least `every` × [`schedule_factor`] before `now`. Never-checked
    /// domains come first (oldest id first), then the rest by how long they have been
    /// due; at most [`crate::MAX_PAGE_SIZE`] at once.
    pub async fn domains_due(
        &self,
        check: ScheduledCheck,
        every: Duration,
        now: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<Domain>, StoreError> {
        let backend = self.store.backend;
        let mut params = Params::default();
        let every = params.push(every.as_secs_f64());
        let now = params.push(epoch_seconds(now));
        let limit = params.push(count("limit", limit.min(crate::rows::MAX_PAGE_SIZE))?);
        let last = match check {
            ScheduledCheck::Posture => {
                "(SELECT s.checked_at FROM dns_snapshot s WHERE s.domain_id = d.id \
                 ORDER BY s.id DESC LIMIT 1)"
            }
            ScheduledCheck::Blocklists => {
                "(SELECT MAX(st.checked_at) FROM blocklist_target t \
                 JOIN blocklist_state st ON st.target_id = t.id \
                 WHERE t.client_id = d.client_id AND t.value = d.name)"
            }
        };
        let due_at = format!(
            "{} + {every} * {}",
            epoch_sql(backend, "x.last_at"),
            factor_sql(backend, "x.id")
        );
        let sql = format!(
            "SELECT x.id, x.msp_id, x.client_id, x.name, x.created_at FROM ( \
               SELECT d.id, d.msp_id, d.client_id, d.name, d.created_at, {last} AS last_at \
               FROM domain d \
             ) x \
             WHERE x.last_at IS NULL OR {due_at} <= {now} \
             ORDER BY CASE WHEN x.last_at IS NULL THEN 0 ELSE 1 END, \
               CASE WHEN x.last_at IS NULL THEN 0 ELSE {due_at} END, x.id \
             LIMIT {limit}"
        );
        let txn = self.read().await?;
        let rows = txn.query_all_raw(params.statement(backend, sql)).await?;
        txn.commit().await?;
        rows.into_iter()
            .map(|row| {
                Domain::try_from(domain::Model {
                    id: row.try_get("", "id")?,
                    msp_id: row.try_get("", "msp_id")?,
                    client_id: row.try_get("", "client_id")?,
                    name: row.try_get("", "name")?,
                    created_at: row.try_get("", "created_at")?,
                })
            })
            .collect()
    }
}

/// The factor in [0.9, 1.1) by which `domain`'s period differs from the schedule's
/// interval: `0.9 + 0.2 × n / 65536`, `n` the last two bytes of the id (big-endian).
pub fn schedule_factor(domain: DomainId) -> f64 {
    let bytes = domain.as_uuid().into_bytes();
    let n = u16::from_be_bytes([bytes[14], bytes[15]]);
    0.9 + 0.2 * f64::from(n) / 65_536.0
}

/// Seconds since the Unix epoch, with the fraction.
fn epoch_seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp() as f64 + f64::from(at.timestamp_subsec_micros()) / 1_000_000.0
}

/// SQL for the epoch seconds (a float) of the timestamp `column`.
fn epoch_sql(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Postgres => format!("CAST(EXTRACT(EPOCH FROM {column}) AS DOUBLE PRECISION)"),
        // Timestamps are RFC 3339 text on SQLite; julianday() reads them, offset included.
        Backend::Sqlite => format!("((julianday({column}) - 2440587.5) * 86400.0)"),
    }
}

/// SQL for [`schedule_factor`] of the UUID `column`.
fn factor_sql(backend: Backend, column: &str) -> String {
    let n = match backend {
        Backend::Postgres => {
            format!("(get_byte(uuid_send({column}), 14) * 256 + get_byte(uuid_send({column}), 15))")
        }
        // UUIDs are 16-byte blobs on SQLite: the last four hex digits, one by one.
        Backend::Sqlite => (29..=32)
            .map(|i| {
                format!(
                    "(instr('0123456789ABCDEF', substr(hex({column}), {i}, 1)) - 1) * {}",
                    16u32.pow(32 - i)
                )
            })
            .collect::<Vec<_>>()
            .join(" + "),
    };
    format!("(0.9 + 0.2 * ({n}) / 65536.0)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_factor_comes_from_the_last_two_bytes_of_the_id() {
        let id = |tail: u16| {
            let mut bytes = [0x11u8; 16];
            bytes[14..].copy_from_slice(&tail.to_be_bytes());
            DomainId::from_uuid(uuid::Uuid::from_bytes(bytes))
        };
        assert_eq!(schedule_factor(id(0)), 0.9);
        assert_eq!(schedule_factor(id(32_768)), 1.0);
        assert!(schedule_factor(id(u16::MAX)) < 1.1);
        for _ in 0..100 {
            let f = schedule_factor(DomainId::new());
            assert!((0.9..1.1).contains(&f), "{f}");
        }
    }
}
