//! Reverse DNS of sending sources, resolved apart from ingestion.

use crate::error::AnalysisError;
use async_trait::async_trait;
use chrono::Utc;
use futures::StreamExt;
use postern_store::Store;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};

/// Looks up the PTR name of an address. `Ok(None)`: no name; `Err`: the lookup failed
/// (timeout, server failure) and is tried again later.
#[async_trait]
pub trait ReverseResolver: Send + Sync {
    async fn reverse(&self, ip: IpAddr) -> Result<Option<String>, String>;
}

/// hickory-resolver with a per-lookup timeout.
pub struct HickoryReverse {
    resolver: hickory_resolver::TokioResolver,
    timeout: Duration,
}

impl HickoryReverse {
    /// Uses `nameservers` (UDP and TCP) or, when empty, the system configuration.
    pub fn new(nameservers: &[SocketAddr], timeout: Duration) -> Result<Self, AnalysisError> {
        use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let mut builder = if nameservers.is_empty() {
            hickory_resolver::TokioResolver::builder_tokio()
                .map_err(|e| AnalysisError::Resolver(e.to_string()))?
        } else {
            let servers = nameservers
                .iter()
                .map(|ns| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = ns.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = ns.port();
                    NameServerConfig::new(ns.ip(), true, vec![udp, tcp])
                })
                .collect();
            hickory_resolver::TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        builder.options_mut().timeout = timeout;
        builder.options_mut().attempts = 1;
        let resolver = builder
            .build()
            .map_err(|e| AnalysisError::Resolver(e.to_string()))?;
        Ok(Self { resolver, timeout })
    }
}

#[async_trait]
impl ReverseResolver for HickoryReverse {
    async fn reverse(&self, ip: IpAddr) -> Result<Option<String>, String> {
        match tokio::time::timeout(self.timeout, self.resolver.reverse_lookup(ip)).await {
            Err(_) => Err("timed out".to_owned()),
            Ok(Ok(lookup)) => Ok(lookup
                .answers()
                .iter()
                .find_map(|record| match &record.data {
                    hickory_resolver::proto::rr::RData::PTR(ptr) => {
                        Some(ptr.0.to_string().trim_end_matches('.').to_owned())
                    }
                    _ => None,
                })),
            Ok(Err(e)) if e.is_no_records_found() => Ok(None),
            Ok(Err(e)) => Err(e.to_string()),
        }
    }
}

/// Resolves up to `batch` sources that have no (fresh) name, `concurrency` at a time.
/// Returns how many were looked up.
pub async fn resolve_pending(
    store: &Store,
    resolver: &dyn ReverseResolver,
    concurrency: usize,
    batch: u64,
) -> Result<usize, AnalysisError> {
    let system = store.system();
    let pending: Vec<IpAddr> = system
        .sources_missing_rdns(batch)
        .await?
        .into_iter()
        .map(|(_, ip)| ip)
        .collect();
    let n = pending.len();
    let results: Vec<(IpAddr, Result<Option<String>, String>)> = futures::stream::iter(pending)
        .map(|ip| async move { (ip, resolver.reverse(ip).await) })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let now = Utc::now();
    for (ip, result) in results {
        match result {
            Ok(name) => system.set_reverse_dns(ip, name.as_deref(), now).await?,
            Err(error) => {
                debug!(%ip, %error, "reverse lookup failed");
                // Remember the attempt so a dead resolver is not asked again at once.
                system.set_reverse_dns(ip, None, now).await?;
            }
        }
    }
    Ok(n)
}

/// Resolves pending sources every `interval` until `shutdown` fires.
pub async fn run_reverse_dns(
    store: Store,
    resolver: Arc<dyn ReverseResolver>,
    concurrency: usize,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        if let Err(error) = resolve_pending(&store, resolver.as_ref(), concurrency, 200).await {
            warn!(%error, "reverse dns pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            changed = shutdown.changed() => if changed.is_err() { return },
        }
    }
}
