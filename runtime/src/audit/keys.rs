//! The keys audit checkpoints are signed with: an Ed25519 key held in the
//! secret store (sealed under the master key), and the list of every
//! checkpoint key the log has used, each with its validity window, so a
//! checkpoint signed before a rotation keeps verifying with the key it
//! was signed with — and one signed by a key outside its window does not.

use crate::attest::{keyid, pem_of};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use warden_host_apis::secrets::{SecretError, SecretStore};

/// The secret holding the current signing key (PKCS#8).
pub const KEY_SECRET: &str = "warden.audit-key";
/// The secret holding the last checkpoint signed ([`Mark`]).
pub const MARK_SECRET: &str = "warden.audit-mark";

/// The last checkpoint signed: where it is and its signature, sealed in
/// the secret store, so a log cut after an earlier checkpoint (or with
/// every checkpoint taken out) is caught by whoever holds the master key —
/// the log's files alone cannot move it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The checkpoint entry's sequence number.
    pub seq: u64,
    pub signature: String,
}

impl Mark {
    /// Whether `entries` hold this checkpoint, at its place.
    pub fn held_by(&self, entries: &[super::AuditEntry]) -> bool {
        super::checkpoint::at_seq(entries, self.seq)
            .and_then(super::checkpoint::Checkpoint::of)
            .is_some_and(|c| c.signature == self.signature)
    }
}

/// The last checkpoint signed, if one was.
///
/// # Errors
/// The secret store cannot be read, or the mark does not parse.
pub fn mark(secrets: &SecretStore) -> Result<Option<Mark>, KeyError> {
    match secrets.get(MARK_SECRET) {
        Ok(value) => serde_json::from_slice(value.expose())
            .map(Some)
            .map_err(|e| KeyError::List(e.to_string())),
        Err(SecretError::Missing(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Records `mark` as the last checkpoint signed.
///
/// # Errors
/// The secret store cannot be written.
pub fn set_mark(secrets: &SecretStore, mark: &Mark) -> Result<(), KeyError> {
    let json = serde_json::to_vec(mark).map_err(|e| KeyError::List(e.to_string()))?;
    secrets.set(MARK_SECRET, &json)?;
    Ok(())
}

/// The keys and the last checkpoint signed: what `audit verify` trusts.
///
/// # Errors
/// The secret store cannot be read.
pub fn trust(secrets: &SecretStore) -> Result<(Vec<PublicKeyInfo>, Option<Mark>), KeyError> {
    Ok((keys(secrets)?, mark(secrets)?))
}

/// The secret holding every checkpoint key's public half and window
/// (JSON), so the list is sealed and versioned like any secret.
pub const KEYS_SECRET: &str = "warden.audit-keys";

/// One checkpoint key as `warden audit keys` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKeyInfo {
    /// Hex SHA-256 of the raw public key.
    pub keyid: String,
    /// The public key as PEM (SubjectPublicKeyInfo).
    pub public_key_pem: String,
    /// RFC 3339: checkpoints signed from then on may use it.
    pub valid_from: String,
    /// RFC 3339: when it was rotated out (`None`: the current key).
    pub valid_until: Option<String>,
}

impl PublicKeyInfo {
    /// The raw 32-byte key.
    pub(crate) fn raw(&self) -> Option<Vec<u8>> {
        crate::attest::parse_public_key(&self.public_key_pem).ok()
    }

    /// Whether a signature made at `time` (RFC 3339) falls in the window.
    pub(crate) fn valid_at(&self, time: &str) -> bool {
        let at = |t: &str| humantime::parse_rfc3339_weak(t).ok();
        let until = match self.valid_until.as_deref() {
            None => None,
            // A window whose end does not read is closed, not open.
            Some(text) => match at(text) {
                Some(until) => Some(until),
                None => return false,
            },
        };
        match (at(time), at(&self.valid_from)) {
            (Some(t), Some(from)) => t >= from && until.is_none_or(|until| t <= until),
            _ => false,
        }
    }

    /// Whether `signature` (raw) over `message` was made with this key.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.raw().is_some_and(|raw| {
            UnparsedPublicKey::new(&ED25519, raw)
                .verify(message, signature)
                .is_ok()
        })
    }
}

/// Why a checkpoint key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the audit checkpoint key cannot be read or kept in the secret store: {0}")]
    Secrets(#[from] SecretError),
    #[error("the audit checkpoint key is not a valid Ed25519 key: {0}")]
    Key(String),
    #[error("the list of audit checkpoint keys does not parse: {0}")]
    List(String),
}

/// The current checkpoint key.
pub struct CheckpointSigner {
    pair: Ed25519KeyPair,
    pub keyid: String,
}

impl CheckpointSigner {
    /// `message` signed (raw 64 bytes).
    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn generate() -> Result<Vec<u8>, KeyError> {
    Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
        .map(|k| k.as_ref().to_vec())
        .map_err(|e| KeyError::Key(e.to_string()))
}

fn pair(pkcs8: &[u8]) -> Result<Ed25519KeyPair, KeyError> {
    Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| KeyError::Key(e.to_string()))
}

/// Every checkpoint key the log has used, oldest first (none yet: empty).
///
/// # Errors
/// The secret store cannot be read, or the list does not parse.
pub fn keys(secrets: &SecretStore) -> Result<Vec<PublicKeyInfo>, KeyError> {
    match secrets.get(KEYS_SECRET) {
        Ok(value) => {
            serde_json::from_slice(value.expose()).map_err(|e| KeyError::List(e.to_string()))
        }
        Err(SecretError::Missing(_)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn save(secrets: &SecretStore, list: &[PublicKeyInfo]) -> Result<(), KeyError> {
    let json = serde_json::to_vec(list).map_err(|e| KeyError::List(e.to_string()))?;
    secrets.set(KEYS_SECRET, &json)?;
    Ok(())
}

/// The current key, made on first use; the list names it whatever a
/// crash between the two writes left (the key is written first).
///
/// # Errors
/// The secret store cannot be read or written, or holds a bad key.
pub fn current(secrets: &SecretStore) -> Result<CheckpointSigner, KeyError> {
    let pkcs8 = match secrets.get(KEY_SECRET) {
        Ok(value) => value.expose().to_vec(),
        Err(SecretError::Missing(_)) => {
            let pkcs8 = generate()?;
            secrets.set(KEY_SECRET, &pkcs8)?;
            pkcs8
        }
        Err(e) => return Err(e.into()),
    };
    let pair = pair(&pkcs8)?;
    let keyid = keyid(pair.public_key().as_ref());
    let mut list = keys(secrets)?;
    if !list.iter().any(|k| k.keyid == keyid) {
        let at = now();
        for k in list.iter_mut().filter(|k| k.valid_until.is_none()) {
            k.valid_until = Some(at.clone());
        }
        list.push(PublicKeyInfo {
            keyid: keyid.clone(),
            public_key_pem: pem_of(pair.public_key().as_ref()),
            valid_from: at,
            valid_until: None,
        });
        save(secrets, &list)?;
    }
    Ok(CheckpointSigner { pair, keyid })
}

/// Replaces the current key with a new one: the old key's window closes
/// now (its checkpoints keep verifying), the new one's opens. Returns the
/// old key's id (if there was one) and the new key.
///
/// # Errors
/// The secret store cannot be read or written.
pub fn rotate(secrets: &SecretStore) -> Result<(Option<String>, PublicKeyInfo), KeyError> {
    let old = match secrets.get(KEY_SECRET) {
        Ok(value) => Some(keyid(pair(value.expose())?.public_key().as_ref())),
        Err(SecretError::Missing(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let pkcs8 = generate()?;
    secrets.set(KEY_SECRET, &pkcs8)?;
    let fresh = current(secrets)?;
    let info = keys(secrets)?
        .into_iter()
        .find(|k| k.keyid == fresh.keyid)
        .ok_or_else(|| KeyError::List("the new key is not listed".into()))?;
    Ok((old, info))
}
