//! sea-orm entities, one per table (see postern-migrations for the schema). Crate-private:
//! `repo` converts models into the public rows.

pub(crate) mod api_token;
pub(crate) mod app_user;
pub(crate) mod blocklist_listing;
pub(crate) mod blocklist_override;
pub(crate) mod blocklist_state;
pub(crate) mod blocklist_target;
pub(crate) mod bounce;
pub(crate) mod bounce_key;
pub(crate) mod client;
pub(crate) mod dmarc_aggregate;
pub(crate) mod dmarc_record;
pub(crate) mod dns_snapshot;
pub(crate) mod domain;
pub(crate) mod domain_daily;
pub(crate) mod domain_source_daily;
pub(crate) mod failure_report;
pub(crate) mod imap_cursor;
pub(crate) mod ip_reverse_dns;
pub(crate) mod issue;
pub(crate) mod issue_event;
pub(crate) mod membership;
pub(crate) mod msp;
pub(crate) mod notify_channel;
pub(crate) mod notify_delivery;
pub(crate) mod notify_digest_item;
pub(crate) mod notify_route;
pub(crate) mod outbox;
pub(crate) mod plugin_failure;
pub(crate) mod processed_event;
pub(crate) mod raw_input;
pub(crate) mod rejection;
pub(crate) mod report;
pub(crate) mod rule_plugin;
pub(crate) mod rule_setting;
pub(crate) mod send_volume;
pub(crate) mod suppression;
pub(crate) mod suppression_event;
pub(crate) mod tls_failure;
pub(crate) mod tls_policy;
pub(crate) mod tls_report;

use crate::error::{StoreError, corrupt};
use sea_orm::prelude::{Json, Uuid};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The tenant columns a report and its child rows carry (`None`: unassigned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) msp_id: Option<Uuid>,
    pub(crate) client_id: Option<Uuid>,
}

pub(crate) fn to_json<T: Serialize + ?Sized>(what: &str, value: &T) -> Result<Json, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Invalid(format!("{what}: {e}")))
}

pub(crate) fn from_json<T: DeserializeOwned>(what: &str, value: Json) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| corrupt(what, e))
}

/// Reads back a vocabulary word written with `as_str()`.
pub(crate) fn word<T>(
    what: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(value).ok_or_else(|| corrupt(what, value))
}

pub(crate) fn opt_word<T>(
    what: &str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
) -> Result<Option<T>, StoreError> {
    value.map(|v| word(what, v, parse)).transpose()
}

pub(crate) fn ip(what: &str, value: &str) -> Result<std::net::IpAddr, StoreError> {
    value.parse().map_err(|e| corrupt(what, e))
}

pub(crate) fn opt_ip(
    what: &str,
    value: Option<&str>,
) -> Result<Option<std::net::IpAddr>, StoreError> {
    value.map(|v| ip(what, v)).transpose()
}

/// A counter as the database stores it (BIGINT).
pub(crate) fn count(what: &str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Invalid(format!("{what} {value} is too large")))
}

/// A stored counter read back (never negative when written by this crate).
pub(crate) fn uncount(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}
