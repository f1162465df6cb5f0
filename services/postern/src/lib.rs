//! Wiring of the `postern` binary: opening the store and the bus from configuration,
//! bootstrapping the first MSP owner, and starting every service in one process
//! (`postern up`). Kept as a library so end-to-end tests start exactly what `up` starts.

mod bootstrap;
mod runtime;

pub use bootstrap::{AdminCredentials, bootstrap_first_owner};
pub use runtime::{
    Running, Services, ingest_limits, install_crypto_provider, open_bus, open_store, service_main,
    start, start_services,
};
