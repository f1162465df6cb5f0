//! `postern plugins run`: evaluates a component over a facts file and prints findings JSON.

#![allow(clippy::unwrap_used)]

use std::process::Command;

#[test]
fn plugins_run_prints_the_findings_of_a_built_in_plugin_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let builtin = postern_rules::builtin_plugins()
        .into_iter()
        .find(|p| p.name == "dmarc_policy")
        .unwrap();
    let component = dir.path().join("dmarc-policy.wasm");
    std::fs::write(&component, builtin.component).unwrap();
    let facts = dir.path().join("facts.json");
    std::fs::write(
        &facts,
        r#"{"domain":"example.com","now":1764000000,"window_start":1761408000,
            "window_end":1764000000,"dmarc":{"messages":10},"policy":null}"#,
    )
    .unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["plugins", "run"])
        .arg(&component)
        .arg("--facts")
        .arg(&facts)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let findings: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(findings[0]["code"], "dmarc.no_record");
    assert_eq!(findings[0]["severity"], "high");
    assert_eq!(
        findings[0]["fix_steps"][0]["record"]["proposed"],
        "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"
    );
}

#[test]
fn plugins_run_refuses_a_file_that_is_not_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let component = dir.path().join("junk.wasm");
    std::fs::write(&component, b"junk").unwrap();
    let facts = dir.path().join("facts.json");
    std::fs::write(
        &facts,
        r#"{"domain":"example.com","now":0,"window_start":0,"window_end":0,"dmarc":{}}"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(["plugins", "run"])
        .arg(&component)
        .arg("--facts")
        .arg(&facts)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("not a valid webassembly component"),
        "{stderr}"
    );
}
