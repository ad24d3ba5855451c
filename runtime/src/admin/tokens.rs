//! Who calls the admin API: roles, principals and the names Warden's own
//! tokens may have. The tokens themselves are kept by
//! [`super::token_store`].

use serde::{Deserialize, Serialize};

pub use super::token_store::TokenStore;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Deploys apps and reads its own.
    Creator,
    /// Approves or rejects other people's apps.
    Reviewer,
    /// Kills, quotas, secrets, templates: everything operational.
    Admin,
    /// Reads everything, the audit log included; changes nothing.
    Auditor,
    /// The company's identity provider: keeps the list of people over
    /// SCIM (`/scim/v2`), and may call nothing else.
    Scim,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Creator => "creator",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Scim => "scim",
        }
    }
}

/// How a caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A Warden token (`warden tokens create`).
    Token,
    /// A JWT from the identity provider in `[admin.oidc]`.
    Oidc,
}

/// Who a request is from.
///
/// `name` is the principal: the one name a person has in Warden whatever
/// credential they present, compared for ownership and for the
/// owner/reviewer separation. Names are namespaced by where they come
/// from, so no two sources can produce the same one by accident: a
/// Warden token's name is plain (`alice`, or a person's email), an OIDC
/// subject is qualified by its issuer (`https://idp.example.com#alice`),
/// and an OIDC email is used as is only when the provider says it is
/// verified — so a token named after a person's email and that person's
/// sign-in are one principal, as intended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub via: Via,
    /// The team the credential names (a token's `--team`, the OIDC
    /// `team_claim`), for policies (`input.request.team`); `None` when it
    /// names none.
    pub team: Option<String>,
}

impl Principal {
    /// The audit log's actor: how they signed in and who they are.
    pub fn actor(&self) -> String {
        match self.via {
            Via::Token => format!("token:{}", self.name),
            Via::Oidc => format!("oidc:{}", self.name),
        }
    }
}

/// Why `name` cannot name a token, if it cannot. Token names are plain
/// (letters, digits, `.`, `_`, `-`, `+`, `@`; at most 64), so none can
/// pose as an issuer-qualified OIDC principal (`https://…#sub`).
pub(crate) fn name_problem(name: &str) -> Option<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@');
    if name.is_empty() || name.len() > 64 {
        Some("a token name has 1 to 64 characters".into())
    } else if let Some(c) = name.chars().find(|c| !plain(*c)) {
        Some(format!(
            "a token name may hold letters, digits, `.`, `_`, `-`, `+` and `@`, not `{c}`"
        ))
    } else if name.starts_with(['-', '.']) {
        Some("a token name starts with a letter or digit".into())
    } else {
        None
    }
}

/// Why `team` cannot name a credential's team, if it cannot: 1 to 64
/// printable characters with no spaces (it is compared in policies, so
/// invisible differences would make two teams look one).
pub fn team_problem(team: &str) -> Option<String> {
    if team.is_empty() || team.chars().count() > 64 {
        return Some("a team has 1 to 64 characters".into());
    }
    team.chars()
        .find(|c| c.is_whitespace() || c.is_control())
        .map(|c| format!("a team has no spaces or control characters, not {c:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_cannot_pose_as_issuer_qualified_principals() {
        for ok in ["alice", "erin.review", "ada@example.com", "ci-bot_2", "a+b"] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "https://idp.example.com#alice",
            "idp#alice",
            "token:alice",
            "a b",
            "-flag",
            ".hidden",
            &"x".repeat(65),
        ] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
    }
}
