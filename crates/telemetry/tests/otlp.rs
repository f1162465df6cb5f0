//! OTLP export against a fake collector on loopback.

use postern_config::TelemetryConfig;
use postern_telemetry::{current_trace_context, init};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Accepts one HTTP request, answers 200, and returns the request head and body length.
async fn collect_one(listener: TcpListener) -> io::Result<(String, usize)> {
    let (mut socket, _) = listener.accept().await?;
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&data[..end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())
                    .flatten()
            })
            .ok_or(io::ErrorKind::InvalidData)?;
        if data.len() >= end + 4 + length {
            socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .await?;
            return Ok((head, length));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_to_the_configured_endpoint_and_flushed_on_drop() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let collector = tokio::spawn(collect_one(listener));

    let config = TelemetryConfig {
        otlp_endpoint: Some(format!("http://{addr}")),
        service_name: Some("postern-otlp-test".into()),
        ..TelemetryConfig::default()
    };
    let guard = init("postern-test", &config).unwrap();
    assert!(guard.exporting());

    let span = tracing::info_span!("ingest.report.store", report_id = "r1");
    let ctx = span.in_scope(|| {
        tracing::info!("stored");
        current_trace_context()
    });
    drop(span);
    assert!(ctx.contains_key("traceparent"), "{ctx:?}");

    // Dropping the guard flushes the batch.
    drop(guard);
    let (head, body_len) = tokio::time::timeout(Duration::from_secs(10), collector)
        .await
        .expect("collector got nothing")
        .unwrap()
        .unwrap();
    assert!(head.starts_with("POST /v1/traces HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-protobuf"),
        "{head}"
    );
    assert!(body_len > 0);
}
