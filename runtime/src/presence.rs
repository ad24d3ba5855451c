//! Which hosts serve a data directory right now, and what they serve.
//!
//! A command that changes shared state from outside a host (`warden kill`
//! on the data directory) must not report an effect that no one will
//! apply. So each running host keeps a presence file,
//! `<data_dir>/hosts/<pid>-<nonce>.json`, holding an exclusive `flock` on
//! it for as long as it serves and rewriting its list of apps when the
//! list changes. A file whose lock can be taken belongs to a host that has
//! ended (however it ended: the kernel drops the lock), and is removed by
//! whoever finds it. The lock is the liveness signal, so there is no
//! heartbeat to miss; the file is created under a temporary name and
//! locked before it is renamed into place, so a reader never mistakes a
//! host that is starting for one that has ended.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What a presence file says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub pid: u32,
    /// RFC 3339.
    pub started: String,
    /// The app listener's address.
    pub listen: String,
    /// The apps it serves (names), sorted.
    pub apps: Vec<String>,
    /// The version of each app it serves.
    #[serde(default)]
    pub versions: std::collections::BTreeMap<String, String>,
    /// Where it keeps the state nodes share, when not in this directory
    /// (`postgresql://HOST/DB`): a kill written to the directory's
    /// `killed.json` would not reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_state: Option<String>,
}

/// This host's presence; dropping it removes the file and the lock.
pub(crate) struct Presence {
    file: File,
    path: PathBuf,
    info: std::sync::Mutex<HostInfo>,
}

/// This machine's host name (`-` when it cannot be had): who holds a
/// lease, which node sent an audit entry.
pub(crate) fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its whole length, which is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "-".into();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("hosts")
}

impl Presence {
    /// Announces a host serving `apps` on `listen` in `data_dir`.
    pub fn announce(
        data_dir: &Path,
        listen: &str,
        apps: Vec<(String, String)>,
        shared_state: Option<String>,
    ) -> std::io::Result<Presence> {
        let dir = dir(data_dir);
        std::fs::create_dir_all(&dir)?;
        let nonce =
            hex::encode(warden_host_apis::aead::random_key().map_err(std::io::Error::other)?)[..8]
                .to_string();
        let name = format!("{}-{nonce}", std::process::id());
        let tmp = dir.join(format!(".{name}.tmp"));
        let path = dir.join(format!("{name}.json"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.lock()?;
        let presence = Presence {
            file,
            path,
            info: std::sync::Mutex::new(HostInfo {
                pid: std::process::id(),
                started: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
                listen: listen.to_string(),
                apps: Vec::new(),
                versions: Default::default(),
                shared_state,
            }),
        };
        presence.serving(apps)?;
        std::fs::rename(&tmp, &presence.path)?;
        Ok(presence)
    }

    /// The app listener's address it announced.
    pub fn listen(&self) -> String {
        self.info
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .listen
            .clone()
    }

    /// Records that the host now serves `apps` (name, version).
    pub fn serving(&self, apps: Vec<(String, String)>) -> std::io::Result<()> {
        let mut info = self.info.lock().unwrap_or_else(|p| p.into_inner());
        info.apps = apps.iter().map(|(name, _)| name.clone()).collect();
        info.apps.sort();
        info.versions = apps.into_iter().collect();
        let json = serde_json::to_vec(&*info).map_err(std::io::Error::other)?;
        // Written over the old text, then cut to length: a reader sees the
        // old list or the new one (followed, for a moment, by the old
        // one's tail, which it ignores), never an empty file.
        self.file.write_all_at(&json, 0)?;
        self.file.set_len(json.len() as u64)
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        // Removed while still locked, so no reader sees it unlocked first.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The first JSON document of a presence file (what follows it, the tail
/// of a longer list being cut, is ignored); tried a few times, since a
/// host may be rewriting it.
fn read_info(path: &Path) -> Option<HostInfo> {
    for _ in 0..5 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let first = serde_json::Deserializer::from_str(&text)
            .into_iter::<HostInfo>()
            .next();
        if let Some(Ok(info)) = first {
            return Some(info);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    None
}

/// The hosts serving `data_dir` now. Files of hosts that have ended are
/// removed on the way. A live host whose file cannot be parsed (caught
/// mid-rewrite) is reported with what is known: its pid from the name.
pub fn live(data_dir: &Path) -> Vec<HostInfo> {
    let Ok(entries) = std::fs::read_dir(dir(data_dir)) else {
        return Vec::new();
    };
    let mut hosts = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(file) = OpenOptions::new().read(true).open(&path) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {
                // Its host has ended.
                let _ = std::fs::remove_file(&path);
            }
            Err(TryLockError::WouldBlock) => {
                hosts.push(read_info(&path).unwrap_or_else(|| {
                    HostInfo {
                        pid: path
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .and_then(|s| s.split('-').next())
                            .and_then(|p| p.parse().ok())
                            .unwrap_or(0),
                        started: String::new(),
                        listen: String::new(),
                        apps: Vec::new(),
                        versions: Default::default(),
                        shared_state: None,
                    }
                }));
            }
            Err(TryLockError::Error(_)) => {}
        }
    }
    hosts.sort_by_key(|h| h.pid);
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_live_while_its_presence_is_held_and_gone_after() {
        let data = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        assert!(live(data.path()).is_empty());
        let presence = Presence::announce(
            data.path(),
            "127.0.0.1:8080",
            vec![("b".into(), "2".into()), ("a".into(), "1".into())],
            None,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let hosts = live(data.path());
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].apps, ["a", "b"]);
        assert_eq!(hosts[0].versions["b"], "2");
        assert_eq!(hosts[0].pid, std::process::id());
        presence
            .serving(vec![("c".into(), "3".into())])
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(live(data.path())[0].apps, ["c"]);
        drop(presence);
        assert!(live(data.path()).is_empty());
    }

    #[test]
    fn a_file_left_by_a_host_that_ended_is_not_live_and_is_removed() {
        let data = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let hosts = data.path().join("hosts");
        std::fs::create_dir_all(&hosts).unwrap_or_else(|e| unreachable!("{e}"));
        let stale = hosts.join("4242-deadbeef.json");
        std::fs::write(
            &stale,
            r#"{"pid":4242,"started":"","listen":"","apps":["x"]}"#,
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert!(live(data.path()).is_empty());
        assert!(!stale.exists());
    }
}
