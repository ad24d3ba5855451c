//! Collecting what deploys leave behind, so that a host that takes deploys
//! for months does not fill its disk.
//!
//! Kept: the files of every active and pending version, and of the newest
//! `deploys.keep_versions` superseded versions of each app (rollback
//! candidates). Collected: the manifests of failed and rejected versions
//! and of older superseded ones (their records stay, for history and
//! audit), and, once older than [`GRACE`], any component no kept version
//! names and any compiled artifact of a component neither kept nor served
//! (a deploy may be about to name a fresh upload, or a `warden run` may
//! have just compiled it). Collection and the adding of files (staging a
//! deploy, storing an upload) take one lock, so a file is never removed
//! between a deploy's check and its record.

use super::{Deployment, Status};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long an unnamed upload or unused artifact is left alone.
pub(crate) const GRACE: Duration = Duration::from_secs(3600);

/// What one collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Collected {
    pub manifests: usize,
    pub components: usize,
    pub artifacts: usize,
    pub bytes: u64,
}

/// The deploys whose files are kept, of all deploys (any order).
pub fn kept(deployments: &[Deployment], keep_versions: usize) -> HashSet<i64> {
    let mut by_app: std::collections::BTreeMap<&str, Vec<&Deployment>> = Default::default();
    for d in deployments {
        by_app.entry(d.app.as_str()).or_default().push(d);
    }
    let mut kept = HashSet::new();
    for versions in by_app.values_mut() {
        versions.sort_by_key(|d| std::cmp::Reverse(d.id));
        let mut superseded = 0;
        for d in versions.iter() {
            let keep = match d.status {
                Status::Active
                | Status::Killed
                | Status::Approved
                | Status::Pending
                | Status::Retired => true,
                Status::Superseded => {
                    superseded += 1;
                    superseded <= keep_versions
                }
                Status::Failed | Status::Rejected | Status::Deleted => false,
            };
            if keep {
                kept.insert(d.id);
            }
        }
    }
    kept
}

fn older_than(path: &Path, age: Duration, now: SystemTime) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(|t| now.duration_since(t).unwrap_or_default() >= age)
        .unwrap_or(false)
}

fn remove(path: &Path, collected: &mut Collected) -> bool {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path).is_ok()
    } else {
        std::fs::remove_file(path).is_ok()
    };
    if removed {
        collected.bytes += size;
    }
    removed
}

impl super::RegistryDb {
    /// Every deploy of every app.
    pub fn all(&self) -> rusqlite::Result<Vec<Deployment>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {} FROM deployments ORDER BY id",
            super::COLUMNS
        ))?;
        stmt.query_map([], super::row)?.collect()
    }

    /// Removes the files nothing needs any more (see the module doc).
    /// `served` are the digests of components served now (including local
    /// `--app` ones, whose artifacts live in the same cache).
    pub fn collect(
        &self,
        keep_versions: usize,
        served: &BTreeSet<String>,
        artifacts: &Path,
        grace: Duration,
    ) -> anyhow::Result<Collected> {
        let _files = self.files();
        let deployments = self.all()?;
        let mut digests = served.clone();
        Ok(collect_files(
            &self.dir,
            &deployments,
            keep_versions,
            &mut digests,
            artifacts,
            grace,
        ))
    }
}

/// Removes, under `dir` (a data directory), the deploy files of
/// `deployments` not kept, and components and artifacts older than `grace`
/// that neither a kept deploy nor `digests` (those served now) names;
/// `digests` gains the kept deploys' components. The caller holds the
/// files lock.
pub(crate) fn collect_files(
    dir: &Path,
    deployments: &[Deployment],
    keep_versions: usize,
    digests: &mut BTreeSet<String>,
    artifacts: &Path,
    grace: Duration,
) -> Collected {
    let now = SystemTime::now();
    let kept = kept(deployments, keep_versions);
    let mut collected = Collected::default();
    for d in deployments {
        if kept.contains(&d.id) {
            digests.insert(d.digest.clone());
            continue;
        }
        if let Some(deploy) = d.manifest_path.parent().filter(|p| p.exists())
            && deploy.starts_with(dir.join("deploys"))
            && remove(deploy, &mut collected)
        {
            collected.manifests += 1;
        }
    }
    for entry in read_dir(&dir.join("components")) {
        let name = file_name(&entry);
        let digest = name.strip_suffix(".wasm").unwrap_or(&name);
        // Whether only collected versions name it or none does yet
        // (an upload), it goes once it is older than the grace period:
        // the same component may be deployed again meanwhile.
        let unused = !digests.contains(digest) && older_than(&entry, grace, now);
        if unused && remove(&entry, &mut collected) {
            collected.components += 1;
        }
    }
    for entry in read_dir(artifacts) {
        let name = file_name(&entry);
        let digest = name.split(['-', '.']).next().unwrap_or_default();
        let unused = !digests.contains(digest) && older_than(&entry, grace, now);
        if unused && remove(&entry, &mut collected) {
            collected.artifacts += 1;
        }
    }
    collected
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(id: i64, app: &str, status: Status) -> Deployment {
        Deployment {
            id,
            app: app.into(),
            version: format!("1.0.{id}"),
            digest: format!("d{id}"),
            owner: None,
            deployed_by: "t".into(),
            deployed_at: String::new(),
            status,
            reasons: Vec::new(),
            approved: false,
            reviewed_by: None,
            review_note: None,
            manifest_path: PathBuf::new(),
            deployed_as: None,
            deployed_team: None,
            manifest_sha256: None,
            stored_sha256: None,
        }
    }

    #[test]
    fn active_pending_and_the_newest_superseded_versions_are_kept() {
        use Status::*;
        let all = vec![
            deploy(1, "a", Superseded),
            deploy(2, "a", Superseded),
            deploy(3, "a", Failed),
            deploy(4, "a", Superseded),
            deploy(5, "a", Active),
            deploy(6, "a", Pending),
            deploy(7, "a", Rejected),
            deploy(8, "b", Superseded),
            deploy(9, "b", Active),
            deploy(10, "c", Deleted),
        ];
        let mut kept: Vec<i64> = kept(&all, 2).into_iter().collect();
        kept.sort();
        assert_eq!(kept, [2, 4, 5, 6, 8, 9]);
        let mut none: Vec<i64> = super::kept(&all, 0).into_iter().collect();
        none.sort();
        assert_eq!(none, [5, 6, 9]);
    }
}
