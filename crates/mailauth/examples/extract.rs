//! Parses files (or every file under directories) and prints what each holds, then the
//! totals and the parse rate. A quick look at inputs, not the benchmark.
//!
//!     cargo run -p postern-mailauth --example extract -- ../shared/corpora/parsedmarc-samples

use postern_mailauth::{Extracted, Limits, extract_all};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let mut files = Vec::new();
    for arg in std::env::args().skip(1) {
        collect(Path::new(&arg), &mut files)?;
    }
    files.sort();
    let limits = Limits::default();
    let (mut reports, mut records, mut rejected) = (0u64, 0u64, 0u64);
    let mut busy = std::time::Duration::ZERO;
    for file in &files {
        let bytes = std::fs::read(file)?;
        let start = Instant::now();
        let found = extract_all(&bytes, &limits);
        busy += start.elapsed();
        for item in found {
            let line = match item {
                Extracted::Aggregate {
                    at,
                    header,
                    records: rs,
                    problems,
                } => {
                    reports += 1;
                    records += rs.len() as u64;
                    format!(
                        "{at}\taggregate {} {} {} records={} problems={}",
                        header.org_name,
                        header.report_id,
                        header.policy.domain,
                        rs.len(),
                        problems.len()
                    )
                }
                Extracted::Failure { at, report, .. } => {
                    reports += 1;
                    format!(
                        "{at}\tfailure {} {}",
                        report.feedback_type, report.reported_domain
                    )
                }
                Extracted::Tls { at, report, .. } => {
                    reports += 1;
                    format!(
                        "{at}\ttls {} {} policies={}",
                        report.organization_name,
                        report.report_id,
                        report.policies.len()
                    )
                }
                Extracted::Rejected { at, rejection } => {
                    rejected += 1;
                    format!(
                        "{at}\trejected {}: {}",
                        rejection.reason.code(),
                        rejection.detail
                    )
                }
            };
            println!("{}\t{line}", file.display());
        }
    }
    let secs = busy.as_secs_f64().max(1e-9);
    println!(
        "{} files: {reports} reports, {records} records, {rejected} rejections in {:.3} s \
         ({:.0} reports/s, {:.0} records/s)",
        files.len(),
        secs,
        reports as f64 / secs,
        records as f64 / secs
    );
    Ok(())
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect(&entry?.path(), out)?;
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}
