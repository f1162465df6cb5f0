//! What the API needs of the rule engine, without depending on it: checking an uploaded
//! component, the built-in rules, and re-evaluating a domain now. postern-analysis
//! implements [`RuleEngine`] over its plugin host; [`crate::build_schema`] takes one.

use async_trait::async_trait;
use postern_domain::{ClientId, DomainId};

/// What a rule plugin says about itself, and the hash of its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginDescription {
    /// The plugin's rule id (`describe().id`), e.g. `acme.quiet_domain`.
    pub rule_id: String,
    pub version: String,
    pub title: String,
    /// Which parts of the facts it reads.
    pub reads: Vec<String>,
    /// SHA-256 of the component's bytes, lower-case hex.
    pub sha256: String,
}

/// The rule engine behind the API. Implementations do CPU work (compiling a component, running
/// plugins) off the async executor.
#[async_trait]
pub trait RuleEngine: Send + Sync {
    /// Compiles and checks `component` as a rule plugin (no imports, the host's WIT version,
    /// a valid `describe`) and answers what it says about itself, or a clear reason why it
    /// cannot be one.
    async fn inspect(&self, component: Vec<u8>) -> Result<PluginDescription, String>;

    /// The built-in rules every MSP gets, by rule id.
    fn builtin_rules(&self) -> Vec<PluginDescription>;

    /// Evaluates `domain`'s enabled rules now and reconciles its issues (whoever owns it:
    /// the caller checks the tenant first).
    async fn evaluate_domain(&self, domain: DomainId) -> Result<(), String>;

    /// Runs the DNS posture checks of `domain` now, stores the snapshot and evaluates its
    /// rules (whoever owns it: the caller checks the tenant first). `Err` with the reason
    /// when the process has no posture checker.
    async fn check_domain_dns(&self, domain: DomainId) -> Result<(), String> {
        let _ = domain;
        Err("DNS posture checks do not run in this process".to_owned())
    }

    /// Checks `client`'s blocklist targets (configured, its domains, their DMARC sources)
    /// now, records the verdicts and evaluates its domains' rules when a listing changed
    /// (whoever owns it: the caller checks the tenant first). `Err` with the reason when the
    /// process has no blocklist checker.
    async fn check_blocklists(&self, client: ClientId) -> Result<(), String> {
        let _ = client;
        Err("blocklist checks do not run in this process".to_owned())
    }
}
