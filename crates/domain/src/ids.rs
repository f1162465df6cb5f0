//! Identifier newtypes. Every id is a UUIDv7 (time-ordered, so ids sort by creation).

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an id read from storage or a verified credential.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }
    };
}

id_type!(
    /// A managed service provider: the top of the tenancy tree.
    MspId
);
id_type!(
    /// A client of an MSP: the tenant key of every tenant row.
    ClientId
);
id_type!(
    /// A client's domain.
    DomainId
);
id_type!(
    /// A person who logs in.
    UserId
);
id_type!(
    /// An API token used by automation.
    ApiTokenId
);
id_type!(
    /// A stored report (aggregate, failure or TLS).
    ReportId
);
id_type!(
    /// One copy of original input bytes, content-addressed.
    RawInputId
);
id_type!(
    /// A rejected part of an input, with its reason.
    RejectionId
);
id_type!(
    /// An event on the bus; consumers use it to stay idempotent.
    EventId
);
id_type!(
    /// An issue: one (domain, finding code) that analysis tracks through its workflow.
    IssueId
);
id_type!(
    /// One entry of an issue's history (a transition, an assignment, a comment).
    IssueEventId
);
