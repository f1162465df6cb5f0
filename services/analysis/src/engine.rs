//! The rule engine the API uses ([`postern_graphql::RuleEngine`]) over this service's
//! [`RuleSet`] and the store: checking uploads and re-evaluating a domain on demand.

use crate::blocklist::BlocklistChecker;
use crate::posture::PostureChecker;
use crate::rules::RuleSet;
use crate::schedule::Evaluator;
use async_trait::async_trait;
use postern_domain::{ClientId, DomainId};
use postern_graphql::{PluginDescription, RuleEngine};
use postern_rules::RuleInfo;
use postern_store::Store;
use std::sync::Arc;

/// [`RuleEngine`] over a shared [`Evaluator`]: one process shares one rule set between its
/// analysis consumer and its API, so a component compiled for either is compiled once, and
/// an on-demand evaluation waits for one of the same domain already running.
pub struct AnalysisEngine {
    evaluator: Evaluator,
    posture: Option<PostureChecker>,
    blocklists: Option<BlocklistChecker>,
}

impl AnalysisEngine {
    /// An engine evaluating with `rules` over `store`, with an evaluator of its own.
    pub fn new(store: Store, rules: Arc<RuleSet>) -> Self {
        Self::with_evaluator(Evaluator::new(store, rules))
    }

    /// An engine evaluating through `evaluator` (a clone of the analysis service's, so
    /// evaluations of one domain never overlap within the process).
    pub fn with_evaluator(evaluator: Evaluator) -> Self {
        Self {
            evaluator,
            posture: None,
            blocklists: None,
        }
    }

    /// The same engine, running DNS posture checks on demand (`checkDomainNow`) with
    /// `checker`.
    pub fn with_posture(mut self, checker: PostureChecker) -> Self {
        self.posture = Some(checker);
        self
    }

    /// The same engine, running blocklist checks on demand (`checkBlocklistsNow`) with
    /// `checker`.
    pub fn with_blocklists(mut self, checker: BlocklistChecker) -> Self {
        self.blocklists = Some(checker);
        self
    }
}

#[async_trait]
impl RuleEngine for AnalysisEngine {
    async fn inspect(&self, component: Vec<u8>) -> Result<PluginDescription, String> {
        let rules = self.evaluator.rules().clone();
        let plugin = tokio::task::spawn_blocking(move || rules.inspect(&component))
            .await
            .map_err(|e| format!("the compilation task failed: {e}"))?
            .map_err(|e| e.to_string())?;
        Ok(description(plugin.info(), plugin.sha256_hex()))
    }

    fn builtin_rules(&self) -> Vec<PluginDescription> {
        self.evaluator
            .rules()
            .plugins()
            .iter()
            .map(|p| description(p.info(), p.sha256_hex()))
            .collect()
    }

    async fn evaluate_domain(&self, domain: DomainId) -> Result<(), String> {
        self.evaluator
            .evaluate_id(domain)
            .await
            .map(drop)
            .map_err(|e| format!("{e}: {}", source_text(&e)))
    }

    async fn check_domain_dns(&self, domain: DomainId) -> Result<(), String> {
        let Some(checker) = &self.posture else {
            return Err("DNS posture checks do not run in this process".to_owned());
        };
        checker
            .check_id(domain)
            .await
            .map(drop)
            .map_err(|e| format!("{e}: {}", source_text(&e)))
    }

    async fn check_blocklists(&self, client: ClientId) -> Result<(), String> {
        let Some(checker) = &self.blocklists else {
            return Err("blocklist checks do not run in this process".to_owned());
        };
        checker
            .check_client_id(client)
            .await
            .map(drop)
            .map_err(|e| format!("{e}: {}", source_text(&e)))
    }
}

fn description(info: &RuleInfo, sha256: String) -> PluginDescription {
    PluginDescription {
        rule_id: info.id.clone(),
        version: info.version.clone(),
        title: info.title.clone(),
        reads: info.reads.clone(),
        sha256,
    }
}

/// The causes of an error, for the log line the API writes.
fn source_text(error: &dyn std::error::Error) -> String {
    let mut text = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push(cause.to_string());
        source = cause.source();
    }
    text.join(": ")
}
