//! Reading a single node's data directory for the copy: each embedded
//! store opened by its own code first (so one made by an older Warden is
//! migrated), then its rows read as the shared tables hold them.

use super::{Cell, CopyError, Snapshot, Table};
use crate::registry::{SENT_MANIFEST, Status};
use rusqlite::{Connection, OpenFlags};
use sha2::Digest as _;
use std::collections::BTreeSet;
use std::path::Path;
use tokio_postgres::types::Type;
use warden_host_apis::metering::COUNTER_NAMES;
use warden_host_apis::secrets::{MasterKey, SecretStore};

fn cell<T: tokio_postgres::types::ToSql + Sync + Send + 'static>(value: T) -> Cell {
    Box::new(value)
}

fn unreadable(what: &Path, e: impl std::fmt::Display) -> CopyError {
    CopyError::Source(format!("{} cannot be read: {e}", what.display()))
}

/// The shared tables' rows from `data_dir`, checked: the audit chain
/// verifies, and every file a served, pending or retired version needs is
/// there and is what was recorded.
pub(super) fn read(data_dir: &Path, key: MasterKey) -> Result<Snapshot, CopyError> {
    let mut skipped = Vec::new();
    let (deployments, components, transitions, quotas, templates) =
        registry(data_dir, &mut skipped)?;
    let (audit_log, audit_head) = audit(data_dir)?;
    let (storage_values, storage_usage, storage_data_keys) = storage(data_dir)?;
    let (usage_counters, quota_leases) = usage(data_dir)?;
    Ok(Snapshot {
        tables: vec![
            components,
            deployments,
            transitions,
            quotas,
            templates,
            attestations(data_dir)?,
            tokens(data_dir)?,
            secrets(data_dir, key.clone())?,
            kills(data_dir)?,
            storage_values,
            storage_usage,
            storage_data_keys,
            usage_counters,
            quota_leases,
            slo_tallies(data_dir)?,
            dlp_salt(data_dir, &key)?,
            audit_log,
            forward_positions(data_dir)?,
            app_reviews(data_dir)?,
            people(data_dir)?,
        ],
        audit_head,
        skipped,
    })
}

/// The list of people the identity provider keeps (SCIM), deleted ones
/// included (their names stay deactivated).
fn people(data_dir: &Path) -> Result<Table, CopyError> {
    let file = data_dir.join("people.db");
    let rows = match sqlite(&file)? {
        Some(conn) => rows(
            &file,
            &conn,
            "SELECT id, user_name, active, deleted, resource, aliases, created_at, updated_at, version FROM people",
            |r| {
                Ok(vec![
                    cell(r.get::<_, String>(0)?),
                    cell(r.get::<_, String>(1)?),
                    cell(r.get::<_, i64>(2)? != 0),
                    cell(r.get::<_, i64>(3)? != 0),
                    cell(r.get::<_, String>(4)?),
                    cell(r.get::<_, String>(5)?),
                    cell(r.get::<_, i64>(6)?),
                    cell(r.get::<_, i64>(7)?),
                    cell(r.get::<_, i64>(8)?),
                ])
            },
        )?,
        None => Vec::new(),
    };
    Ok(Table {
        name: "people",
        columns: &[
            ("id", Type::TEXT),
            ("user_name", Type::TEXT),
            ("active", Type::BOOL),
            ("deleted", Type::BOOL),
            ("resource", Type::TEXT),
            ("aliases", Type::TEXT),
            ("created_at", Type::INT8),
            ("updated_at", Type::INT8),
            ("version", Type::INT8),
        ],
        rows,
    })
}

/// A read-only connection to `file`, if it exists.
fn sqlite(file: &Path) -> Result<Option<Connection>, CopyError> {
    if !file.exists() {
        return Ok(None);
    }
    Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map(Some)
        .map_err(|e| unreadable(file, e))
}

/// Every row `sql` selects from `conn`, made into cells by `row`.
fn rows(
    file: &Path,
    conn: &Connection,
    sql: &str,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<Vec<Cell>>,
) -> Result<Vec<Vec<Cell>>, CopyError> {
    let mut stmt = conn.prepare(sql).map_err(|e| unreadable(file, e))?;
    let found = stmt
        .query_map([], |r| row(r))
        .map_err(|e| unreadable(file, e))?
        .collect::<rusqlite::Result<Vec<_>>>();
    found.map_err(|e| unreadable(file, e))
}

type RegistryTables = (Table, Table, Table, Table, Table);

/// Deploys with their stored manifests (rewritten to the shared component
/// path), components, history, quota overrides and templates.
fn registry(data_dir: &Path, skipped: &mut Vec<String>) -> Result<RegistryTables, CopyError> {
    let file = data_dir.join("registry.db");
    if file.exists() {
        // Its own code brings an older registry's columns up to date.
        crate::registry::Registry::open(data_dir).map_err(|e| unreadable(&file, e))?;
    }
    let conn = sqlite(&file)?;
    let mut deployments = Vec::new();
    let mut needed = BTreeSet::new();
    let mut transitions = Vec::new();
    let (mut quotas, mut templates) = (Vec::new(), Vec::new());
    if let Some(conn) = &conn {
        let mut stmt = conn
            .prepare(
                "SELECT id, app, version, digest, owner, deployed_by, deployed_at, status, reasons, approved,
                        reviewed_by, review_note, deployed_as, manifest_sha256, stored_sha256, deployed_team,
                        changed_by, change_why, policy_revision
                 FROM deployments ORDER BY id",
            )
            .map_err(|e| unreadable(&file, e))?;
        let mut found = stmt.query([]).map_err(|e| unreadable(&file, e))?;
        while let Some(r) = found.next().map_err(|e| unreadable(&file, e))? {
            let get_text = |i: usize| r.get::<_, Option<String>>(i);
            let read = || -> rusqlite::Result<_> {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(7)?,
                    (get_text(14)?, get_text(13)?),
                ))
            };
            let (id, digest, status, (stored_sha256, sent_sha256)) =
                read().map_err(|e| unreadable(&file, e))?;
            let needs = crate::state::postgres::registry::needs_files(Status::parse(&status));
            let recorded = Recorded {
                stored: stored_sha256.as_deref(),
                sent: sent_sha256.as_deref(),
            };
            let (manifest, sent, stored) =
                manifests(data_dir, id, &digest, recorded, needs, skipped)?;
            if needs {
                needed.insert(digest.clone());
            }
            let text = |i: usize| get_text(i).map(cell).map_err(|e| unreadable(&file, e));
            let plain = |i: usize| {
                r.get::<_, String>(i)
                    .map(cell)
                    .map_err(|e| unreadable(&file, e))
            };
            deployments.push(vec![
                cell(id),
                plain(1)?,
                plain(2)?,
                cell(digest),
                text(4)?,
                plain(5)?,
                plain(6)?,
                cell(status),
                plain(8)?,
                cell(
                    r.get::<_, i64>(9)
                        .map(|a| a != 0)
                        .map_err(|e| unreadable(&file, e))?,
                ),
                text(10)?,
                text(11)?,
                text(12)?,
                text(13)?,
                cell(stored),
                text(15)?,
                text(16)?,
                text(17)?,
                text(18)?,
                cell(manifest),
                cell(sent),
            ]);
        }
        transitions = rows(
            &file,
            conn,
            "SELECT seq, deploy, from_status, to_status, by, at, why, revision FROM transitions ORDER BY seq",
            |r| {
                Ok(vec![
                    cell(r.get::<_, i64>(0)?),
                    cell(r.get::<_, i64>(1)?),
                    cell(r.get::<_, Option<String>>(2)?),
                    cell(r.get::<_, String>(3)?),
                    cell(r.get::<_, Option<String>>(4)?),
                    cell(r.get::<_, String>(5)?),
                    cell(r.get::<_, Option<String>>(6)?),
                    cell(r.get::<_, Option<String>>(7)?),
                ])
            },
        )?;
        let named = |r: &rusqlite::Row<'_>| -> rusqlite::Result<Vec<Cell>> {
            (0..4).map(|i| r.get::<_, String>(i).map(cell)).collect()
        };
        quotas = rows(
            &file,
            conn,
            "SELECT app, quota, set_by, set_at FROM quotas",
            named,
        )?;
        templates = rows(
            &file,
            conn,
            "SELECT name, template, set_by, set_at FROM templates",
            named,
        )?;
    }
    Ok((
        Table {
            name: "deployments",
            columns: &DEPLOYMENTS,
            rows: deployments,
        },
        Table {
            name: "components",
            columns: &[("digest", Type::TEXT), ("bytes", Type::BYTEA)],
            rows: components(data_dir, &needed, skipped)?,
        },
        Table {
            name: "transitions",
            columns: &[
                ("seq", Type::INT8),
                ("deploy", Type::INT8),
                ("from_status", Type::TEXT),
                ("to_status", Type::TEXT),
                ("actor", Type::TEXT),
                ("at", Type::TEXT),
                ("why", Type::TEXT),
                ("revision", Type::TEXT),
            ],
            rows: transitions,
        },
        Table {
            name: "quotas",
            columns: &[
                ("app", Type::TEXT),
                ("quota", Type::TEXT),
                ("set_by", Type::TEXT),
                ("set_at", Type::TEXT),
            ],
            rows: quotas,
        },
        Table {
            name: "templates",
            columns: &[
                ("name", Type::TEXT),
                ("template", Type::TEXT),
                ("set_by", Type::TEXT),
                ("set_at", Type::TEXT),
            ],
            rows: templates,
        },
    ))
}

const DEPLOYMENTS: [(&str, Type); 21] = [
    ("id", Type::INT8),
    ("app", Type::TEXT),
    ("version", Type::TEXT),
    ("digest", Type::TEXT),
    ("owner", Type::TEXT),
    ("deployed_by", Type::TEXT),
    ("deployed_at", Type::TEXT),
    ("status", Type::TEXT),
    ("reasons", Type::TEXT),
    ("approved", Type::BOOL),
    ("reviewed_by", Type::TEXT),
    ("review_note", Type::TEXT),
    ("deployed_as", Type::TEXT),
    ("manifest_sha256", Type::TEXT),
    ("stored_sha256", Type::TEXT),
    ("deployed_team", Type::TEXT),
    ("changed_by", Type::TEXT),
    ("change_why", Type::TEXT),
    ("policy_revision", Type::TEXT),
    ("manifest", Type::TEXT),
    ("sent", Type::TEXT),
];

/// The digests a deploy's row records of its two manifests.
#[derive(Clone, Copy)]
struct Recorded<'a> {
    /// Of the stored manifest (`app.toml`).
    stored: Option<&'a str>,
    /// Of the manifest as sent (`sent.toml`).
    sent: Option<&'a str>,
}

/// Deploy `id`'s stored manifest (its component named by the shared
/// path), the manifest as sent, and the stored one's digest. A version
/// that `needs` its files must have them, unchanged since the deploy; one
/// that does not (failed, rejected, superseded, deleted) keeps its record
/// with empty texts when they were collected or changed (said in
/// `skipped`).
fn manifests(
    data_dir: &Path,
    id: i64,
    digest: &str,
    recorded: Recorded<'_>,
    needs: bool,
    skipped: &mut Vec<String>,
) -> Result<(String, String, Option<String>), CopyError> {
    let dir = data_dir.join("deploys").join(id.to_string());
    let path = dir.join("app.toml");
    let record_only = || {
        (
            String::new(),
            String::new(),
            recorded.stored.map(str::to_owned),
        )
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !needs => {
            return Ok(record_only());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CopyError::Source(format!(
                "{} is missing: deploy {id} is served, pending or retired and needs it\n  fix: restore it from a backup, or delete the app, then copy",
                path.display()
            )));
        }
        Err(e) => return Err(unreadable(&path, e)),
    };
    let actual = hex::encode(sha2::Sha256::digest(text.as_bytes()));
    if let Some(recorded) = recorded.stored
        && recorded != actual
    {
        if !needs {
            skipped.push(format!(
                "{}: changed after its deploy, which is no longer served (its record is copied)",
                path.display()
            ));
            return Ok(record_only());
        }
        return Err(CopyError::Source(format!(
            "{} is not the manifest deploy {id} recorded (its SHA-256 is {actual}, the registry says {recorded}): it was changed after the deploy\n  fix: restore it from a backup, or retire and delete the app, then copy",
            path.display()
        )));
    }
    let mut manifest: toml::Table = toml::from_str(&text).map_err(|e| unreadable(&path, e))?;
    if let Some(toml::Value::Table(app)) = manifest.get_mut("app") {
        app.insert(
            "component".into(),
            toml::Value::String(format!("../../components/{digest}.wasm")),
        );
    }
    let shared = toml::to_string(&manifest).map_err(|e| unreadable(&path, e))?;
    let stored = hex::encode(sha2::Sha256::digest(shared.as_bytes()));
    let sent_path = dir.join(SENT_MANIFEST);
    let sent = match std::fs::read_to_string(&sent_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(unreadable(&sent_path, e)),
    };
    // The manifest as sent is what the deploy's digest (and attestation)
    // speak of: a changed one is not carried into the shared record.
    let sent_actual = hex::encode(sha2::Sha256::digest(sent.as_bytes()));
    if let Some(recorded) = recorded.sent
        && !sent.is_empty()
        && recorded != sent_actual
    {
        if !needs {
            skipped.push(format!(
                "{}: changed after its deploy, which is no longer served (its record is copied)",
                sent_path.display()
            ));
            return Ok(record_only());
        }
        return Err(CopyError::Source(format!(
            "{} is not the manifest deploy {id} was sent (its SHA-256 is {sent_actual}, the registry says {recorded}): it was changed after the deploy\n  fix: restore it from a backup, or retire and delete the app, then copy",
            sent_path.display()
        )));
    }
    Ok((shared, sent, Some(stored)))
}

/// Every component whose bytes are its digest's; a component a version
/// `needed` that is missing or changed stops the copy, an upload no
/// version needs that changed is left out (and said).
fn components(
    data_dir: &Path,
    needed: &BTreeSet<String>,
    skipped: &mut Vec<String>,
) -> Result<Vec<Vec<Cell>>, CopyError> {
    let dir = data_dir.join("components");
    let mut out = Vec::new();
    let mut found = BTreeSet::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.collect::<Result<Vec<_>, _>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
    .map_err(|e| unreadable(&dir, e))?;
    for entry in entries {
        let path = entry.path();
        let Some(digest) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wasm"))
            .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_owned)
        else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| unreadable(&path, e))?;
        let actual = hex::encode(sha2::Sha256::digest(&bytes));
        if actual != digest {
            if needed.contains(&digest) {
                return Err(CopyError::Source(format!(
                    "{} is not the component that was deployed (its SHA-256 is {actual}): it was changed after the deploy\n  fix: restore it from a backup, or delete the apps that use it, then copy",
                    path.display()
                )));
            }
            skipped.push(format!(
                "{}: an upload no version uses, whose bytes are not its digest's",
                path.display()
            ));
            continue;
        }
        found.insert(digest.clone());
        out.push(vec![cell(digest), cell(bytes)]);
    }
    if let Some(missing) = needed.difference(&found).next() {
        return Err(CopyError::Source(format!(
            "the component {missing}, which a served, pending or retired version runs, is not in {}\n  fix: restore it from a backup, or delete the app, then copy",
            dir.display()
        )));
    }
    Ok(out)
}

/// The audit chain's lines, exactly as written (so every hash still
/// holds), and its head; the chain must verify.
fn audit(data_dir: &Path) -> Result<(Table, (i64, String)), CopyError> {
    let log = crate::audit::open(data_dir);
    let path = data_dir.join("audit.jsonl");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(unreadable(&path, e)),
    };
    let (entries, report) = log
        .read_blocking()
        .map_err(|e| CopyError::Source(e.to_string()))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    if let Some(p) = report.problem {
        return Err(CopyError::Source(format!(
            "the audit log {} does not verify (entry {}: {}); a copy would carry the break into the shared chain\n  fix: see `warden audit verify`, then copy",
            log.location(),
            p.expected_seq,
            p.reason
        )));
    }
    if lines.len() != entries.len() {
        return Err(CopyError::Source(format!(
            "the audit log {} changed while it was read\n  fix: stop whatever writes to it, then copy",
            log.location()
        )));
    }
    let mut rows = Vec::with_capacity(entries.len());
    let mut head = (0i64, crate::audit::GENESIS.to_string());
    for (entry, line) in entries.into_iter().zip(lines) {
        let seq = i64::try_from(entry.seq).unwrap_or(i64::MAX);
        head = (seq, entry.hash.clone());
        rows.push(vec![cell(seq), cell(entry.app), cell(line.to_owned())]);
    }
    Ok((
        Table {
            name: "audit_log",
            columns: &[
                ("seq", Type::INT8),
                ("app", Type::TEXT),
                ("line", Type::TEXT),
            ],
            rows,
        },
        head,
    ))
}

/// Signed attestations, one file per deploy.
fn attestations(data_dir: &Path) -> Result<Table, CopyError> {
    let dir = data_dir.join("attestations");
    let mut rows = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries {
            let path = entry.map_err(|e| unreadable(&dir, e))?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| n.parse::<i64>().ok())
            else {
                continue;
            };
            let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?;
            rows.push(vec![cell(id), cell(text)]);
        }
    }
    Ok(Table {
        name: "attestations",
        columns: &[("deploy", Type::INT8), ("envelope", Type::TEXT)],
        rows,
    })
}

/// Tokens: only their hashes, with holder, role, team and times.
fn tokens(data_dir: &Path) -> Result<Table, CopyError> {
    let file = data_dir.join("tokens.db");
    if file.exists() || data_dir.join("tokens.json").exists() {
        // Its own code adds newer columns and imports an older tokens.json.
        crate::admin::token_store::TokenStore::new(data_dir)
            .list()
            .map_err(|e| unreadable(&file, e))?;
    }
    let rows = match sqlite(&file)? {
        Some(conn) => rows(
            &file,
            &conn,
            "SELECT id, name, role, hash, created_at, created_by, expires_at, revoked_at, revoked_by, last_used_at, team FROM tokens",
            |r| {
                Ok(vec![
                    cell(r.get::<_, String>(0)?),
                    cell(r.get::<_, String>(1)?),
                    cell(r.get::<_, String>(2)?),
                    cell(r.get::<_, String>(3)?),
                    cell(r.get::<_, i64>(4)?),
                    cell(r.get::<_, String>(5)?),
                    cell(r.get::<_, Option<i64>>(6)?),
                    cell(r.get::<_, Option<i64>>(7)?),
                    cell(r.get::<_, Option<String>>(8)?),
                    cell(r.get::<_, Option<i64>>(9)?),
                    cell(r.get::<_, Option<String>>(10)?),
                ])
            },
        )?,
        None => Vec::new(),
    };
    Ok(Table {
        name: "tokens",
        columns: &[
            ("id", Type::TEXT),
            ("name", Type::TEXT),
            ("role", Type::TEXT),
            ("hash", Type::TEXT),
            ("created_at", Type::INT8),
            ("created_by", Type::TEXT),
            ("expires_at", Type::INT8),
            ("revoked_at", Type::INT8),
            ("revoked_by", Type::TEXT),
            ("last_used_at", Type::INT8),
            ("team", Type::TEXT),
        ],
        rows,
    })
}

/// Periodic reviews (`app_reviews` in `registry.db`), oldest first, so
/// each app's next review comes due on the nodes as it did here.
fn app_reviews(data_dir: &Path) -> Result<Table, CopyError> {
    let file = data_dir.join("registry.db");
    let mut found = Vec::new();
    if let Some(conn) = sqlite(&file)? {
        let kept: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'app_reviews'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| unreadable(&file, e))?;
        if kept > 0 {
            found = rows(
                &file,
                &conn,
                "SELECT app, version, tier, reviewer, note, at FROM app_reviews ORDER BY seq",
                |r| (0..6).map(|i| r.get::<_, String>(i).map(cell)).collect(),
            )?;
        }
    }
    Ok(Table {
        name: "app_reviews",
        columns: &[
            ("app", Type::TEXT),
            ("version", Type::TEXT),
            ("tier", Type::TEXT),
            ("reviewer", Type::TEXT),
            ("note", Type::TEXT),
            ("at", Type::TEXT),
        ],
        rows: found,
    })
}

/// Where each audit sink stands (`audit.forward.json`), so the nodes go
/// on forwarding from there instead of sending the whole chain again.
fn forward_positions(data_dir: &Path) -> Result<Table, CopyError> {
    let log = data_dir.join("audit.jsonl");
    let positions = crate::audit::file_positions::all(&log)
        .map_err(|e| unreadable(&crate::audit::file_positions::path(&log), e))?;
    Ok(Table {
        name: "audit_forward",
        columns: &[
            ("sink", Type::TEXT),
            ("seq", Type::INT8),
            ("hash", Type::TEXT),
        ],
        rows: positions
            .into_iter()
            .map(|(sink, at)| {
                vec![
                    cell(sink),
                    cell(i64::try_from(at.seq).unwrap_or(i64::MAX)),
                    cell(at.hash),
                ]
            })
            .collect(),
    })
}

/// The DLP token salt (`dlp.salt`), sealed for the shared table, so the
/// values the node redacted keep their tokens after the move.
fn dlp_salt(data_dir: &Path, key: &MasterKey) -> Result<Table, CopyError> {
    let path = data_dir.join("dlp.salt");
    let mut rows = Vec::new();
    if path.exists() {
        let salt =
            crate::runtime::dlp_salt(data_dir).map_err(|e| CopyError::Source(format!("{e:#}")))?;
        let sealed = crate::state::postgres::dlp::seal(key, &salt)?;
        rows.push(vec![cell(1i16), cell(sealed)]);
    }
    Ok(Table {
        name: "dlp_salt",
        columns: &[("id", Type::INT2), ("sealed", Type::BYTEA)],
        rows,
    })
}

/// Secrets as sealed: none is opened.
fn secrets(data_dir: &Path, key: MasterKey) -> Result<Table, CopyError> {
    let store = SecretStore::open(data_dir, key);
    let rows = store
        .sealed_entries()
        .map_err(|e| CopyError::Source(e.to_string()))?
        .into_iter()
        .map(|(name, version, sealed)| {
            vec![
                cell(name),
                cell(i32::try_from(version).unwrap_or(i32::MAX)),
                cell(sealed),
            ]
        })
        .collect();
    Ok(Table {
        name: "secrets",
        columns: &[
            ("name", Type::TEXT),
            ("version", Type::INT4),
            ("sealed", Type::TEXT),
        ],
        rows,
    })
}

/// Kill switches, with who pulled them, when and why.
fn kills(data_dir: &Path) -> Result<Table, CopyError> {
    let path = data_dir.join("killed.json");
    let state = crate::kills::read_state_strict(&path).map_err(|e| unreadable(&path, e))?;
    Ok(Table {
        name: "kill_state",
        columns: &[
            ("app", Type::TEXT),
            ("reason", Type::TEXT),
            ("actor", Type::TEXT),
            ("at", Type::TEXT),
        ],
        rows: state
            .into_iter()
            .map(|(app, k)| vec![cell(app), cell(k.reason), cell(k.actor), cell(k.at)])
            .collect(),
    })
}

/// Classified storage: values still sealed, expiry times, totals and each
/// app's wrapped data key.
fn storage(data_dir: &Path) -> Result<(Table, Table, Table), CopyError> {
    let file = data_dir.join("storage.db");
    let (mut values, mut totals, mut keys) = (Vec::new(), Vec::new(), Vec::new());
    if let Some(conn) = sqlite(&file)? {
        values = rows(
            &file,
            &conn,
            "SELECT app, bucket, key, value, expires_at FROM kv",
            |r| {
                Ok(vec![
                    cell(r.get::<_, String>(0)?),
                    cell(r.get::<_, String>(1)?),
                    cell(r.get::<_, String>(2)?),
                    cell(r.get::<_, Vec<u8>>(3)?),
                    cell(r.get::<_, i64>(4)?),
                ])
            },
        )?;
        totals = rows(&file, &conn, "SELECT app, bytes, keys FROM kv_usage", |r| {
            Ok(vec![
                cell(r.get::<_, String>(0)?),
                cell(r.get::<_, i64>(1)?),
                cell(r.get::<_, i64>(2)?),
            ])
        })?;
        keys = rows(&file, &conn, "SELECT app, wrapped FROM data_keys", |r| {
            Ok(vec![
                cell(r.get::<_, String>(0)?),
                cell(r.get::<_, Vec<u8>>(1)?),
            ])
        })?;
    }
    Ok((
        Table {
            name: "storage_values",
            columns: &[
                ("app", Type::TEXT),
                ("bucket", Type::TEXT),
                ("key", Type::TEXT),
                ("value", Type::BYTEA),
                ("expires_at", Type::INT8),
            ],
            rows: values,
        },
        Table {
            name: "storage_usage",
            columns: &[
                ("app", Type::TEXT),
                ("bytes", Type::INT8),
                ("keys", Type::INT8),
            ],
            rows: totals,
        },
        Table {
            name: "storage_data_keys",
            columns: &[("app", Type::TEXT), ("wrapped", Type::BYTEA)],
            rows: keys,
        },
    ))
}

/// The last two days of SLO tallies (`traces.db`), as this data
/// directory's node's rows, so burn rates carry on across the move.
fn slo_tallies(data_dir: &Path) -> Result<Table, CopyError> {
    use crate::telemetry::tally::Tally;
    let file = data_dir.join("traces.db");
    let mut out = Vec::new();
    if let Some(conn) = sqlite(&file)? {
        let node = crate::state::postgres::tallies::node_id(data_dir)
            .map_err(|e| unreadable(&data_dir.join("node.id"), e))?;
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            .saturating_sub(2 * 86_400)
            / 10;
        let found = rows(
            &file,
            &conn,
            &format!("SELECT app, bucket, tally FROM usage_buckets WHERE bucket >= {since}"),
            |r| {
                let tally: Tally =
                    serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default();
                let histogram: Vec<i64> = tally
                    .histogram
                    .iter()
                    .map(|n| i64::try_from(*n).unwrap_or(i64::MAX))
                    .collect();
                Ok(vec![
                    cell(r.get::<_, String>(0)?),
                    cell(r.get::<_, i64>(1)?),
                    cell(node.clone()),
                    cell(i64::try_from(tally.invocations).unwrap_or(i64::MAX)),
                    cell(i64::try_from(tally.errors).unwrap_or(i64::MAX)),
                    cell(histogram),
                ])
            },
        );
        out = found?;
    }
    Ok(Table {
        name: "slo_tallies",
        columns: &[
            ("app", Type::TEXT),
            ("bucket", Type::INT8),
            ("node", Type::TEXT),
            ("invocations", Type::INT8),
            ("errors", Type::INT8),
            ("histogram", Type::INT8_ARRAY),
        ],
        rows: out,
    })
}

/// Usage counters per app, scope and window, and the quota units handed
/// out per window.
fn usage(data_dir: &Path) -> Result<(Table, Table), CopyError> {
    let file = data_dir.join("usage.db");
    let (mut counters, mut leases) = (Vec::new(), Vec::new());
    if let Some(conn) = sqlite(&file)? {
        // A counter an older Warden did not keep reads as 0.
        let have: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('usage')")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| unreadable(&file, e))?;
        let columns: Vec<String> = COUNTER_NAMES
            .iter()
            .map(|c| {
                if have.iter().any(|h| h == c) {
                    c.to_string()
                } else {
                    "0".to_string()
                }
            })
            .collect();
        counters = rows(
            &file,
            &conn,
            &format!(
                "SELECT app, scope, window, {} FROM usage",
                columns.join(", ")
            ),
            |r| {
                let mut row: Vec<Cell> = (0..3)
                    .map(|i| r.get::<_, String>(i).map(cell))
                    .collect::<rusqlite::Result<_>>()?;
                for i in 3..3 + COUNTER_NAMES.len() {
                    row.push(cell(r.get::<_, i64>(i)?));
                }
                Ok(row)
            },
        )?;
        // A data directory from before leases has no such table.
        let has_leases = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'quota_leases'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(|e| unreadable(&file, e))?
            > 0;
        if has_leases {
            leases = rows(
                &file,
                &conn,
                "SELECT app, quota, window, granted FROM quota_leases",
                |r| {
                    Ok(vec![
                        cell(r.get::<_, String>(0)?),
                        cell(r.get::<_, String>(1)?),
                        cell(r.get::<_, String>(2)?),
                        cell(r.get::<_, i64>(3)?),
                    ])
                },
            )?;
        }
    }
    Ok((
        Table {
            name: "usage_counters",
            columns: &[
                ("app", Type::TEXT),
                ("scope", Type::TEXT),
                ("period", Type::TEXT),
                ("calls", Type::INT8),
                ("bytes_out", Type::INT8),
                ("bytes_in", Type::INT8),
                ("denials", Type::INT8),
                ("invocations", Type::INT8),
                ("fuel", Type::INT8),
                ("cost_micros", Type::INT8),
            ],
            rows: counters,
        },
        Table {
            name: "quota_leases",
            columns: &[
                ("app", Type::TEXT),
                ("quota", Type::TEXT),
                ("period", Type::TEXT),
                ("granted", Type::INT8),
            ],
            rows: leases,
        },
    ))
}
