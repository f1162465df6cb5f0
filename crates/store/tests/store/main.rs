//! postern-store against real databases: every scenario runs on SQLite and on PostgreSQL
//! (as the non-superuser `postern_app`, so row-level security is live), and every
//! repository area has its cross-tenant case.

#![allow(
    clippy::unwrap_used,
    reason = "a test fails loudly where it cannot go on"
)]

mod support;

mod access;
mod aggregates;
mod bounces;
mod clients;
mod domains;
mod facts;
mod ingest;
mod issues;
mod outbox;
mod plugins;
mod posture;
mod reports;
mod row_security;
mod schedule;
mod throughput;
