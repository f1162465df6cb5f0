//! `postern plugins build|run`: the plugin author's loop.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use postern_rules::{DomainFacts, PluginHost, RuleLimits};

#[derive(Subcommand)]
pub(crate) enum PluginsCommand {
    /// Build a plugin crate (cargo, wasm32-unknown-unknown) into a component, check that it
    /// loads, and write it.
    Build {
        /// The plugin crate's folder.
        path: PathBuf,
        /// Where to write the component (default: `<folder name>.wasm` here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Cargo's target directory for the build (default: cargo's own choice).
        #[arg(long)]
        target_dir: Option<PathBuf>,
    },
    /// Evaluate a component over a facts snapshot and print the findings as JSON.
    Run {
        /// The component (`.wasm`).
        component: PathBuf,
        /// The facts: JSON of `postern_rules::DomainFacts`.
        #[arg(long)]
        facts: PathBuf,
    },
}

pub(crate) fn run(command: &PluginsCommand) -> anyhow::Result<()> {
    match command {
        PluginsCommand::Build {
            path,
            out,
            target_dir,
        } => build(path, out.as_deref(), target_dir.as_deref()),
        PluginsCommand::Run { component, facts } => evaluate(component, facts),
    }
}

fn build(path: &Path, out: Option<&Path>, target_dir: Option<&Path>) -> anyhow::Result<()> {
    let component = postern_rules::build_plugin_crate(path, target_dir)?;
    let host = PluginHost::new(RuleLimits::default())?;
    let plugin = host.load(&component)?;
    let out = match out {
        Some(out) => out.to_owned(),
        None => {
            let name = path
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "plugin".to_owned());
            PathBuf::from(format!("{name}.wasm"))
        }
    };
    std::fs::write(&out, &component).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({
            "component": out,
            "bytes": component.len(),
            "sha256": plugin.sha256_hex(),
            "rule": plugin.info(),
        }))?
    );
    Ok(())
}

fn evaluate(component: &Path, facts: &Path) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(component).with_context(|| format!("reading {}", component.display()))?;
    let facts: DomainFacts = serde_json::from_slice(
        &std::fs::read(facts).with_context(|| format!("reading {}", facts.display()))?,
    )
    .context("the facts file is not DomainFacts JSON")?;
    let host = PluginHost::new(RuleLimits::default())?;
    let plugin = host.load(&bytes)?;
    let findings = host.evaluate(&plugin, &facts)?;
    println!("{}", serde_json::to_string_pretty(&findings)?);
    Ok(())
}
