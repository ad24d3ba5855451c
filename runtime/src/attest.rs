//! Signed attestations of publish decisions, checkable offline.
//!
//! Each decision on a deploy (live, held, refused, then approved or
//! rejected) is an in-toto Statement v1
//! (<https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>)
//! whose subjects are the component and the manifest, by SHA-256, with a
//! SLSA Verification Summary predicate
//! (<https://slsa.dev/spec/v1.0/verification_summary>): policy revision,
//! result, time, verifier — plus the decision's findings and the approval
//! history. It is signed as a DSSE envelope
//! (<https://github.com/secure-systems-lab/dsse/blob/master/envelope.md>)
//! with an Ed25519 key kept in the host's secret store.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use warden_host_apis::secrets::{SecretError, SecretStore};

/// The secret holding the signing key (PKCS#8).
pub const KEY_SECRET: &str = "warden.attestation-key";
/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/verification_summary/v1";

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the key's 32
/// bytes follow.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("the attestation key cannot be read from the secret store: {0}")]
    Secrets(#[from] SecretError),
    #[error("the attestation key is not a valid Ed25519 key: {0}")]
    Key(String),
    #[error("not a DSSE envelope: {0}")]
    Envelope(String),
    #[error(
        "the signature does not verify with key {keyid}: the envelope was changed or signed by another key"
    )]
    Signature { keyid: String },
    #[error("not a public key: {0}")]
    PublicKey(String),
}

/// The host's signing key.
pub struct Signer {
    pair: Ed25519KeyPair,
    /// Hex SHA-256 of the raw public key.
    pub keyid: String,
}

impl Signer {
    /// The key in `secrets`, created there on first use.
    ///
    /// # Errors
    /// The secret store cannot be read or written, or holds a key that is
    /// not Ed25519 PKCS#8.
    pub fn open_or_create(secrets: &SecretStore) -> Result<Signer, AttestError> {
        let pkcs8 = match secrets.get(KEY_SECRET) {
            Ok(value) => value.expose().to_vec(),
            Err(SecretError::Missing(_)) => {
                let rng = ring::rand::SystemRandom::new();
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|e| AttestError::Key(e.to_string()))?;
                secrets.set(KEY_SECRET, pkcs8.as_ref())?;
                pkcs8.as_ref().to_vec()
            }
            Err(e) => return Err(e.into()),
        };
        Signer::from_pkcs8(&pkcs8)
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Result<Signer, AttestError> {
        let pair =
            Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|e| AttestError::Key(e.to_string()))?;
        let keyid = keyid(pair.public_key().as_ref());
        Ok(Signer { pair, keyid })
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key as PEM (SubjectPublicKeyInfo), for `--key`.
    pub fn public_key_pem(&self) -> String {
        pem_of(self.public_key())
    }

    /// `statement` signed as a DSSE envelope.
    pub fn envelope(&self, statement: &Value) -> Value {
        let payload = statement.to_string().into_bytes();
        let sig = self.pair.sign(&pae(PAYLOAD_TYPE, &payload));
        json!({
            "payloadType": PAYLOAD_TYPE,
            "payload": B64.encode(&payload),
            "signatures": [{ "keyid": self.keyid, "sig": B64.encode(sig.as_ref()) }],
        })
    }
}

/// The id of an Ed25519 public key: hex SHA-256 of its raw 32 bytes.
pub(crate) fn keyid(public: &[u8]) -> String {
    hex::encode(Sha256::digest(public))
}

/// A raw Ed25519 public key as PEM (SubjectPublicKeyInfo, RFC 8410).
pub(crate) fn pem_of(public: &[u8]) -> String {
    let mut der = SPKI_PREFIX.to_vec();
    der.extend_from_slice(public);
    let b64 = B64.encode(der);
    format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
}

/// DSSE's pre-authentication encoding:
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// What a statement says about one decision.
pub struct Facts<'a> {
    pub app: &'a str,
    pub version: &'a str,
    pub component_sha256: &'a str,
    pub manifest_sha256: &'a str,
    /// `live`, `held`, `refused`, `approved`, `rejected`.
    pub result: &'a str,
    /// The publish decision (findings, revision), as stored.
    pub decision: &'a Value,
    /// Every review so far: `{by, at, outcome, note}`.
    pub approvals: &'a [Value],
    /// RFC 3339.
    pub time: &'a str,
}

/// The in-toto statement of one decision.
pub fn statement(facts: &Facts<'_>) -> Value {
    let passed = matches!(facts.result, "live" | "approved");
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [
            { "name": "component.wasm", "digest": { "sha256": facts.component_sha256 } },
            { "name": "app.toml", "digest": { "sha256": facts.manifest_sha256 } },
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "verifier": {
                "id": "https://warden.dev/publish-policy",
                "version": { "warden": env!("CARGO_PKG_VERSION") },
            },
            "timeVerified": facts.time,
            "resourceUri": format!("warden:app/{}@{}", facts.app, facts.version),
            "policy": {
                "uri": "warden:policy/publish",
                "digest": { "sha256": facts.decision["revision"] },
            },
            "verificationResult": if passed { "PASSED" } else { "FAILED" },
            "verifiedLevels": [],
            "warden": {
                "result": facts.result,
                "decision": facts.decision,
                "approvals": facts.approvals,
            },
        },
    })
}

/// Reads a public key: PEM (SubjectPublicKeyInfo), or the raw 32 bytes in
/// base64 or hex.
///
/// # Errors
/// Text that is none of these.
pub fn parse_public_key(text: &str) -> Result<Vec<u8>, AttestError> {
    let trimmed = text.trim();
    let body: String = trimmed
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    if let Ok(raw) = hex::decode(&body)
        && raw.len() == 32
    {
        return Ok(raw);
    }
    let der = B64
        .decode(body.as_bytes())
        .map_err(|e| AttestError::PublicKey(format!("neither PEM, base64 nor hex ({e})")))?;
    match der.len() {
        32 => Ok(der),
        44 if der.starts_with(&SPKI_PREFIX) => Ok(der[SPKI_PREFIX.len()..].to_vec()),
        n => Err(AttestError::PublicKey(format!(
            "{n} bytes: not an Ed25519 public key (32 bytes, or 44 as SubjectPublicKeyInfo)"
        ))),
    }
}

/// The payload bytes of a DSSE `envelope` (not checked).
///
/// # Errors
/// It has no payload, or the payload is not base64.
pub fn payload(envelope: &Value) -> Result<Vec<u8>, AttestError> {
    let bad = |m: &str| AttestError::Envelope(m.to_string());
    B64.decode(
        envelope["payload"]
            .as_str()
            .ok_or_else(|| bad("no payload"))?,
    )
    .map_err(|e| bad(&format!("payload is not base64 ({e})")))
}

/// Checks `envelope` against `public_key` (raw 32 bytes) and returns the
/// statement it carries.
///
/// # Errors
/// Not a DSSE envelope of an in-toto statement, or no signature that
/// verifies with the key.
pub fn verify(envelope: &Value, public_key: &[u8]) -> Result<Value, AttestError> {
    let bad = |m: &str| AttestError::Envelope(m.to_string());
    let payload_type = envelope["payloadType"]
        .as_str()
        .ok_or_else(|| bad("no payloadType"))?;
    if payload_type != PAYLOAD_TYPE {
        return Err(bad(&format!(
            "payloadType is `{payload_type}`, not `{PAYLOAD_TYPE}`"
        )));
    }
    let payload = payload(envelope)?;
    let signatures = envelope["signatures"]
        .as_array()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("no signatures"))?;
    let key = UnparsedPublicKey::new(&ED25519, public_key);
    let message = pae(payload_type, &payload);
    let signed = signatures.iter().any(|s| {
        s["sig"]
            .as_str()
            .and_then(|sig| B64.decode(sig).ok())
            .is_some_and(|sig| key.verify(&message, &sig).is_ok())
    });
    if !signed {
        return Err(AttestError::Signature {
            keyid: keyid(public_key),
        });
    }
    let statement: Value =
        serde_json::from_slice(&payload).map_err(|e| bad(&format!("payload is not JSON ({e})")))?;
    if statement["_type"] != STATEMENT_TYPE {
        return Err(bad("payload is not an in-toto Statement v1"));
    }
    Ok(statement)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap_or_else(|e| unreachable!("{e}"));
        Signer::from_pkcs8(pkcs8.as_ref()).unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn sample() -> Value {
        let decision = json!({ "verdict": "live", "revision": "ab".repeat(32) });
        statement(&Facts {
            app: "a",
            version: "1.0.0",
            component_sha256: &"cd".repeat(32),
            manifest_sha256: &"ef".repeat(32),
            result: "live",
            decision: &decision,
            approvals: &[],
            time: "2026-12-01T00:00:00Z",
        })
    }

    #[test]
    fn pae_is_the_dsse_encoding() {
        // The example in the DSSE protocol document.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn a_signed_statement_verifies_with_its_key_and_pem_round_trips() {
        let s = signer();
        let envelope = s.envelope(&sample());
        let key = parse_public_key(&s.public_key_pem()).unwrap_or_default();
        assert_eq!(key, s.public_key());
        let statement = verify(&envelope, &key).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(statement["predicate"]["verificationResult"], "PASSED");
        assert_eq!(envelope["signatures"][0]["keyid"], s.keyid);
    }

    #[test]
    fn a_changed_payload_or_another_key_does_not_verify() {
        let s = signer();
        let mut envelope = s.envelope(&sample());
        let mut forged = sample();
        forged["predicate"]["verificationResult"] = json!("PASSED");
        forged["subject"][0]["digest"]["sha256"] = json!("00".repeat(32));
        envelope["payload"] = json!(B64.encode(forged.to_string()));
        assert!(matches!(
            verify(&envelope, s.public_key()),
            Err(AttestError::Signature { .. })
        ));
        let honest = s.envelope(&sample());
        assert!(matches!(
            verify(&honest, signer().public_key()),
            Err(AttestError::Signature { .. })
        ));
        assert!(parse_public_key("not a key").is_err());
    }
}
