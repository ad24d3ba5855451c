//! `warden audit verify-export`: checks an audit export on any machine,
//! without the data directory — every file against the signed manifest,
//! and the app's entries against the checkpoints that signed them.

use super::AuditEntry;
use super::checkpoint::verify_excerpt;
use super::export::{FORMAT, Manifest};
use super::keys::PublicKeyInfo;
use base64::Engine as _;
use sha2::Digest as _;
use std::collections::BTreeMap;

/// What a sound export holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ExportReport {
    pub app: String,
    pub files: usize,
    /// Audit entries proved against the checkpoints.
    pub entries: u64,
    pub checkpoints: usize,
    pub keyid: String,
    /// Whether the signing key was given (`--key`) rather than taken from
    /// the archive itself.
    pub key_pinned: bool,
}

/// Why an export is not what was signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportProblem {
    #[error("not an audit export: {0}")]
    Format(String),
    /// A file of the export is there but does not read (it was changed).
    #[error("{0}: it does not parse, so it was changed")]
    Corrupt(String),
    #[error("{0}: its SHA-256 is not the one the manifest lists: the file was changed")]
    Changed(String),
    #[error("{0} is listed in the manifest but missing from the archive")]
    Missing(String),
    #[error("{0} is in the archive but not in the manifest: it was added")]
    Added(String),
    #[error(
        "the manifest's signature does not verify with {0}: the manifest was changed, or signed by another key"
    )]
    Signature(String),
    #[error("the audit entries are not the ones the checkpoints signed: {0}")]
    Entries(String),
}

fn files_of(archive: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ExportProblem> {
    let mut out = BTreeMap::new();
    let mut tar = tar::Archive::new(archive);
    let not_tar = |e: std::io::Error| ExportProblem::Format(format!("not a tar archive ({e})"));
    let entries = tar.entries().map_err(not_tar)?;
    for entry in entries {
        let mut entry = entry.map_err(not_tar)?;
        let path = entry
            .path()
            .map_err(|e| ExportProblem::Format(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes)
            .map_err(|e| ExportProblem::Format(e.to_string()))?;
        if out.insert(path.clone(), bytes).is_some() {
            return Err(ExportProblem::Format(format!("{path} is in it twice")));
        }
    }
    Ok(out)
}

fn entries_of(bytes: &[u8], path: &str) -> Result<Vec<AuditEntry>, ExportProblem> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|e| {
                ExportProblem::Format(format!("{path}: an entry does not parse ({e})"))
            })
        })
        .collect()
}

/// Checks the export `archive` (tar bytes). `key` pins the signing key
/// (raw 32 bytes); without it the archive's own `audit/keys.json` is used,
/// which proves the archive whole but not who made it.
///
/// # Errors
/// The first problem found.
pub fn verify_export(archive: &[u8], key: Option<&[u8]>) -> Result<ExportReport, ExportProblem> {
    let mut files = files_of(archive)?;
    let manifest: Manifest = serde_json::from_slice(
        &files
            .remove("MANIFEST.json")
            .ok_or_else(|| ExportProblem::Format("no MANIFEST.json".into()))?,
    )
    .map_err(|e| ExportProblem::Corrupt(format!("MANIFEST.json ({e})")))?;
    let body = &manifest.body;
    if body.format != FORMAT {
        return Err(ExportProblem::Format(format!(
            "format `{}`, not `{FORMAT}`",
            body.format
        )));
    }
    for listed in &body.files {
        let bytes = files
            .get(&listed.path)
            .ok_or_else(|| ExportProblem::Missing(listed.path.clone()))?;
        if hex::encode(sha2::Sha256::digest(bytes)) != listed.sha256 {
            return Err(ExportProblem::Changed(listed.path.clone()));
        }
    }
    if let Some(extra) = files
        .keys()
        .find(|p| !body.files.iter().any(|l| &l.path == *p))
    {
        return Err(ExportProblem::Added(extra.clone()));
    }
    let keys: Vec<PublicKeyInfo> = serde_json::from_slice(
        files
            .get("audit/keys.json")
            .ok_or_else(|| ExportProblem::Missing("audit/keys.json".into()))?,
    )
    .map_err(|e| ExportProblem::Format(format!("audit/keys.json does not parse ({e})")))?;
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&manifest.signature)
        .map_err(|_| ExportProblem::Signature(format!("key {}", body.keyid)))?;
    let signed = match key {
        Some(raw) => {
            crate::attest::keyid(raw) == body.keyid
                && ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, raw)
                    .verify(&body.message(), &signature)
                    .is_ok()
        }
        None => keys
            .iter()
            .find(|k| k.keyid == body.keyid)
            .is_some_and(|k| k.verifies(&body.message(), &signature)),
    };
    if !signed {
        return Err(ExportProblem::Signature(match key {
            Some(raw) => format!(
                "the key given ({}; the manifest names key {})",
                crate::attest::keyid(raw),
                body.keyid
            ),
            None => format!("key {} (from the archive)", body.keyid),
        }));
    }
    let get = |path: &str| {
        files
            .get(path)
            .ok_or_else(|| ExportProblem::Missing(path.to_string()))
    };
    let entries = entries_of(get("audit/entries.jsonl")?, "audit/entries.jsonl")?;
    let checkpoints = entries_of(get("audit/checkpoints.jsonl")?, "audit/checkpoints.jsonl")?;
    let proved = verify_excerpt(&body.app, &entries, &checkpoints, &keys)
        .map_err(|e| ExportProblem::Entries(e.to_string()))?;
    Ok(ExportReport {
        app: body.app.clone(),
        files: body.files.len(),
        entries: proved,
        checkpoints: checkpoints.len(),
        keyid: body.keyid.clone(),
        key_pinned: key.is_some(),
    })
}
