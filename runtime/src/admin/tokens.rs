//! Admin API tokens: created once, shown once, stored only as SHA-256.
//!
//! Threat model: the tokens file may be read by someone who must not gain
//! admin access, and a request may be timed to guess a token. Tokens are 256
//! random bits (`wdn_` + hex), so a hash is enough to store them; every
//! stored hash is compared in constant time, and the comparison does not
//! stop at the first match.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

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
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Creator => "creator",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
            Role::Auditor => "auditor",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub hash: String,
    pub created: String,
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
pub fn name_problem(name: &str) -> Option<String> {
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

pub struct TokenStore {
    path: PathBuf,
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl TokenStore {
    pub fn new(data_dir: &Path) -> TokenStore {
        TokenStore {
            path: data_dir.join("tokens.json"),
        }
    }

    /// The records, or an error if the file exists but does not parse (a
    /// change must not start from a guess and drop everyone's tokens).
    fn read_strict(&self) -> std::io::Result<Vec<TokenRecord>> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} does not parse ({e})", self.path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn read(&self) -> Vec<TokenRecord> {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Creates a token for `name` with `role`; returns the token (the only
    /// time it exists outside the caller).
    /// Refused (`InvalidInput`) for a name [`name_problem`] rejects. The
    /// name is kept lower-cased: `Ada@example.com` and `ada@example.com`
    /// are one person, as their OIDC sign-in is.
    pub fn create(&self, name: &str, role: Role) -> std::io::Result<String> {
        let name = name.to_lowercase();
        let name = name.as_str();
        if let Some(problem) = name_problem(name) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{name}`: {problem}"),
            ));
        }
        let bytes = warden_host_apis::aead::random_key().map_err(std::io::Error::other)?;
        let token = format!("wdn_{}", hex::encode(bytes));
        crate::fsutil::update_locked(&self.path, || {
            let mut all = self.read_strict()?;
            all.push(TokenRecord {
                name: name.to_string(),
                role,
                hash: hash(&token),
                created: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
            });
            let json = serde_json::to_vec_pretty(&all).map_err(std::io::Error::other)?;
            crate::fsutil::write_atomically(&self.path, &json)
        })?;
        Ok(token)
    }

    /// The principal a presented token belongs to. A token recorded before
    /// names were checked, under a name [`name_problem`] rejects, signs in
    /// no one (it could pose as an OIDC principal); the host's log says so.
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let presented = hash(token);
        let mut found = None;
        for record in self.read() {
            if bool::from(record.hash.as_bytes().ct_eq(presented.as_bytes())) {
                found = Some(record);
            }
        }
        let record = found?;
        let name = record.name.to_lowercase();
        if let Some(problem) = name_problem(&name) {
            eprintln!(
                "warden: admin API: the token named {:?} is refused: {problem}; revoke it and create one under a plain name",
                record.name
            );
            return None;
        }
        Some(Principal {
            name,
            role: record.role,
            via: Via::Token,
        })
    }

    pub fn list(&self) -> Vec<TokenRecord> {
        self.read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_verifies_to_its_name_and_role_and_is_not_stored() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path());
        let token = store.create("alice", Role::Admin).expect("create");
        assert!(token.starts_with("wdn_") && token.len() == 68);
        assert_eq!(
            store.verify(&token),
            Some(Principal {
                name: "alice".into(),
                role: Role::Admin,
                via: Via::Token,
            })
        );
        assert_eq!(store.verify("wdn_guess"), None);
        let raw = std::fs::read_to_string(dir.path().join("tokens.json")).expect("file");
        assert!(!raw.contains(&token[4..]));
    }

    #[test]
    fn token_names_cannot_pose_as_issuer_qualified_principals() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path());
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
            let err = store.create(bad, Role::Admin).expect_err("refused");
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!(!dir.path().join("tokens.json").exists(), "nothing written");
    }

    #[test]
    fn names_are_one_case_and_a_legacy_token_with_a_bad_name_signs_in_no_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TokenStore::new(dir.path());
        let token = store
            .create("Ada@Example.com", Role::Creator)
            .expect("create");
        assert_eq!(
            store.verify(&token).map(|p| p.name).as_deref(),
            Some("ada@example.com")
        );
        // A record written before names were checked.
        let legacy = "wdn_legacy";
        let mut all: Vec<TokenRecord> = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("tokens.json")).expect("read"),
        )
        .expect("parse");
        all.push(TokenRecord {
            name: "https://idp.example.com#alice".into(),
            role: Role::Admin,
            hash: hash(legacy),
            created: String::new(),
        });
        std::fs::write(
            dir.path().join("tokens.json"),
            serde_json::to_vec(&all).expect("json"),
        )
        .expect("write");
        assert_eq!(store.verify(legacy), None);
        assert!(store.verify(&token).is_some());
    }
}
