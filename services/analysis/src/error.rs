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
}
