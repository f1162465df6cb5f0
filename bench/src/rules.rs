//! `postern-bench rules`: every built-in rule plugin over generated domains, through the
//! WebAssembly host (components loaded once, as analysis does) and compiled natively from the
//! same crates (`postern_plugin_sdk::NativeRule`), with the findings of all ways checked equal.
//! See the README's "Rule evaluation" section.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use postern_domain::{
    DnsRecordChange, Evidence, Finding, FixStep, FixStepKind, Severity, Verification,
};
use postern_plugin_sdk as sdk;
use postern_rules::{
    DmarcSummary, DomainFacts, Evaluated, LoadedPlugin, PluginFailure, PluginHost, PublishedPolicy,
    RuleLimits, SourceFacts, TlsFailure, TlsSummary,
};

/// The goal of issue 3: the full built-in rule set over 10,000 domains within this.
const GOAL_SECONDS: f64 = 2.0;
/// The goal of issue 3: Wasm at most this many times slower than native.
const GOAL_RATIO: f64 = 3.0;

/// Options of the `rules` subcommand.
#[derive(clap::Args, Debug)]
pub struct RulesArgs {
    /// Synthetic domains to evaluate.
    #[arg(long, default_value_t = 10_000)]
    pub domains: usize,
    /// Seed of the generator (the same seed gives the same domains).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Threads of the parallel runs (the single-thread runs always happen).
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Domains evaluated in one store and instance in the batched runs.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Runs of each measurement; the median run is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// The built-in rules compiled natively, by built-in plugin name (`BuiltinPlugin::name`).
const NATIVE: &[(&str, sdk::NativeRule)] = &[
    (
        "blocklist_listings",
        postern_builtin_blocklist_listings::POSTERN_RULE,
    ),
    ("bounce_triage", postern_builtin_bounce_triage::POSTERN_RULE),
    (
        "dmarc_alignment",
        postern_builtin_dmarc_alignment::POSTERN_RULE,
    ),
    (
        "dmarc_failing_source",
        postern_builtin_dmarc_failing_source::POSTERN_RULE,
    ),
    (
        "dmarc_new_source",
        postern_builtin_dmarc_new_source::POSTERN_RULE,
    ),
    ("dmarc_policy", postern_builtin_dmarc_policy::POSTERN_RULE),
    (
        "dmarc_unaligned_source",
        postern_builtin_dmarc_unaligned_source::POSTERN_RULE,
    ),
    ("dns_posture", postern_builtin_dns_posture::POSTERN_RULE),
    (
        "tlsrpt_failures",
        postern_builtin_tlsrpt_failures::POSTERN_RULE,
    ),
];

/// One built-in rule, both ways.
struct Plugin {
    name: &'static str,
    wasm: LoadedPlugin,
    native: sdk::NativeRule,
}

/// How the Wasm runs use the host.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Native,
    /// `PluginHost::evaluate`: a fresh store and instance per (plugin, domain), the facts
    /// converted per call.
    WasmPerCall,
    /// `PluginHost::evaluate_set`: the whole rule set over one domain, a fresh instance per
    /// plugin, the facts converted once per domain (what analysis does).
    WasmSet,
    /// `PluginHost::evaluate_batch`: one store and instance per plugin per batch of domains.
    WasmBatched(usize),
    /// `PluginHost::evaluate_set_batch`: the rule set over a batch of domains, one instance
    /// per plugin per batch, the facts converted once per domain.
    WasmSetBatched(usize),
}

impl Mode {
    fn label(self) -> String {
        match self {
            Mode::Native => "native".to_owned(),
            Mode::WasmPerCall => "Wasm, fresh instance per evaluation".to_owned(),
            Mode::WasmSet => "Wasm, rule set per domain (fresh instances)".to_owned(),
            Mode::WasmBatched(n) => format!("Wasm, one instance per plugin per {n} domains"),
            Mode::WasmSetBatched(n) => {
                format!("Wasm, rule set per {n} domains (one instance per plugin)")
            }
        }
    }

    /// Whether the mode runs one plugin at a time (so time per plugin can be told).
    fn per_plugin(self) -> bool {
        matches!(
            self,
            Mode::Native | Mode::WasmPerCall | Mode::WasmBatched(_)
        )
    }
}

/// One timed run: wall time, the time spent evaluating summed over threads, and for each
/// plugin the time spent in it (empty for the set modes, which run all plugins together).
struct Timing {
    wall: Duration,
    busy: Duration,
    per_plugin: Vec<Duration>,
}

/// Generates the domains, checks native and Wasm agree on all of them, times both and prints
/// the results as Markdown.
pub fn run(args: &RulesArgs) -> anyhow::Result<()> {
    ensure!(
        args.domains > 0 && args.threads > 0 && args.batch > 0 && args.runs > 0,
        "--domains, --threads, --batch and --runs must be at least 1"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("# postern-bench rules ({cores} cores)\n");

    let facts = generate(args.domains, args.seed);
    let sdk_facts: Vec<sdk::DomainFacts> = facts.iter().map(to_sdk).collect();
    describe_mix(&facts, args.seed);

    let host = PluginHost::new(RuleLimits::default()).context("starting the plugin host")?;
    let started = Instant::now();
    let plugins = load(&host)?;
    println!(
        "{} built-in plugins loaded (compiled from their embedded components) in {:.0} ms; \
         {} evaluations per run.\n",
        plugins.len(),
        started.elapsed().as_secs_f64() * 1e3,
        plugins.len() * facts.len()
    );

    let found = check_identical(&host, &plugins, &facts, &sdk_facts, args.batch)?;
    println!(
        "Native and Wasm (per evaluation, rule set per domain, batched, rule set batched) gave \
         identical findings for all {} (plugin, domain) pairs.\n",
        plugins.len() * facts.len()
    );

    let modes = [
        Mode::Native,
        Mode::WasmPerCall,
        Mode::WasmSet,
        Mode::WasmBatched(args.batch),
        Mode::WasmSetBatched(args.batch),
    ];
    let mut single = Vec::new();
    let mut parallel = Vec::new();
    for mode in modes {
        single.push(median(args.runs, || {
            time(&host, &plugins, &facts, &sdk_facts, mode, 1)
        }));
        if args.threads > 1 {
            parallel.push(median(args.runs, || {
                time(&host, &plugins, &facts, &sdk_facts, mode, args.threads)
            }));
        }
    }

    let n = facts.len() as f64;
    let micros = |d: Duration| d.as_secs_f64() * 1e6 / n;
    let ratio = |wasm: Duration, native: Duration| {
        if native.is_zero() {
            0.0
        } else {
            wasm.as_secs_f64() / native.as_secs_f64()
        }
    };
    println!(
        "µs per (plugin, domain), one thread, median of {} runs:\n",
        args.runs
    );
    println!(
        "| plugin | domains with findings | native | {} | ratio | {} | ratio |",
        Mode::WasmPerCall.label(),
        Mode::WasmBatched(args.batch).label()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (i, plugin) in plugins.iter().enumerate() {
        let (native, call, batched) = (
            single[0].per_plugin[i],
            single[1].per_plugin[i],
            single[3].per_plugin[i],
        );
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.1}× | {:.2} | {:.1}× |",
            plugin.name,
            found[i],
            micros(native),
            micros(call),
            ratio(call, native),
            micros(batched),
            ratio(batched, native)
        );
    }
    let per_eval = |d: Duration| d.as_secs_f64() * 1e6 / (n * plugins.len() as f64);
    println!(
        "| all plugins, per evaluation | {} | {:.2} | {:.2} | {:.1}× | {:.2} | {:.1}× |\n",
        found.iter().sum::<usize>(),
        per_eval(single[0].busy),
        per_eval(single[1].busy),
        ratio(single[1].busy, single[0].busy),
        per_eval(single[3].busy),
        ratio(single[3].busy, single[0].busy)
    );
    println!(
        "µs per (plugin, domain), every way, one thread, median of {} runs:\n",
        args.runs
    );
    println!("| run | µs per evaluation | vs native |");
    println!("|---|---:|---:|");
    for (mode, t) in modes.iter().zip(&single) {
        println!(
            "| {} | {:.2} | {:.1}× |",
            mode.label(),
            per_eval(t.busy),
            ratio(t.busy, single[0].busy)
        );
    }
    println!();

    let evaluations = (plugins.len() * facts.len()) as f64;
    println!(
        "The full built-in rule set over {} domains ({} evaluations), wall time:\n",
        facts.len(),
        evaluations
    );
    println!("| run | threads | seconds | evaluations/s | µs per evaluation | vs native |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut rows = vec![(1, &single)];
    if args.threads > 1 {
        rows.push((args.threads, &parallel));
    }
    for (threads, timings) in &rows {
        for (mode, t) in modes.iter().zip(timings.iter()) {
            let secs = t.wall.as_secs_f64();
            println!(
                "| {} | {threads} | {secs:.3} | {:.0} | {:.2} | {:.1}× |",
                mode.label(),
                evaluations / secs,
                secs * 1e6 / evaluations,
                ratio(t.wall, timings[0].wall)
            );
        }
    }

    let best = rows.last().map_or(&single, |(_, t)| *t);
    println!();
    for (i, mode) in modes.iter().enumerate().skip(1) {
        let (one, many) = (single[i].wall, best[i].wall);
        let r = ratio(single[i].busy, single[0].busy);
        println!(
            "Goals, {}: under {GOAL_SECONDS} s for {} domains: {} ({:.3} s on 1 thread, {:.3} s \
             on {} threads); Wasm within {GOAL_RATIO}× of native: {} ({r:.1}× on 1 thread).",
            mode.label(),
            facts.len(),
            met(one.as_secs_f64() < GOAL_SECONDS || many.as_secs_f64() < GOAL_SECONDS),
            one.as_secs_f64(),
            many.as_secs_f64(),
            rows.last().map_or(1, |(t, _)| *t),
            met(r <= GOAL_RATIO)
        );
    }
    Ok(())
}

fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "NOT met" }
}

/// Loads every built-in plugin into `host` and pairs it with its native build, checking both
/// describe the same rule.
fn load(host: &PluginHost) -> anyhow::Result<Vec<Plugin>> {
    let builtin = postern_rules::builtin_plugins();
    let names: Vec<&str> = builtin.iter().map(|p| p.name).collect();
    let native: Vec<&str> = NATIVE.iter().map(|(name, _)| *name).collect();
    ensure!(
        names == native,
        "the benchmark's native rules {native:?} are not the built-in plugins {names:?}: \
         add the new crate to bench/Cargo.toml and NATIVE"
    );
    builtin
        .iter()
        .zip(NATIVE)
        .map(|(b, (name, rule))| {
            let wasm = host
                .load(b.component)
                .with_context(|| format!("loading built-in plugin {name}"))?;
            let d = (rule.describe)();
            let info = wasm.info();
            ensure!(
                (&info.id, &info.version, &info.title, &info.reads)
                    == (&d.id, &d.version, &d.title, &d.reads),
                "built-in plugin {name}: the component describes {info:?}, the native build \
                 {} {}",
                d.id,
                d.version
            );
            Ok(Plugin {
                name,
                wasm,
                native: *rule,
            })
        })
        .collect()
}

/// Evaluates every plugin over every domain natively, per call and batched, and fails unless
/// all three agree. Returns, per plugin, the domains with at least one finding.
fn check_identical(
    host: &PluginHost,
    plugins: &[Plugin],
    facts: &[DomainFacts],
    sdk_facts: &[sdk::DomainFacts],
    batch: usize,
) -> anyhow::Result<Vec<usize>> {
    let wasm: Vec<LoadedPlugin> = plugins.iter().map(|p| p.wasm.clone()).collect();
    let mut set_batched = Vec::with_capacity(facts.len());
    for chunk in facts.chunks(batch) {
        set_batched.extend(host.evaluate_set_batch(&wasm, chunk));
    }
    ensure!(
        set_batched.len() == facts.len(),
        "evaluate_set_batch lost domains"
    );
    let sets: Vec<Vec<Evaluated>> = facts.iter().map(|f| host.evaluate_set(&wasm, f)).collect();
    let mut found = Vec::new();
    for (p, plugin) in plugins.iter().enumerate() {
        let mut batched = Vec::with_capacity(facts.len());
        for chunk in facts.chunks(batch) {
            batched.extend(host.evaluate_batch(&plugin.wasm, chunk));
        }
        ensure!(batched.len() == facts.len(), "evaluate_batch lost domains");
        let mut with_findings = 0;
        for (d, ((f, s), batched)) in facts.iter().zip(sdk_facts).zip(batched).enumerate() {
            let native: Vec<Finding> = (plugin.native.evaluate)(s.clone())
                .into_iter()
                .map(from_sdk)
                .collect();
            let failed = |how: &str, e: &PluginFailure| {
                anyhow::anyhow!("{} failed ({how}) on {}: {e}", plugin.name, f.domain)
            };
            let wasm = host
                .evaluate(&plugin.wasm, f)
                .map_err(|e| failed("alone", &e))?;
            let batched = batched.map_err(|e| failed("batched", &e))?;
            let set = sets[d][p].as_ref().map_err(|e| failed("set", e))?;
            let set_batched = set_batched[d][p]
                .as_ref()
                .map_err(|e| failed("set batched", e))?;
            if native != wasm || wasm != batched || &wasm != set || &wasm != set_batched {
                bail!(
                    "{} on {}: native and Wasm findings differ\nnative:  {native:?}\nwasm:    \
                     {wasm:?}\nbatched: {batched:?}\nset: {set:?}\nset batched: {set_batched:?}",
                    plugin.name,
                    f.domain
                );
            }
            with_findings += usize::from(!native.is_empty());
        }
        found.push(with_findings);
    }
    Ok(found)
}

/// Runs `measure` `runs` times and keeps the run with the median wall time.
fn median(runs: usize, mut measure: impl FnMut() -> anyhow::Result<Timing>) -> Timing {
    let mut all: Vec<Timing> = (0..runs).filter_map(|_| measure().ok()).collect();
    all.sort_by_key(|t| t.wall);
    let middle = all.len() / 2;
    all.into_iter().nth(middle).unwrap_or(Timing {
        wall: Duration::ZERO,
        busy: Duration::ZERO,
        per_plugin: Vec::new(),
    })
}

/// One run of every plugin over every domain in `mode`, the domains split over `threads`
/// threads; each thread goes plugin by plugin over its share.
fn time(
    host: &PluginHost,
    plugins: &[Plugin],
    facts: &[DomainFacts],
    sdk_facts: &[sdk::DomainFacts],
    mode: Mode,
    threads: usize,
) -> anyhow::Result<Timing> {
    let share = facts.len().div_ceil(threads);
    let started = Instant::now();
    let per_thread: Vec<anyhow::Result<(Vec<Duration>, Duration)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = facts
            .chunks(share)
            .zip(sdk_facts.chunks(share))
            .map(|(facts, sdk_facts)| {
                scope.spawn(move || one_thread(host, plugins, facts, sdk_facts, mode))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a benchmark thread panicked")))
            })
            .collect()
    });
    let wall = started.elapsed();
    let mut per_plugin = vec![Duration::ZERO; if mode.per_plugin() { plugins.len() } else { 0 }];
    let mut busy = Duration::ZERO;
    for thread in per_thread {
        let (spent, total) = thread?;
        busy += total;
        for (sum, spent) in per_plugin.iter_mut().zip(spent) {
            *sum += spent;
        }
    }
    Ok(Timing {
        wall,
        busy,
        per_plugin,
    })
}

/// One thread's share in `mode`: the time per plugin (per-plugin modes) and in total.
fn one_thread(
    host: &PluginHost,
    plugins: &[Plugin],
    facts: &[DomainFacts],
    sdk_facts: &[sdk::DomainFacts],
    mode: Mode,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let fail = |name: &str, e: &PluginFailure| anyhow::anyhow!("{name}: {e}");
    let started = Instant::now();
    match mode {
        Mode::WasmSet | Mode::WasmSetBatched(_) => {
            let wasm: Vec<LoadedPlugin> = plugins.iter().map(|p| p.wasm.clone()).collect();
            let check = |results: Vec<Evaluated>| -> anyhow::Result<()> {
                for (plugin, result) in plugins.iter().zip(results) {
                    std::hint::black_box(result.map_err(|e| fail(plugin.name, &e))?);
                }
                Ok(())
            };
            if let Mode::WasmSetBatched(n) = mode {
                for chunk in facts.chunks(n) {
                    for results in host.evaluate_set_batch(&wasm, chunk) {
                        check(results)?;
                    }
                }
            } else {
                for f in facts {
                    check(host.evaluate_set(&wasm, f))?;
                }
            }
            return Ok((Vec::new(), started.elapsed()));
        }
        Mode::Native | Mode::WasmPerCall | Mode::WasmBatched(_) => {}
    }
    let mut spent = Vec::with_capacity(plugins.len());
    for plugin in plugins {
        let started = Instant::now();
        match mode {
            Mode::Native => {
                for f in sdk_facts {
                    std::hint::black_box((plugin.native.evaluate)(f.clone()));
                }
            }
            Mode::WasmPerCall => {
                for f in facts {
                    let findings = host
                        .evaluate(&plugin.wasm, f)
                        .map_err(|e| fail(plugin.name, &e))?;
                    std::hint::black_box(findings);
                }
            }
            Mode::WasmBatched(n) => {
                for chunk in facts.chunks(n) {
                    for result in host.evaluate_batch(&plugin.wasm, chunk) {
                        let findings = result.map_err(|e| fail(plugin.name, &e))?;
                        std::hint::black_box(findings);
                    }
                }
            }
            Mode::WasmSet | Mode::WasmSetBatched(_) => {}
        }
        spent.push(started.elapsed());
    }
    Ok((spent, started.elapsed()))
}

/// Prints what the generated domains look like.
fn describe_mix(facts: &[DomainFacts], seed: u64) {
    let sources: usize = facts.iter().map(|f| f.sources.len()).sum();
    let max = facts.iter().map(|f| f.sources.len()).max().unwrap_or(0);
    let count = |p: &dyn Fn(&DomainFacts) -> bool| facts.iter().filter(|f| p(f)).count();
    let policy =
        |p: &'static str| move |f: &DomainFacts| f.policy.as_ref().is_some_and(|x| x.p == p);
    println!(
        "{} synthetic domains (seed {seed}): {} without a policy, {} p=none, {} p=quarantine, \
         {} p=reject; {} with TLS reports ({} with failures); 0–{max} sources each, {:.1} on \
         average.\n",
        facts.len(),
        count(&|f| f.policy.is_none()),
        count(&policy("none")),
        count(&policy("quarantine")),
        count(&policy("reject")),
        count(&|f| f.tls.is_some()),
        count(&|f| f.tls.as_ref().is_some_and(|t| t.failed > 0)),
        sources as f64 / facts.len().max(1) as f64
    );
}

/// SplitMix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// What kind of domain a generated one is.
#[derive(Clone, Copy)]
enum Profile {
    /// No DMARC record: no policy echoed, a handful of sources.
    NoPolicy,
    /// p=none for long with lots of clean traffic.
    CleanNone,
    /// p=quarantine or p=reject (with or without t=y), clean.
    Enforced,
    /// Established, named senders failing alignment.
    Unaligned,
    /// Sources failing SPF and DKIM, sometimes a botnet of tiny ones.
    Failing,
    /// A new source with much of the volume.
    NewSource,
    /// Sources passing on SPF or DKIM alone.
    Fragile,
}

/// The kind of a generated source.
#[derive(Clone, Copy)]
enum Kind {
    Clean,
    SpfOnly,
    DkimOnly,
    Unaligned,
    Failing,
    Botnet,
    New,
}

const DAY: i64 = 86_400;
/// 2026-11-29T00:00:00Z.
const NOW: i64 = 1_795_910_400;
const TLS_RESULTS: &[&str] = &[
    "starttls-not-supported",
    "certificate-expired",
    "certificate-host-mismatch",
    "certificate-not-trusted",
    "validation-failure",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "reserved-future-type",
];

/// `n` deterministic synthetic domains.
fn generate(n: usize, seed: u64) -> Vec<DomainFacts> {
    let mut rng = Rng(seed);
    (0..n).map(|i| domain(&mut rng, i)).collect()
}

fn domain(rng: &mut Rng, i: usize) -> DomainFacts {
    let profile = match rng.range(0, 99) {
        0..=9 => Profile::NoPolicy,
        10..=29 => Profile::CleanNone,
        30..=44 => Profile::Enforced,
        45..=59 => Profile::Unaligned,
        60..=74 => Profile::Failing,
        75..=84 => Profile::NewSource,
        _ => Profile::Fragile,
    };
    let window_days = if rng.chance(80) { 30 } else { 7 };
    let window_start = NOW - window_days * DAY;
    let count = match profile {
        Profile::NoPolicy => rng.range(0, 5),
        _ => rng.range(1, 50),
    } as usize;
    let botnet = matches!(profile, Profile::Failing) && rng.chance(30);
    let mut sources: Vec<SourceFacts> = (0..count)
        .map(|s| {
            let special = s < 3 && rng.chance(70);
            let kind = match profile {
                _ if !special && !botnet => {
                    if rng.chance(90) {
                        Kind::Clean
                    } else {
                        *rng.pick(&[Kind::SpfOnly, Kind::DkimOnly, Kind::Failing])
                    }
                }
                Profile::Failing if botnet => Kind::Botnet,
                Profile::Unaligned => Kind::Unaligned,
                Profile::Failing => Kind::Failing,
                Profile::NewSource => Kind::New,
                Profile::Fragile => *rng.pick(&[Kind::SpfOnly, Kind::DkimOnly]),
                _ => Kind::Clean,
            };
            source(rng, kind, window_start, i, s)
        })
        .collect();
    sources.sort_by_key(|s| std::cmp::Reverse(s.messages));

    let p = match profile {
        Profile::NoPolicy => None,
        Profile::CleanNone => Some("none"),
        Profile::Enforced => Some(*rng.pick(&["quarantine", "reject"])),
        _ => Some(*rng.pick(&["none", "none", "quarantine", "reject"])),
    };
    let policy = p.map(|p| policy(rng, p));
    let mut dmarc = DmarcSummary::default();
    for s in &sources {
        dmarc.messages += s.messages;
        dmarc.dmarc_pass += s.dmarc_pass;
        dmarc.spf_aligned_pass += s.spf_aligned_pass;
        dmarc.dkim_aligned_pass += s.dkim_aligned_pass;
    }
    dmarc.dmarc_fail = dmarc.messages - dmarc.dmarc_pass;
    match policy.as_ref().map(|p| p.p.as_str()) {
        Some("reject") => {
            dmarc.disposition_none = dmarc.dmarc_pass;
            dmarc.disposition_reject = dmarc.dmarc_fail;
        }
        Some("quarantine") => {
            dmarc.disposition_none = dmarc.dmarc_pass;
            dmarc.disposition_quarantine = dmarc.dmarc_fail;
        }
        _ => dmarc.disposition_none = dmarc.messages,
    }
    let tls = rng.chance(25).then(|| {
        let successful = rng.range(0, 20_000);
        let failures: Vec<TlsFailure> = if rng.chance(60) {
            let mut f: Vec<TlsFailure> = (0..rng.range(1, 4))
                .map(|_| TlsFailure {
                    result_type: (*rng.pick(TLS_RESULTS)).to_owned(),
                    sessions: rng.range(1, 500),
                })
                .collect();
            f.sort_by_key(|f| std::cmp::Reverse(f.sessions));
            f
        } else {
            Vec::new()
        };
        TlsSummary {
            successful,
            failed: failures.iter().map(|f| f.sessions).sum(),
            failures,
        }
    });
    DomainFacts {
        domain: format!("client{i:05}.example"),
        now: NOW,
        window_start,
        window_end: NOW,
        dmarc,
        sources,
        policy,
        tls,
        ..DomainFacts::default()
    }
}

fn policy(rng: &mut Rng, p: &str) -> PublishedPolicy {
    PublishedPolicy {
        p: p.to_owned(),
        sp: rng
            .chance(30)
            .then(|| (*rng.pick(&["none", "quarantine", "reject"])).to_owned()),
        np: rng.chance(10).then(|| "reject".to_owned()),
        pct: rng.chance(20).then(|| *rng.pick(&[10u8, 50, 100])),
        adkim: (*rng.pick(&["r", "r", "r", "s"])).to_owned(),
        aspf: (*rng.pick(&["r", "r", "r", "s"])).to_owned(),
        testing: rng.chance(30).then(|| (*rng.pick(&["y", "n"])).to_owned()),
    }
}

fn source(rng: &mut Rng, kind: Kind, window_start: i64, domain: usize, n: usize) -> SourceFacts {
    let ip = if rng.chance(15) {
        format!("2001:db8:{:x}::{:x}", domain % 0xffff, n + 1)
    } else {
        format!(
            "{}.{}.{}.{}",
            rng.range(1, 223),
            rng.range(0, 255),
            rng.range(0, 255),
            rng.range(1, 254)
        )
    };
    let established = window_start + rng.range(0, 3) as i64 * DAY;
    let recent = NOW - rng.range(0, 3 * DAY as u64 - 1) as i64;
    let named = |rng: &mut Rng| Some(format!("mail{}.sender{}.example", n, rng.range(1, 400)));
    let (messages, pass, spf, dkim, first_seen, reverse_dns) = match kind {
        Kind::Clean => {
            let m = rng.range(20, 3000);
            let pass = m - rng.range(0, m / 100);
            (
                m,
                pass,
                pass - rng.range(0, pass / 50),
                pass - rng.range(0, pass / 50),
                established,
                named(rng),
            )
        }
        Kind::SpfOnly => {
            let m = rng.range(20, 1000);
            (m, m, m, rng.range(0, m / 20), established, named(rng))
        }
        Kind::DkimOnly => {
            let m = rng.range(20, 1000);
            (m, m, rng.range(0, m / 20), m, established, named(rng))
        }
        Kind::Unaligned => {
            let m = rng.range(20, 2000);
            let pass = m * rng.range(0, 90) / 100;
            (m, pass, pass / 2, pass, established, named(rng))
        }
        Kind::Failing => {
            let m = rng.range(10, 500);
            let (first, rdns) = if rng.chance(50) {
                (established, None)
            } else {
                (recent, named(rng))
            };
            (m, 0, 0, 0, first, rdns)
        }
        Kind::Botnet => (rng.range(1, 9), 0, 0, 0, recent, None),
        Kind::New => {
            let m = rng.range(100, 5000);
            let pass = if rng.chance(50) {
                m
            } else {
                m * rng.range(0, 40) / 100
            };
            (
                m,
                pass,
                pass,
                pass,
                recent,
                rng.chance(70).then(|| format!("out{n}.newsvc.example")),
            )
        }
    };
    SourceFacts {
        ip: ip
            .parse()
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
        messages,
        dmarc_pass: pass,
        spf_aligned_pass: spf,
        dkim_aligned_pass: dkim,
        first_seen,
        last_seen: NOW - rng.range(0, DAY as u64) as i64,
        reverse_dns,
    }
}

/// The facts as the native rule takes them: the SDK's `DomainFacts`, which rule code reads
/// in the Wasm build too (there the SDK makes it from what the host lowered).
fn to_sdk(f: &DomainFacts) -> sdk::DomainFacts {
    let d = &f.dmarc;
    sdk::DomainFacts {
        domain: f.domain.clone(),
        now: f.now,
        window_start: f.window_start,
        window_end: f.window_end,
        dmarc: sdk::DmarcSummary {
            messages: d.messages,
            dmarc_pass: d.dmarc_pass,
            dmarc_fail: d.dmarc_fail,
            spf_aligned_pass: d.spf_aligned_pass,
            dkim_aligned_pass: d.dkim_aligned_pass,
            disposition_none: d.disposition_none,
            disposition_quarantine: d.disposition_quarantine,
            disposition_reject: d.disposition_reject,
            disposition_pass: d.disposition_pass,
        },
        sources: f
            .sources
            .iter()
            .map(|s| sdk::Source {
                ip: s.ip,
                messages: s.messages,
                dmarc_pass: s.dmarc_pass,
                spf_aligned_pass: s.spf_aligned_pass,
                dkim_aligned_pass: s.dkim_aligned_pass,
                first_seen: s.first_seen,
                last_seen: s.last_seen,
                reverse_dns: s.reverse_dns.clone(),
            })
            .collect(),
        policy: f.policy.as_ref().map(|p| sdk::PublishedPolicy {
            p: p.p.clone(),
            sp: p.sp.clone(),
            np: p.np.clone(),
            pct: p.pct,
            adkim: p.adkim.clone(),
            aspf: p.aspf.clone(),
            testing: p.testing.clone(),
        }),
        tls: f.tls.as_ref().map(|t| sdk::TlsSummary {
            successful: t.successful,
            failed: t.failed,
            failures: t
                .failures
                .iter()
                .map(|x| sdk::TlsFailure {
                    result_type: x.result_type.clone(),
                    sessions: x.sessions,
                })
                .collect(),
        }),
        // The generated domains have none of these (see NO_GENERATED_FACTS in the tests).
        dns: None,
        blocklists: Vec::new(),
        bounces: None,
    }
}

/// A native finding as the host hands out Wasm ones, for the comparison.
fn from_sdk(f: sdk::Finding) -> Finding {
    Finding {
        code: f.code,
        severity: match f.severity {
            sdk::Severity::Info => Severity::Info,
            sdk::Severity::Low => Severity::Low,
            sdk::Severity::Medium => Severity::Medium,
            sdk::Severity::High => Severity::High,
            sdk::Severity::Critical => Severity::Critical,
        },
        title: f.title,
        explanation: f.explanation,
        evidence: f
            .evidence
            .into_iter()
            .map(|e| Evidence {
                label: e.label,
                value: e.value,
            })
            .collect(),
        fix_steps: f
            .fix_steps
            .into_iter()
            .map(|s| FixStep {
                kind: match s.kind {
                    sdk::FixStepKind::ChangeDnsRecord => FixStepKind::ChangeDnsRecord,
                    sdk::FixStepKind::UpgradePolicy => FixStepKind::UpgradePolicy,
                    sdk::FixStepKind::FixSendingSource => FixStepKind::FixSendingSource,
                    sdk::FixStepKind::ContactRecipientAdmin => FixStepKind::ContactRecipientAdmin,
                    sdk::FixStepKind::SuppressAddresses => FixStepKind::SuppressAddresses,
                    sdk::FixStepKind::PauseSegment => FixStepKind::PauseSegment,
                    sdk::FixStepKind::Investigate => FixStepKind::Investigate,
                },
                title: s.title,
                detail: s.detail,
                record: s.record.map(|r| DnsRecordChange {
                    name: r.name,
                    record_type: r.record_type,
                    current: r.current,
                    proposed: r.proposed,
                }),
            })
            .collect(),
        verification: Verification {
            description: f.verification.description,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_generates_the_same_domains() {
        assert_eq!(generate(200, 7), generate(200, 7));
        assert_ne!(generate(200, 7), generate(200, 8));
    }

    #[test]
    fn generated_domains_are_consistent_and_mixed() {
        let facts = generate(2000, 1);
        for f in &facts {
            assert!(f.sources.len() <= 50);
            assert_eq!(
                f.dmarc.messages,
                f.sources.iter().map(|s| s.messages).sum::<u64>()
            );
            assert_eq!(f.dmarc.dmarc_pass + f.dmarc.dmarc_fail, f.dmarc.messages);
            for s in &f.sources {
                assert!(s.dmarc_pass <= s.messages);
                assert!(s.spf_aligned_pass <= s.messages && s.dkim_aligned_pass <= s.messages);
                assert!(s.first_seen >= f.window_start && s.first_seen <= f.now);
            }
            assert!(f.sources.windows(2).all(|w| w[0].messages >= w[1].messages));
        }
        assert!(facts.iter().any(|f| f.policy.is_none()));
        assert!(facts.iter().any(|f| f.sources.is_empty()));
        assert!(facts.iter().any(|f| f.sources.len() >= 45));
        assert!(
            facts
                .iter()
                .any(|f| f.tls.as_ref().is_some_and(|t| t.failed > 0))
        );
    }

    #[test]
    fn every_built_in_rule_fires_on_the_generated_domains() {
        let facts: Vec<sdk::DomainFacts> = generate(2000, 1).iter().map(to_sdk).collect();
        // The generated domains carry DMARC and TLS-RPT facts only, so the rules over the
        // DNS, blocklist and bounce areas are timed on empty areas and cannot fire here.
        const NO_GENERATED_FACTS: [&str; 3] =
            ["blocklist_listings", "bounce_triage", "dns_posture"];
        for (name, rule) in NATIVE {
            if NO_GENERATED_FACTS.contains(name) {
                continue;
            }
            let hits = facts
                .iter()
                .filter(|f| !(rule.evaluate)((*f).clone()).is_empty())
                .count();
            assert!(hits > 20, "{name} fired on only {hits} of 2000 domains");
            assert!(hits < 2000, "{name} fired on every domain");
        }
    }
}
