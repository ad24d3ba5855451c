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
    /// Where the sealed entries live when nodes share them.
    shared: Option<std::sync::Arc<dyn SharedSecrets>>,
}

/// What [`SharedSecrets::update`] makes of a secret's current sealed entry
/// (JSON; `None` when there is none): the new entry and its version.
pub type SealedChange<'a> = dyn FnMut(Option<&str>) -> Result<(String, u32), SecretError> + 'a;

/// Where sealed secrets live when several nodes share them (a database).
/// The store seals and opens under the master key, which every node is
/// given; this only keeps the sealed entries (`Sealed` as JSON).
pub trait SharedSecrets: Send + Sync {
    /// Every entry: name → its sealed entry as JSON.
    fn all(&self) -> Result<BTreeMap<String, String>, SecretError>;
    /// `name`'s sealed entry as JSON, if there is one (one row: this is
    /// on the path of every connector call).
    fn one(&self, name: &str) -> Result<Option<String>, SecretError>;
    /// Replaces `name`'s entry with what `change` makes of the current one
    /// (`None`: no entry yet) — the sealed JSON and its version — with
    /// every other change of `name`, on any node, held off meanwhile.
    fn update(&self, name: &str, change: &mut SealedChange<'_>) -> Result<(), SecretError>;
    /// Where the entries are, for messages (no credentials).
    fn location(&self) -> String;
}

/// The info of the next version of `name`, after `old`.
fn next_info(name: &str, old: Option<&Sealed>) -> SecretInfo {
    let (version, created) = match old {
        Some(old) => (old.info.version + 1, old.info.created.clone()),
        None => (1, now()),
    };
    SecretInfo {
        name: name.to_string(),
        version,
        created,
        rotated: (version > 1).then(now),
    }
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
            shared: None,
        }
    }

    /// A store whose sealed entries live in `shared` (every node's).
    pub fn shared(shared: std::sync::Arc<dyn SharedSecrets>, key: MasterKey) -> SecretStore {
        SecretStore {
            path: PathBuf::from(shared.location()),
            key,
            cache: Mutex::new(None),
            shared: Some(shared),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates or replaces a secret.
    pub fn set(&self, name: &str, value: &[u8]) -> Result<SecretInfo, SecretError> {
        check_name(name)?;
        if let Some(shared) = &self.shared {
            let corrupt = |e: serde_json::Error| SecretError::Corrupt {
                path: self.path.clone(),
                message: e.to_string(),
            };
            let mut written = None;
            shared.update(name, &mut |current| {
                let old: Option<Sealed> = current
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(corrupt)?;
                let info = next_info(name, old.as_ref());
                let sealed = self.key.seal(info.clone(), value)?;
                let json = serde_json::to_string(&sealed).map_err(corrupt)?;
                let version = info.version;
                written = Some(info);
                Ok((json, version))
            })?;
            return written.ok_or_else(|| SecretError::Corrupt {
                path: self.path.clone(),
                message: "the shared store wrote nothing".into(),
            });
        }
        self.update(|all| {
            let info = next_info(name, all.get(name));
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
        if let Some(shared) = &self.shared {
            let json = shared
                .one(name)?
                .ok_or_else(|| SecretError::Missing(name.to_string()))?;
            let sealed: Sealed = serde_json::from_str(&json).map_err(|e| SecretError::Corrupt {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
            return self.key.open(&sealed);
        }
        let all = self.load()?;
        let sealed = all
            .get(name)
            .ok_or_else(|| SecretError::Missing(name.to_string()))?;
        self.key.open(sealed)
    }

    /// Every secret as it is sealed — (name, version, the sealed entry as
    /// JSON, the shape [`SharedSecrets`] keeps) — for a copy into a shared
    /// store that opens none of them.
    ///
    /// # Errors
    /// The store cannot be read or does not parse.
    pub fn sealed_entries(&self) -> Result<Vec<(String, u32, String)>, SecretError> {
        self.load()?
            .into_iter()
            .map(|(name, sealed)| {
                let json = serde_json::to_string(&sealed).map_err(|e| SecretError::Corrupt {
                    path: self.path.clone(),
                    message: e.to_string(),
                })?;
                Ok((name, sealed.info.version, json))
            })
            .collect()
    }

    fn load(&self) -> Result<BTreeMap<String, Sealed>, SecretError> {
        if let Some(shared) = &self.shared {
            return shared
                .all()?
                .into_iter()
                .map(|(name, json)| {
                    serde_json::from_str(&json)
                        .map(|sealed| (name, sealed))
                        .map_err(|e| SecretError::Corrupt {
                            path: self.path.clone(),
                            message: e.to_string(),
                        })
                })
                .collect();
        }
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
