use postern_store::StoreError;

/// Why an event could not be applied (it stays pending on the bus and is retried).
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("bad event: {0}")]
    BadEvent(String),
    #[error("resolver setup failed: {0}")]
    Resolver(String),
    #[error("rule plugin could not be loaded")]
    PluginLoad(#[from] postern_rules::LoadError),
    #[error("rule evaluation failed: {0}")]
    Rules(String),
    #[error("blocklist check failed: {0}")]
    Blocklist(String),
}
