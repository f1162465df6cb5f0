//! Runs the ingest service alone, against PostgreSQL and Redis (configuration from
//! `POSTERN_CONFIG` and `POSTERN__…` environment variables).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    postern::service_main(
        "postern-ingest",
        postern::Services {
            ingest: true,
            analysis: false,
            api: false,
            notify: false,
        },
    )
    .await
}
