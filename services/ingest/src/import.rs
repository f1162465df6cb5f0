//! `postern import`: files, directories, Maildir folders and mbox files.

use crate::error::IngestError;
use crate::pipeline::{Ingestor, ItemStatus, Source};
use chrono::Utc;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Totals of an import run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ImportSummary {
    pub inputs: u64,
    pub accepted: u64,
    pub duplicate: u64,
    pub rejected: u64,
    pub records: u64,
}

/// Imports every path: a file (an mbox file is split into its messages), a Maildir
/// (`cur/` and `new/`), or a directory walked recursively. Reports are routed by domain
/// ownership, as mail would be. A storage failure stops the run; bad inputs do not.
pub async fn import_paths(
    ingestor: &Ingestor,
    paths: &[PathBuf],
) -> Result<ImportSummary, IngestError> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    let mut summary = ImportSummary::default();
    for file in files {
        let bytes = std::fs::read(&file).map_err(|source| IngestError::Io {
            path: file.display().to_string(),
            source,
        })?;
        let label = file.display().to_string();
        let inputs = if is_mbox(&bytes) {
            split_mbox(&bytes)
                .into_iter()
                .enumerate()
                .map(|(i, m)| (format!("{label}#{}", i + 1), m.to_vec()))
                .collect()
        } else {
            vec![(label, bytes)]
        };
        for (label, bytes) in inputs {
            let outcome = ingestor
                .ingest(bytes, None, Source::Import(label), None, Utc::now())
                .await?;
            summary.inputs += 1;
            for item in &outcome.items {
                match item.status {
                    ItemStatus::Accepted => {
                        summary.accepted += 1;
                        summary.records += item.records.unwrap_or(0);
                    }
                    ItemStatus::Duplicate => summary.duplicate += 1,
                    ItemStatus::Rejected => summary.rejected += 1,
                }
            }
        }
    }
    Ok(summary)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), IngestError> {
    let io = |source| IngestError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let maildir = ["cur", "new", "tmp"].iter().all(|d| path.join(d).is_dir());
    let dirs: Vec<PathBuf> = if maildir {
        // tmp/ holds messages still being written: never read it.
        vec![path.join("cur"), path.join("new")]
    } else {
        vec![path.to_path_buf()]
    };
    for dir in dirs {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                !p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.'))
            })
            .collect();
        entries.sort();
        for entry in entries {
            collect(&entry, files)?;
        }
    }
    Ok(())
}

/// An mbox file starts with a `From ` separator line.
fn is_mbox(bytes: &[u8]) -> bool {
    bytes.starts_with(b"From ")
}

/// Splits an mbox (mboxo/mboxrd) at `From ` lines; the separator lines are dropped and
/// `>From ` quoting is undone.
fn split_mbox(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut messages = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"From ") {
            if let Some(done) = current.take() {
                messages.push(done);
            }
            current = Some(Vec::new());
            continue;
        }
        if let Some(message) = current.as_mut() {
            let unquoted = match line.iter().position(|&b| b != b'>') {
                Some(n) if n > 0 && line[n..].starts_with(b"From ") => &line[1..],
                _ => line,
            };
            message.extend_from_slice(unquoted);
        }
    }
    if let Some(done) = current {
        messages.push(done);
    }
    messages.retain(|m| !m.iter().all(u8::is_ascii_whitespace));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_splits_at_from_lines_and_unquotes() {
        let mbox = b"From a@b Mon Jan 1 00:00:00 2024\nSubject: one\n\n>From here\n\nFrom c@d Tue Jan 2 00:00:00 2024\nSubject: two\n\nbody\n";
        let parts = split_mbox(mbox);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], b"Subject: one\n\nFrom here\n\n");
        assert_eq!(parts[1], b"Subject: two\n\nbody\n");
    }

    #[test]
    fn maildir_reads_cur_and_new_but_not_tmp() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["cur", "new", "tmp"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
            std::fs::write(dir.path().join(d).join("m1"), b"x").unwrap();
        }
        let mut files = Vec::new();
        collect(dir.path(), &mut files).unwrap();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| !f.starts_with(dir.path().join("tmp"))));
    }
}
