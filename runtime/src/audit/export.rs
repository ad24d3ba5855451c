//! One app's audit export: a tar archive an auditor checks on their own
//! machine (`warden audit verify-export`, [`super::export_verify`]).
//!
//! ```text
//! MANIFEST.json                every other file with its SHA-256, signed
//!                              with the checkpoint key (Ed25519)
//! index.html                   the same, for a person (no script, no network)
//! app.json                     owner, team, cost center, compliance, runbook
//! versions.json                every version: digests, review, history
//! versions/<version>/app.toml  each version's manifest as sent
//! attestations/<version>.json  each version's signed decision (DSSE)
//! audit/entries.jsonl          the app's entries, whole checkpoint intervals
//! audit/checkpoints.jsonl      the checkpoints covering them
//! audit/keys.json              the checkpoint keys with their windows
//! events.json                  kills, unkills, containment, policy denials
//! usage.json                   usage by day
//! traces.json                  recent invocations and errors
//! ```
//!
//! A checkpoint is signed first, so every entry up to the export is
//! covered; the entries are widened to whole checkpoint intervals, so
//! [`super::checkpoint::verify_excerpt`] proves them against the
//! checkpoints without any other app's entries.

use super::checkpoint::{self, Checkpoint};
use super::keys::{self, CheckpointSigner};
use super::{AuditEntry, AuditKind};
use crate::runtime::Runtime;
use crate::wait::Wait as _;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Digest as _;
use std::time::{Duration, SystemTime};

/// The format name every manifest carries.
pub const FORMAT: &str = "warden-audit-export/1";

/// One file of the archive, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listed {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// What the manifest signs (everything but the signature), in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestBody {
    pub format: String,
    pub app: String,
    /// RFC 3339.
    pub created: String,
    /// The time range asked for (RFC 3339), if any.
    pub since: Option<String>,
    pub until: Option<String>,
    pub keyid: String,
    pub files: Vec<Listed>,
}

/// `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(flatten)]
    pub body: ManifestBody,
    /// Ed25519 over the body's JSON, base64.
    pub signature: String,
}

impl ManifestBody {
    /// The bytes signed.
    pub fn message(&self) -> Vec<u8> {
        let mut out = b"warden audit export v1\n".to_vec();
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }
}

/// A `since`/`until` value: a date (its midnight, UTC) or an RFC 3339
/// time.
///
/// # Errors
/// Neither, saying how to write one.
pub fn parse_instant(value: &str) -> Result<SystemTime, String> {
    let full = if value.len() == 10 {
        format!("{value}T00:00:00Z")
    } else {
        value.to_string()
    };
    humantime::parse_rfc3339_weak(&full).map_err(|e| {
        format!(
            "`{value}`: {e}\n  fix: write a date (2026-03-01) or an RFC 3339 time (2026-03-01T09:00:00Z)"
        )
    })
}

/// Why no export was made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(
        "no app named `{0}` has deploys or audit entries here\n  fix: check the name with `warden apps`; an app served only with `serve --app` keeps no record to export — deploy it (`warden deploy`)"
    )]
    Unknown(String),
    #[error("{0}")]
    Failed(String),
}

fn failed(e: impl std::fmt::Display) -> ExportError {
    ExportError::Failed(e.to_string())
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

fn pretty(value: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn lines(entries: &[AuditEntry]) -> Vec<u8> {
    entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap_or_default() + "\n")
        .collect::<String>()
        .into_bytes()
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Builds `app`'s export (entries from `since` to `until`, whole
/// checkpoint intervals), signing a checkpoint first; returns the tar
/// archive's bytes.
///
/// # Errors
/// The app is unknown here, or a store cannot be read.
pub fn build(
    runtime: &Runtime,
    app: &str,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
) -> Result<Vec<u8>, ExportError> {
    let secrets = runtime.secrets().map_err(failed)?;
    let signer = keys::current(&secrets).map_err(failed)?;
    // The log is read once, in the signer's turn: the checkpoint seals
    // what was read, and joins it.
    let (mut all, sealed) = checkpoint::read_and_sign_in_turn(
        runtime.audit(),
        &secrets,
        "export",
        &checkpoint::Turn::of(runtime),
    )
    .map_err(failed)?;
    all.extend(sealed);
    let versions = runtime.registry().versions(app).wait().map_err(failed)?;
    if versions.is_empty() && !all.iter().any(|e| e.app.as_deref() == Some(app)) {
        return Err(ExportError::Unknown(app.to_string()));
    }
    let (entries, checkpoints) = excerpt(&all, app, since, until);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    files.push(("app.json".into(), pretty(&facts(runtime, app, &versions))));
    let mut listed_versions = Vec::new();
    for d in &versions {
        let history = runtime.registry().history(d.id).wait().map_err(failed)?;
        listed_versions.push(json!({ "deployment": d, "history": history }));
        let sent = d
            .manifest_path
            .with_file_name(crate::registry::SENT_MANIFEST);
        if let Ok(text) = std::fs::read(&sent) {
            files.push((format!("versions/{}/app.toml", d.version), text));
        }
        if let Some(envelope) = runtime
            .registry()
            .attestation(d.id)
            .wait()
            .map_err(failed)?
        {
            files.push((format!("attestations/{}.json", d.version), envelope));
        }
    }
    files.push(("versions.json".into(), pretty(&listed_versions)));
    files.push(("audit/entries.jsonl".into(), lines(&entries)));
    files.push(("audit/checkpoints.jsonl".into(), lines(&checkpoints)));
    files.push((
        "audit/keys.json".into(),
        pretty(&keys::keys(&secrets).map_err(failed)?),
    ));
    let events: Vec<&AuditEntry> = entries
        .iter()
        .filter(|e| {
            [
                AuditKind::AppKilled,
                AuditKind::AppUnkilled,
                AuditKind::ContainmentTriggered,
                AuditKind::PolicyDenied,
                AuditKind::AppRetired,
                AuditKind::AppUnretired,
                AuditKind::DeployTampered,
            ]
            .iter()
            .any(|k| k.as_str() == e.kind)
        })
        .collect();
    files.push(("events.json".into(), pretty(&events)));
    files.push((
        "usage.json".into(),
        pretty(&usage_by_day(runtime, app, since, until)),
    ));
    files.push(("traces.json".into(), pretty(&traces(runtime, app))));
    let body = ManifestBody {
        format: FORMAT.into(),
        app: app.to_string(),
        created: rfc3339(SystemTime::now()),
        since: since.map(rfc3339),
        until: until.map(rfc3339),
        keyid: signer.keyid.clone(),
        files: files
            .iter()
            .map(|(path, bytes)| Listed {
                path: path.clone(),
                sha256: sha256(bytes),
                bytes: bytes.len() as u64,
            })
            .collect(),
    };
    // The page is listed too: what a person reads is what was signed.
    let mut body = body;
    let index = super::export_html::render(&body, &files);
    body.files.push(Listed {
        path: "index.html".into(),
        sha256: sha256(index.as_bytes()),
        bytes: index.len() as u64,
    });
    let manifest = sign(&signer, body);
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, bytes: &[u8]| -> Result<(), ExportError> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
        header.set_cksum();
        tar.append_data(&mut header, path, bytes).map_err(failed)
    };
    add("MANIFEST.json", &pretty(&manifest))?;
    add("index.html", index.as_bytes())?;
    for (path, bytes) in &files {
        add(path, bytes)?;
    }
    tar.into_inner().map_err(failed)
}

/// `body` signed with the checkpoint key.
fn sign(signer: &CheckpointSigner, body: ManifestBody) -> Manifest {
    let signature = base64::engine::general_purpose::STANDARD.encode(signer.sign(&body.message()));
    Manifest { body, signature }
}

/// `app`'s entries and the checkpoints that cover them, widened to whole
/// intervals: from the last checkpoint at or before `since` (or the start
/// of the log) to the first checkpoint at or after `until` (or the last).
pub(crate) fn excerpt(
    all: &[AuditEntry],
    app: &str,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
) -> (Vec<AuditEntry>, Vec<AuditEntry>) {
    let time = |e: &AuditEntry| humantime::parse_rfc3339_weak(&e.time).ok();
    let checkpoints: Vec<&AuditEntry> =
        all.iter().filter(|e| Checkpoint::of(e).is_some()).collect();
    let start = since.and_then(|since| {
        checkpoints
            .iter()
            .rev()
            .find(|c| time(c).is_some_and(|t| t <= since))
            .copied()
    });
    let end = until
        .and_then(|until| {
            checkpoints
                .iter()
                .find(|c| time(c).is_some_and(|t| t >= until))
                .copied()
        })
        .or(checkpoints.last().copied());
    // An interval ends at the entry its checkpoint seals (entries between
    // that one and the checkpoint belong to the next interval).
    let sealed = |c: &AuditEntry| Checkpoint::of(c).map_or(0, |cp| cp.seq);
    // The log's first checkpoint vouches for everything before it, so a
    // range starting there starts at the log's start.
    let from = start
        .filter(|c| Checkpoint::of(c).is_some_and(|cp| cp.prev_signature.is_some()))
        .map_or(0, sealed);
    let to = end.map_or(0, sealed);
    let entries = all
        .iter()
        .filter(|e| e.seq > from && e.seq <= to && e.app.as_deref() == Some(app))
        .cloned()
        .collect();
    let (first, last) = (start.map_or(0, |c| c.seq), end.map_or(0, |c| c.seq));
    let covering = checkpoints
        .into_iter()
        .filter(|c| c.seq >= first && c.seq <= last)
        .cloned()
        .collect();
    (entries, covering)
}

/// Who answers for `app`: from its newest version's manifest.
fn facts(runtime: &Runtime, app: &str, versions: &[crate::registry::Deployment]) -> Value {
    let manifest = versions
        .iter()
        .find(|d| d.status.is_live())
        .or(versions.first())
        .and_then(|d| crate::config::AppManifest::load(&d.manifest_path).ok());
    let killed = runtime.kill_switch(app).is_killed();
    match manifest {
        Some(m) => json!({
            "name": app,
            "description": m.app.description,
            "owner": m.app.owner,
            "team": m.app.team,
            "cost_center": m.app.cost_center,
            "compliance": m.app.compliance,
            "runbook": m.app.runbook,
            "killed": killed,
        }),
        None => json!({ "name": app, "killed": killed }),
    }
}

/// Usage per day (the app's totals) from `since` (at most 400 days back)
/// to `until` (or today).
fn usage_by_day(
    runtime: &Runtime,
    app: &str,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
) -> Vec<Value> {
    const DAY: Duration = Duration::from_secs(86_400);
    let end = until.unwrap_or_else(SystemTime::now);
    let start = since.unwrap_or(end - 30 * DAY).max(end - 400 * DAY);
    let mut out = Vec::new();
    let mut day = start;
    while day <= end {
        let key = warden_host_apis::metering::Window::day_at(day).key();
        if let Ok(c) = runtime
            .usage()
            .get(app, warden_host_apis::metering::ALL, &key)
            .wait()
            && c != warden_host_apis::metering::Counters::default()
        {
            out.push(json!({ "day": rfc3339(day)[..10].to_string(), "usage": c }));
        }
        day += DAY;
    }
    out
}

/// The app's recent invocations and recent errors from this host's span
/// store (empty when it cannot be read).
fn traces(runtime: &Runtime, app: &str) -> Value {
    let settings = &runtime.platform().telemetry;
    let Ok(store) = crate::telemetry::store::SpanStore::open(
        runtime.data_dir(),
        settings.keep.get(),
        settings.max_spans,
    ) else {
        return json!({ "recent": [], "errors": [] });
    };
    let query = |errors_only| crate::telemetry::store::TraceQuery {
        app: app.to_string(),
        errors_only,
        since_us: 0,
        limit: 50,
        request_id: None,
    };
    json!({
        "recent": store.roots(&query(false)).unwrap_or_default(),
        "errors": store.roots(&query(true)).unwrap_or_default(),
    })
}
