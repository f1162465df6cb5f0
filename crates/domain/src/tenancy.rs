//! Roles, principals and the tenant scope every repository call is made under.
//!
//! A [`TenantScope`] is built only from a verified [`Principal`] (a JWT or an API token);
//! never from a request argument.

use crate::ids::{ApiTokenId, ClientId, MspId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What a membership or an API token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Owns the MSP: everything, including other owners.
    MspOwner,
    /// Manages clients, domains, users and tokens of the MSP.
    MspAdmin,
    /// Works the MSP's clients day to day: domains, issues, imports.
    MspOperator,
    /// Reads everything of the MSP, changes nothing.
    MspViewer,
    /// Manages one client's users and tokens, reads its data.
    ClientAdmin,
    /// Reads one client's data.
    ClientViewer,
}

/// The string is not one of the role names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct RoleParseError(pub String);

impl Role {
    pub const ALL: [Role; 6] = [
        Role::MspOwner,
        Role::MspAdmin,
        Role::MspOperator,
        Role::MspViewer,
        Role::ClientAdmin,
        Role::ClientViewer,
    ];

    /// The stable name used in storage, tokens and the API (`msp_owner`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::MspOwner => "msp_owner",
            Role::MspAdmin => "msp_admin",
            Role::MspOperator => "msp_operator",
            Role::MspViewer => "msp_viewer",
            Role::ClientAdmin => "client_admin",
            Role::ClientViewer => "client_viewer",
        }
    }

    pub fn parse(s: &str) -> Result<Self, RoleParseError> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| RoleParseError(s.to_owned()))
    }

    /// MSP staff roles reach every client of their MSP; client roles reach one client.
    pub fn is_msp_staff(self) -> bool {
        matches!(
            self,
            Role::MspOwner | Role::MspAdmin | Role::MspOperator | Role::MspViewer
        )
    }

    /// Rank within its family; a principal may grant only roles of equal or lower rank.
    fn rank(self) -> u8 {
        match self {
            Role::MspOwner => 6,
            Role::MspAdmin => 5,
            Role::MspOperator => 4,
            Role::MspViewer => 3,
            Role::ClientAdmin => 2,
            Role::ClientViewer => 1,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = RoleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s)
    }
}

/// Which clients of its MSP a principal reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientReach {
    /// Every client of the MSP (MSP staff, MSP-scoped tokens).
    All,
    /// Exactly one client (client users, client-scoped tokens).
    One(ClientId),
}

/// Who made a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalKind {
    User(UserId),
    ApiToken(ApiTokenId),
}

/// A verified caller: a user from a JWT or automation from an API token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub scope: TenantScope,
}

/// The tenant a request acts for, derived only from a verified credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantScope {
    pub msp: MspId,
    pub reach: ClientReach,
    pub role: Role,
    /// The MSP operates this installation (the first MSP, made at bootstrap). Its owners and
    /// admins see inputs that belong to no client yet (unassigned and unattributed rejects).
    pub operator: bool,
}

impl TenantScope {
    /// Scope of an MSP-wide principal.
    pub fn msp(msp: MspId, role: Role, operator: bool) -> Self {
        Self {
            msp,
            reach: ClientReach::All,
            role,
            operator,
        }
    }

    /// Scope of a principal bound to one client.
    pub fn client(msp: MspId, client: ClientId, role: Role) -> Self {
        Self {
            msp,
            reach: ClientReach::One(client),
            role,
            operator: false,
        }
    }

    /// The single client this scope is bound to, if any.
    pub fn client_id(&self) -> Option<ClientId> {
        match self.reach {
            ClientReach::All => None,
            ClientReach::One(c) => Some(c),
        }
    }

    /// Whether a row owned by (`msp`, `client`) is visible.
    pub fn reaches(&self, msp: MspId, client: ClientId) -> bool {
        msp == self.msp
            && match self.reach {
                ClientReach::All => true,
                ClientReach::One(c) => c == client,
            }
    }

    /// Create and rename clients.
    pub fn can_manage_clients(&self) -> bool {
        matches!(self.reach, ClientReach::All)
            && matches!(self.role, Role::MspOwner | Role::MspAdmin)
    }

    /// Add and remove domains, import reports.
    pub fn can_operate(&self) -> bool {
        matches!(self.reach, ClientReach::All)
            && matches!(
                self.role,
                Role::MspOwner | Role::MspAdmin | Role::MspOperator
            )
    }

    /// Upload reports through the API (any role that may write, and client admins for
    /// their own client).
    pub fn can_upload_reports(&self) -> bool {
        self.can_operate() || self.role == Role::ClientAdmin
    }

    /// Create users and API tokens (within this scope).
    pub fn can_manage_access(&self) -> bool {
        matches!(
            self.role,
            Role::MspOwner | Role::MspAdmin | Role::ClientAdmin
        )
    }

    /// Whether this scope may grant `role` to someone bound to `client` (None = MSP-wide).
    pub fn can_grant(&self, role: Role, client: Option<ClientId>) -> bool {
        if !self.can_manage_access() || role.rank() > self.role.rank() {
            return false;
        }
        match (self.reach, role.is_msp_staff(), client) {
            // MSP-wide roles are MSP-wide grants.
            (ClientReach::All, true, None) => true,
            (ClientReach::All, false, Some(_)) => true,
            (ClientReach::One(mine), false, Some(c)) => mine == c,
            _ => false,
        }
    }

    /// Sees inputs that belong to no client yet.
    pub fn sees_unassigned(&self) -> bool {
        self.operator
            && matches!(self.reach, ClientReach::All)
            && matches!(self.role, Role::MspOwner | Role::MspAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()).unwrap(), r);
        }
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn client_scope_reaches_only_its_client() {
        let msp = MspId::new();
        let a = ClientId::new();
        let b = ClientId::new();
        let s = TenantScope::client(msp, a, Role::ClientAdmin);
        assert!(s.reaches(msp, a));
        assert!(!s.reaches(msp, b));
        assert!(!s.reaches(MspId::new(), a));
        assert!(!s.can_manage_clients());
        assert!(!s.sees_unassigned());
    }

    #[test]
    fn msp_scope_reaches_only_its_msp() {
        let msp = MspId::new();
        let s = TenantScope::msp(msp, Role::MspViewer, true);
        assert!(s.reaches(msp, ClientId::new()));
        assert!(!s.reaches(MspId::new(), ClientId::new()));
        assert!(!s.can_operate());
        assert!(!s.sees_unassigned());
    }

    #[test]
    fn grants_never_exceed_own_role_or_reach() {
        let msp = MspId::new();
        let c = ClientId::new();
        let admin = TenantScope::msp(msp, Role::MspAdmin, false);
        assert!(admin.can_grant(Role::MspOperator, None));
        assert!(admin.can_grant(Role::ClientViewer, Some(c)));
        assert!(!admin.can_grant(Role::MspOwner, None));
        assert!(!admin.can_grant(Role::MspViewer, Some(c)));
        let cadmin = TenantScope::client(msp, c, Role::ClientAdmin);
        assert!(cadmin.can_grant(Role::ClientViewer, Some(c)));
        assert!(!cadmin.can_grant(Role::ClientViewer, Some(ClientId::new())));
        assert!(!cadmin.can_grant(Role::MspViewer, None));
        let viewer = TenantScope::msp(msp, Role::MspViewer, false);
        assert!(!viewer.can_grant(Role::ClientViewer, Some(c)));
    }
}
