//! Sealing and opening secret values with the master key.

use super::{Sealed, SecretError, SecretInfo, SecretValue};
use std::path::Path;

/// The 256-bit key every secret is sealed under.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

fn parse_hex(text: &str, origin: &str) -> Result<MasterKey, SecretError> {
    let bytes = hex::decode(text.trim()).map_err(|_| {
        SecretError::MasterKey(format!(
            "{origin} is not hex; it must be 64 hex digits (32 bytes)"
        ))
    })?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| {
        SecretError::MasterKey(format!("{origin} must be 64 hex digits (32 bytes)"))
    })?;
    Ok(MasterKey(key))
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    /// A key for one `purpose` (`b"warden artifact seal v1"`), derived with
    /// HKDF-SHA256 (RFC 5869), so no two uses share key material and the
    /// master key itself never leaves this type.
    ///
    /// # Errors
    /// Only if the HKDF output length were invalid (32 bytes is valid).
    pub fn derive(&self, purpose: &[u8]) -> Result<[u8; 32], String> {
        use ring::hkdf::{HKDF_SHA256, Salt};
        let mut out = [0u8; 32];
        let info = [purpose];
        Salt::new(HKDF_SHA256, b"warden")
            .extract(&self.0)
            .expand(&info, HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut out))
            .map_err(|_| "HKDF-SHA256 could not derive a 32-byte key".to_string())?;
        Ok(out)
    }

    /// Wraps a data key (or any small secret) under the master key.
    pub fn wrap(&self, data: &[u8], context: &[u8]) -> Result<Vec<u8>, String> {
        crate::aead::seal(&self.0, data, context)
    }

    /// Unwraps what [`MasterKey::wrap`] produced.
    pub fn unwrap_key(&self, sealed: &[u8], context: &[u8]) -> Option<Vec<u8>> {
        crate::aead::open(&self.0, sealed, context)
    }

    /// `env` (the value of `WARDEN_MASTER_KEY`) wins, then `file`; with
    /// neither, `default_file` is read, or created with a new random key.
    pub fn resolve(
        env: Option<String>,
        file: Option<&Path>,
        default_file: &Path,
    ) -> Result<MasterKey, SecretError> {
        if let Some(text) = env.filter(|t| !t.trim().is_empty()) {
            return parse_hex(&text, "WARDEN_MASTER_KEY");
        }
        let path = file.unwrap_or(default_file);
        match std::fs::read_to_string(path) {
            Ok(text) => parse_hex(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file.is_none() => {
                Self::create(path)
            }
            Err(e) => Err(SecretError::MasterKey(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    fn create(path: &Path) -> Result<MasterKey, SecretError> {
        let key = crate::aead::random_key().map_err(SecretError::MasterKey)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                SecretError::MasterKey(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        // Linked into place only if no key is there yet: two first starts
        // at once agree on one key instead of the second replacing the first.
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        write_private(&tmp, hex::encode(key).as_bytes())
            .map_err(|e| SecretError::MasterKey(format!("cannot write {}: {e}", tmp.display())))?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(MasterKey(key)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    SecretError::MasterKey(format!("cannot read {}: {e}", path.display()))
                })?;
                parse_hex(&text, &path.display().to_string())
            }
            Err(e) => Err(SecretError::MasterKey(format!(
                "cannot create {}: {e}",
                path.display()
            ))),
        }
    }

    /// Seals `value` under the master key, bound to the secret's name.
    /// Stored as separate nonce and ciphertext fields (the file format).
    pub(super) fn seal(&self, info: SecretInfo, value: &[u8]) -> Result<Sealed, SecretError> {
        let sealed = crate::aead::seal(&self.0, value, info.name.as_bytes())
            .map_err(SecretError::MasterKey)?;
        let (nonce, ciphertext) = sealed.split_at(crate::aead::NONCE);
        Ok(Sealed {
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
            info,
        })
    }

    pub(super) fn open(&self, sealed: &Sealed) -> Result<SecretValue, SecretError> {
        let name = &sealed.info.name;
        let decrypt = || SecretError::Decrypt(name.clone());
        let mut joined = hex::decode(&sealed.nonce).map_err(|_| decrypt())?;
        if joined.len() != crate::aead::NONCE {
            return Err(decrypt());
        }
        joined.extend(hex::decode(&sealed.ciphertext).map_err(|_| decrypt())?);
        crate::aead::open(&self.0, &joined, name.as_bytes())
            .map(SecretValue)
            .ok_or_else(decrypt)
    }
}

/// Writes a file only its owner can read.
pub(super) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}
