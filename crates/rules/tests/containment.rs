//! Hostile plugins are contained with a specific reason, and a good plugin still evaluates
//! afterwards in the same host.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use postern_domain::{DnsRecordChange, Severity};
use postern_rules::{
    BlocklistEntry, BlocklistState, BlocklistTargetKind, BounceFacts, BounceGroup, BounceSample,
    BounceSentBasis, BounceSource, DmarcSummary, DnsCheck, DnsCheckStatus, DnsFacts, DnsFinding,
    DomainFacts, FailureReason, LoadError, PluginHost, ReasonCount, RuleLimits, SourceFacts,
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
        ..DomainFacts::default()
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
        matches!(&error, LoadError::WitVersion { found, expected } if found == "0.3.0" && expected == "0.2.0"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "the plugin was built against postern:rules@0.3.0, this host implements \
         postern:rules@0.2.0 (and still runs plugins built for 0.1.0); rebuild it with the \
         matching sdk"
    );
    good_plugin_still_works(&host);
}

#[test]
fn sdk_plugins_are_0_2_0_and_a_0_1_0_plugin_still_evaluates_with_text_addresses() {
    let host = PluginHost::new(limits()).unwrap();
    assert_eq!(host.load(GOOD).unwrap().wit_version(), "0.2.0");
    let legacy = host.load(testing_plugin!("legacy-v0-1")).unwrap();
    assert_eq!(legacy.wit_version(), "0.1.0");
    assert_eq!(legacy.info().id, "test.legacy");
    let mut facts = facts();
    facts.sources.push(SourceFacts {
        ip: "2001:db8::1".parse().unwrap(),
        reverse_dns: None,
        ..facts.sources[0].clone()
    });
    let findings = host.evaluate(&legacy, &facts).unwrap();
    let seen: Vec<(&str, &str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f.title.as_str(),
                f.evidence[0].value.as_str(),
                f.evidence[1].value.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "192.0.2.1 sent mail for example.com",
                "192.0.2.1",
                "mail.example.com"
            ),
            ("2001:db8::1 sent mail for example.com", "2001:db8::1", ""),
        ]
    );
    assert!(findings.iter().all(|f| f.code == "test.legacy_source"));
}

#[test]
fn the_fact_areas_of_0_2_0_reach_the_plugin_intact() {
    let host = PluginHost::new(limits()).unwrap();
    let echo = host.load(testing_plugin!("echo-areas")).unwrap();
    let mut facts = facts();
    let empty = host.evaluate(&echo, &facts).unwrap();
    assert_eq!(empty[0].evidence, Vec::new());
    facts.dns = Some(DnsFacts {
        checked_at: 1_700_000_100,
        checks: vec![DnsCheck {
            check: "dmarc".to_owned(),
            status: DnsCheckStatus::Warn,
            records: vec!["v=DMARC1; p=none".to_owned()],
            findings: vec![DnsFinding {
                code: "dmarc.policy_none".to_owned(),
                severity: Severity::Medium,
                message: "p=none".to_owned(),
                subject: None,
                fix: Some(DnsRecordChange {
                    name: "_dmarc.example.com".to_owned(),
                    record_type: "TXT".to_owned(),
                    current: Some("v=DMARC1; p=none".to_owned()),
                    proposed: "v=DMARC1; p=quarantine".to_owned(),
                }),
            }],
        }],
        spf_lookups: Some(7),
        spf_void_lookups: None,
    });
    facts.blocklists = vec![BlocklistEntry {
        target: "192.0.2.1".to_owned(),
        target_kind: BlocklistTargetKind::Ip,
        list_id: "spamhaus-zen".to_owned(),
        list_name: "Spamhaus ZEN".to_owned(),
        state: BlocklistState::Listed,
        return_codes: vec!["127.0.0.2".to_owned()],
        meaning: "SBL".to_owned(),
        delist_url: None,
        since: Some(1_699_000_000),
    }];
    facts.bounces = Some(BounceFacts {
        sent: Some(1_000),
        sent_basis: BounceSentBasis::MtaLog,
        hard: 12,
        soft: 3,
        groups: vec![BounceGroup {
            recipient_domain: "outlook.example".to_owned(),
            provider_family: "microsoft365".to_owned(),
            has_mx: Some(true),
            addresses: 9,
            hard: 12,
            soft: 3,
            reasons: vec![ReasonCount {
                reason: "spam_blocked".to_owned(),
                count: 12,
            }],
            sample: Some(BounceSample {
                recipient: "a@outlook.example".to_owned(),
                status: Some("5.7.1".to_owned()),
                reply_code: Some(550),
                diagnostic: "blocked".to_owned(),
                remote_host: None,
                sending_ip: Some("2001:db8::25".parse().unwrap()),
                time: 1_699_999_999,
                message_id: None,
                evidence: None,
            }),
        }],
        sources: vec![BounceSource {
            sending_ip: "198.51.100.7".parse().unwrap(),
            hard: 12,
            soft: 3,
            recipient_domains: 1,
            provider_families: vec!["microsoft365".to_owned()],
        }],
    });
    let findings = host.evaluate(&echo, &facts).unwrap();
    let evidence: Vec<(&str, &str)> = findings[0]
        .evidence
        .iter()
        .map(|e| (e.label.as_str(), e.value.as_str()))
        .collect();
    assert_eq!(
        evidence,
        [
            ("dns_checked_at", "1700000100"),
            ("spf_lookups", "Some(7)"),
            ("dns_check", "dmarc warn"),
            ("dns_finding", "dmarc.policy_none v=DMARC1; p=quarantine"),
            ("blocklist", "spamhaus-zen 192.0.2.1 listed"),
            ("bounces", "12/3"),
            ("bounce_group", "outlook.example microsoft365 2001:db8::25"),
            ("bounce_source", "198.51.100.7"),
        ]
    );
    // A 0.1.0 plugin gets the same facts without the new areas and is none the wiser.
    let legacy = host.load(testing_plugin!("legacy-v0-1")).unwrap();
    assert_eq!(host.evaluate(&legacy, &facts).unwrap().len(), 1);
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
    // A new file renamed over the old one (as the host writes them): the second host's
    // component maps the old file, which must not change under it.
    let swapped = dir.path().join("swap.tmp");
    std::fs::copy(bad_file, &swapped).unwrap();
    std::fs::rename(&swapped, dir.path().join(&files[0])).unwrap();
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
fn the_compiled_cache_keeps_its_bound_and_a_plugin_thrown_out_loads_again() {
    let host = PluginHost::new(limits()).unwrap().with_cache_capacity(1);
    let good = host.load(GOOD).unwrap();
    assert!(host.cached(&good.sha256_hex()).is_some());
    let other = host.load(testing_plugin!("bad-code")).unwrap();
    assert_eq!(host.cached_plugins(), 1);
    assert!(
        host.cached(&good.sha256_hex()).is_none(),
        "the older one went"
    );
    assert!(host.cached(&other.sha256_hex()).is_some());
    // What was handed out before still runs, and loading again compiles it again.
    assert_eq!(good.info().id, "test.good");
    good_plugin_still_works(&host);
    host.forget(&good.sha256_hex());
    assert!(host.cached(&good.sha256_hex()).is_none());
    assert!(host.cached("not hex").is_none());
}

#[test]
fn the_precompiled_folder_keeps_the_most_recently_used_files_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let host = PluginHost::new(limits())
        .unwrap()
        .with_precompiled_dir_bounded(dir.path(), 1);
    host.load(GOOD).unwrap();
    let other = host.load(testing_plugin!("bad-code")).unwrap();
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with(&other.sha256_hex()), "{files:?}");
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
    // The same rule as the embedded build (the bytes may differ: paths and the set of
    // crates built together reach the optimised code).
    let host = PluginHost::new(limits()).unwrap();
    let built = host.load(&component).unwrap();
    let embedded = host.load(GOOD).unwrap();
    assert_eq!(built.info(), embedded.info());
    assert_eq!(
        format!("{:?}", host.evaluate(&built, &facts()).unwrap()),
        format!("{:?}", host.evaluate(&embedded, &facts()).unwrap())
    );
    good_plugin_still_works(&host);
}
