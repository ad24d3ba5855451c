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

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
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
    pub fn create(&self, name: &str, role: Role) -> std::io::Result<String> {
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

    /// The principal a presented token belongs to.
    pub fn verify(&self, token: &str) -> Option<Principal> {
        let presented = hash(token);
        let mut found = None;
        for record in self.read() {
            if bool::from(record.hash.as_bytes().ct_eq(presented.as_bytes())) {
                found = Some(Principal {
                    name: record.name,
                    role: record.role,
                });
            }
        }
        found
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
                role: Role::Admin
            })
        );
        assert_eq!(store.verify("wdn_guess"), None);
        let raw = std::fs::read_to_string(dir.path().join("tokens.json")).expect("file");
        assert!(!raw.contains(&token[4..]));
    }
}
