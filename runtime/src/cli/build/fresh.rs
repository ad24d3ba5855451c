//! Whether a Python or JavaScript component is up to date: a digest of
//! everything the build reads — the app's files (paths and contents), the
//! entry file, the toolchain's version, this Warden's version and the SDK
//! and WIT it carries — kept beside the component after a build that
//! succeeded. Contents, not modification times: a renamed or deleted file,
//! a file restored with an old time, or a newer Warden all change it.
//! Cargo judges Rust builds itself.

use super::{Job, shipped, tree};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Adds every file of the app (its path and contents) to `hash`.
fn add_sources(hash: &mut Sha256, dir: &Path) {
    for rel in tree::app_files(dir) {
        if let Ok(bytes) = std::fs::read(dir.join(&rel)) {
            hash.update(rel.to_string_lossy().as_bytes());
            hash.update([0]);
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
        }
    }
}

/// The digest of what building `job` with `tool` reads.
pub fn digest(job: &Job, tool: &str) -> String {
    let mut hash = Sha256::new();
    for part in [
        "warden build 1",
        env!("CARGO_PKG_VERSION"),
        tool,
        &job.source.to_string_lossy(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    shipped::add_to(&mut hash);
    add_sources(&mut hash, &job.app_dir);
    hex::encode(hash.finalize())
}

fn stamp(job: &Job) -> PathBuf {
    let mut path = job.output_abs.as_os_str().to_owned();
    path.push(".stamp");
    PathBuf::from(path)
}

/// Whether the component exists and was built from exactly `digest`.
pub fn up_to_date(job: &Job, digest: &str) -> bool {
    job.output_abs.is_file()
        && std::fs::read_to_string(stamp(job)).is_ok_and(|s| s.trim() == digest)
}

/// Records that the component was built from `digest`. A stamp that
/// cannot be written only costs a rebuild next time.
pub fn record(job: &Job, digest: &str) {
    let _ = warden_runtime::fsutil::write_atomically(&stamp(job), format!("{digest}\n").as_bytes());
}

/// Forgets the stamp (before a build replaces the component).
pub fn forget(job: &Job) {
    let _ = std::fs::remove_file(stamp(job));
}
