//! Runs the notification service alone, against PostgreSQL and Redis (configuration from
//! `POSTERN_CONFIG` and `POSTERN__…` environment variables).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    postern::service_main(
        "postern-notify",
        postern::Services {
            ingest: false,
            analysis: false,
            api: false,
            notify: true,
        },
    )
    .await
}
