//! Any bytes: `extract_all` must return at least one result and never panic, and every
//! aggregate report it returns must respect the record limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use postern_mailauth::{Extracted, Limits, extract_all};

fuzz_target!(|data: &[u8]| {
    // Small limits so the fuzzer reaches them quickly.
    let limits = Limits {
        max_decompressed_bytes: 8 * 1024 * 1024,
        max_records_per_report: 10_000,
        ..Limits::default()
    };
    let found = extract_all(data, &limits);
    assert!(!found.is_empty(), "no callback for an input");
    for item in &found {
        if let Extracted::Aggregate { records, .. } = item {
            assert!(records.len() <= limits.max_records_per_report);
        }
    }
});
