//! Hostile plugins are contained with a specific reason, and a good plugin still evaluates
//! afterwards in the same host.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use postern_rules::{
    DmarcSummary, DomainFacts, FailureReason, LoadError, PluginHost, RuleLimits, SourceFacts,
};

macro_rules! testing_plugin {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("POSTERN_TESTING_PLUGINS_DIR"),
            "/testing-",
            $name,
            ".component.wasm"
        ))
        .as_slice()
    };
}

const GOOD: &[u8] = testing_plugin!("good");

fn limits() -> RuleLimits {
    RuleLimits {
        fuel: 50_000_000,
        timeout: Duration::from_secs(5),
        memory_bytes: 64 << 20,
        max_findings: 256,
        max_output_bytes: 1 << 20,
    }
}

fn facts() -> DomainFacts {
    DomainFacts {
        domain: "example.com".to_owned(),
        now: 1_700_000_000,
        window_start: 1_700_000_000 - 7 * 86_400,
        window_end: 1_700_000_000,
        dmarc: DmarcSummary {
            messages: 10,
            dmarc_pass: 10,
            ..DmarcSummary::default()
        },
        sources: vec![SourceFacts {
            ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            messages: 10,
            dmarc_pass: 10,
            spf_aligned_pass: 10,
            dkim_aligned_pass: 10,
            first_seen: 1_690_000_000,
            last_seen: 1_699_999_000,
            reverse_dns: Some("mail.example.com".to_owned()),
        }],
        policy: None,
        tls: None,
    }
}

/// The good plugin still loads and evaluates correctly in `host`.
fn good_plugin_still_works(host: &PluginHost) {
    let good = host.load(GOOD).unwrap();
    let findings = host.evaluate(&good, &facts()).unwrap();
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].code, "test.source_seen");
    assert_eq!(findings[0].title, "192.0.2.1 sent mail for example.com");
    assert_eq!(findings[0].evidence[1].value, "10");
}

fn failure_of(host: &PluginHost, bytes: &[u8]) -> FailureReason {
    let plugin = host.load(bytes).unwrap();
    let failure = host.evaluate(&plugin, &facts()).unwrap_err();
    assert_eq!(failure.rule_id, plugin.info().id);
    failure.reason
}

#[test]
fn good_plugin_describes_itself_and_evaluates() {
    let host = PluginHost::new(limits()).unwrap();
    let good = host.load(GOOD).unwrap();
    assert_eq!(good.info().id, "test.good");
    assert_eq!(good.info().reads, vec!["sources".to_owned()]);
    good_plugin_still_works(&host);
}

#[test]
fn infinite_loop_is_stopped_by_fuel() {
    let host = PluginHost::new(limits()).unwrap();
    let reason = failure_of(&host, testing_plugin!("infinite-loop"));
    assert_eq!(reason, FailureReason::OutOfFuel { fuel: 50_000_000 });
    good_plugin_still_works(&host);
}

#[test]
fn infinite_loop_is_stopped_by_the_deadline_when_fuel_is_plenty() {
    let host = PluginHost::new(RuleLimits {
        fuel: u64::MAX,
        timeout: Duration::from_millis(100),
        ..limits()
    })
    .unwrap();
    let plugin = host.load(testing_plugin!("infinite-loop")).unwrap();
    let started = Instant::now();
    let failure = host.evaluate(&plugin, &facts()).unwrap_err();
    assert_eq!(failure.reason, FailureReason::Deadline { millis: 100 });
    assert!(started.elapsed() < Duration::from_secs(3));
    good_plugin_still_works(&host);
}

#[test]
fn memory_growth_past_the_cap_is_a_memory_limit_failure() {
    let host = PluginHost::new(limits()).unwrap();
    let reason = failure_of(&host, testing_plugin!("memory-hog"));
    assert_eq!(
        reason,
        FailureReason::MemoryLimit {
            limit_bytes: 64 << 20
        }
    );
    assert_eq!(reason.kind(), "memory_limit");
    good_plugin_still_works(&host);
}

#[test]
fn huge_output_is_refused() {
    let host = PluginHost::new(limits()).unwrap();
    let reason = failure_of(&host, testing_plugin!("huge-output"));
    match reason {
        FailureReason::OutputTooLarge {
            findings, bytes, ..
        } => {
            assert_eq!(findings, 5_000);
            assert!(bytes > 5_000 * 4_096);
        }
        other => panic!("expected output_too_large, got {other:?}"),
    }
    good_plugin_still_works(&host);
}

#[test]
fn panic_is_a_trap_failure() {
    let host = PluginHost::new(limits()).unwrap();
    let reason = failure_of(&host, testing_plugin!("panic"));
    assert!(matches!(reason, FailureReason::Trap(_)), "{reason:?}");
    assert_eq!(reason.kind(), "trap");
    good_plugin_still_works(&host);
}

#[test]
fn invalid_finding_code_is_a_failure() {
    let host = PluginHost::new(limits()).unwrap();
    let reason = failure_of(&host, testing_plugin!("bad-code"));
    assert_eq!(reason, FailureReason::InvalidCode("Not A Code".to_owned()));
    good_plugin_still_works(&host);
}

#[test]
fn a_plugin_importing_wasi_is_refused_at_load() {
    let host = PluginHost::new(limits()).unwrap();
    let error = host.load(testing_plugin!("wasi-import")).unwrap_err();
    match &error {
        LoadError::Imports(imports) => {
            assert_eq!(imports, &vec!["wasi:random/random@0.2.0".to_owned()]);
        }
        other => panic!("expected imports error, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("imports wasi:random/random@0.2.0"),
        "{message}"
    );
    assert!(message.contains("may import nothing"), "{message}");
    good_plugin_still_works(&host);
}

#[test]
fn a_plugin_of_another_wit_version_is_refused_with_both_versions_named() {
    let host = PluginHost::new(limits()).unwrap();
    let error = host.load(testing_plugin!("wrong-version")).unwrap_err();
    assert!(
        matches!(&error, LoadError::WitVersion { found, expected } if found == "0.2.0" && expected == "0.1.0"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the plugin was built against postern:rules@0.2.0, this host implements \
         postern:rules@0.1.0; rebuild it with the matching sdk"
    );
    good_plugin_still_works(&host);
}

#[test]
fn garbage_bytes_are_refused_at_load() {
    let host = PluginHost::new(limits()).unwrap();
    let error = host.load(b"not wasm at all").unwrap_err();
    assert!(matches!(error, LoadError::Compile(_)), "{error:?}");
    good_plugin_still_works(&host);
}

#[test]
fn loading_the_same_bytes_twice_uses_the_cache() {
    let host = PluginHost::new(limits()).unwrap();
    let first = host.load(GOOD).unwrap();
    let started = Instant::now();
    let second = host.load(GOOD).unwrap();
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(first.sha256_hex(), second.sha256_hex());
    assert_eq!(first.sha256_hex().len(), 64);
}

#[test]
fn encoding_refuses_bytes_that_are_already_a_component() {
    assert!(postern_rules::encode_component(GOOD).is_err());
}

#[test]
fn a_second_host_loads_the_precompiled_form_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let first = PluginHost::new(limits())
        .unwrap()
        .with_precompiled_dir(dir.path());
    let plugin = first.load(GOOD).unwrap();
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1);
    assert!(files[0].starts_with(&plugin.sha256_hex()), "{files:?}");
    assert!(files[0].ends_with(".cwasm"));

    let second = PluginHost::new(limits())
        .unwrap()
        .with_precompiled_dir(dir.path());
    good_plugin_still_works(&second);

    // Proof that the file, not the bytes, was used: put another plugin's precompiled form
    // under the good plugin's name and a third host runs that one.
    let bad = first.load(testing_plugin!("bad-code")).unwrap();
    let bad_file = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&bad.sha256_hex())
        })
        .unwrap();
    std::fs::copy(bad_file, dir.path().join(&files[0])).unwrap();
    let third = PluginHost::new(limits())
        .unwrap()
        .with_precompiled_dir(dir.path());
    assert_eq!(third.load(GOOD).unwrap().info().id, "test.bad_code");
}

#[test]
fn a_corrupt_precompiled_file_is_ignored_and_the_component_compiled() {
    let dir = tempfile::tempdir().unwrap();
    let first = PluginHost::new(limits())
        .unwrap()
        .with_precompiled_dir(dir.path());
    first.load(GOOD).unwrap();
    let file = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, b"garbage").unwrap();
    let second = PluginHost::new(limits())
        .unwrap()
        .with_precompiled_dir(dir.path());
    good_plugin_still_works(&second);
}

#[test]
fn rejected_components_leave_no_precompiled_file() {
    let dir = tempfile::tempdir().unwrap();
    let host = PluginHost::new(limits())
        .unwrap()
        .with_precompiled_dir(dir.path());
    host.load(testing_plugin!("wasi-import")).unwrap_err();
    host.load(testing_plugin!("wrong-version")).unwrap_err();
    assert_eq!(
        std::fs::read_dir(dir.path()).map_or(0, |entries| entries.count()),
        0
    );
}

#[test]
fn a_plugin_crate_builds_into_a_component_that_loads_and_evaluates() {
    let crate_dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../plugins/testing/good");
    // The build script's target directory: the plugin is already built there.
    let target_dir = std::path::Path::new(env!("POSTERN_WASM_TARGET_DIR"));
    let component = postern_rules::build_plugin_crate(&crate_dir, Some(target_dir)).unwrap();
    assert_eq!(component, GOOD);
    good_plugin_still_works(&PluginHost::new(limits()).unwrap());
}
