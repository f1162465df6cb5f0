//! `postern-bench posture`: the full posture check (`postern_mailauth::posture::check_domain`)
//! of generated domains served by a real authoritative DNS server on loopback
//! (`postern_dns::testing::LoopbackServer`), through `StubResolver` (or `HickoryResolver`
//! with `--resolver hickory`); then checkdmarc on a
//! sample of the same domains against the same server, with the SPF and DMARC validity of
//! both compared domain by domain. See the README's "Posture checks" section.

use anyhow::{Context, ensure};
use futures::StreamExt;
use postern_dns::testing::LoopbackServer;
use postern_dns::{HickoryResolver, Resolver, ResolverSettings, StubResolver};
use postern_mailauth::posture::mtasts::{FetchError, FetchedPolicy, PolicyFetcher};
use postern_mailauth::posture::{CheckKind, CheckStatus, PostureOptions, check_domain};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The goal of issue 5: at least this many times checkdmarc's throughput.
const GOAL_RATIO: f64 = 50.0;

/// Options of the `posture` subcommand.
#[derive(clap::Args, Debug)]
pub struct PostureArgs {
    /// Generated domains to check.
    #[arg(long, default_value_t = 10_000)]
    pub domains: usize,
    /// Domain checks in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Domains of the sample checked by both checkdmarc and postern.
    #[arg(long, default_value_t = 100)]
    pub sample: usize,
    /// A Python that can `import checkdmarc` (e.g. a venv's bin/python).
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Skip the checkdmarc run.
    #[arg(long)]
    pub skip_checkdmarc: bool,
    /// The resolver the checks use: `stub` (`postern_dns::StubResolver`, the lean one) or
    /// `hickory` (hickory-resolver), both pointed at the loopback server.
    #[arg(long, default_value = "stub")]
    pub resolver: ResolverKind,
    /// The authoritative server: `loopback` (hickory-server inside this process) or `nsd`
    /// (NSD from the Debian package, its own process, started and stopped by the run).
    #[arg(long, default_value = "loopback")]
    pub server: ServerKind,
}

/// Which authoritative server serves the generated zones.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// `postern_dns::testing::LoopbackServer` (hickory-server) on threads of this process.
    Loopback,
    /// `nsd` in a process of its own.
    Nsd,
}

/// The running authoritative server.
enum Server {
    Loopback(LoopbackServer),
    Nsd(NsdServer),
}

impl Server {
    fn addr(&self) -> SocketAddr {
        match self {
            Server::Loopback(s) => s.addr(),
            Server::Nsd(s) => s.addr,
        }
    }

    /// Queries the server received so far, when it counts them.
    fn queries(&self) -> Option<u64> {
        match self {
            Server::Loopback(s) => Some(s.queries()),
            Server::Nsd(_) => None,
        }
    }
}

/// NSD serving the zones from a temporary directory, stopped (SIGTERM) when dropped.
struct NsdServer {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl NsdServer {
    /// Writes a zone file per zone and an `nsd.conf`, starts `nsd -d` on a free loopback
    /// port and waits until it answers.
    fn start(zones: &[(&str, &str)]) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = {
            let probe = std::net::UdpSocket::bind("127.0.0.1:0")?;
            probe.local_addr()?.port()
        };
        let root = dir.path().display().to_string();
        let mut conf = format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  username: \"\"\n  \
             chroot: \"\"\n  zonesdir: \"{root}\"\n  database: \"\"\n  \
             zonelistfile: \"{root}/zone.list\"\n  xfrdfile: \"{root}/xfrd.state\"\n  \
             pidfile: \"{root}/nsd.pid\"\n  logfile: \"{root}/nsd.log\"\n  \
             server-count: 1\n  verbosity: 0\n  hide-version: yes\n\
             remote-control:\n  control-enable: no\n"
        );
        for (index, (origin, text)) in zones.iter().enumerate() {
            let file = format!("z{index}.zone");
            std::fs::write(
                dir.path().join(&file),
                format!(
                    "$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns.test. hostmaster.test. 1 3600 600 \
                     86400 60\n@ IN NS ns.test.\n{text}"
                ),
            )?;
            conf.push_str(&format!(
                "zone:\n  name: \"{origin}\"\n  zonefile: \"{file}\"\n"
            ));
        }
        let conf_path = dir.path().join("nsd.conf");
        std::fs::write(&conf_path, conf)?;
        let child = Command::new("nsd")
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting nsd (apt-get install nsd)")?;
        let server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        server.wait_ready(zones.last().map_or("test", |(origin, _)| *origin))?;
        Ok(server)
    }

    /// Polls until the SOA of `origin` (the last zone loaded) is answered.
    fn wait_ready(&self, origin: &str) -> anyhow::Result<()> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut query = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in origin.split('.') {
            query.push(u8::try_from(label.len())?);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 6, 0, 1]);
        let mut buffer = [0u8; 512];
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            socket.send_to(&query, self.addr)?;
            // An answer with RCODE NOERROR and one answer record: the zone is served.
            if let Ok(len) = socket.recv(&mut buffer)
                && len > 12
                && buffer[..2] == [0x12, 0x34]
                && buffer[3] & 0x0f == 0
                && buffer[7] >= 1
            {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!("nsd did not answer within 60 s")
    }
}

impl Drop for NsdServer {
    fn drop(&mut self) {
        // SIGTERM lets nsd stop its server processes too.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// Which [`Resolver`] implementation the benchmark runs the checks through.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResolverKind {
    /// `postern_dns::StubResolver`.
    Stub,
    /// `postern_dns::HickoryResolver`.
    Hickory,
}

/// The shapes of generated domains, cycled.
const KINDS: [&str; 10] = [
    "good",
    "p_none",
    "spf_syntax_error",
    "spf_too_many_lookups",
    "missing_records",
    "mta_sts_txt_only",
    "spf_plus_all",
    "dmarc_invalid",
    "two_spf_records",
    "null_mx",
];

/// The zone text of generated domain `i` (of kind `KINDS[i % KINDS.len()]`).
fn zone_text(i: usize, domain: &str) -> String {
    let net = i % 250;
    let mx = format!("@ IN MX 10 mx1.{domain}.\nmx1 IN A 192.0.2.{net}\n");
    let dmarc = |p: &str| format!("_dmarc IN TXT \"v=DMARC1; p={p}; rua=mailto:dmarc@{domain}\"\n");
    let tlsrpt = format!("_smtp._tls IN TXT \"v=TLSRPTv1; rua=mailto:tls@{domain}\"\n");
    let spf_good =
        format!("@ IN TXT \"v=spf1 ip4:192.0.2.{net} include:_spf.provider.test -all\"\n");
    match KINDS[i % KINDS.len()] {
        "good" => format!("{mx}{spf_good}{}{tlsrpt}", dmarc("reject")),
        "p_none" => format!("{mx}{spf_good}{}", dmarc("none")),
        "spf_syntax_error" => format!(
            "{mx}@ IN TXT \"v=spf1 ip4:192.0.2.300 include -all\"\n{}",
            dmarc("quarantine")
        ),
        "spf_too_many_lookups" => format!(
            "{mx}@ IN TXT \"v=spf1 include:l1.chain.provider.test -all\"\n{}",
            dmarc("reject")
        ),
        "missing_records" => format!("@ IN A 192.0.2.{net}\n"),
        "mta_sts_txt_only" => format!(
            "{mx}{spf_good}{}_mta-sts IN TXT \"v=STSv1; id=2026{i:08}\"\n{tlsrpt}",
            dmarc("reject")
        ),
        "spf_plus_all" => format!("{mx}@ IN TXT \"v=spf1 +all\"\n{}", dmarc("none")),
        "dmarc_invalid" => {
            format!("{mx}{spf_good}_dmarc IN TXT \"v=DMARC1; p=bogus; pct=abc\"\n")
        }
        "two_spf_records" => format!(
            "{mx}{spf_good}@ IN TXT \"v=spf1 ip4:198.51.100.{net} -all\"\n{}",
            dmarc("reject")
        ),
        _ => format!("@ IN MX 0 .\n@ IN TXT \"v=spf1 -all\"\n{}", dmarc("reject")),
    }
}

/// The shared provider zone: a normal include and an include chain of 11 lookups.
fn provider_zone() -> String {
    let mut text =
        String::from("_spf IN TXT \"v=spf1 ip4:198.51.100.0/24 ip4:203.0.113.0/24 ~all\"\n");
    for level in 1..=11 {
        let next = if level < 11 {
            format!(" include:l{}.chain.provider.test", level + 1)
        } else {
            String::new()
        };
        text.push_str(&format!(
            "l{level}.chain IN TXT \"v=spf1 ip4:198.51.{level}.0/24{next} ~all\"\n"
        ));
    }
    text
}

/// The benchmark fetches no MTA-STS policy (no HTTPS servers): every fetch is refused at
/// once, so the MTA-STS check costs its DNS lookup only.
struct NoFetch;

#[async_trait::async_trait]
impl PolicyFetcher for NoFetch {
    async fn fetch(&self, _policy_host: &str) -> Result<FetchedPolicy, FetchError> {
        Err(FetchError::Connect(
            "not fetched in the benchmark".to_owned(),
        ))
    }
}

/// What postern said about one domain's SPF and DMARC.
#[derive(Debug, Clone)]
struct Verdict {
    spf: CheckStatus,
    dmarc: CheckStatus,
}

/// Checks `domains` with `concurrency` in flight, each check a task of the runtime (so
/// every worker thread takes part); the verdicts, the queries the checks made, and the
/// wall time.
async fn run_postern(
    resolver: Arc<dyn Resolver>,
    domains: &[String],
    concurrency: usize,
) -> anyhow::Result<(Vec<Verdict>, u64, Duration)> {
    let options = Arc::new(PostureOptions {
        checked_at: chrono::Utc::now(),
        spf: postern_mailauth::spf::SpfOptions {
            audit: true,
            ..Default::default()
        },
        dkim_selectors: Vec::new(),
        fetcher: Arc::new(NoFetch),
    });
    let start = Instant::now();
    let joined: Vec<Result<(usize, Verdict, u32), tokio::task::JoinError>> =
        futures::stream::iter(domains.iter().cloned().enumerate())
            .map(|(i, domain)| {
                let resolver = Arc::clone(&resolver);
                let options = Arc::clone(&options);
                tokio::spawn(async move {
                    let report = check_domain(resolver.as_ref(), &domain, &options).await;
                    let status = |kind| {
                        report
                            .check(kind)
                            .map_or(CheckStatus::Unknown, |c| c.status)
                    };
                    let verdict = Verdict {
                        spf: status(CheckKind::Spf),
                        dmarc: status(CheckKind::Dmarc),
                    };
                    (i, verdict, report.queries)
                })
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    let elapsed = start.elapsed();
    let mut results = joined
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .context("a domain check panicked")?;
    results.sort_by_key(|(i, _, _)| *i);
    let queries = results.iter().map(|(_, _, q)| u64::from(*q)).sum();
    Ok((
        results.into_iter().map(|(_, v, _)| v).collect(),
        queries,
        elapsed,
    ))
}

/// A resolver at the loopback server with a cache big enough for the run.
fn resolver(server: &Server, kind: ResolverKind, cache: bool) -> anyhow::Result<Arc<dyn Resolver>> {
    let settings = ResolverSettings {
        nameservers: vec![server.addr()],
        timeout: Duration::from_secs(2),
        attempts: 2,
        cache_size: if cache { 65_536 } else { 0 },
        max_concurrent: 256,
    };
    Ok(match kind {
        ResolverKind::Stub => Arc::new(StubResolver::new(&settings)?),
        ResolverKind::Hickory => Arc::new(HickoryResolver::new(&settings)?),
    })
}

/// checkdmarc's (SPF valid, DMARC valid) by domain.
type TheirVerdicts = BTreeMap<String, (bool, bool)>;

/// checkdmarc's verdicts on `domains` (via its Python API: its CLI takes no port), and its
/// wall time as measured inside Python.
fn run_checkdmarc(
    python: &str,
    server: &Server,
    domains: &[String],
) -> anyhow::Result<(TheirVerdicts, f64)> {
    const SCRIPT: &str = r#"
import json, sys, time
import dns.nameserver, checkdmarc
port = int(sys.argv[1]); domains = sys.argv[2:]
ns = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
start = time.perf_counter()
results = checkdmarc.check_domains(domains, nameservers=ns, timeout=2.0)
seconds = time.perf_counter() - start
if isinstance(results, dict):
    results = [results]
out = {r["domain"]: [bool(r["spf"].get("valid")), bool(r["dmarc"].get("valid"))] for r in results}
print(json.dumps({"seconds": seconds, "results": out}))
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(server.addr().port().to_string())
        .args(domains)
        .output()
        .with_context(|| format!("running {python}"))?;
    ensure!(
        out.status.success(),
        "checkdmarc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: Value = serde_json::from_slice(&out.stdout).context("checkdmarc output")?;
    let seconds = value["seconds"].as_f64().context("checkdmarc seconds")?;
    let mut verdicts = BTreeMap::new();
    if let Some(map) = value["results"].as_object() {
        for (domain, pair) in map {
            let spf = pair[0].as_bool().unwrap_or(false);
            let dmarc = pair[1].as_bool().unwrap_or(false);
            verdicts.insert(domain.trim_end_matches('.').to_owned(), (spf, dmarc));
        }
    }
    Ok((verdicts, seconds))
}

/// Postern's status read as checkdmarc's `valid`: a record is valid when published and not
/// broken (pass or warn).
fn valid(status: CheckStatus) -> bool {
    matches!(status, CheckStatus::Pass | CheckStatus::Warn)
}

/// Runs the posture benchmark and prints its tables.
pub fn run(args: &PostureArgs) -> anyhow::Result<()> {
    let domains: Vec<String> = (0..args.domains).map(|i| format!("d{i}.test")).collect();
    let texts: Vec<String> = domains
        .iter()
        .enumerate()
        .map(|(i, d)| zone_text(i, d))
        .collect();
    let provider = provider_zone();
    // The parent zone answers NXDOMAIN for the DMARC organizational-domain walk
    // (`_dmarc.test`) instead of REFUSED.
    let mut zones: Vec<(&str, &str)> = vec![("test", ""), ("provider.test", &provider)];
    zones.extend(
        domains
            .iter()
            .map(String::as_str)
            .zip(texts.iter().map(String::as_str)),
    );
    let load = Instant::now();
    let server = match args.server {
        ServerKind::Loopback => Server::Loopback(LoopbackServer::start(&zones)?),
        ServerKind::Nsd => Server::Nsd(NsdServer::start(&zones)?),
    };
    println!(
        "# postern-bench posture\n\n{} zones loaded into the {:?} server in {:.2} s ({})\n",
        zones.len(),
        args.server,
        load.elapsed().as_secs_f64(),
        server.addr()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    // Full run: a fresh resolver (cold cache), then the same again without any cache.
    let cached = resolver(&server, args.resolver, true)?;
    let before = server.queries();
    let (verdicts, check_queries, elapsed) =
        runtime.block_on(run_postern(Arc::clone(&cached), &domains, args.concurrency))?;
    let packets = server
        .queries()
        .zip(before)
        .map(|(after, before)| after - before);
    let uncached = resolver(&server, args.resolver, false)?;
    let before = server.queries();
    let (_, _, elapsed_uncached) = runtime.block_on(run_postern(
        Arc::clone(&uncached),
        &domains,
        args.concurrency,
    ))?;
    let packets_uncached = server
        .queries()
        .zip(before)
        .map(|(after, before)| after - before);

    let n = domains.len() as f64;
    let rate = n / elapsed.as_secs_f64();
    let per_domain = |packets: Option<u64>| {
        packets.map_or_else(|| "–".to_owned(), |p| format!("{:.1}", p as f64 / n))
    };
    println!(
        "| run | domains | seconds | domains/s | DNS lookups by the checks per domain | DNS packets at the server per domain |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| postern ({:?} resolver), {} in flight, resolver cache on | {} | {:.2} | {:.0} | {:.1} | {} |",
        args.resolver,
        args.concurrency,
        domains.len(),
        elapsed.as_secs_f64(),
        rate,
        check_queries as f64 / n,
        per_domain(packets)
    );
    println!(
        "| postern ({:?} resolver), {} in flight, no resolver cache | {} | {:.2} | {:.0} | {:.1} | {} |",
        args.resolver,
        args.concurrency,
        domains.len(),
        elapsed_uncached.as_secs_f64(),
        n / elapsed_uncached.as_secs_f64(),
        check_queries as f64 / n,
        per_domain(packets_uncached)
    );

    let mut by_kind: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (i, v) in verdicts.iter().enumerate() {
        *by_kind
            .entry(KINDS[i % KINDS.len()])
            .or_default()
            .entry(format!("spf {:?} / dmarc {:?}", v.spf, v.dmarc))
            .or_default() += 1;
    }
    println!("\n| kind | postern verdicts (count) |\n|---|---|");
    for (kind, counts) in &by_kind {
        let text: Vec<String> = counts.iter().map(|(k, c)| format!("{k} ({c})")).collect();
        println!("| {kind} | {} |", text.join("; "));
    }

    if args.skip_checkdmarc {
        return Ok(());
    }
    // The sample: evenly spread over the domains, so every kind is in it.
    let step = (domains.len() / args.sample.max(1)).max(1);
    let sample: Vec<String> = domains
        .iter()
        .step_by(step)
        .take(args.sample)
        .cloned()
        .collect();
    let sample_resolver = resolver(&server, args.resolver, true)?;
    let (sample_verdicts, _, sample_elapsed) = runtime.block_on(run_postern(
        Arc::clone(&sample_resolver),
        &sample,
        args.concurrency,
    ))?;
    let sequential_resolver = resolver(&server, args.resolver, true)?;
    let (_, _, sequential_elapsed) =
        runtime.block_on(run_postern(Arc::clone(&sequential_resolver), &sample, 1))?;
    let (theirs, their_seconds) = run_checkdmarc(&args.python, &server, &sample)?;
    let their_rate = sample.len() as f64 / their_seconds;
    println!(
        "\n| run (sample of {} domains) | seconds | domains/s |",
        sample.len()
    );
    println!("|---|---:|---:|");
    println!("| checkdmarc (one at a time, as it runs) | {their_seconds:.2} | {their_rate:.1} |");
    println!(
        "| postern, one at a time | {:.3} | {:.0} |",
        sequential_elapsed.as_secs_f64(),
        sample.len() as f64 / sequential_elapsed.as_secs_f64()
    );
    println!(
        "| postern, {} in flight | {:.3} | {:.0} |",
        args.concurrency,
        sample_elapsed.as_secs_f64(),
        sample.len() as f64 / sample_elapsed.as_secs_f64()
    );
    let ratio = rate / their_rate;
    println!(
        "\nthroughput ratio, postern's full run over checkdmarc: {ratio:.0}× (goal ≥ {GOAL_RATIO:.0}×: {})",
        if ratio >= GOAL_RATIO {
            "met"
        } else {
            "NOT met"
        }
    );
    let one_at_a_time = (sample.len() as f64 / sequential_elapsed.as_secs_f64()) / their_rate;
    println!("one domain at a time on both sides: {one_at_a_time:.0}×");

    let mut agree = [0usize; 2];
    let mut disagreements = Vec::new();
    for (domain, ours) in sample.iter().zip(&sample_verdicts) {
        let index: usize = domain
            .trim_start_matches('d')
            .split('.')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let kind = KINDS[index % KINDS.len()];
        let Some(&(spf, dmarc)) = theirs.get(domain) else {
            disagreements.push(format!("{domain} ({kind}): no checkdmarc result"));
            continue;
        };
        for (slot, (name, mine, theirs, status)) in [
            ("SPF", valid(ours.spf), spf, ours.spf),
            ("DMARC", valid(ours.dmarc), dmarc, ours.dmarc),
        ]
        .into_iter()
        .enumerate()
        {
            if mine == theirs {
                agree[slot] += 1;
            } else {
                disagreements.push(format!(
                    "{domain} ({kind}): {name} postern {status:?}, checkdmarc valid={theirs}"
                ));
            }
        }
    }
    println!(
        "\nvalidity agreement on the sample: SPF {}/{}, DMARC {}/{}",
        agree[0],
        sample.len(),
        agree[1],
        sample.len()
    );
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for d in &disagreements {
        let reason = d.split_once(' ').map_or(d.as_str(), |(_, r)| r).to_owned();
        *by_reason.entry(reason).or_default() += 1;
    }
    for (reason, count) in by_reason {
        println!("  {count} × {reason}");
    }
    Ok(())
}
