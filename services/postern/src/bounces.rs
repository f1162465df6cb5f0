//! `postern bounces classify PATH...`: the bounce classifier over files, directories
//! (recursively) and mbox files, one line per bounced recipient:
//! `path<TAB>recipient<TAB>status<TAB>replycode<TAB>reason<TAB>hard|soft`. A message that
//! is not a bounce prints nothing. Same code path as the service: `postern_bounce`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum BouncesCommand {
    /// Classify bounce messages: files, directories (recursively) and mbox files.
    Classify {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
}

pub(crate) fn run(command: &BouncesCommand) -> anyhow::Result<()> {
    match command {
        BouncesCommand::Classify { paths } => classify(paths),
    }
}

fn classify(paths: &[PathBuf]) -> anyhow::Result<()> {
    let mut files = Vec::new();
    let mut unreadable = 0usize;
    for path in paths {
        if let Err(error) = collect(path, &mut files) {
            eprintln!("{}: {error}", path.display());
            unreadable += 1;
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(error) => {
                eprintln!("{}: {error}", file.display());
                unreadable += 1;
                continue;
            }
        };
        for (n, result) in postern_bounce::classify_file(&bytes)
            .into_iter()
            .enumerate()
        {
            match result {
                Ok(bounces) => {
                    for b in bounces {
                        writeln!(
                            out,
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            file.display(),
                            b.recipient,
                            b.status.as_deref().unwrap_or_default(),
                            b.reply_code.map(|c| c.to_string()).unwrap_or_default(),
                            b.reason,
                            if b.hard { "hard" } else { "soft" },
                        )?;
                    }
                }
                Err(error) => eprintln!("{} (message {}): {error}", file.display(), n + 1),
            }
        }
    }
    out.flush()?;
    if unreadable > 0 {
        bail!("{unreadable} path(s) could not be read");
    }
    Ok(())
}

/// Regular files under `path` (itself when it is a file), sorted by name per folder.
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        files.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if let Err(error) = collect(&entry, files) {
            eprintln!("{}: {error}", entry.display());
        }
    }
    Ok(())
}
