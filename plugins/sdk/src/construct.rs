//! Small constructors so rules read as what they say.

use crate::{
    DnsRecordChange, Evidence, Finding, FixStep, FixStepKind, RuleInfo, Severity, Verification,
};

impl RuleInfo {
    /// A rule's description: `id`, `version`, `title` and the facts it reads.
    pub fn new(id: &str, version: &str, title: &str, reads: &[&str]) -> Self {
        Self {
            id: id.to_owned(),
            version: version.to_owned(),
            title: title.to_owned(),
            reads: reads.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

impl Evidence {
    /// One piece of evidence.
    pub fn new(label: &str, value: impl ToString) -> Self {
        Self {
            label: label.to_owned(),
            value: value.to_string(),
        }
    }
}

impl FixStep {
    /// A step without a DNS record.
    pub fn new(kind: FixStepKind, title: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            kind,
            title: title.into(),
            detail: detail.into(),
            record: None,
        }
    }

    /// The same step, carrying a DNS record change.
    pub fn with_record(mut self, record: DnsRecordChange) -> Self {
        self.record = Some(record);
        self
    }
}

impl DnsRecordChange {
    /// A TXT record change at `name` from `current` (if any) to `proposed`.
    pub fn txt(
        name: impl Into<String>,
        current: Option<String>,
        proposed: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            record_type: "TXT".to_owned(),
            current,
            proposed: proposed.into(),
        }
    }
}

impl Finding {
    /// A finding with no evidence and no fix steps yet.
    pub fn new(
        code: &str,
        severity: Severity,
        title: impl Into<String>,
        explanation: impl Into<String>,
        verification: impl Into<String>,
    ) -> Self {
        Self {
            code: code.to_owned(),
            severity,
            title: title.into(),
            explanation: explanation.into(),
            evidence: Vec::new(),
            fix_steps: Vec::new(),
            verification: Verification {
                description: verification.into(),
            },
        }
    }

    /// Adds a piece of evidence.
    pub fn evidence(mut self, label: &str, value: impl ToString) -> Self {
        self.evidence.push(Evidence::new(label, value));
        self
    }

    /// Adds the next fix step.
    pub fn step(mut self, step: FixStep) -> Self {
        self.fix_steps.push(step);
        self
    }
}
