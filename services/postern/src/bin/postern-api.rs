//! Runs the api service alone, against PostgreSQL and Redis (configuration from
//! `POSTERN_CONFIG` and `POSTERN__…` environment variables).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    postern::service_main(
        "postern-api",
        postern::Services {
            ingest: false,
            analysis: false,
            api: true,
            notify: false,
        },
    )
    .await
}
