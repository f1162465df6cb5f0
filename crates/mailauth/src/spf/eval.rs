//! `check_host()` (RFC 7208 §4) over a [`Resolver`], recording the include/redirect tree
//! and the lookup counts as it goes.

use super::macros::{MacroContext, expand, expand_domain, needs_validated_name};
use super::record::{
    Mechanism, Qualifier, SpfRecord, TermKind, is_spf1, parse_macro_string, parse_record,
};
use postern_dns::{DnsError, Lookup, Resolver};
use std::future::Future;
use std::net::IpAddr;
use std::ops::Range;
use std::pin::Pin;

/// RFC 7208 §4.6.4: DNS-querying terms per evaluation.
pub const MAX_DNS_TERMS: usize = 10;
/// RFC 7208 §4.6.4: void lookups per evaluation (SHOULD).
pub const MAX_VOID_LOOKUPS: usize = 2;
/// RFC 7208 §4.6.4: MX names an `mx` mechanism may look up.
pub const MAX_MX_NAMES: usize = 10;
/// RFC 7208 §4.6.4: PTR names the `ptr` mechanism and `%{p}` consider.
pub const MAX_PTR_NAMES: usize = 10;
/// In audit mode counting goes on past the limits; this stops loops.
const AUDIT_HARD_CAP: usize = 100;
/// Include/redirect nesting followed in audit mode.
const AUDIT_MAX_DEPTH: usize = 20;

/// The result of `check_host()` (RFC 7208 §2.6). Errors are verdicts, with their cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpfResult {
    /// No record, or no valid domain to check.
    None,
    /// The domain makes no assertion.
    Neutral,
    /// The client is authorized.
    Pass,
    /// The client is not authorized.
    Fail,
    /// Probably not authorized.
    SoftFail,
    /// A transient DNS error.
    TempError(String),
    /// The published records cannot be interpreted.
    PermError(String),
}

/// What `check_host()` is asked (RFC 7208 §4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckHost {
    /// The SMTP client's address.
    pub ip: IpAddr,
    /// The domain whose policy is checked.
    pub domain: String,
    /// The sender, `local@domain` (`postmaster@helo` when the reverse path is empty).
    pub sender: String,
    /// The HELO/EHLO name (for `%{h}`).
    pub helo: String,
}

/// Settings of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfOptions {
    /// `%{r}`: this host's name.
    pub receiver: String,
    /// `%{t}`: seconds since the epoch (injected: evaluation reads no clock).
    pub now: i64,
    /// The explanation of a `fail` when the record has no usable `exp=`.
    pub default_explanation: Option<String>,
    /// Void lookups allowed (RFC 7208 recommends 2).
    pub max_void_lookups: usize,
    /// Audit (posture) mode: evaluate every term of every record in the tree, counting
    /// lookups past the limits, instead of stopping at the first match.
    pub audit: bool,
}

/// The outcome of an evaluation, with what posture checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfEvaluation {
    /// The verdict.
    pub result: SpfResult,
    /// For `fail`: the explanation (from `exp=`, or the default).
    pub explanation: Option<String>,
    /// DNS-querying terms evaluated (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`).
    pub dns_lookups: usize,
    /// Void lookups among them (NXDOMAIN or no data).
    pub void_lookups: usize,
    /// The record tree as evaluated; `None` when no domain could be checked.
    pub tree: Option<SpfNode>,
}

/// One domain's record in the include/redirect tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfNode {
    /// The domain checked.
    pub domain: String,
    /// How it was reached.
    pub via: Via,
    /// The selected record's text.
    pub record: Option<String>,
    /// Every TXT record at the domain that starts with `v=spf1`.
    pub spf_records: usize,
    /// The record's character-string lengths.
    pub string_lengths: Vec<usize>,
    /// Why this domain's check ended in none/permerror/temperror, if it did.
    pub problem: Option<String>,
    /// Byte position of a syntax error in `record`.
    pub error_position: Option<usize>,
    /// The directives evaluated, in record order, then the other modifiers, then the
    /// `redirect` when it was followed.
    pub terms: Vec<TermTrace>,
    /// This domain's verdict.
    pub result: SpfResult,
}

/// How a domain entered the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The domain asked about.
    Root,
    /// An `include:` mechanism.
    Include,
    /// A `redirect=` modifier.
    Redirect,
}

/// One evaluated term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermTrace {
    /// The term as written.
    pub text: String,
    /// Its byte span in the record.
    pub span: Range<usize>,
    /// DNS-querying terms this term counts as (0 or 1).
    pub dns_lookups: usize,
    /// Void lookups this term caused.
    pub void_lookups: usize,
    /// The expanded target domain, for terms that have one.
    pub target: Option<String>,
    /// MX names (for `mx`) or PTR names (for `ptr`) looked at.
    pub names: usize,
    /// Whether it matched (or the error that stopped it).
    pub outcome: TermOutcome,
    /// The included or redirected-to record.
    pub child: Option<Box<SpfNode>>,
}

/// What a term came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TermOutcome {
    /// The mechanism matched.
    Match,
    /// The mechanism did not match.
    NoMatch,
    /// A modifier (`redirect` is traced when followed).
    Modifier,
    /// Evaluation stopped here with an error.
    Error(String),
}

/// Why evaluation stopped early.
enum Stop {
    Perm(String),
    Temp(String),
}

type Step<T> = Result<T, Stop>;
type NodeFuture<'a> =
    Pin<Box<dyn Future<Output = (SpfResult, Option<String>, SpfNode)> + Send + 'a>>;

struct Evaluator<'a> {
    resolver: &'a dyn Resolver,
    options: &'a SpfOptions,
    ip: IpAddr,
    local_part: String,
    sender_domain: String,
    helo: String,
    lookups: usize,
    voids: usize,
    limit_error: Option<String>,
}

impl SpfResult {
    /// The lower-case name RFC 7208 uses (`pass`, `permerror`, …).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Neutral => "neutral",
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::TempError(_) => "temperror",
            Self::PermError(_) => "permerror",
        }
    }

    fn from_qualifier(q: Qualifier) -> Self {
        match q {
            Qualifier::Pass => Self::Pass,
            Qualifier::Fail => Self::Fail,
            Qualifier::SoftFail => Self::SoftFail,
            Qualifier::Neutral => Self::Neutral,
        }
    }

    fn from_stop(stop: Stop) -> Self {
        match stop {
            Stop::Perm(cause) => Self::PermError(cause),
            Stop::Temp(cause) => Self::TempError(cause),
        }
    }
}

impl std::fmt::Display for SpfResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TempError(cause) | Self::PermError(cause) => {
                write!(f, "{} ({cause})", self.as_str())
            }
            _ => f.write_str(self.as_str()),
        }
    }
}

impl Default for SpfOptions {
    fn default() -> Self {
        Self {
            receiver: "unknown".to_owned(),
            now: 0,
            default_explanation: None,
            max_void_lookups: MAX_VOID_LOOKUPS,
            audit: false,
        }
    }
}

impl CheckHost {
    /// The MAIL FROM identity (RFC 7208 §2.4): the reverse-path's domain, or the HELO
    /// name with `postmaster` when the reverse-path is empty; a missing local-part is
    /// `postmaster` too (§4.3).
    pub fn mail_from(ip: IpAddr, mail_from: &str, helo: &str) -> Self {
        let (local, domain) = if mail_from.is_empty() {
            ("postmaster", helo)
        } else {
            match mail_from.rsplit_once('@') {
                Some(("", domain)) => ("postmaster", domain),
                Some((local, domain)) => (local, domain),
                None => ("postmaster", mail_from),
            }
        };
        Self {
            ip,
            domain: domain.to_owned(),
            sender: format!("{local}@{domain}"),
            helo: helo.to_owned(),
        }
    }

    /// The HELO identity (RFC 7208 §2.3): the HELO name, sender `postmaster@helo`.
    pub fn helo(ip: IpAddr, helo: &str) -> Self {
        Self {
            ip,
            domain: helo.to_owned(),
            sender: format!("postmaster@{helo}"),
            helo: helo.to_owned(),
        }
    }
}

/// Evaluates `check_host()` for `query`.
pub async fn check_host(
    resolver: &dyn Resolver,
    query: &CheckHost,
    options: &SpfOptions,
) -> SpfEvaluation {
    let ip = query.ip.to_canonical();
    let (local, sender_domain) = query
        .sender
        .rsplit_once('@')
        .map_or(("postmaster", query.sender.as_str()), |(l, d)| (l, d));
    let domain = query.domain.strip_suffix('.').unwrap_or(&query.domain);
    if !is_valid_domain(domain) {
        return SpfEvaluation {
            result: SpfResult::None,
            explanation: None,
            dns_lookups: 0,
            void_lookups: 0,
            tree: None,
        };
    }
    let mut evaluator = Evaluator {
        resolver,
        options,
        ip,
        local_part: local.to_owned(),
        sender_domain: sender_domain.to_owned(),
        helo: query.helo.clone(),
        lookups: 0,
        voids: 0,
        limit_error: None,
    };
    let (mut result, explanation, tree) = evaluator.node(domain.to_owned(), Via::Root, 0).await;
    if let Some(cause) = evaluator.limit_error.clone()
        && options.audit
    {
        result = SpfResult::PermError(cause);
    }
    SpfEvaluation {
        explanation: if result == SpfResult::Fail {
            explanation
        } else {
            None
        },
        result,
        dns_lookups: evaluator.lookups,
        void_lookups: evaluator.voids,
        tree: Some(tree),
    }
}

impl<'a> Evaluator<'a> {
    fn context(&self, domain: &str) -> MacroContext {
        MacroContext {
            local_part: self.local_part.clone(),
            sender_domain: self.sender_domain.clone(),
            domain: domain.to_owned(),
            ip: self.ip,
            helo: self.helo.clone(),
            receiver: self.options.receiver.clone(),
            now: self.options.now,
            validated_name: None,
        }
    }

    /// `check_host()` of one domain: its verdict, the explanation when it failed by its
    /// own terms or through its redirect, and its node in the tree.
    fn node(&mut self, domain: String, via: Via, depth: usize) -> NodeFuture<'_> {
        Box::pin(async move {
            let mut node = SpfNode {
                domain: domain.clone(),
                via,
                record: None,
                spf_records: 0,
                string_lengths: Vec::new(),
                problem: None,
                error_position: None,
                terms: Vec::new(),
                result: SpfResult::None,
            };
            let (result, explanation) = self.evaluate_domain(&domain, &mut node, depth).await;
            if node.problem.is_none()
                && let SpfResult::PermError(cause) | SpfResult::TempError(cause) = &result
            {
                node.problem = Some(cause.clone());
            }
            node.result = result.clone();
            (result, explanation, node)
        })
    }

    async fn evaluate_domain(
        &mut self,
        domain: &str,
        node: &mut SpfNode,
        depth: usize,
    ) -> (SpfResult, Option<String>) {
        let record = match self.select_record(domain, node).await {
            Ok(Some(record)) => record,
            Ok(None) => {
                node.problem = Some("no SPF record".to_owned());
                return (SpfResult::None, None);
            }
            Err(stop) => return (SpfResult::from_stop(stop), None),
        };
        let ctx = self.context(domain);
        let mut decided: Option<(SpfResult, bool)> = None;
        let mut has_all = false;
        for term in &record.terms {
            let TermKind::Directive(qualifier, mechanism) = &term.kind else {
                continue;
            };
            has_all |= matches!(mechanism, Mechanism::All);
            let mut trace = TermTrace {
                text: term.text.clone(),
                span: term.span.clone(),
                dns_lookups: 0,
                void_lookups: 0,
                target: None,
                names: 0,
                outcome: TermOutcome::NoMatch,
                child: None,
            };
            let outcome = self.mechanism(mechanism, &ctx, &mut trace, depth).await;
            match outcome {
                Ok(true) => {
                    trace.outcome = TermOutcome::Match;
                    decided.get_or_insert((SpfResult::from_qualifier(*qualifier), true));
                }
                Ok(false) => {}
                Err(stop) => {
                    let result = SpfResult::from_stop(stop);
                    if let SpfResult::PermError(c) | SpfResult::TempError(c) = &result {
                        trace.outcome = TermOutcome::Error(c.clone());
                    }
                    decided.get_or_insert((result, false));
                }
            }
            node.terms.push(trace);
            if decided.is_some() && !self.options.audit {
                break;
            }
        }
        for term in &record.terms {
            if matches!(
                term.kind,
                TermKind::Unknown { .. } | TermKind::Explanation(_)
            ) {
                node.terms.push(TermTrace {
                    text: term.text.clone(),
                    span: term.span.clone(),
                    dns_lookups: 0,
                    void_lookups: 0,
                    target: None,
                    names: 0,
                    outcome: TermOutcome::Modifier,
                    child: None,
                });
            }
        }
        if let Some((result, own)) = decided {
            let explanation = if own && result == SpfResult::Fail {
                self.explain(&record, &ctx).await
            } else {
                None
            };
            if !self.options.audit || has_all || record.redirect().is_none() {
                return (result, explanation);
            }
            // Audit mode: a record without `all` still follows its redirect to count it.
            let _ = self.redirect(&record, &ctx, node, depth).await;
            return (result, explanation);
        }
        if record.redirect().is_some() && !has_all {
            return self.redirect(&record, &ctx, node, depth).await;
        }
        (SpfResult::Neutral, None)
    }

    /// Follows `redirect=` (RFC 7208 §6.1).
    async fn redirect(
        &mut self,
        record: &SpfRecord,
        ctx: &MacroContext,
        node: &mut SpfNode,
        depth: usize,
    ) -> (SpfResult, Option<String>) {
        let Some(term) = record
            .terms
            .iter()
            .find(|t| matches!(t.kind, TermKind::Redirect(_)))
        else {
            return (SpfResult::Neutral, None);
        };
        let TermKind::Redirect(spec) = &term.kind else {
            return (SpfResult::Neutral, None);
        };
        let mut trace = TermTrace {
            text: term.text.clone(),
            span: term.span.clone(),
            dns_lookups: 0,
            void_lookups: 0,
            target: None,
            names: 0,
            outcome: TermOutcome::Modifier,
            child: None,
        };
        let outcome = async {
            self.count_term(&mut trace)?;
            let target = self.target(spec, ctx).await?;
            trace.target = Some(target.clone());
            if depth >= AUDIT_MAX_DEPTH {
                return Err(Stop::Perm("include/redirect nesting too deep".to_owned()));
            }
            let (result, explanation, child) = self.node(target, Via::Redirect, depth + 1).await;
            trace.child = Some(Box::new(child));
            match result {
                SpfResult::None => Err(Stop::Perm("redirect target has no SPF record".to_owned())),
                other => Ok((other, explanation)),
            }
        }
        .await;
        let answer = match outcome {
            Ok(answer) => answer,
            Err(stop) => {
                let result = SpfResult::from_stop(stop);
                if let SpfResult::PermError(c) | SpfResult::TempError(c) = &result {
                    trace.outcome = TermOutcome::Error(c.clone());
                }
                (result, None)
            }
        };
        node.terms.push(trace);
        answer
    }

    /// Looks up and selects the domain's one `v=spf1` TXT record, and parses it.
    async fn select_record(&mut self, domain: &str, node: &mut SpfNode) -> Step<Option<SpfRecord>> {
        let answer = match self.resolver.txt(domain).await {
            Ok(answer) => answer,
            Err(DnsError::InvalidName { .. }) => return Ok(None),
            Err(e) => return Err(Stop::Temp(e.to_string())),
        };
        let mut spf: Vec<_> = answer
            .into_records()
            .into_iter()
            .filter(|txt| is_spf1(&txt.joined()))
            .collect();
        node.spf_records = spf.len();
        let Some(txt) = spf.pop() else {
            return Ok(None);
        };
        if node.spf_records > 1 {
            return Err(Stop::Perm(format!(
                "{} SPF records at {domain}",
                node.spf_records
            )));
        }
        node.string_lengths = txt.strings.iter().map(Vec::len).collect();
        let bytes = txt.joined();
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let position = e.utf8_error().valid_up_to();
                node.record = Some(String::from_utf8_lossy(e.as_bytes()).into_owned());
                node.error_position = Some(position);
                return Err(Stop::Perm(format!(
                    "non-ASCII byte at column {}",
                    position + 1
                )));
            }
        };
        node.record = Some(text.clone());
        match parse_record(&text) {
            Ok(record) => Ok(Some(record)),
            Err(e) => {
                node.error_position = Some(e.position);
                Err(Stop::Perm(e.to_string()))
            }
        }
    }

    /// Counts a DNS-querying term against the limit of 10.
    fn count_term(&mut self, trace: &mut TermTrace) -> Step<()> {
        self.lookups += 1;
        trace.dns_lookups += 1;
        if self.lookups > MAX_DNS_TERMS {
            let cause = format!("more than {MAX_DNS_TERMS} DNS-querying terms");
            if !self.options.audit || self.lookups > AUDIT_HARD_CAP {
                return Err(Stop::Perm(cause));
            }
            self.limit_error.get_or_insert(cause);
        }
        Ok(())
    }

    /// Counts a void lookup against the limit of 2.
    fn note_void<T>(&mut self, answer: &Lookup<T>, trace: &mut TermTrace) -> Step<()> {
        if !answer.is_void() {
            return Ok(());
        }
        self.voids += 1;
        trace.void_lookups += 1;
        if self.voids > self.options.max_void_lookups {
            let cause = format!("more than {} void lookups", self.options.max_void_lookups);
            if !self.options.audit || self.voids > AUDIT_HARD_CAP {
                return Err(Stop::Perm(cause));
            }
            self.limit_error.get_or_insert(cause);
        }
        Ok(())
    }

    /// Expands a target domain-spec and checks the result can be looked up.
    async fn target(
        &mut self,
        spec: &super::record::MacroString,
        ctx: &MacroContext,
    ) -> Step<String> {
        let mut ctx = ctx.clone();
        if needs_validated_name(spec) {
            ctx.validated_name = Some(self.validated_name(&ctx.domain).await);
        }
        let name = expand_domain(spec, &ctx);
        if !is_valid_target(&name) {
            return Err(Stop::Perm(format!("invalid target domain {name:?}")));
        }
        Ok(name)
    }

    async fn target_or_current(
        &mut self,
        spec: Option<&super::record::MacroString>,
        ctx: &MacroContext,
    ) -> Step<String> {
        match spec {
            Some(spec) => self.target(spec, ctx).await,
            None => Ok(ctx.domain.clone()),
        }
    }

    fn temp(e: DnsError) -> Stop {
        match e {
            DnsError::InvalidName { .. } => Stop::Perm(e.to_string()),
            other => Stop::Temp(other.to_string()),
        }
    }

    /// Evaluates one mechanism: does it match?
    async fn mechanism(
        &mut self,
        mechanism: &Mechanism,
        ctx: &MacroContext,
        trace: &mut TermTrace,
        depth: usize,
    ) -> Step<bool> {
        let v6 = self.ip.is_ipv6();
        match mechanism {
            Mechanism::All => Ok(true),
            Mechanism::Ip4 { addr, prefix } => Ok(match self.ip {
                IpAddr::V4(ip) => in_prefix(
                    u128::from(u32::from(ip)),
                    u128::from(u32::from(*addr)),
                    *prefix,
                    32,
                ),
                IpAddr::V6(_) => false,
            }),
            Mechanism::Ip6 { addr, prefix } => Ok(match self.ip {
                IpAddr::V6(ip) => in_prefix(u128::from(ip), u128::from(*addr), *prefix, 128),
                IpAddr::V4(_) => false,
            }),
            Mechanism::Include(spec) => {
                self.count_term(trace)?;
                let target = self.target(spec, ctx).await?;
                trace.target = Some(target.clone());
                if depth >= AUDIT_MAX_DEPTH {
                    return Err(Stop::Perm("include/redirect nesting too deep".to_owned()));
                }
                let (result, _, child) = self.node(target, Via::Include, depth + 1).await;
                trace.child = Some(Box::new(child));
                match result {
                    SpfResult::Pass => Ok(true),
                    SpfResult::Fail | SpfResult::SoftFail | SpfResult::Neutral => Ok(false),
                    SpfResult::TempError(c) => Err(Stop::Temp(c)),
                    SpfResult::PermError(c) => Err(Stop::Perm(c)),
                    SpfResult::None => {
                        Err(Stop::Perm("include target has no SPF record".to_owned()))
                    }
                }
            }
            Mechanism::A {
                domain,
                cidr4,
                cidr6,
            } => {
                self.count_term(trace)?;
                let target = self.target_or_current(domain.as_ref(), ctx).await?;
                trace.target = Some(target.clone());
                let answer = self
                    .resolver
                    .addresses(&target, v6)
                    .await
                    .map_err(Self::temp)?;
                self.note_void(&answer, trace)?;
                Ok(self.any_in(answer.records(), *cidr4, *cidr6))
            }
            Mechanism::Mx {
                domain,
                cidr4,
                cidr6,
            } => {
                self.count_term(trace)?;
                let target = self.target_or_current(domain.as_ref(), ctx).await?;
                trace.target = Some(target.clone());
                let answer = self.resolver.mx(&target).await.map_err(Self::temp)?;
                self.note_void(&answer, trace)?;
                let exchanges = answer.into_records();
                trace.names = exchanges.len();
                if exchanges.len() > MAX_MX_NAMES {
                    return Err(Stop::Perm(format!(
                        "{} MX records at {target} (at most {MAX_MX_NAMES})",
                        exchanges.len()
                    )));
                }
                let mut matched = false;
                for mx in exchanges {
                    if mx.exchange.is_empty() {
                        continue;
                    }
                    let addresses = self
                        .resolver
                        .addresses(&mx.exchange, v6)
                        .await
                        .map_err(Self::temp)?;
                    if self.any_in(addresses.records(), *cidr4, *cidr6) {
                        matched = true;
                        if !self.options.audit {
                            break;
                        }
                    }
                }
                Ok(matched)
            }
            Mechanism::Ptr(domain) => {
                self.count_term(trace)?;
                let target = self.target_or_current(domain.as_ref(), ctx).await?;
                trace.target = Some(target.clone());
                let answer = match self.resolver.ptr(self.ip).await {
                    Ok(answer) => answer,
                    // RFC 7208 §5.5: a DNS error makes the mechanism not match.
                    Err(_) => return Ok(false),
                };
                self.note_void(&answer, trace)?;
                let names = answer.into_records();
                trace.names = names.len().min(MAX_PTR_NAMES);
                let validated = self.validate_names(names).await;
                let target = target.to_ascii_lowercase();
                Ok(validated.iter().any(|name| {
                    let name = name.to_ascii_lowercase();
                    name == target || name.ends_with(&format!(".{target}"))
                }))
            }
            Mechanism::Exists(spec) => {
                self.count_term(trace)?;
                let target = self.target(spec, ctx).await?;
                trace.target = Some(target.clone());
                let answer = self.resolver.a(&target).await.map_err(Self::temp)?;
                self.note_void(&answer, trace)?;
                Ok(!answer.is_void())
            }
        }
    }

    fn any_in(&self, addresses: &[IpAddr], cidr4: u8, cidr6: u8) -> bool {
        addresses.iter().any(|a| match (a, self.ip) {
            (IpAddr::V4(a), IpAddr::V4(ip)) => in_prefix(
                u128::from(u32::from(ip)),
                u128::from(u32::from(*a)),
                cidr4,
                32,
            ),
            (IpAddr::V6(a), IpAddr::V6(ip)) => {
                in_prefix(u128::from(ip), u128::from(*a), cidr6, 128)
            }
            _ => false,
        })
    }

    /// The first 10 PTR names whose forward lookup includes the client address.
    async fn validate_names(&mut self, names: Vec<String>) -> Vec<String> {
        let mut validated = Vec::new();
        for name in names.into_iter().take(MAX_PTR_NAMES) {
            if let Ok(addresses) = self.resolver.addresses(&name, self.ip.is_ipv6()).await
                && addresses.records().contains(&self.ip)
            {
                validated.push(name);
            }
        }
        validated
    }

    /// `%{p}` (RFC 7208 §7.3): the domain itself, else a subdomain of it, else any
    /// validated name, else `unknown`.
    async fn validated_name(&mut self, domain: &str) -> String {
        let names = match self.resolver.ptr(self.ip).await {
            Ok(answer) => answer.into_records(),
            Err(_) => return "unknown".to_owned(),
        };
        let validated = self.validate_names(names).await;
        let domain = domain.to_ascii_lowercase();
        let suffix = format!(".{domain}");
        validated
            .iter()
            .find(|n| n.eq_ignore_ascii_case(&domain))
            .or_else(|| {
                validated
                    .iter()
                    .find(|n| n.to_ascii_lowercase().ends_with(&suffix))
            })
            .or_else(|| validated.first())
            .cloned()
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// The explanation of a `fail` (RFC 7208 §6.2): the `exp=` TXT record expanded, or
    /// the default when anything about it is wrong.
    async fn explain(&mut self, record: &SpfRecord, ctx: &MacroContext) -> Option<String> {
        let fallback = self.options.default_explanation.clone();
        let Some(spec) = record.explanation() else {
            return fallback;
        };
        let Ok(target) = self.target(spec, ctx).await else {
            return fallback;
        };
        let records = match self.resolver.txt(&target).await {
            Ok(answer) => answer.into_records(),
            Err(_) => return fallback,
        };
        let [txt] = records.as_slice() else {
            return fallback;
        };
        let Ok(text) = String::from_utf8(txt.joined()) else {
            return fallback;
        };
        if !text.is_ascii() {
            return fallback;
        }
        let Ok((parsed, _)) = parse_macro_string(&text, true) else {
            return fallback;
        };
        let mut ctx = ctx.clone();
        if needs_validated_name(&parsed) {
            ctx.validated_name = Some(self.validated_name(&ctx.domain).await);
        }
        Some(expand(&parsed, &ctx))
    }
}

/// True when `ip` lies in `network/prefix` (both as integers of `bits` width).
fn in_prefix(ip: u128, network: u128, prefix: u8, bits: u32) -> bool {
    let prefix = u32::from(prefix).min(bits);
    if prefix == 0 {
        return true;
    }
    let shift = bits - prefix;
    (ip >> shift) == (network >> shift)
}

/// RFC 7208 §4.3: a domain to check must be a multi-label name with labels of 1 to 63
/// octets, at most 253 octets, and not a domain literal.
fn is_valid_domain(domain: &str) -> bool {
    is_valid_target(domain) && domain.contains('.')
}

/// A name that can be queried: non-empty labels of at most 63 octets, at most 253 in all.
fn is_valid_target(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('[')
        && name.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

#[cfg(test)]
mod tests {
    use super::*;
    use postern_dns::ZoneResolver;

    fn zone(text: &str) -> ZoneResolver {
        ZoneResolver::from_zone_text(text).unwrap()
    }

    async fn run(zone: &ZoneResolver, ip: &str, domain: &str) -> SpfEvaluation {
        let query = CheckHost::mail_from(
            ip.parse().unwrap(),
            &format!("user@{domain}"),
            "helo.example",
        );
        check_host(zone, &query, &SpfOptions::default()).await
    }

    fn includes(n: usize, root_tail: &str) -> String {
        let mut text = String::from("example.com TXT \"v=spf1");
        for i in 0..n {
            text.push_str(&format!(" include:i{i}.example.net"));
        }
        text.push_str(&format!(" {root_tail}\"\n"));
        for i in 0..n {
            text.push_str(&format!(
                "i{i}.example.net TXT \"v=spf1 ip4:198.51.100.{i} -all\"\n"
            ));
        }
        text
    }

    #[tokio::test]
    async fn include_chain_counts_every_querying_term_once() {
        let z = zone(
            "example.com TXT \"v=spf1 ip4:203.0.113.9 include:a.example.net mx -all\"\n\
             example.com MX 10 mx.example.com\n\
             mx.example.com A 192.0.2.10\n\
             a.example.net TXT \"v=spf1 a:host.example.net include:b.example.net ~all\"\n\
             host.example.net A 192.0.2.20\n\
             b.example.net TXT \"v=spf1 exists:%{i}.allow.example.net -all\"\n",
        );
        let eval = run(&z, "192.0.2.10", "example.com").await;
        assert_eq!(eval.result, SpfResult::Pass);
        // include, a, include, exists (void), mx
        assert_eq!(eval.dns_lookups, 5);
        assert_eq!(eval.void_lookups, 1);
        let tree = eval.tree.unwrap();
        let counts: Vec<(String, usize)> = tree
            .terms
            .iter()
            .map(|t| (t.text.clone(), t.dns_lookups))
            .collect();
        let expected: Vec<(String, usize)> = [
            ("ip4:203.0.113.9", 0),
            ("include:a.example.net", 1),
            ("mx", 1),
        ]
        .iter()
        .map(|(t, n)| ((*t).to_owned(), *n))
        .collect();
        assert_eq!(counts, expected);
        let a = tree.terms[1].child.as_ref().unwrap();
        assert_eq!(a.domain, "a.example.net");
        assert_eq!(a.via, Via::Include);
        let b = a.terms[1].child.as_ref().unwrap();
        assert_eq!(b.terms[0].void_lookups, 1);
        assert_eq!(
            b.terms[0].target.as_deref(),
            Some("192.0.2.10.allow.example.net")
        );
    }

    #[tokio::test]
    async fn ten_querying_terms_pass_and_the_eleventh_is_a_permerror() {
        let at_limit = zone(&includes(10, "-all"));
        let eval = run(&at_limit, "198.51.100.9", "example.com").await;
        assert_eq!(eval.result, SpfResult::Pass);
        assert_eq!(eval.dns_lookups, 10);

        let over = zone(&includes(11, "-all"));
        let eval = run(&over, "198.51.100.10", "example.com").await;
        assert!(matches!(eval.result, SpfResult::PermError(ref c) if c.contains("10 DNS")));
        assert_eq!(eval.dns_lookups, 11);
        // The 11th include is the term that failed.
        let tree = eval.tree.unwrap();
        assert!(matches!(tree.terms[10].outcome, TermOutcome::Error(_)));
    }

    #[tokio::test]
    async fn redirect_counts_as_a_querying_term() {
        let mut text = includes(9, "redirect=r.example.org");
        text.push_str("r.example.org TXT \"v=spf1 a -all\"\nr.example.org A 192.0.2.99\n");
        let z = zone(&text);
        // 9 includes + redirect + a = 11
        let eval = run(&z, "192.0.2.99", "example.com").await;
        assert!(
            matches!(eval.result, SpfResult::PermError(_)),
            "{:?}",
            eval.result
        );
        assert_eq!(eval.dns_lookups, 11);
    }

    #[tokio::test]
    async fn the_third_void_lookup_is_a_permerror() {
        let two = zone("example.com TXT \"v=spf1 a:n1.example.com mx:n2.example.com ?all\"\n");
        let eval = run(&two, "192.0.2.1", "example.com").await;
        assert_eq!(eval.result, SpfResult::Neutral);
        assert_eq!(eval.void_lookups, 2);

        let three = zone(
            "example.com TXT \"v=spf1 a:n1.example.com mx:n2.example.com exists:n3.example.com ?all\"\n\
             n2.example.com A 192.0.2.1\n",
        );
        let eval = run(&three, "192.0.2.1", "example.com").await;
        assert!(matches!(eval.result, SpfResult::PermError(ref c) if c.contains("void")));
        assert_eq!(eval.void_lookups, 3);
    }

    #[tokio::test]
    async fn mx_with_more_than_ten_names_is_a_permerror() {
        let mut text = String::from("example.com TXT \"v=spf1 mx -all\"\n");
        for i in 0..11 {
            text.push_str(&format!("example.com MX {i} mx{i}.example.com\n"));
        }
        let eval = run(&zone(&text), "192.0.2.1", "example.com").await;
        assert!(matches!(eval.result, SpfResult::PermError(ref c) if c.contains("MX")));
        assert_eq!(eval.tree.unwrap().terms[0].names, 11);
    }

    #[tokio::test]
    async fn ptr_considers_only_the_first_ten_names() {
        let mut text = String::from("example.com TXT \"v=spf1 ptr -all\"\n");
        for i in 0..11 {
            text.push_str(&format!("1.2.0.192.in-addr.arpa PTR h{i}.example.com\n"));
            text.push_str(&format!("h{i}.example.com A 192.0.2.1\n"));
        }
        let z = zone(&text);
        let eval = run(&z, "192.0.2.1", "example.com").await;
        assert_eq!(eval.result, SpfResult::Pass);
        assert_eq!(eval.tree.unwrap().terms[0].names, 10);
        // Only 10 forward lookups follow the PTR lookup (plus TXT).
        let forward = z
            .queries()
            .iter()
            .filter(|(n, _)| n.starts_with('h'))
            .count();
        assert!(forward <= 10);
    }

    #[tokio::test]
    async fn dns_timeouts_are_temperror_and_syntax_errors_permerror_with_position() {
        let z = zone(
            "slow.example TIMEOUT\n\
             example.com TXT \"v=spf1 include:slow.example -all\"\n\
             bad.example TXT \"v=spf1 ip4:192.0.2.1 ip4:192.0.2.300 -all\"\n",
        );
        let eval = run(&z, "192.0.2.1", "example.com").await;
        assert!(matches!(eval.result, SpfResult::TempError(_)));
        let eval = run(&z, "192.0.2.1", "bad.example").await;
        assert!(matches!(eval.result, SpfResult::PermError(ref c) if c.contains("column 26")));
        assert_eq!(eval.tree.unwrap().error_position, Some(25));
    }

    #[tokio::test]
    async fn explanation_comes_from_the_failing_record_with_exp_macros() {
        let z = zone(
            "example.com TXT \"v=spf1 include:inc.example.net redirect=r.example.net exp=no.example.com\"\n\
             inc.example.net TXT \"v=spf1 -all exp=inc-why.example.net\"\n\
             inc-why.example.net TXT \"not this one\"\n\
             r.example.net TXT \"v=spf1 -all exp=why.%{d}\"\n\
             why.r.example.net TXT \"%{c} is not %{d} (%{r} at %{t})\"\n",
        );
        let options = SpfOptions {
            receiver: "mx.receiver.example".into(),
            now: 1_234,
            ..SpfOptions::default()
        };
        let query =
            CheckHost::mail_from("192.0.2.7".parse().unwrap(), "u@example.com", "h.example");
        let eval = check_host(&z, &query, &options).await;
        assert_eq!(eval.result, SpfResult::Fail);
        assert_eq!(
            eval.explanation.as_deref(),
            Some("192.0.2.7 is not r.example.net (mx.receiver.example at 1234)")
        );
    }

    #[tokio::test]
    async fn audit_mode_walks_every_branch_and_counts_past_the_limit() {
        let z = zone(&includes(12, "-all"));
        let query = CheckHost::mail_from("198.51.100.0".parse().unwrap(), "", "example.com");
        let options = SpfOptions {
            audit: true,
            ..SpfOptions::default()
        };
        let eval = check_host(&z, &query, &options).await;
        assert_eq!(eval.dns_lookups, 12);
        assert!(matches!(eval.result, SpfResult::PermError(_)));
        assert_eq!(eval.tree.unwrap().terms.len(), 13);
    }

    #[tokio::test]
    async fn initial_processing_gives_none_for_bad_domains_and_missing_records() {
        let z = zone("example.com A 192.0.2.1\n");
        assert_eq!(
            run(&z, "192.0.2.1", "example.com").await.result,
            SpfResult::None
        );
        assert_eq!(
            run(&z, "192.0.2.1", "nowhere.example").await.result,
            SpfResult::None
        );
        let query = CheckHost::helo("192.0.2.1".parse().unwrap(), "singlelabel");
        let eval = check_host(&z, &query, &SpfOptions::default()).await;
        assert_eq!(eval.result, SpfResult::None);
        assert!(eval.tree.is_none());
    }

    #[test]
    fn mail_from_identity_falls_back_to_postmaster_and_helo() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            CheckHost::mail_from(ip, "", "mx.example.com").sender,
            "postmaster@mx.example.com"
        );
        let q = CheckHost::mail_from(ip, "@example.net", "h");
        assert_eq!(
            (q.sender.as_str(), q.domain.as_str()),
            ("postmaster@example.net", "example.net")
        );
    }

    #[test]
    fn prefixes_match_on_whole_bits() {
        assert!(in_prefix(0xC000_0201, 0xC000_0200, 24, 32));
        assert!(!in_prefix(0xC000_0301, 0xC000_0200, 24, 32));
        assert!(in_prefix(1, 0xFFFF_FFFF, 0, 32));
        assert!(in_prefix(u128::MAX, u128::MAX, 128, 128));
    }
}
