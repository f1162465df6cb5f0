//! Validated DNS domain names.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntactically valid DNS name in canonical form: lower case, no trailing dot,
/// at least two labels, labels of 1–63 octets of letters, digits, `-` and `_`, at most 253 octets.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DomainName(String);

/// Why a string is not a [`DomainName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainNameError {
    #[error("domain name is empty")]
    Empty,
    #[error("domain name is longer than 253 octets")]
    TooLong,
    #[error("domain name needs at least two labels")]
    SingleLabel,
    #[error("label {0:?} is empty or longer than 63 octets")]
    BadLabelLength(String),
    #[error("label {0:?} has a character other than letters, digits, '-' or '_'")]
    BadCharacter(String),
    #[error("label {0:?} starts or ends with '-'")]
    BadHyphen(String),
}

impl DomainName {
    /// Parses and canonicalises a name (`Example.COM.` becomes `example.com`).
    pub fn parse(input: &str) -> Result<Self, DomainNameError> {
        let trimmed = input.trim();
        let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
        if trimmed.is_empty() {
            return Err(DomainNameError::Empty);
        }
        if trimmed.len() > 253 {
            return Err(DomainNameError::TooLong);
        }
        let lower = trimmed.to_ascii_lowercase();
        let mut labels = 0;
        for label in lower.split('.') {
            labels += 1;
            if label.is_empty() || label.len() > 63 {
                return Err(DomainNameError::BadLabelLength(label.to_owned()));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(DomainNameError::BadCharacter(label.to_owned()));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(DomainNameError::BadHyphen(label.to_owned()));
            }
        }
        if labels < 2 {
            return Err(DomainNameError::SingleLabel);
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DomainName {
    type Error = DomainNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<DomainName> for String {
    fn from(value: DomainName) -> String {
        value.0
    }
}

impl std::str::FromStr for DomainName {
    type Err = DomainNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalises_case_and_trailing_dot() {
        assert_eq!(
            DomainName::parse("Example.COM.").unwrap().as_str(),
            "example.com"
        );
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(DomainName::parse(""), Err(DomainNameError::Empty));
        assert_eq!(
            DomainName::parse("localhost"),
            Err(DomainNameError::SingleLabel)
        );
        assert!(matches!(
            DomainName::parse("a..b"),
            Err(DomainNameError::BadLabelLength(_))
        ));
        assert!(matches!(
            DomainName::parse("exa mple.com"),
            Err(DomainNameError::BadCharacter(_))
        ));
        assert!(matches!(
            DomainName::parse("-a.com"),
            Err(DomainNameError::BadHyphen(_))
        ));
        assert_eq!(
            DomainName::parse(&"a.".repeat(130)),
            Err(DomainNameError::TooLong)
        );
    }

    #[test]
    fn accepts_underscore_labels() {
        assert!(DomainName::parse("_dmarc.example.com").is_ok());
    }
}
