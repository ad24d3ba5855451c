//! Kill state: which apps an operator stopped, why, and by whom.
//!
//! The state lives in `<data_dir>/killed.json` so it survives restarts and
//! reaches a running host: `warden kill` writes it, a serving host re-reads
//! it when the file changes (see [`Runtime::refresh_kills`]), and every
//! kill and unkill is an audit event. One [`KillSwitch`] exists per app
//! name in a runtime, shared by every loaded version of that app.

use crate::audit::AuditEvent;
use crate::runtime::Runtime;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use warden_host_apis::kill::KillSwitch;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillRecord {
    pub reason: String,
    pub actor: String,
    pub at: String,
}

pub type KillState = BTreeMap<String, KillRecord>;

pub fn read_state(path: &Path) -> KillState {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn write_state(path: &Path, state: &KillState) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomically(path, &json)
}

impl Runtime {
    fn kills_path(&self) -> std::path::PathBuf {
        self.data_dir().join("killed.json")
    }

    /// The switch for `app`, created on first use and set from the
    /// persisted state.
    pub fn kill_switch(&self, app: &str) -> Arc<KillSwitch> {
        let mut switches = self.switches().lock().unwrap_or_else(|p| p.into_inner());
        switches
            .entry(app.to_string())
            .or_insert_with(|| {
                let switch = Arc::new(KillSwitch::default());
                if read_state(&self.kills_path()).contains_key(app) {
                    switch.kill();
                }
                switch
            })
            .clone()
    }

    /// Stops `app` now and for good (until unkilled); audited.
    pub fn kill(&self, app: &str, reason: &str, actor: &str) -> std::io::Result<()> {
        self.pull(&self.kill_switch(app));
        let path = self.kills_path();
        let mut state = read_state(&path);
        let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        state.insert(
            app.to_string(),
            KillRecord {
                reason: reason.to_string(),
                actor: actor.to_string(),
                at,
            },
        );
        write_state(&path, &state)?;
        self.audit()
            .append(AuditEvent {
                kind: "app.killed".into(),
                app: Some(app.to_string()),
                actor: actor.to_string(),
                details: json!({ "reason": reason }),
            })
            .map(|_| ())
    }

    /// Lets `app` run again; audited.
    pub fn unkill(&self, app: &str, actor: &str) -> std::io::Result<bool> {
        let path = self.kills_path();
        let mut state = read_state(&path);
        let was = state.remove(app).is_some();
        write_state(&path, &state)?;
        self.kill_switch(app).revive();
        if was {
            self.audit().append(AuditEvent {
                kind: "app.unkilled".into(),
                app: Some(app.to_string()),
                actor: actor.to_string(),
                details: json!({}),
            })?;
        }
        Ok(was)
    }

    /// Applies the persisted state to this runtime's switches (for kills
    /// made by another process, e.g. the `warden kill` CLI).
    pub fn refresh_kills(&self) {
        let state = read_state(&self.kills_path());
        let switches = self.switches().lock().unwrap_or_else(|p| p.into_inner());
        for (app, switch) in switches.iter() {
            match (state.contains_key(app), switch.is_killed()) {
                (true, false) => self.pull(switch),
                (false, true) => switch.revive(),
                _ => {}
            }
        }
    }

    /// Pulls a switch and advances the epoch, so running guests check it at
    /// once instead of at the next tick (a deadline is wall-clock time, so
    /// the extra tick shortens nobody's).
    fn pull(&self, switch: &KillSwitch) {
        switch.kill();
        self.engine().increment_epoch();
    }

    pub fn kill_state(&self) -> KillState {
        read_state(&self.kills_path())
    }
}
