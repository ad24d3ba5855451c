//! Signed checkpoints of the audit chain, as transparency logs sign their
//! tree heads (RFC 6962 §3.5) and CloudTrail its digest files: an entry
//! `audit.checkpoint` that signs, with the checkpoint key
//! ([`super::keys`]), the sequence number and hash of the entry before it,
//! the time, the previous checkpoint's signature and the key's id.
//!
//! What each check catches, beyond the hash chain (which catches an
//! edited, dropped or reordered entry):
//! - **a chain rewritten with recomputed hashes**: the rewriter cannot
//!   sign, so a checkpoint's signature no longer verifies, or the hash it
//!   signed is not the chain's at its place, or a checkpoint is missing
//!   from the signature chain;
//! - **a tail cut after the last checkpoint**: a serving host signs at
//!   most `audit.checkpoint_interval` after an entry, at start-up and at
//!   shutdown, so entries left unsigned for longer than the interval (and
//!   a grace of a tenth of it) mean the checkpoints
//!   after them were cut — or that no host has run since they were
//!   written (a crash, or only command-line writers: `warden audit
//!   checkpoint` signs them).
//!
//! What it cannot catch on its own: a cut made within the interval after
//! a checkpoint, by someone who also holds the log's files. Checkpoints
//! kept elsewhere (an export, a SIEM) are the witness for that.
//!
//! **Per-app proofs.** A checkpoint also signs, for every app with entries
//! since the checkpoint before it, how many there are, the last one's
//! sequence number and a digest of their hashes ([`AppRun`]). An excerpt
//! of one app's entries — each entry's hash recomputable from its own
//! content and `prev` — is then checked against the checkpoints alone
//! ([`verify_excerpt`]), without any other app's entries: an entry
//! edited, dropped, added or reordered changes a signed digest. (Chosen
//! over RFC 6962 inclusion proofs: an auditor's excerpt is every entry of
//! one app, so one digest per app and interval proves it whole, and the
//! log's own format stays as it is.)

use super::keys::{self, PublicKeyInfo};
use super::turn::SIGNING;
pub use super::turn::Turn;
use super::{AuditBackend, AuditEntry, AuditError, AuditEvent, AuditKind};
use crate::wait::Wait as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};
use warden_host_apis::secrets::SecretStore;

/// What a checkpoint signs, as its entry's details hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The sequence number of the entry it seals (the one before it).
    pub seq: u64,
    /// That entry's hash.
    pub head: String,
    /// RFC 3339, UTC.
    pub time: String,
    /// The signature of the checkpoint before it (`None` for the first).
    pub prev_signature: Option<String>,
    pub keyid: String,
    /// Per app with entries since the checkpoint before: its run of them.
    #[serde(default)]
    pub apps: std::collections::BTreeMap<String, AppRun>,
    /// Ed25519 over [`Checkpoint::message`], base64.
    pub signature: String,
}

/// One app's entries between two checkpoints, as a checkpoint signs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRun {
    pub count: u64,
    /// The sequence number of the last of them.
    pub last_seq: u64,
    /// SHA-256 (hex) over their hashes in order, each followed by `\n`.
    pub digest: String,
}

/// The runs of every app among `entries` (in order).
fn app_runs<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
) -> std::collections::BTreeMap<String, AppRun> {
    use sha2::Digest as _;
    let mut hashers: std::collections::BTreeMap<String, (sha2::Sha256, u64, u64)> =
        Default::default();
    for e in entries {
        if let Some(app) = &e.app {
            let (hasher, count, last) = hashers.entry(app.clone()).or_default();
            hasher.update(e.hash.as_bytes());
            hasher.update(b"\n");
            *count += 1;
            *last = e.seq;
        }
    }
    hashers
        .into_iter()
        .map(|(app, (hasher, count, last_seq))| {
            (
                app,
                AppRun {
                    count,
                    last_seq,
                    digest: hex::encode(hasher.finalize()),
                },
            )
        })
        .collect()
}

impl Checkpoint {
    /// The bytes signed: a fixed prefix, then each field on a line of its
    /// own, so no field can run into another.
    pub fn message(&self) -> Vec<u8> {
        use sha2::Digest as _;
        let apps = serde_json::to_vec(&self.apps).unwrap_or_default();
        format!(
            "warden audit checkpoint v1\nseq {}\nhead {}\ntime {}\nprev {}\nkeyid {}\napps {}\n",
            self.seq,
            self.head,
            self.time,
            self.prev_signature.as_deref().unwrap_or("-"),
            self.keyid,
            hex::encode(sha2::Sha256::digest(apps))
        )
        .into_bytes()
    }

    /// The checkpoint an entry holds, if it is one.
    pub fn of(entry: &AuditEntry) -> Option<Checkpoint> {
        (entry.kind == AuditKind::AuditCheckpoint.as_str())
            .then(|| serde_json::from_value(entry.details["checkpoint"].clone()).ok())
            .flatten()
    }
}

/// Signs a checkpoint of what `log` holds now and appends it, saying why
/// (`interval`, `start`, `shutdown`, `export`, `manual`, `key-rotated`),
/// with the current key in `secrets`, and records it there as the last
/// checkpoint signed ([`keys::Mark`]). Nothing is signed when the last
/// entry is a checkpoint already (`Ok(None)`), and nothing over a log
/// that no longer holds the last checkpoint signed: a log cut or
/// rewritten since is not sealed as if it were sound.
///
/// This signs in this process's turn only: a signer that shares its data
/// directory or database with others signs in its [`Turn`]
/// ([`sign_in_turn`]).
///
/// # Errors
/// The log cannot be read or appended to, the key cannot be had, or the
/// log lost the last checkpoint signed.
pub fn sign(
    log: &dyn AuditBackend,
    secrets: &SecretStore,
    reason: &str,
) -> Result<Option<AuditEntry>, AuditError> {
    read_and_sign(log, secrets, reason).map(|(_, signed)| signed)
}

/// [`sign`] in `turn` (see [`Turn`]): what every host and command does.
///
/// # Errors
/// As [`sign`], or the turn cannot be had.
pub fn sign_in_turn(
    log: &dyn AuditBackend,
    secrets: &SecretStore,
    reason: &str,
    turn: &Turn,
) -> Result<Option<AuditEntry>, AuditError> {
    turn.take(|| sign(log, secrets, reason))
}

/// Reads the log and signs what it read, in `turn`: the entries read and
/// the checkpoint that seals them, for a caller that needs both (an
/// export). Read inside the turn, so no checkpoint lands between the read
/// and the signing.
///
/// # Errors
/// As [`sign_in_turn`].
pub fn read_and_sign_in_turn(
    log: &dyn AuditBackend,
    secrets: &SecretStore,
    reason: &str,
    turn: &Turn,
) -> Result<(Vec<AuditEntry>, Option<AuditEntry>), AuditError> {
    turn.take(|| read_and_sign(log, secrets, reason))
}

fn read_and_sign(
    log: &dyn AuditBackend,
    secrets: &SecretStore,
    reason: &str,
) -> Result<(Vec<AuditEntry>, Option<AuditEntry>), AuditError> {
    let _one = SIGNING.lock().unwrap_or_else(|p| p.into_inner());
    let entries = log.entries().wait()?;
    let signed = sign_read(log, secrets, reason, &entries)?;
    Ok((entries, signed))
}

fn sign_read(
    log: &dyn AuditBackend,
    secrets: &SecretStore,
    reason: &str,
    entries: &[AuditEntry],
) -> Result<Option<AuditEntry>, AuditError> {
    let key_error = |e: keys::KeyError| AuditError::Backend(e.to_string());
    let signer = keys::current(secrets).map_err(key_error)?;
    if let Some(mark) = keys::mark(secrets).map_err(key_error)?
        && !mark.held_by(entries)
    {
        return Err(AuditError::Backend(format!(
            "the log no longer holds the last checkpoint signed (entry {}): it was cut or rewritten since, so nothing was signed over it\n  fix: see `warden audit verify`",
            mark.seq
        )));
    }
    let Some(last) = entries.last() else {
        return Ok(None);
    };
    if last.kind == AuditKind::AuditCheckpoint.as_str() {
        return Ok(None);
    }
    let previous = entries.iter().rev().find_map(Checkpoint::of);
    let since = previous.as_ref().map_or(0, |c| c.seq);
    let mut checkpoint = Checkpoint {
        seq: last.seq,
        head: last.hash.clone(),
        time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        prev_signature: previous.map(|c| c.signature),
        keyid: signer.keyid.clone(),
        apps: app_runs(entries.iter().filter(|e| e.seq > since)),
        signature: String::new(),
    };
    checkpoint.signature = B64.encode(signer.sign(&checkpoint.message()));
    let signature = checkpoint.signature.clone();
    let entry = log
        .append(AuditEvent {
            kind: AuditKind::AuditCheckpoint,
            app: None,
            actor: "warden".into(),
            details: serde_json::json!({ "checkpoint": checkpoint, "reason": reason }),
        })
        .wait()?;
    keys::set_mark(
        secrets,
        &keys::Mark {
            seq: entry.seq,
            signature,
        },
    )
    .map_err(key_error)?;
    Ok(Some(entry))
}

/// What the checkpoints of a log say.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointReport {
    /// Checkpoints found, all verified up to the problem (if any).
    pub checkpoints: u64,
    /// The sequence number and time of the last checkpoint entry.
    pub last: Option<(u64, String)>,
    /// Entries after the last checkpoint (not yet signed).
    pub unsigned: u64,
    pub problem: Option<CheckpointProblem>,
}

/// Why the checkpoints do not vouch for the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckpointProblem {
    /// A checkpoint does not verify against the chain or the keys: the
    /// chain was rewritten (its hashes recomputed), a checkpoint dropped,
    /// or one forged.
    Rewritten { seq: u64, reason: String },
    /// Entries left unsigned longer than the interval allows: the tail
    /// after them was cut (or no host has signed since).
    TailCut {
        after_seq: u64,
        unsigned_since: String,
        reason: String,
    },
}

/// How long past the interval an entry may wait for its checkpoint: a
/// tenth of the interval (at least a second) for a slow shutdown or
/// signing, and the host's tick ([`crate::serve::checkpoints`] looks every
/// 10 s, or every interval when that is shorter).
fn grace(interval: Duration) -> Duration {
    (interval / 10).max(Duration::from_secs(1)) + interval.min(Duration::from_secs(10))
}

/// Checks every checkpoint in `entries` (a chain already verified: its
/// sequence numbers run 1, 2, 3, …) with `keys`; that the log still holds
/// `mark`, the last checkpoint signed (when it is known); and that nothing
/// has waited for a checkpoint longer than `interval` allows at `now`.
/// One pass over the log.
pub fn verify(
    entries: &[AuditEntry],
    keys: &[PublicKeyInfo],
    mark: Option<&keys::Mark>,
    interval: Duration,
    now: SystemTime,
) -> CheckpointReport {
    let mut report = CheckpointReport {
        checkpoints: 0,
        last: None,
        unsigned: 0,
        problem: None,
    };
    let mut prev: Option<Checkpoint> = None;
    for entry in entries {
        if entry.kind != AuditKind::AuditCheckpoint.as_str() {
            continue;
        }
        let checked = Checkpoint::of(entry)
            .ok_or_else(|| "an audit.checkpoint entry that holds no checkpoint".to_string())
            .and_then(|cp| check_one(entries, entry, &cp, keys, prev.as_ref()).map(|()| cp));
        match checked {
            Ok(cp) => prev = Some(cp),
            Err(reason) => {
                report.problem = Some(CheckpointProblem::Rewritten {
                    seq: entry.seq,
                    reason,
                });
                return report;
            }
        }
        report.checkpoints += 1;
        report.last = Some((entry.seq, entry.time.clone()));
    }
    if let Some(mark) = mark
        && !mark.held_by(entries)
    {
        report.problem = Some(CheckpointProblem::TailCut {
            after_seq: report.last.as_ref().map_or(0, |l| l.0),
            unsigned_since: String::new(),
            reason: format!(
                "the last checkpoint signed (entry {}) is not in the log: it was cut after {}, or rewritten",
                mark.seq,
                report
                    .last
                    .as_ref()
                    .map_or("its start".to_string(), |l| format!("entry {}", l.0))
            ),
        });
        return report;
    }
    let sealed = prev.as_ref().map_or(0, |p| p.seq);
    let unsigned: Vec<&AuditEntry> = entries
        .iter()
        .filter(|e| e.seq > sealed && e.kind != AuditKind::AuditCheckpoint.as_str())
        .collect();
    report.unsigned = unsigned.len() as u64;
    if prev.is_none() {
        // No checkpoint yet: nothing to hold the tail to.
        return report;
    }
    if let Some(first) = unsigned.first()
        && let Ok(at) = humantime::parse_rfc3339_weak(&first.time)
        && now.duration_since(at).unwrap_or_default() > interval + grace(interval)
    {
        report.problem = Some(CheckpointProblem::TailCut {
            after_seq: sealed,
            unsigned_since: first.time.clone(),
            reason: format!(
                "{} entries after the last sealed one (entry {sealed}) have waited since {} for a checkpoint, longer than audit.checkpoint_interval ({}) allows: the checkpoints after them were cut, or no host has run since (sign them with `warden audit checkpoint`)",
                unsigned.len(),
                first.time,
                humantime::format_duration(interval)
            ),
        });
    }
    report
}

/// Entry `seq` of a verified chain (whose sequence numbers run 1, 2, 3, …),
/// found by position.
pub(crate) fn at_seq(entries: &[AuditEntry], seq: u64) -> Option<&AuditEntry> {
    seq.checked_sub(1)
        .and_then(|i| entries.get(usize::try_from(i).ok()?))
        .filter(|e| e.seq == seq)
}

/// Checks one checkpoint against the chain, the keys and the checkpoint
/// before it (the entries it covers are read by position: entry `n` is at
/// index `n - 1` of a verified chain).
fn check_one(
    entries: &[AuditEntry],
    entry: &AuditEntry,
    checkpoint: &Checkpoint,
    keys: &[PublicKeyInfo],
    prev: Option<&Checkpoint>,
) -> Result<(), String> {
    check_signed(checkpoint, keys)?;
    let sealed = (checkpoint.seq < entry.seq)
        .then(|| at_seq(entries, checkpoint.seq))
        .flatten();
    if sealed.is_none_or(|e| e.hash != checkpoint.head) {
        return Err(format!(
            "entry {}'s hash is not the one the checkpoint signed: the chain was rewritten with recomputed hashes",
            checkpoint.seq
        ));
    }
    if checkpoint.prev_signature.as_deref() != prev.map(|p| p.signature.as_str()) {
        return Err(
            "it does not follow the checkpoint before it: a checkpoint was dropped or forged"
                .into(),
        );
    }
    let since = prev.map_or(0, |p| p.seq);
    if checkpoint.seq < since {
        return Err("it seals an entry before the one the checkpoint before it sealed".into());
    }
    let covered = entries
        .get(
            usize::try_from(since).unwrap_or(usize::MAX)
                ..usize::try_from(checkpoint.seq).unwrap_or(0),
        )
        .unwrap_or_default();
    if app_runs(covered) != checkpoint.apps {
        return Err(
            "the apps' entries it signed are not the ones between it and the checkpoint before"
                .into(),
        );
    }
    Ok(())
}

/// Checks `checkpoint`'s signature and its key's window against `keys`.
fn check_signed(checkpoint: &Checkpoint, keys: &[PublicKeyInfo]) -> Result<(), String> {
    let key = keys
        .iter()
        .find(|k| k.keyid == checkpoint.keyid)
        .ok_or_else(|| {
            format!(
                "signed by key {}, which is not one of this log's checkpoint keys",
                checkpoint.keyid
            )
        })?;
    let signature = B64
        .decode(&checkpoint.signature)
        .map_err(|_| "its signature is not base64".to_string())?;
    if !key.verifies(&checkpoint.message(), &signature) {
        return Err(format!(
            "its signature does not verify with key {}: the checkpoint was changed, or the chain rewritten",
            key.keyid
        ));
    }
    if !key.valid_at(&checkpoint.time) {
        return Err(format!(
            "signed at {} by key {}, outside the key's validity ({} to {})",
            checkpoint.time,
            key.keyid,
            key.valid_from,
            key.valid_until.as_deref().unwrap_or("now")
        ));
    }
    Ok(())
}

/// Why an excerpt of one app's entries is not what the checkpoints signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExcerptProblem {
    /// An entry's hash is not the one its content and `prev` give (it was
    /// edited), or it is another app's.
    #[error("entry {seq}: {reason}")]
    Entry { seq: u64, reason: String },
    /// A checkpoint does not verify, or the checkpoints do not follow one
    /// another.
    #[error("checkpoint at entry {seq}: {reason}")]
    Checkpoint { seq: u64, reason: String },
    /// The app's entries between two checkpoints are not the ones signed:
    /// one was dropped, added or reordered.
    #[error("the app's entries up to the checkpoint at entry {seq}: {reason}")]
    Run { seq: u64, reason: String },
    /// Entries after the last checkpoint: nothing vouches for them.
    #[error("entries after the last checkpoint (from entry {seq}) are not signed")]
    Unsigned { seq: u64 },
}

/// Checks an excerpt of `app`'s audit entries against `checkpoints` (the
/// checkpoint entries, in order, with no gap among them: each follows the
/// one before by its signature) and `keys` — without any other app's
/// entries. The excerpt covers whole intervals: every entry of the app
/// after the first checkpoint given and up to the last. Returns how many
/// entries it vouched for.
///
/// # Errors
/// The first problem found ([`ExcerptProblem`]).
pub fn verify_excerpt(
    app: &str,
    entries: &[AuditEntry],
    checkpoints: &[AuditEntry],
    keys: &[PublicKeyInfo],
) -> Result<u64, ExcerptProblem> {
    for pair in entries.windows(2) {
        if pair[1].seq <= pair[0].seq {
            return Err(ExcerptProblem::Entry {
                seq: pair[1].seq,
                reason: "it is out of order or given twice".into(),
            });
        }
    }
    for e in entries {
        if e.app.as_deref() != Some(app) {
            return Err(ExcerptProblem::Entry {
                seq: e.seq,
                reason: format!("it is not an entry of `{app}`"),
            });
        }
        if e.compute_hash() != e.hash {
            return Err(ExcerptProblem::Entry {
                seq: e.seq,
                reason: "its hash is not the one its content gives: it was edited".into(),
            });
        }
    }
    let mut previous: Option<Checkpoint> = None;
    let mut rest = entries;
    for entry in checkpoints {
        let fail = |reason: String| ExcerptProblem::Checkpoint {
            seq: entry.seq,
            reason,
        };
        let cp = Checkpoint::of(entry).ok_or_else(|| fail("it holds no checkpoint".into()))?;
        check_signed(&cp, keys).map_err(fail)?;
        if let Some(p) = &previous
            && cp.prev_signature.as_deref() != Some(p.signature.as_str())
        {
            return Err(fail(
                "it does not follow the checkpoint before it: one between them is missing".into(),
            ));
        }
        let in_run = rest.iter().take_while(|e| e.seq <= cp.seq).count();
        let (run, after) = rest.split_at(in_run);
        // The log's first checkpoint signs every entry from the start; a
        // later one given first only marks where the excerpt begins.
        let since = match &previous {
            Some(p) => Some(p.seq),
            None if cp.prev_signature.is_none() => Some(0),
            None => None,
        };
        if since.is_none()
            && let Some(early) = run.first()
        {
            return Err(ExcerptProblem::Entry {
                seq: early.seq,
                reason:
                    "it comes before the first checkpoint given, so nothing here vouches for it"
                        .into(),
            });
        }
        if let Some(since) = since {
            let got = app_runs(run.iter().filter(|e| e.seq > since)).remove(app);
            let signed = cp.apps.get(app);
            if got.as_ref() != signed {
                let reason = match (got, signed) {
                    (Some(g), Some(s)) if g.count != s.count => format!(
                        "{} entries where {} were signed: one was dropped or added",
                        g.count, s.count
                    ),
                    (None, Some(s)) => {
                        format!("none where {} were signed: they were dropped", s.count)
                    }
                    (Some(g), None) => {
                        format!("{} entries where none were signed: they were added", g.count)
                    }
                    _ => "their hashes are not the ones signed: an entry was replaced, or they were reordered".into(),
                };
                return Err(ExcerptProblem::Run {
                    seq: entry.seq,
                    reason,
                });
            }
        }
        rest = after;
        previous = Some(cp);
    }
    if let Some(first) = rest.first() {
        return Err(ExcerptProblem::Unsigned { seq: first.seq });
    }
    Ok(entries.len() as u64)
}

/// The whole verification of a log as `warden audit verify` and `GET
/// /v1/audit/verify` give it: the chain's report, and — when the chain is
/// intact and the log has checkpoints — theirs (`checkpoints`), checked
/// with `keys` (why there are none, when they could not be had).
///
/// `mark`, the last checkpoint signed, must be read *before* `entries`,
/// and `keys` after them: a host records its mark only once its checkpoint
/// is in the log, and publishes a key before it signs with it, so while
/// hosts keep signing, a mark read first is in the log read next (unless
/// the log was cut) and every checkpoint read has its key. A mark read
/// after the log could name a checkpoint signed in between, and report a
/// cut that did not happen.
pub fn full_report(
    entries: &[AuditEntry],
    chain: &super::VerifyReport,
    mark: Result<Option<keys::Mark>, String>,
    keys: impl FnOnce() -> Result<Vec<PublicKeyInfo>, String>,
    interval: Duration,
) -> serde_json::Value {
    let mut report = serde_json::to_value(chain).unwrap_or_default();
    if !chain.is_intact() {
        return report;
    }
    report["checkpoints"] = match keys().and_then(|keys| mark.map(|mark| (keys, mark))) {
        Ok((keys, mark)) => serde_json::to_value(verify(
            entries,
            &keys,
            mark.as_ref(),
            interval,
            SystemTime::now(),
        ))
        .unwrap_or_default(),
        Err(why)
            if entries
                .iter()
                .any(|e| e.kind == AuditKind::AuditCheckpoint.as_str()) =>
        {
            serde_json::json!({ "checked": false, "why": why })
        }
        // No checkpoint and no key to check one with: nothing was signed.
        Err(_) => {
            serde_json::json!({ "checkpoints": 0, "unsigned": entries.len(), "problem": null })
        }
    };
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::keys;
    use warden_host_apis::secrets::{MasterKey, SecretStore};

    const HOUR: Duration = Duration::from_secs(3600);

    fn event(actor: &str) -> AuditEvent {
        // Two apps, taking turns.
        let app = if actor.ends_with('0') {
            "ledger"
        } else {
            "payroll"
        };
        AuditEvent {
            kind: AuditKind::TemplateSet,
            app: Some(app.into()),
            actor: actor.into(),
            details: serde_json::json!({ "name": "t" }),
        }
    }

    /// A log with entries and checkpoints between them: (log dir, store).
    fn signed_log() -> (tempfile::TempDir, SecretStore) {
        let dir = tempfile::tempdir().expect("dir");
        let secrets = SecretStore::open(dir.path(), MasterKey::from_bytes([3; 32]));
        let log = crate::audit::open(dir.path());
        for round in 0..3 {
            for n in 0..2 {
                log.append_blocking(event(&format!("ops-{round}-{n}")))
                    .expect("append");
            }
            sign(log.as_ref(), &secrets, "interval")
                .expect("sign")
                .expect("a checkpoint");
        }
        (dir, secrets)
    }

    fn entries(dir: &tempfile::TempDir) -> Vec<AuditEntry> {
        crate::audit::open(dir.path())
            .entries()
            .wait()
            .expect("read")
    }

    /// Recomputes every hash from `from` on, as a rewriter would.
    fn rehash(entries: &mut [AuditEntry]) {
        for i in 0..entries.len() {
            entries[i].prev = if i == 0 {
                crate::audit::GENESIS.to_string()
            } else {
                entries[i - 1].hash.clone()
            };
            entries[i].hash = entries[i].compute_hash();
        }
    }

    fn problem(
        entries: &[AuditEntry],
        keys: &[PublicKeyInfo],
        now: SystemTime,
    ) -> Option<CheckpointProblem> {
        verify(entries, keys, None, HOUR, now).problem
    }

    #[test]
    fn a_signed_log_verifies_and_nothing_signs_twice() {
        let (dir, secrets) = signed_log();
        let all = entries(&dir);
        let keys = keys::keys(&secrets).expect("keys");
        let report = verify(&all, &keys, None, HOUR, SystemTime::now());
        assert_eq!(report.problem, None);
        assert_eq!((report.checkpoints, report.unsigned), (3, 0));
        // The last entry is a checkpoint: nothing new to sign.
        let log = crate::audit::open(dir.path());
        assert!(
            sign(log.as_ref(), &secrets, "manual")
                .expect("sign")
                .is_none()
        );
    }

    #[test]
    fn a_chain_rewritten_with_recomputed_hashes_is_caught() {
        let (dir, secrets) = signed_log();
        let keys = keys::keys(&secrets).expect("keys");
        let mut all = entries(&dir);
        all[1].actor = "mallory".into();
        rehash(&mut all);
        assert!(crate::audit::verify::verify(&lines(&all), None).is_intact());
        assert!(matches!(
            problem(&all, &keys, SystemTime::now()),
            Some(CheckpointProblem::Rewritten { seq: 3, .. })
        ));
        // A checkpoint dropped (the chain rehashed around the gap).
        let mut all = entries(&dir);
        all.remove(2);
        for (i, e) in all.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        rehash(&mut all);
        assert!(matches!(
            problem(&all, &keys, SystemTime::now()),
            Some(CheckpointProblem::Rewritten { .. })
        ));
        // A checkpoint signed by a key the log does not know.
        let stranger = SecretStore::open(
            tempfile::tempdir().expect("dir").path(),
            MasterKey::from_bytes([4; 32]),
        );
        let other = keys::keys(&{
            keys::current(&stranger).expect("key");
            stranger
        })
        .expect("keys");
        assert!(matches!(
            problem(&entries(&dir), &other, SystemTime::now()),
            Some(CheckpointProblem::Rewritten { seq: 3, .. })
        ));
    }

    /// The log as its file holds it.
    fn lines(entries: &[AuditEntry]) -> String {
        entries
            .iter()
            .map(|e| serde_json::to_string(e).expect("json") + "\n")
            .collect()
    }

    #[test]
    fn entries_unsigned_longer_than_the_interval_allows_are_a_cut_tail() {
        let (dir, secrets) = signed_log();
        let keys = keys::keys(&secrets).expect("keys");
        let mut all = entries(&dir);
        // The last checkpoint cut away: two entries wait unsigned.
        all.pop();
        let now = SystemTime::now();
        let report = verify(&all, &keys, None, HOUR, now);
        assert_eq!(
            (report.problem, report.unsigned),
            (None, 2),
            "within the interval"
        );
        let later = now + HOUR + Duration::from_secs(400);
        assert!(matches!(
            problem(&all, &keys, later),
            Some(CheckpointProblem::TailCut { after_seq: 5, .. })
        ));
        // With its checkpoint, the same log is sound at any time.
        assert_eq!(problem(&entries(&dir), &keys, later), None);
    }

    #[test]
    fn checkpoints_keep_verifying_with_a_rotated_key_and_not_outside_its_window() {
        let (dir, secrets) = signed_log();
        let before = keys::keys(&secrets).expect("keys");
        let (old, new) = keys::rotate(&secrets).expect("rotate");
        assert_eq!(old.as_deref(), Some(before[0].keyid.as_str()));
        let log = crate::audit::open(dir.path());
        log.append_blocking(event("after")).expect("append");
        assert_eq!(keys::current(&secrets).expect("key").keyid, new.keyid);
        sign(log.as_ref(), &secrets, "key-rotated").expect("sign");
        let keys = keys::keys(&secrets).expect("keys");
        assert_eq!(keys.len(), 2);
        assert!(keys[0].valid_until.is_some() && keys[1].valid_until.is_none());
        assert_eq!(
            verify(&entries(&dir), &keys, None, HOUR, SystemTime::now()).problem,
            None
        );
        // The old key's window ended before a checkpoint it signs.
        let mut closed = keys.clone();
        closed[0].valid_until = Some("2000-01-01T00:00:00Z".into());
        assert!(matches!(
            problem(&entries(&dir), &closed, SystemTime::now()),
            Some(CheckpointProblem::Rewritten { seq: 3, .. })
        ));
    }

    /// `app`'s entries and every checkpoint, as an export would carry them.
    fn excerpt(all: &[AuditEntry], app: &str) -> (Vec<AuditEntry>, Vec<AuditEntry>) {
        let of_app = all
            .iter()
            .filter(|e| e.app.as_deref() == Some(app))
            .cloned()
            .collect();
        let checkpoints = all
            .iter()
            .filter(|e| e.kind == AuditKind::AuditCheckpoint.as_str())
            .cloned()
            .collect();
        (of_app, checkpoints)
    }

    #[test]
    fn an_apps_excerpt_verifies_without_the_other_apps_entries_and_any_change_is_caught() {
        let (dir, secrets) = signed_log();
        let keys = keys::keys(&secrets).expect("keys");
        let all = entries(&dir);
        let (ledger, checkpoints) = excerpt(&all, "ledger");
        assert_eq!(
            verify_excerpt("ledger", &ledger, &checkpoints, &keys),
            Ok(3)
        );
        // Dropped.
        let mut dropped = ledger.clone();
        dropped.remove(1);
        assert!(matches!(
            verify_excerpt("ledger", &dropped, &checkpoints, &keys),
            Err(ExcerptProblem::Run { .. })
        ));
        // Edited (its hash no longer its content's).
        let mut edited = ledger.clone();
        edited[0].actor = "mallory".into();
        assert!(matches!(
            verify_excerpt("ledger", &edited, &checkpoints, &keys),
            Err(ExcerptProblem::Entry { .. })
        ));
        // Edited with its own hash recomputed: the signed digest differs.
        edited[0].hash = edited[0].compute_hash();
        assert!(matches!(
            verify_excerpt("ledger", &edited, &checkpoints, &keys),
            Err(ExcerptProblem::Run { .. })
        ));
        // Another app's entry slipped in.
        let (payroll, _) = excerpt(&all, "payroll");
        let mut mixed = ledger.clone();
        mixed.insert(1, payroll[0].clone());
        assert!(verify_excerpt("ledger", &mixed, &checkpoints, &keys).is_err());
        // A checkpoint left out between two others.
        let mut gap = checkpoints.clone();
        gap.remove(1);
        assert!(matches!(
            verify_excerpt("ledger", &ledger, &gap, &keys),
            Err(ExcerptProblem::Checkpoint { .. })
        ));
        // From the second checkpoint on (an export's --since): the entries
        // after it are vouched for, and earlier ones cannot come along.
        let later: Vec<AuditEntry> = ledger
            .iter()
            .filter(|e| e.seq > checkpoints[1].seq)
            .cloned()
            .collect();
        assert_eq!(
            verify_excerpt("ledger", &later, &checkpoints[1..], &keys),
            Ok(later.len() as u64)
        );
        assert!(verify_excerpt("ledger", &ledger, &checkpoints[1..], &keys).is_err());
        // An entry after the last checkpoint is not vouched for.
        let log = crate::audit::open(dir.path());
        log.append_blocking(event("late-0")).expect("append");
        let (ledger, checkpoints) = excerpt(&entries(&dir), "ledger");
        assert!(matches!(
            verify_excerpt("ledger", &ledger, &checkpoints, &keys),
            Err(ExcerptProblem::Unsigned { .. })
        ));
    }

    /// While a host keeps signing, a verification that reads the mark
    /// first reports no cut; the mark of a checkpoint signed after the log
    /// was read would (the order a verify of three busy nodes once had).
    #[test]
    fn a_checkpoint_signed_after_the_log_was_read_is_not_a_cut() {
        let (dir, secrets) = signed_log();
        let log = crate::audit::open(dir.path());
        let before = keys::mark(&secrets).map_err(|e| e.to_string());
        let (entries, chain) = log.read_blocking().expect("read");
        log.append_blocking(event("late-0")).expect("append");
        sign(log.as_ref(), &secrets, "interval")
            .expect("sign")
            .expect("a checkpoint");
        let keys = || keys::keys(&secrets).map_err(|e| e.to_string());
        let report = full_report(&entries, &chain, before, keys, HOUR);
        assert_eq!(
            report["checkpoints"]["problem"],
            serde_json::Value::Null,
            "{report}"
        );
        let after = keys::mark(&secrets).map_err(|e| e.to_string());
        let report = full_report(&entries, &chain, after, keys, HOUR);
        assert!(
            report["checkpoints"]["problem"]
                .to_string()
                .contains("not in the log"),
            "{report}"
        );
        // A mark that cannot be read is said, never skipped.
        let report = full_report(&entries, &chain, Err("locked".into()), keys, HOUR);
        assert_eq!(report["checkpoints"]["checked"], false, "{report}");
    }

    #[test]
    fn the_last_checkpoint_signed_catches_a_cut_after_an_earlier_one_and_every_checkpoint_removed()
    {
        let (dir, secrets) = signed_log();
        let (keys, mark) = keys::trust(&secrets).expect("trust");
        let mark = mark.expect("a mark");
        let all = entries(&dir);
        assert_eq!(
            verify(&all, &keys, Some(&mark), HOUR, SystemTime::now()).problem,
            None
        );
        // Cut right after the second checkpoint: nothing is left unsigned,
        // but the last checkpoint signed is gone.
        let second = all
            .iter()
            .filter(|e| e.kind == AuditKind::AuditCheckpoint.as_str())
            .nth(1)
            .expect("two checkpoints")
            .seq;
        let cut: Vec<AuditEntry> = all.iter().filter(|e| e.seq <= second).cloned().collect();
        assert_eq!(
            verify(&cut, &keys, None, HOUR, SystemTime::now()).problem,
            None,
            "without the mark"
        );
        assert!(matches!(
            verify(&cut, &keys, Some(&mark), HOUR, SystemTime::now()).problem,
            Some(CheckpointProblem::TailCut { .. })
        ));
        // Every checkpoint taken out, the chain rehashed.
        let mut bare: Vec<AuditEntry> = all
            .iter()
            .filter(|e| e.kind != AuditKind::AuditCheckpoint.as_str())
            .cloned()
            .collect();
        for (i, e) in bare.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        rehash(&mut bare);
        assert!(matches!(
            verify(&bare, &keys, Some(&mark), HOUR, SystemTime::now()).problem,
            Some(CheckpointProblem::TailCut { .. })
        ));
        // And no host signs over such a log as if it were sound.
        std::fs::write(dir.path().join("audit.jsonl"), lines(&cut)).expect("write");
        let last = cut.last().expect("entries");
        std::fs::write(
            dir.path().join("audit.head"),
            serde_json::json!({ "seq": last.seq, "hash": last.hash, "len": lines(&cut).len() })
                .to_string(),
        )
        .expect("head");
        let log = crate::audit::open(dir.path());
        log.append_blocking(event("after-0")).expect("append");
        let refused = sign(log.as_ref(), &secrets, "interval").expect_err("refused");
        assert!(refused.to_string().contains("no longer holds"), "{refused}");
    }
}
