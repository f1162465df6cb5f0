//! Runs the analysis service alone, against PostgreSQL and Redis (configuration from
//! `POSTERN_CONFIG` and `POSTERN__…` environment variables).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    postern::service_main(
        "postern-analysis",
        postern::Services {
            ingest: false,
            analysis: true,
            api: false,
            notify: false,
        },
    )
    .await
}
