//! A runner for OpenSPF-format test suites (the RFC 7208 suite of openspf.org, as
//! shipped with pyspf): YAML documents of `tests` and `zonedata`.
//!
//! The zone data becomes a [`ZoneResolver`] per scenario, following pyspf's test driver:
//! `SPF` (type 99) records are also served as TXT unless the name lists a `TXT` of its own
//! (`TXT: NONE` lists one that is empty), and a `TIMEOUT` entry makes a lookup time out
//! unless records of its type came before it. Each test runs `check_host()` for its
//! MAIL FROM identity (HELO when MAIL FROM is empty) with `DEFAULT` as the default
//! explanation; a result passes when it is one of the listed results, and, for `fail`,
//! when the explanation equals the expected one. Explanations compare ignoring ASCII
//! case, because they embed DNS names (`%{ir}` of an IPv6 address) whose case the suite
//! writes in upper case and RFC 7208 §7.4 in lower case.

use super::eval::{CheckHost, SpfOptions, SpfResult, check_host};
use postern_dns::{Mx, Record, Txt, ZoneEntry, ZoneResolver};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

/// The default explanation the suite expects (`explanation: DEFAULT`).
pub const DEFAULT_EXPLANATION: &str = "DEFAULT";

/// One YAML document: a description, zone data and its tests.
#[derive(Debug)]
pub struct Scenario {
    /// The `description`.
    pub description: String,
    /// The `zonedata`, ready to answer queries.
    pub zone: ZoneResolver,
    /// The `tests`, in file order.
    pub tests: Vec<SuiteTest>,
}

/// One test of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteTest {
    /// The test id (unique within its file).
    pub id: String,
    /// The client address.
    pub host: IpAddr,
    /// The MAIL FROM address (may be empty).
    pub mail_from: String,
    /// The HELO name.
    pub helo: String,
    /// Acceptable results; the first is preferred.
    pub results: Vec<String>,
    /// The expected explanation of a `fail`, if the test gives one.
    pub explanation: Option<String>,
}

/// The outcome of a suite run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuiteReport {
    /// Tests that passed.
    pub passed: usize,
    /// Tests that failed, in file order.
    pub failures: Vec<SuiteFailure>,
}

/// A failed test: what was expected and what came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteFailure {
    /// The scenario's description.
    pub scenario: String,
    /// The test id.
    pub id: String,
    /// Acceptable results.
    pub expected: Vec<String>,
    /// Expected explanation, if any.
    pub expected_explanation: Option<String>,
    /// Our result, with its cause for errors.
    pub got: String,
    /// Our explanation.
    pub got_explanation: Option<String>,
}

/// A suite that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The file cannot be read.
    #[error("cannot read {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The text is not YAML.
    #[error("not YAML: {0}")]
    Yaml(String),
    /// The YAML is not in the suite's format.
    #[error("scenario {scenario}: {reason}")]
    Format {
        /// 1-based document number.
        scenario: usize,
        /// What is wrong.
        reason: String,
    },
}

impl SuiteReport {
    /// Tests that failed.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }
}

impl fmt::Display for SuiteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.scenario.is_empty() {
            write!(f, "{} / ", self.scenario)?;
        }
        write!(f, "{}: expected {}", self.id, self.expected.join("|"))?;
        if let Some(exp) = &self.expected_explanation {
            write!(f, " ({exp:?})")?;
        }
        write!(f, ", got {}", self.got)?;
        if let Some(exp) = &self.got_explanation {
            write!(f, " ({exp:?})")?;
        }
        Ok(())
    }
}

/// Reads a suite file.
pub fn load_file(path: &Path) -> Result<Vec<Scenario>, SuiteError> {
    let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Io {
        path: path.display().to_string(),
        source,
    })?;
    load(&text)
}

/// Parses a suite: every YAML document with `tests` is a scenario.
pub fn load(text: &str) -> Result<Vec<Scenario>, SuiteError> {
    let documents = YamlLoader::load_from_str(text).map_err(|e| SuiteError::Yaml(e.to_string()))?;
    let mut scenarios = Vec::new();
    for (index, doc) in documents.iter().enumerate() {
        let bad = |reason: String| SuiteError::Format {
            scenario: index + 1,
            reason,
        };
        let Yaml::Hash(tests) = &doc["tests"] else {
            continue;
        };
        let mut parsed = Vec::new();
        for (id, test) in tests {
            let id = scalar(id).ok_or_else(|| bad("a test id is not a scalar".into()))?;
            let field = |name: &str| scalar(&test[name]).unwrap_or_default();
            let host = field("host");
            let results = match &test["result"] {
                Yaml::Array(items) => items.iter().filter_map(scalar).collect(),
                other => scalar(other).into_iter().collect(),
            };
            parsed.push(SuiteTest {
                host: host
                    .parse()
                    .map_err(|_| bad(format!("test {id}: bad host {host:?}")))?,
                mail_from: field("mailfrom"),
                helo: field("helo"),
                results,
                explanation: scalar(&test["explanation"]),
                id,
            });
        }
        scenarios.push(Scenario {
            description: scalar(&doc["description"]).unwrap_or_default(),
            zone: zone(&doc["zonedata"]).map_err(bad)?,
            tests: parsed,
        });
    }
    Ok(scenarios)
}

/// Runs every test of every scenario.
pub async fn run(scenarios: &[Scenario]) -> SuiteReport {
    let options = SpfOptions {
        default_explanation: Some(DEFAULT_EXPLANATION.to_owned()),
        ..SpfOptions::default()
    };
    let mut report = SuiteReport::default();
    for scenario in scenarios {
        for test in &scenario.tests {
            let query = CheckHost::mail_from(test.host, &test.mail_from, &test.helo);
            let outcome = check_host(&scenario.zone, &query, &options).await;
            let result_ok = test
                .results
                .iter()
                .any(|r| r.eq_ignore_ascii_case(outcome.result.as_str()));
            let explanation_ok = match (&test.explanation, &outcome.result) {
                (Some(expected), SpfResult::Fail) => outcome
                    .explanation
                    .as_deref()
                    .is_some_and(|got| got.eq_ignore_ascii_case(expected)),
                _ => true,
            };
            if result_ok && explanation_ok {
                report.passed += 1;
            } else {
                report.failures.push(SuiteFailure {
                    scenario: scenario.description.clone(),
                    id: test.id.clone(),
                    expected: test.results.clone(),
                    expected_explanation: test.explanation.clone(),
                    got: outcome.result.to_string(),
                    got_explanation: outcome.explanation,
                });
            }
        }
    }
    report
}

/// Loads and runs a suite file.
pub async fn run_file(path: &Path) -> Result<SuiteReport, SuiteError> {
    Ok(run(&load_file(path)?).await)
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(value: &Yaml) -> Option<Txt> {
    match value {
        Yaml::Array(items) => Some(Txt {
            strings: items
                .iter()
                .map(|i| scalar(i).map(String::into_bytes))
                .collect::<Option<_>>()?,
        }),
        other => scalar(other).map(Txt::single),
    }
}

/// Builds the zone from `zonedata` the way pyspf's test driver does.
fn zone(data: &Yaml) -> Result<ZoneResolver, String> {
    let mut zone = ZoneResolver::new();
    let Yaml::Hash(names) = data else {
        return Ok(zone);
    };
    for (name, entries) in names {
        let name = scalar(name).ok_or("a zone name is not a scalar")?;
        let Yaml::Array(entries) = entries else {
            return Err(format!("{name}: entries are not a list"));
        };
        let mut generated = Vec::new();
        let mut has_txt = false;
        for entry in entries {
            let Yaml::Hash(map) = entry else {
                match scalar(entry).as_deref() {
                    Some("TIMEOUT") => {
                        zone.add_entry(&name, ZoneEntry::Timeout);
                        continue;
                    }
                    _ => return Err(format!("{name}: unknown entry {entry:?}")),
                }
            };
            for (rtype, value) in map {
                let rtype = scalar(rtype).ok_or_else(|| format!("{name}: bad record type"))?;
                let bad = || format!("{name}: bad {rtype} value {value:?}");
                if scalar(value).as_deref() == Some("NONE") {
                    has_txt |= rtype == "TXT";
                    continue;
                }
                let text = || scalar(value).ok_or_else(bad);
                let record = match rtype.as_str() {
                    "SPF" => {
                        let txt = strings(value).ok_or_else(bad)?;
                        generated.push(txt.clone());
                        Record::Spf(txt)
                    }
                    "TXT" => {
                        has_txt = true;
                        Record::Txt(strings(value).ok_or_else(bad)?)
                    }
                    "A" => Record::A(text()?.parse().map_err(|_| bad())?),
                    "AAAA" => Record::Aaaa(text()?.parse().map_err(|_| bad())?),
                    "PTR" => Record::Ptr(text()?.trim_end_matches('.').to_owned()),
                    "CNAME" => Record::Cname(text()?.trim_end_matches('.').to_owned()),
                    "MX" => {
                        let Yaml::Array(pair) = value else {
                            return Err(bad());
                        };
                        let [preference, exchange] = pair.as_slice() else {
                            return Err(bad());
                        };
                        Record::Mx(Mx {
                            preference: scalar(preference)
                                .and_then(|p| p.parse().ok())
                                .ok_or_else(bad)?,
                            exchange: scalar(exchange)
                                .ok_or_else(bad)?
                                .trim_end_matches('.')
                                .to_ascii_lowercase(),
                        })
                    }
                    _ => return Err(format!("{name}: unknown record type {rtype}")),
                };
                zone.add(&name, record);
            }
        }
        if !has_txt {
            for txt in generated {
                zone.add(&name, Record::Txt(txt));
            }
        }
    }
    Ok(zone)
}
