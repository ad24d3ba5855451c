//! AES-256-GCM sealing shared by the secret store and classified storage:
//! a fresh random 96-bit nonce per message, prefixed to the ciphertext, and
//! associated data that binds the ciphertext to where it belongs.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

/// Bytes of nonce at the front of every sealed message.
pub const NONCE: usize = 12;

/// `nonce || ciphertext+tag`. Fails only if the OS has no randomness.
pub fn seal(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, String> {
    let mut nonce = [0u8; NONCE];
    getrandom::fill(&mut nonce).map_err(|e| format!("no randomness: {e}"))?;
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| "encryption failed".to_string())?;
    let mut out = Vec::with_capacity(NONCE + ciphertext.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens what [`seal`] produced with the same key and associated data.
pub fn open(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

/// A new random 256-bit key.
pub fn random_key() -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| format!("no randomness: {e}"))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_context() {
        let key = [1u8; 32];
        let sealed = seal(&key, b"salary: 100k", b"app/bucket/key").unwrap_or_default();
        assert_eq!(
            open(&key, &sealed, b"app/bucket/key").as_deref(),
            Some(&b"salary: 100k"[..])
        );
        assert!(open(&[2u8; 32], &sealed, b"app/bucket/key").is_none());
        assert!(open(&key, &sealed, b"app/bucket/other").is_none());
        assert!(!sealed.windows(6).any(|w| w == b"salary"));
    }
}
