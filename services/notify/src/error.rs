use postern_store::StoreError;

/// Why the notification service could not handle an event or start (an event that fails
/// stays pending on the bus and is retried).
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("bad event: {0}")]
    BadEvent(String),
    #[error("subscribing to the bus failed: {0}")]
    Bus(String),
    #[error("bad notification settings: {0}")]
    Settings(String),
}
