//! `postern-bench`: parse throughput on the shared corpus and on a generated large report,
//! end-to-end ingest throughput into SQLite and PostgreSQL, peak memory, and parsedmarc on
//! the same inputs in the same run; `postern-bench rules` measures rule evaluation (every
//! built-in plugin through the WebAssembly host and compiled natively). See the README's
//! "Benchmark" section.

mod bounces;
mod posture;
mod rules;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use flate2::Compression;
use flate2::write::GzEncoder;
use postern_domain::{AggregateHeader, AggregateRecord, FailureReport, TlsReport};
use postern_mailauth::{AggregateEnd, Limits, Location, Rejection, ReportSink};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "postern-bench", about = "Postern parse and ingest benchmark")]
struct Cli {
    /// The shared corpora folder.
    #[arg(long, default_value = "../shared/corpora")]
    corpora: PathBuf,
    /// Records in the generated large report.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Reports and records per report for the end-to-end ingest runs.
    #[arg(long, default_value_t = 200)]
    ingest_reports: usize,
    #[arg(long, default_value_t = 500)]
    ingest_records: usize,
    /// Uploads in flight at once during the ingest runs.
    #[arg(long, default_value_t = 2)]
    ingest_concurrency: usize,
    /// PostgreSQL server for the ingest run (a fresh database is created with psql).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    #[arg(long)]
    skip_postgres: bool,
    /// A Python that can `import parsedmarc` (e.g. a venv's bin/python).
    #[arg(long, default_value = "python3")]
    python: String,
    #[arg(long)]
    skip_parsedmarc: bool,
    /// Minimum seconds each parse measurement runs for.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    #[command(subcommand)]
    command: Option<BenchCommand>,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Rule evaluation throughput: every built-in plugin over generated domains, through the
    /// WebAssembly host and compiled natively (the other flags do not apply).
    Rules(rules::RulesArgs),
    /// Posture checks: generated domains on a loopback DNS server, full checks per second
    /// and DNS queries per domain, beside checkdmarc on a sample (the other flags do not
    /// apply).
    Posture(posture::PostureArgs),
    /// Bounces: classification throughput over the Sisimai corpus beside Perl Sisimai, and
    /// triage of generated bounces into groups and rates (the other flags do not apply).
    Bounces(bounces::BouncesArgs),
    /// (internal) parse one file in a fresh process and report its peak memory.
    ParseFile { path: PathBuf },
}

/// Counts what the parser hands out without keeping it.
#[derive(Default)]
struct Counter {
    reports: u64,
    records: u64,
    messages: u64,
    rejected: u64,
}

impl ReportSink for Counter {
    fn aggregate_begin(&mut self, _: &Location, _: &AggregateHeader) -> bool {
        true
    }
    fn aggregate_records(&mut self, records: Vec<AggregateRecord>) {
        self.records += records.len() as u64;
        self.messages += records.iter().map(|r| r.count).sum::<u64>();
    }
    fn aggregate_end(&mut self, end: AggregateEnd) {
        match end {
            AggregateEnd::Complete { .. } => self.reports += 1,
            AggregateEnd::Aborted(_) => self.rejected += 1,
        }
    }
    fn failure(&mut self, _: &Location, _: FailureReport, _: Vec<String>) {
        self.reports += 1;
    }
    fn tls(&mut self, _: &Location, _: TlsReport, _: Vec<String>) {
        self.reports += 1;
    }
    fn rejected(&mut self, _: &Location, _: Rejection) {
        self.rejected += 1;
    }
}

/// Peak resident memory of this process (VmHWM), in KiB.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// A generated RFC 7489 report with `n` records from distinct sources.
fn large_report(n: usize, report_id: &str, domain: &str) -> String {
    let mut xml = String::with_capacity(n * 560 + 1024);
    xml.push_str(&format!(
        "<?xml version=\"1.0\"?>\n<feedback><report_metadata><org_name>bench.example</org_name><email>r@bench.example</email>\
<report_id>{report_id}</report_id><date_range><begin>1767225600</begin><end>1767311999</end></date_range></report_metadata>\
<policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct></policy_published>\n"
    ));
    for i in 0..n {
        let (a, b, c) = ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
        let pass = if i % 5 == 0 { "fail" } else { "pass" };
        xml.push_str(&format!(
            "<record><row><source_ip>10.{a}.{b}.{c}</source_ip><count>{}</count><policy_evaluated><disposition>none</disposition>\
<dkim>{pass}</dkim><spf>{pass}</spf></policy_evaluated></row><identifiers><header_from>{domain}</header_from></identifiers>\
<auth_results><dkim><domain>{domain}</domain><selector>s{}</selector><result>{pass}</result></dkim><spf><domain>{domain}</domain><result>{pass}</result></spf></auth_results></record>\n",
            1 + i % 7,
            i % 3
        ));
    }
    xml.push_str("</feedback>\n");
    xml
}

fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?)
}

/// Parses `inputs` repeatedly for at least `seconds`; returns (passes, seconds, counter of one pass).
fn time_parse(inputs: &[Vec<u8>], seconds: f64) -> (u64, f64, Counter) {
    let limits = Limits::default();
    let mut one = Counter::default();
    for input in inputs {
        postern_mailauth::extract(input, &limits, &mut one);
    }
    let start = Instant::now();
    let mut passes = 0;
    while passes == 0 || start.elapsed().as_secs_f64() < seconds {
        let mut c = Counter::default();
        for input in inputs {
            postern_mailauth::extract(input, &limits, &mut c);
        }
        passes += 1;
    }
    (passes, start.elapsed().as_secs_f64(), one)
}

/// The aggregate report files of the parsedmarc sample set.
fn corpus_files(corpora: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = corpora.join("parsedmarc-samples/samples/aggregate");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// 1,000 small reports: the sample set's plain-XML files cycled with unique report ids
/// (the input parsedmarc's own measurement used).
fn small_thousand(files: &[PathBuf]) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut plain = Vec::new();
    for f in files {
        let bytes = std::fs::read(f)?;
        let text = String::from_utf8_lossy(&bytes).into_owned();
        // The small, valid plain-XML samples: one report of a few records each (the large
        // 2,286-record sample and the deliberately broken ones are measured elsewhere).
        let small_valid = matches!(
            postern_mailauth::extract_all(&bytes, &Limits::default()).as_slice(),
            [postern_mailauth::Extracted::Aggregate { records, problems, .. }] if records.len() < 100 && problems.is_empty()
        );
        if f.extension().is_some_and(|e| e == "xml")
            && small_valid
            && std::str::from_utf8(&bytes).is_ok()
        {
            plain.push(text);
        }
    }
    if plain.is_empty() {
        bail!("no plain XML samples found");
    }
    Ok((0..1000)
        .map(|i| {
            let t = &plain[i % plain.len()];
            t.replacen("<report_id>", &format!("<report_id>bench-{i}-"), 1)
                .into_bytes()
        })
        .collect())
}

const PARSEDMARC: &str = r#"
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import parsedmarc
secs = float(sys.argv[1]); files = sys.argv[2:]
def one_pass():
    reports = records = 0
    for f in files:
        try:
            r = parsedmarc.parse_report_file(f, offline=True, always_use_local_files=True)
        except Exception:
            continue
        reports += 1
        if r.get("report_type") == "aggregate":
            records += len(r["report"]["records"])
    return reports, records
one_pass()
start = time.perf_counter(); passes = 0
while passes == 0 or time.perf_counter() - start < secs:
    reports, records = one_pass(); passes += 1
el = time.perf_counter() - start
import resource
print(json.dumps({"passes": passes, "seconds": el, "reports": reports, "records": records,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"#;

fn run_parsedmarc(python: &str, files: &[PathBuf], seconds: f64) -> anyhow::Result<Value> {
    let out = Command::new(python)
        .arg("-c")
        .arg(PARSEDMARC)
        .arg(seconds.to_string())
        .args(files)
        .output()
        .with_context(|| format!("running {python}"))?;
    if !out.status.success() {
        bail!(
            "parsedmarc run failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn rate(n: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        n as f64 / seconds
    } else {
        0.0
    }
}

/// Ingests generated reports end to end (raw bytes, parse, route, store, outbox) and
/// returns records per second.
async fn ingest_run(
    url: &str,
    reports: usize,
    records: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, Duration)> {
    let store = postern_store::Store::connect(url, 8).await?;
    store.migrate().await?;
    let ingestor = postern_ingest::Ingestor::new(
        store,
        postern_ingest::IngestSettings::default(),
        Arc::new(tokio::sync::Notify::new()),
    );
    let inputs: Vec<Vec<u8>> = (0..reports)
        .map(|i| large_report(records, &format!("ingest-{i}"), "bench.example").into_bytes())
        .collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for input in inputs {
        let permit = permits.clone().acquire_owned().await?;
        let ingestor = ingestor.clone();
        tasks.spawn(async move {
            let _permit = permit;
            ingestor
                .ingest(
                    input,
                    None,
                    postern_ingest::Source::Import("bench".into()),
                    None,
                    chrono::Utc::now(),
                )
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        let outcome = done??;
        if outcome.items.first().map(|i| i.status) != Some(postern_ingest::ItemStatus::Accepted) {
            bail!(
                "a generated report was not accepted: {:?}",
                outcome.items.first()
            );
        }
    }
    let elapsed = start.elapsed();
    Ok((
        rate((reports * records) as u64, elapsed.as_secs_f64()),
        elapsed,
    ))
}

fn fresh_postgres(admin: &str) -> anyhow::Result<String> {
    let name = format!("postern_bench_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql")
        .args([admin, "-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .context("running psql")?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(BenchCommand::Rules(args)) = &cli.command {
        return rules::run(args);
    }
    if let Some(BenchCommand::Posture(args)) = &cli.command {
        return posture::run(args);
    }
    if let Some(BenchCommand::Bounces(args)) = &cli.command {
        return bounces::run(args);
    }
    if let Some(BenchCommand::ParseFile { path }) = cli.command {
        let bytes = std::fs::read(&path)?;
        let before = peak_rss_kib();
        let start = Instant::now();
        let mut c = Counter::default();
        postern_mailauth::extract(&bytes, &Limits::default(), &mut c);
        let seconds = start.elapsed().as_secs_f64();
        println!(
            "{}",
            json!({ "records": c.records, "seconds": seconds, "peak_rss_kib": peak_rss_kib(), "rss_before_parse_kib": before, "input_bytes": bytes.len() })
        );
        return Ok(());
    }

    println!(
        "# postern-bench ({} cores)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let files = corpus_files(&cli.corpora)?;
    let corpus: Vec<Vec<u8>> = files.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let small = small_thousand(&files)?;
    let small_dir = tempfile::tempdir()?;
    let mut small_files = Vec::new();
    for (i, s) in small.iter().enumerate() {
        let p = small_dir.path().join(format!("small-{i}.xml"));
        std::fs::write(&p, s)?;
        small_files.push(p);
    }
    let large_xml = large_report(cli.records, "large-1", "bench.example");
    let large_path = small_dir.path().join("large.xml");
    std::fs::write(&large_path, &large_xml)?;
    let large_gz_path = small_dir.path().join("large.xml.gz");
    std::fs::write(&large_gz_path, gzip(large_xml.as_bytes())?)?;
    let large_len = large_xml.len();
    drop(large_xml);

    let mut rows: Vec<(String, String, String, String)> = Vec::new();
    let mut add = |what: &str, postern: String, peer: String, ratio: String| {
        rows.push((what.to_owned(), postern, peer, ratio))
    };

    // 1. Sample corpus.
    let (passes, secs, one) = time_parse(&corpus, cli.seconds);
    let (p_reports, p_records) = (
        rate(one.reports * passes, secs),
        rate(one.records * passes, secs),
    );
    let peer = if cli.skip_parsedmarc {
        None
    } else {
        run_parsedmarc(&cli.python, &files, cli.seconds)
            .map_err(|e| eprintln!("parsedmarc: {e}"))
            .ok()
    };
    let peer_rates = peer.as_ref().map(|v| {
        let passes = v["passes"].as_f64().unwrap_or(0.0);
        let s = v["seconds"].as_f64().unwrap_or(1.0);
        (
            v["reports"].as_f64().unwrap_or(0.0) * passes / s,
            v["records"].as_f64().unwrap_or(0.0) * passes / s,
        )
    });
    add(
        &format!("sample corpus ({} files): reports/s", files.len()),
        format!("{p_reports:.0}"),
        peer_rates.map_or("n/a".into(), |r| format!("{:.0}", r.0)),
        peer_rates.map_or("n/a".into(), |r| format!("{:.1}×", p_reports / r.0)),
    );
    add(
        "sample corpus: records/s",
        format!("{p_records:.0}"),
        peer_rates.map_or("n/a".into(), |r| format!("{:.0}", r.1)),
        peer_rates.map_or("n/a".into(), |r| format!("{:.1}×", p_records / r.1)),
    );

    // 2. 1,000 small reports.
    let (passes, secs, one) = time_parse(&small, cli.seconds);
    let s_reports = rate(one.reports * passes, secs);
    let peer = if cli.skip_parsedmarc {
        None
    } else {
        run_parsedmarc(&cli.python, &small_files, cli.seconds)
            .map_err(|e| eprintln!("parsedmarc: {e}"))
            .ok()
    };
    let peer_rate = peer.as_ref().map(|v| {
        v["reports"].as_f64().unwrap_or(0.0) * v["passes"].as_f64().unwrap_or(0.0)
            / v["seconds"].as_f64().unwrap_or(1.0)
    });
    add(
        "1,000 small reports: reports/s",
        format!("{s_reports:.0}"),
        peer_rate.map_or("n/a".into(), |r| format!("{r:.0}")),
        peer_rate.map_or("n/a".into(), |r| format!("{:.1}×", s_reports / r)),
    );

    // 3. Large generated report, each parse in a fresh process for its peak memory.
    let exe = std::env::current_exe()?;
    let large = |path: &Path| -> anyhow::Result<Value> {
        let out = Command::new(&exe).args(["parse-file"]).arg(path).output()?;
        if !out.status.success() {
            bail!(
                "parse-file failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    };
    let xml = large(&large_path)?;
    let gz = large(&large_gz_path)?;
    let peer_large = if cli.skip_parsedmarc {
        None
    } else {
        run_parsedmarc(&cli.python, std::slice::from_ref(&large_path), 0.0)
            .map_err(|e| eprintln!("parsedmarc: {e}"))
            .ok()
    };
    let large_rate = rate(
        xml["records"].as_u64().unwrap_or(0),
        xml["seconds"].as_f64().unwrap_or(1.0),
    );
    let peer_large_rate = peer_large
        .as_ref()
        .map(|v| v["records"].as_f64().unwrap_or(0.0) / v["seconds"].as_f64().unwrap_or(1.0));
    add(
        &format!(
            "generated report, {} records ({:.0} MB XML): records/s",
            cli.records,
            large_len as f64 / 1e6
        ),
        format!("{large_rate:.0}"),
        peer_large_rate.map_or("n/a".into(), |r| format!("{r:.0}")),
        peer_large_rate.map_or("n/a".into(), |r| format!("{:.1}×", large_rate / r)),
    );
    add(
        "same report: peak RSS of the parsing process (MiB; XML held in memory)",
        format!(
            "{:.0}",
            xml["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0
        ),
        peer_large.as_ref().map_or("n/a".into(), |v| {
            format!("{:.0}", v["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0)
        }),
        String::new(),
    );
    add(
        "same report gzipped, streamed: peak RSS (MiB)",
        format!("{:.0}", gz["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0),
        String::new(),
        String::new(),
    );

    // 4. End to end into SQLite and PostgreSQL.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sqlite_dir = tempfile::tempdir()?;
    let sqlite_url = format!(
        "sqlite://{}?mode=rwc",
        sqlite_dir.path().join("bench.db").display()
    );
    let (sqlite_rate, _) = runtime.block_on(ingest_run(
        &sqlite_url,
        cli.ingest_reports,
        cli.ingest_records,
        cli.ingest_concurrency,
    ))?;
    add(
        &format!(
            "ingest into SQLite ({} reports × {} records, {} at a time): records/s",
            cli.ingest_reports, cli.ingest_records, cli.ingest_concurrency
        ),
        format!("{sqlite_rate:.0}"),
        String::new(),
        String::new(),
    );
    if !cli.skip_postgres {
        let url = fresh_postgres(&cli.postgres)?;
        let (pg_rate, _) = runtime.block_on(ingest_run(
            &url,
            cli.ingest_reports,
            cli.ingest_records,
            cli.ingest_concurrency,
        ))?;
        add(
            "ingest into PostgreSQL: records/s",
            format!("{pg_rate:.0}"),
            String::new(),
            String::new(),
        );
    }

    println!("| measurement | postern | parsedmarc | ratio |\n|---|---:|---:|---:|");
    for (what, p, q, r) in rows {
        println!("| {what} | {p} | {q} | {r} |");
    }
    println!(
        "\npeak RSS of this process: {:.0} MiB",
        peak_rss_kib() as f64 / 1024.0
    );
    Ok(())
}
