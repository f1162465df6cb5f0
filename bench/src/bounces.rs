//! `postern-bench bounces`: (1) bounce parsing and classification over every file of the
//! Sisimai corpus's `maildir/` through the code path of `postern bounces classify` (read the
//! file, `postern_bounce::classify_file`), beside Perl Sisimai over the same files in the same
//! run (`bench/sisimai-throughput.pl`), with the reasons of both compared; (2) triage of
//! generated bounces (seeded) into groups and rates with the analysis service's
//! `aggregate` (`postern_bounce::triage` underneath), checked against counts kept by the
//! generator. See the README's "Bounces" benchmark section.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use chrono::{TimeZone, Utc};
use postern_analysis::aggregate_bounces;
use postern_bounce::{MxInfo, ProviderFamily, TriageKind, TriageRecord};
use postern_domain::RawInputId;
use postern_store::{BounceKind, BounceRecord};

/// A generated bounce's kind: reason, status, reply code, diagnostic, hard.
type Kind = (&'static str, &'static str, u16, &'static str, bool);
/// The goal of issue 4: at least this many times Perl Sisimai's messages per second.
const GOAL_RATIO: f64 = 20.0;
/// The goal of issue 4: 1,000,000 bounces triaged within this.
const GOAL_TRIAGE_SECONDS: f64 = 10.0;

/// Options of the `bounces` subcommand.
#[derive(clap::Args, Debug)]
pub struct BouncesArgs {
    /// The shared corpora folder (holding `sisimai-set-of-emails`).
    #[arg(long, default_value = "../shared/corpora")]
    pub corpora: PathBuf,
    /// Minimum seconds each throughput measurement runs for.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// The Perl that runs Sisimai (`apt-get install libsisimai-perl`).
    #[arg(long, default_value = "perl")]
    pub perl: String,
    /// The Perl Sisimai script (default: `sisimai-throughput.pl` beside this crate).
    #[arg(long)]
    pub sisimai_script: Option<PathBuf>,
    /// Leave Perl Sisimai out.
    #[arg(long)]
    pub skip_sisimai: bool,
    /// Generated bounces for the triage measurement.
    #[arg(long, default_value_t = 1_000_000)]
    pub bounces: usize,
    /// Seed of the generator (the same seed gives the same bounces).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Runs of the triage measurement; the median run is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// One decoded recipient: file, its position in the file's results (from 1), reason.
type Decoded = (String, usize, String);

/// Perl Sisimai's run.
struct Peer {
    version: String,
    passes: u64,
    seconds: f64,
    messages: u64,
    decoded: Vec<Decoded>,
}

/// Counts the generator kept, to check the triage against.
#[derive(Default)]
struct Truth {
    hard: u64,
    soft: u64,
    complaints: u64,
    /// (hard, soft) per recipient domain.
    domains: HashMap<String, (u64, u64)>,
    /// (hard, soft) per sending address.
    sources: HashMap<String, (u64, u64)>,
    campaigns: usize,
}

/// A splitmix64 generator: seeded, reproducible.
struct Rng(u64);

/// One generated recipient domain: its name, its MX family, whether bounces from it name
/// the answering host.
struct GenDomain {
    name: String,
    family: ProviderFamily,
    mx_host: String,
}

/// A stored bounce row seen through the triage trait (for the families table only).
struct View<'a>(&'a BounceRecord, Option<std::net::IpAddr>);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A Zipf-like index in `0..n`: small indices much more often (a few big recipient
    /// domains, a long tail of small ones).
    fn skewed(&mut self, n: u64) -> u64 {
        let u = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((n as f64).powf(u) - 1.0).floor().min((n - 1) as f64) as u64
    }

    /// One of `items` by weight.
    fn weighted<'a, T>(&mut self, items: &'a [(T, u64)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < *w {
                return item;
            }
            x -= w;
        }
        &items[items.len() - 1].0
    }
}

impl TriageRecord for View<'_> {
    fn recipient(&self) -> &str {
        &self.0.recipient
    }
    fn recipient_domain(&self) -> &str {
        &self.0.recipient_domain
    }
    fn kind(&self) -> TriageKind {
        match self.0.kind {
            BounceKind::Bounced => TriageKind::Bounced,
            BounceKind::Deferred => TriageKind::Deferred,
            BounceKind::Complained => TriageKind::Complained,
        }
    }
    fn hard(&self) -> bool {
        self.0.hard
    }
    fn reason(&self) -> &str {
        &self.0.reason
    }
    fn remote_host(&self) -> Option<&str> {
        self.0.remote_host.as_deref()
    }
    fn diagnostic(&self) -> &str {
        &self.0.diagnostic
    }
    fn sending_ip(&self) -> Option<std::net::IpAddr> {
        self.1
    }
    fn campaign(&self) -> Option<&str> {
        self.0.campaign.as_deref()
    }
}

/// Runs both measurements and prints their tables.
pub fn run(args: &BouncesArgs) -> anyhow::Result<()> {
    ensure!(
        args.bounces > 0 && args.runs > 0,
        "--bounces and --runs must be at least 1"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# postern-bench bounces ({cores} cores)\n");
    classify_benchmark(args)?;
    triage_benchmark(args)
}

fn classify_benchmark(args: &BouncesArgs) -> anyhow::Result<()> {
    let root = args.corpora.join("sisimai-set-of-emails");
    let mut files = Vec::new();
    collect(&root.join("maildir"), &mut files)
        .with_context(|| format!("reading {}", root.join("maildir").display()))?;
    ensure!(!files.is_empty(), "no files under {}", root.display());
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.strip_prefix(&root)
                .unwrap_or(f)
                .to_string_lossy()
                .into_owned()
        })
        .collect();

    // One pass for the results, then timed passes: read each file and classify it, as
    // `postern bounces classify` does.
    let (decoded, errors) = postern_pass(&files, &names)?;
    let mut passes = 0u64;
    let start = Instant::now();
    while passes == 0 || start.elapsed().as_secs_f64() < args.seconds {
        let (again, _) = postern_pass(&files, &names)?;
        ensure!(
            again == decoded,
            "a pass decoded differently from the first"
        );
        passes += 1;
    }
    let seconds = start.elapsed().as_secs_f64();
    let messages = files.len() as u64;
    let postern_rate = (messages * passes) as f64 / seconds;

    let peer = if args.skip_sisimai {
        None
    } else {
        match run_sisimai(args, &root, &names) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("perl sisimai: {e:#}");
                None
            }
        }
    };

    println!(
        "Bounce parsing and classification: {} files of `maildir/` (bsd, dos, mac, err, not, \
         tmp), each read and classified as `postern bounces classify` does; one thread.\n",
        files.len()
    );
    println!("| measurement | postern | perl sisimai | ratio |\n|---|---:|---:|---:|");
    let peer_rate = peer
        .as_ref()
        .map(|p| (p.messages * p.passes) as f64 / p.seconds);
    println!(
        "| messages/s | {postern_rate:.0} | {} | {} |",
        peer_rate.map_or("n/a".into(), |r| format!("{r:.0}")),
        peer_rate.map_or("n/a".into(), |r| format!("{:.1}×", postern_rate / r)),
    );
    println!(
        "| µs per message | {:.1} | {} | |",
        1e6 / postern_rate,
        peer_rate.map_or("n/a".into(), |r| format!("{:.0}", 1e6 / r)),
    );
    println!(
        "| bounced recipients decoded | {} | {} | |",
        decoded.len(),
        peer.as_ref()
            .map_or("n/a".into(), |p| p.decoded.len().to_string()),
    );
    let decoded_files = |d: &[Decoded]| {
        let mut f: Vec<&str> = d.iter().map(|r| r.0.as_str()).collect();
        f.dedup();
        f.len()
    };
    println!(
        "| files with a result | {} | {} | |",
        decoded_files(&decoded),
        peer.as_ref()
            .map_or("n/a".into(), |p| decoded_files(&p.decoded).to_string()),
    );
    println!(
        "| timed passes (seconds) | {passes} ({seconds:.2}) | {} | |",
        peer.as_ref()
            .map_or("n/a".into(), |p| format!("{} ({:.2})", p.passes, p.seconds)),
    );
    if errors > 0 {
        println!("\n{errors} message(s) Postern could not read (counted, not decoded).");
    }

    let expected = expected_reasons(&root).unwrap_or_default();
    let score = |d: &[Decoded]| {
        let found: HashMap<(&str, usize), &str> = d
            .iter()
            .map(|(f, i, r)| ((f.as_str(), *i), r.as_str()))
            .collect();
        expected
            .iter()
            .filter(|((f, i), r)| found.get(&(f.as_str(), *i)) == Some(&r.as_str()))
            .count()
    };
    if let Some(p) = &peer {
        let theirs: HashMap<(&str, usize), &str> = p
            .decoded
            .iter()
            .map(|(f, i, r)| ((f.as_str(), *i), r.as_str()))
            .collect();
        let both: Vec<(&Decoded, &str)> = decoded
            .iter()
            .filter_map(|d| theirs.get(&(d.0.as_str(), d.1)).map(|r| (d, *r)))
            .collect();
        let same = both.iter().filter(|(d, r)| d.2 == *r).count();
        let mut differ: BTreeMap<(String, String), usize> = BTreeMap::new();
        for (d, r) in &both {
            if d.2 != *r {
                *differ.entry((d.2.clone(), (*r).to_owned())).or_default() += 1;
            }
        }
        println!(
            "\nReason agreement with Perl Sisimai {}: {same} of {} recipients both decoded \
             ({:.1} %); Postern alone decoded {}, Sisimai alone {}.",
            p.version,
            both.len(),
            100.0 * same as f64 / both.len().max(1) as f64,
            decoded.len() - both.len(),
            p.decoded.len() - both.len(),
        );
        let mut top: Vec<_> = differ.into_iter().collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if !top.is_empty() {
            println!(
                "Most frequent differences (postern → sisimai): {}.",
                top.iter()
                    .take(8)
                    .map(|((a, b), n)| format!("{a} → {b} ×{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if !expected.is_empty() {
            println!(
                "Against the expected table (Sisimai 5's tests, {} rows): Postern {}, Perl \
                 Sisimai {} {}.",
                expected.len(),
                score(&decoded),
                p.version,
                score(&p.decoded)
            );
        }
        if let Some(r) = peer_rate {
            let ratio = postern_rate / r;
            println!(
                "Goal: at least {GOAL_RATIO}× Perl Sisimai: {ratio:.1}× — {}.",
                if ratio >= GOAL_RATIO {
                    "met"
                } else {
                    "NOT met"
                }
            );
        }
    } else if !expected.is_empty() {
        println!(
            "\nAgainst the expected table ({} rows): Postern {}.",
            expected.len(),
            score(&decoded)
        );
    }
    println!();
    Ok(())
}

/// Reads and classifies every file once: (file, index, reason) per bounced recipient, and
/// the messages that could not be read.
fn postern_pass(files: &[PathBuf], names: &[String]) -> anyhow::Result<(Vec<Decoded>, usize)> {
    let mut out = Vec::new();
    let mut errors = 0;
    for (file, name) in files.iter().zip(names) {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let mut index = 0;
        for result in postern_bounce::classify_file(&bytes) {
            match result {
                Ok(bounces) => {
                    for b in bounces {
                        index += 1;
                        out.push((name.clone(), index, b.reason.as_str().to_owned()));
                    }
                }
                Err(_) => errors += 1,
            }
        }
    }
    Ok((out, errors))
}

/// Runs the Perl Sisimai script over the same files from the corpus folder.
fn run_sisimai(args: &BouncesArgs, root: &Path, names: &[String]) -> anyhow::Result<Peer> {
    let script = match &args.sisimai_script {
        Some(s) => s.clone(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("sisimai-throughput.pl"),
    };
    let script =
        std::fs::canonicalize(&script).with_context(|| format!("finding {}", script.display()))?;
    let out = Command::new(&args.perl)
        .current_dir(root)
        .arg(&script)
        .arg(args.seconds.to_string())
        .args(names)
        .output()
        .with_context(|| format!("running {}", args.perl))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut decoded = Vec::new();
    let mut summary = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("R\t") {
            let mut cols = rest.split('\t');
            let (Some(file), Some(index), Some(reason)) = (cols.next(), cols.next(), cols.next())
            else {
                bail!("a result line without three columns: {line:?}");
            };
            decoded.push((file.to_owned(), index.parse()?, reason.to_owned()));
        } else if line.starts_with('{') {
            summary = Some(serde_json::from_str::<serde_json::Value>(line)?);
        }
    }
    let Some(s) = summary else {
        bail!("no summary line from {}", script.display());
    };
    Ok(Peer {
        version: s["version"].as_str().unwrap_or("?").to_owned(),
        passes: s["passes"].as_u64().unwrap_or(0),
        seconds: s["seconds"].as_f64().unwrap_or(f64::INFINITY),
        messages: s["messages"].as_u64().unwrap_or(0),
        decoded,
    })
}

/// (path, index) → reason of the corpus's expected table.
fn expected_reasons(root: &Path) -> anyhow::Result<HashMap<(String, usize), String>> {
    let table = std::fs::read_to_string(root.join("expected/expected_from_sisimai_tests.tsv"))?;
    let mut out = HashMap::new();
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if let (Some(path), Some(index), Some(reason)) = (cols.first(), cols.get(2), cols.get(5)) {
            out.insert(((*path).to_owned(), index.parse()?), (*reason).to_owned());
        }
    }
    Ok(out)
}

/// Regular files under `dir`, sorted by path.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, files)?;
        } else if entry.is_file() {
            files.push(entry);
        }
    }
    Ok(())
}

fn triage_benchmark(args: &BouncesArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (bounces, domains, truth) = generate(args.bounces, args.seed);
    let generated = started.elapsed();
    // The MX answers the analysis service would have cached for host-less bounces.
    let mx: HashMap<&str, MxInfo> = domains
        .iter()
        .map(|d| {
            (
                d.name.as_str(),
                MxInfo {
                    family: Some(d.family),
                    has_mx: Some(true),
                },
            )
        })
        .collect();
    let sent = (truth.hard + truth.soft) * 40;
    let delivered = Some((sent, vec!["ses".to_owned()]));
    println!(
        "Triage: {} generated bounces (seed {}, made in {:.1} s): {} recipient domains, {} \
         campaigns, {} sending addresses; {} hard, {} soft, {} complaints; sent volume {}.\n",
        bounces.len(),
        args.seed,
        generated.as_secs_f64(),
        truth.domains.len(),
        truth.campaigns,
        truth.sources.len(),
        truth.hard,
        truth.soft,
        truth.complaints,
        sent
    );

    let mut times = Vec::with_capacity(args.runs);
    let mut facts = None;
    for _ in 0..args.runs {
        let start = Instant::now();
        let f = aggregate_bounces(&bounces, delivered.clone(), 0, |d| mx.get(d).copied());
        times.push(start.elapsed());
        facts = Some(f);
    }
    let Some(facts) = facts else {
        bail!("no run");
    };
    times.sort();
    let median = times[times.len() / 2];

    // Check the groups against the generator's own counts.
    ensure!(
        (facts.hard, facts.soft) == (truth.hard, truth.soft),
        "totals differ: triage {}/{}, generator {}/{}",
        facts.hard,
        facts.soft,
        truth.hard,
        truth.soft
    );
    for g in &facts.groups {
        ensure!(
            truth.domains.get(&g.recipient_domain) == Some(&(g.hard, g.soft)),
            "group {} differs from the generator's counts",
            g.recipient_domain
        );
    }
    for s in &facts.sources {
        ensure!(
            truth.sources.get(&s.sending_ip.to_string()) == Some(&(s.hard, s.soft)),
            "source {} differs from the generator's counts",
            s.sending_ip
        );
    }
    let mut largest: Vec<(&String, u64)> =
        truth.domains.iter().map(|(d, (h, s))| (d, h + s)).collect();
    largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    ensure!(
        facts.groups.first().map(|g| &g.recipient_domain) == largest.first().map(|l| l.0),
        "the largest group is not the generator's largest domain"
    );

    // The other groupings of the same triage (campaign, provider family) for the table.
    let views: Vec<View<'_>> = bounces
        .iter()
        .map(|b| View(b, b.sending_ip.as_deref().and_then(|ip| ip.parse().ok())))
        .collect();
    let start = Instant::now();
    let t = postern_bounce::triage(&views, Some(sent), |d| mx.get(d).copied());
    let direct = start.elapsed();
    ensure!(
        t.campaigns.len() == truth.campaigns,
        "campaign groups differ"
    );
    let rate_bp = t.hard_rate_bp().unwrap_or(0);
    println!("| measurement | value |\n|---|---:|");
    println!(
        "| triage of {} bounces into groups and rates, median of {} runs (s) | {:.3} |",
        bounces.len(),
        args.runs,
        median.as_secs_f64()
    );
    println!(
        "| fastest / slowest run (s) | {:.3} / {:.3} |",
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64()
    );
    println!(
        "| bounces/s (median run) | {:.0} |",
        bounces.len() as f64 / median.as_secs_f64()
    );
    println!(
        "| `postern_bounce::triage` alone, rows already viewed (s) | {:.3} |",
        direct.as_secs_f64()
    );
    println!(
        "| groups: recipient domains / provider families / campaigns / sources | {} / {} / {} / {} |",
        t.domains.len(),
        t.families.len(),
        t.campaigns.len(),
        t.sources.len()
    );
    println!(
        "| hard-bounce rate of sent volume | {}.{:02} % |",
        rate_bp / 100,
        rate_bp % 100
    );
    println!(
        "\nBy provider family: {}.",
        t.families
            .iter()
            .map(|f| format!(
                "{} {} ({} hard, {} domains)",
                f.key.as_str(),
                f.hard + f.soft,
                f.hard,
                f.recipient_domains
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "Groups, sources and totals checked against the generator's counts. Goal: {} bounces \
         in under {GOAL_TRIAGE_SECONDS} s: {:.3} s — {}.",
        bounces.len(),
        median.as_secs_f64(),
        if median < Duration::from_secs_f64(GOAL_TRIAGE_SECONDS) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}

/// `n` bounces of one sending domain over a week, newest first, with a realistic spread:
/// a few large mailbox providers and a long tail of company domains (Microsoft 365 the most
/// common host, then Google, Proofpoint, Mimecast and self-run), a few hundred campaigns,
/// sending addresses in a few /24s, two thirds of bounces naming the answering host.
fn generate(n: usize, seed: u64) -> (Vec<BounceRecord>, Vec<GenDomain>, Truth) {
    let mut rng = Rng(seed);
    let big: [(&str, ProviderFamily, &str); 8] = [
        (
            "gmail.com",
            ProviderFamily::Google,
            "gmail-smtp-in.l.google.com",
        ),
        (
            "outlook.com",
            ProviderFamily::Microsoft365,
            "outlook-com.olc.protection.outlook.com",
        ),
        (
            "hotmail.com",
            ProviderFamily::Microsoft365,
            "hotmail-com.olc.protection.outlook.com",
        ),
        ("yahoo.com", ProviderFamily::Yahoo, "mta7.am0.yahoodns.net"),
        ("icloud.com", ProviderFamily::Apple, "mx01.mail.icloud.com"),
        (
            "aol.com",
            ProviderFamily::Yahoo,
            "mx-aol.mail.gm0.yahoodns.net",
        ),
        ("gmx.de", ProviderFamily::Other, "mx00.emig.gmx.net"),
        ("web.de", ProviderFamily::Other, "mx-ha03.web.de"),
    ];
    let tail = 20_000u64;
    let mut domains: Vec<GenDomain> = big
        .iter()
        .map(|(name, family, host)| GenDomain {
            name: (*name).to_owned(),
            family: *family,
            mx_host: (*host).to_owned(),
        })
        .collect();
    let families = [
        (ProviderFamily::Microsoft365, 40),
        (ProviderFamily::Google, 25),
        (ProviderFamily::Proofpoint, 8),
        (ProviderFamily::Mimecast, 5),
        (ProviderFamily::Other, 22),
    ];
    for i in 0..tail {
        let family = *rng.weighted(&families);
        let name = format!("company{i}.example");
        let label = name.replace('.', "-");
        let mx_host = match family {
            ProviderFamily::Microsoft365 => format!("{label}.mail.protection.outlook.com"),
            ProviderFamily::Google => "aspmx.l.google.com".to_owned(),
            ProviderFamily::Proofpoint => format!("mx0a-{:06}.pphosted.com", i % 1000),
            ProviderFamily::Mimecast => "eu-smtp-inbound-1.mimecast.com".to_owned(),
            _ => format!("mail.{name}"),
        };
        domains.push(GenDomain {
            name,
            family,
            mx_host,
        });
    }
    let campaigns: Vec<String> = (0..300).map(|i| format!("campaign-{i:03}")).collect();
    let ips: Vec<String> = (0..64)
        .map(|i| format!("198.51.{}.{}", 100 + i / 16, 10 + i % 16))
        .collect();
    // ((reason, status, reply code, diagnostic, hard), weight)
    let kinds: [(Kind, u64); 12] = [
        (
            (
                "userunknown",
                "5.1.1",
                550,
                "550 5.1.1 The email account that you tried to reach does not exist",
                true,
            ),
            40,
        ),
        (
            (
                "mailboxfull",
                "4.2.2",
                452,
                "452 4.2.2 The recipient's inbox is out of storage space",
                false,
            ),
            10,
        ),
        (
            (
                "rejected",
                "5.4.1",
                550,
                "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)",
                true,
            ),
            8,
        ),
        (
            (
                "blocked",
                "5.7.1",
                550,
                "550 5.7.1 Service unavailable, Client host blocked using Spamhaus",
                true,
            ),
            8,
        ),
        (
            (
                "hostunknown",
                "5.1.2",
                550,
                "550 5.1.2 Host unknown (Name server: host not found)",
                true,
            ),
            4,
        ),
        (
            (
                "filtered",
                "5.2.1",
                550,
                "550 5.2.1 The email account that you tried to reach is disabled",
                true,
            ),
            5,
        ),
        (
            (
                "policyviolation",
                "5.7.1",
                550,
                "550 5.7.1 Message rejected due to local policy",
                true,
            ),
            4,
        ),
        (
            (
                "spamdetected",
                "5.7.1",
                554,
                "554 5.7.1 Message rejected as spam by content filtering",
                true,
            ),
            5,
        ),
        (
            (
                "expired",
                "4.4.7",
                421,
                "421 4.4.7 Message delayed: retry timeout exceeded",
                false,
            ),
            6,
        ),
        (
            (
                "suspend",
                "5.2.1",
                550,
                "550 5.2.1 This mailbox has been suspended",
                true,
            ),
            3,
        ),
        (
            (
                "authfailure",
                "5.7.26",
                550,
                "550 5.7.26 Unauthenticated email is not accepted: DMARC policy",
                true,
            ),
            4,
        ),
        (
            (
                "toomanyconn",
                "4.7.0",
                421,
                "421 4.7.0 Too many concurrent connections, try again later",
                false,
            ),
            3,
        ),
    ];
    let raw = RawInputId::new();
    let end = Utc
        .with_ymd_and_hms(2026, 11, 29, 0, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let mut truth = Truth::default();
    let mut used_campaigns = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let d = if rng.chance(35) {
            rng.below(big.len() as u64) as usize
        } else {
            big.len() + rng.skewed(tail) as usize
        };
        let domain = &domains[d];
        let (reason, status, reply, diagnostic, permanent) = *rng.weighted(&kinds);
        let kind = if rng.chance(3) {
            BounceKind::Complained
        } else if permanent {
            BounceKind::Bounced
        } else if rng.chance(70) {
            BounceKind::Deferred
        } else {
            BounceKind::Bounced
        };
        let hard = permanent && kind == BounceKind::Bounced;
        let recipient = format!("user{}@{}", rng.below(5_000), domain.name);
        let campaign = rng
            .chance(85)
            .then(|| campaigns[rng.skewed(campaigns.len() as u64) as usize].clone());
        let ip = rng
            .chance(95)
            .then(|| ips[rng.below(ips.len() as u64) as usize].clone());
        let remote_host = rng.chance(65).then(|| domain.mx_host.clone());
        match kind {
            BounceKind::Complained => truth.complaints += 1,
            _ => {
                let (h, s) = truth.domains.entry(domain.name.clone()).or_default();
                let src = ip
                    .as_ref()
                    .map(|ip| truth.sources.entry(ip.clone()).or_default());
                if hard {
                    truth.hard += 1;
                    *h += 1;
                    if let Some(src) = src {
                        src.0 += 1;
                    }
                } else {
                    truth.soft += 1;
                    *s += 1;
                    if let Some(src) = src {
                        src.1 += 1;
                    }
                }
                if let Some(c) = &campaign {
                    used_campaigns.insert(c.clone());
                }
            }
        }
        // Newest first over a week.
        let time = end - chrono::TimeDelta::seconds((i as i64 * 604_800) / n.max(1) as i64);
        out.push(BounceRecord {
            id: uuid::Uuid::now_v7(),
            msp_id: None,
            client_id: None,
            domain_id: None,
            raw_input_id: raw,
            unassigned_reason: None,
            kind,
            recipient,
            recipient_domain: domain.name.clone(),
            status: Some(status.to_owned()),
            reply_code: Some(reply),
            diagnostic: diagnostic.to_owned(),
            remote_host,
            reporting_mta: None,
            time,
            original_message_id: Some(format!("{i:x}@sender.example")),
            sending_ip: ip,
            command: Some("RCPT".to_owned()),
            action: Some(if permanent { "failed" } else { "delayed" }.to_owned()),
            evidence: None,
            feedback_type: None,
            hard,
            reason: reason.to_owned(),
            provider: "mail".to_owned(),
            provider_event_id: None,
            campaign,
            sender_domain: Some("sender.example".to_owned()),
            received_at: time,
        });
    }
    truth.campaigns = used_campaigns.len();
    (out, domains, truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_bounces() {
        let (a, _, ta) = generate(2_000, 7);
        let (b, _, tb) = generate(2_000, 7);
        let key = |r: &BounceRecord| (r.recipient.clone(), r.reason.clone(), r.campaign.clone());
        assert_eq!(
            a.iter().map(key).collect::<Vec<_>>(),
            b.iter().map(key).collect::<Vec<_>>()
        );
        assert_eq!((ta.hard, ta.soft), (tb.hard, tb.soft));
        let (c, _, _) = generate(2_000, 8);
        assert_ne!(
            a.iter().map(key).collect::<Vec<_>>(),
            c.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn triage_of_generated_bounces_matches_the_generators_counts() {
        let (bounces, _, truth) = generate(20_000, 3);
        let facts = aggregate_bounces(&bounces, None, 0, |_| None);
        assert_eq!((facts.hard, facts.soft), (truth.hard, truth.soft));
        for g in &facts.groups {
            assert_eq!(
                truth.domains.get(&g.recipient_domain),
                Some(&(g.hard, g.soft))
            );
        }
        assert!(truth.hard > truth.soft && truth.complaints > 0);
    }
}
