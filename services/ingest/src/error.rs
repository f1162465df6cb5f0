use postern_store::StoreError;

/// Why an input could not be taken in at all (as opposed to a part being rejected,
/// which is an ordinary outcome).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("storage failed")]
    Store(#[from] StoreError),
    #[error("parser task failed: {0}")]
    Parser(String),
    #[error("reading {path} failed")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
