//! The embedded secret store: connector credentials, encrypted at rest.
//!
//! Threat model: the data directory may be copied or backed up by people
//! who must not learn the credentials; guests must never see them at all.
//! Each value is sealed with AES-256-GCM under the platform master key, with
//! a fresh random nonce and the secret's name as associated data (so a
//! ciphertext cannot be moved to another name). The master key comes from
//! `WARDEN_MASTER_KEY` (64 hex digits), else the file `secrets.master_key_file`
//! names, else `<data_dir>/master.key`, created with mode 0600 on first use.
//!
//! Values leave this module only as [`SecretValue`], whose `Debug` and
//! `Display` print `***`; listing shows names, versions and times only.
//! Writes replace the file atomically under an exclusive lock.

mod crypto;
mod file;

pub use crypto::MasterKey;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// A secret's value. Deliberately unprintable.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretValue(bytes)
    }

    /// The raw bytes, for the one place that puts them on the wire.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// What `warden secrets list` shows: never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInfo {
    pub name: String,
    pub version: u32,
    pub created: String,
    pub rotated: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sealed {
    info: SecretInfo,
    nonce: String,
    ciphertext: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret store {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "secret `{0}` cannot be decrypted with this master key (wrong key, or the store was tampered with)"
    )]
    Decrypt(String),
    #[error("no secret named `{0}`; create it with `warden secrets set {0}`")]
    Missing(String),
    #[error("`{0}` is not a valid secret name; use a-z, 0-9, '-', '_' and '.'")]
    BadName(String),
    #[error("master key: {0}")]
    MasterKey(String),
}

pub struct SecretStore {
    path: PathBuf,
    key: MasterKey,
    cache: Mutex<Option<(SystemTime, BTreeMap<String, Sealed>)>>,
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn check_name(name: &str) -> Result<(), SecretError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(SecretError::BadName(name.to_string()))
    }
}

impl SecretStore {
    /// Opens (or will create) `<data_dir>/secrets.json` under `key`.
    pub fn open(data_dir: &Path, key: MasterKey) -> SecretStore {
        SecretStore {
            path: data_dir.join("secrets.json"),
            key,
            cache: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates or replaces a secret.
    pub fn set(&self, name: &str, value: &[u8]) -> Result<SecretInfo, SecretError> {
        check_name(name)?;
        self.update(|all| {
            let (version, created) = match all.get(name) {
                Some(old) => (old.info.version + 1, old.info.created.clone()),
                None => (1, now()),
            };
            let rotated = (version > 1).then(now);
            let info = SecretInfo {
                name: name.to_string(),
                version,
                created,
                rotated,
            };
            all.insert(name.to_string(), self.key.seal(info.clone(), value)?);
            Ok(info)
        })
    }

    /// Replaces an existing secret's value; fails if it does not exist.
    pub fn rotate(&self, name: &str, value: &[u8]) -> Result<SecretInfo, SecretError> {
        check_name(name)?;
        if !self.load()?.contains_key(name) {
            return Err(SecretError::Missing(name.to_string()));
        }
        self.set(name, value)
    }

    pub fn list(&self) -> Result<Vec<SecretInfo>, SecretError> {
        Ok(self.load()?.values().map(|s| s.info.clone()).collect())
    }

    /// The current value of `name`. Re-reads the file when another process
    /// changed it (a rotation takes effect on the next call).
    pub fn get(&self, name: &str) -> Result<SecretValue, SecretError> {
        let all = self.load()?;
        let sealed = all
            .get(name)
            .ok_or_else(|| SecretError::Missing(name.to_string()))?;
        self.key.open(sealed)
    }

    fn load(&self) -> Result<BTreeMap<String, Sealed>, SecretError> {
        let modified = match std::fs::metadata(&self.path) {
            Ok(meta) => meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
            Err(source) => {
                return Err(SecretError::Io {
                    path: self.path.clone(),
                    source,
                });
            }
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, all)) = cache.as_ref()
            && *at == modified
        {
            return Ok(all.clone());
        }
        let all = file::read(&self.path)?;
        *cache = Some((modified, all.clone()));
        Ok(all)
    }

    fn update<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<String, Sealed>) -> Result<T, SecretError>,
    ) -> Result<T, SecretError> {
        let result = file::update(&self.path, f);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
        result
    }
}

#[cfg(test)]
mod tests;
