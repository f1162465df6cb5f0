//! `postern spf-suite`: runs an OpenSPF-format SPF test suite against our evaluator.

use anyhow::{Context, bail};
use std::path::Path;

/// Runs the suite in `file`, prints each failure and `N passed, M failed`; an error
/// (non-zero exit) when any test failed.
pub async fn run_suite(file: &Path) -> anyhow::Result<()> {
    let report = postern_mailauth::spf::suite::run_file(file)
        .await
        .with_context(|| format!("spf suite {}", file.display()))?;
    for failure in &report.failures {
        println!("FAILED {failure}");
    }
    println!("{} passed, {} failed", report.passed, report.failed());
    if report.failed() > 0 {
        bail!(
            "{} of {} SPF suite tests failed",
            report.failed(),
            report.passed + report.failed()
        );
    }
    Ok(())
}
