//! Kill state: which apps an operator stopped, why, and by whom.
//!
//! The state lives in `<data_dir>/killed.json` so it survives restarts and
//! reaches a running host: `warden kill` writes it, a serving host re-reads
//! it when the file changes (see [`Runtime::refresh_kills`]), and every
//! kill and unkill is an audit event. With `[state] backend = "postgres"`
//! it lives in the shared database instead, and every node is told of a
//! change at once (`crate::state::postgres::kills`). One [`KillSwitch`]
//! exists per app name in a runtime, shared by every loaded version of
//! that app.

use crate::audit::{AuditEvent, AuditKind};
use crate::runtime::Runtime;
use crate::wait::Wait as _;
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

/// The kill state, or an error if the file exists but cannot be read or
/// parsed — a read-modify-write must never start from a guess.
pub(crate) fn read_state_strict(path: &Path) -> std::io::Result<KillState> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} is not valid kill state ({e}); restore it from a backup or the audit log",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KillState::default()),
        Err(e) => Err(e),
    }
}

fn write_state(path: &Path, state: &KillState) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    crate::fsutil::write_atomically(path, &json)
}

impl Runtime {
    fn kills_path(&self) -> std::path::PathBuf {
        self.data_dir().join("killed.json")
    }

    /// The kill state, or why it cannot be read (a read-modify-write must
    /// never start from a guess).
    fn read_kills(&self) -> std::io::Result<KillState> {
        match self.shared() {
            Some(pg) => crate::state::postgres::kills::read(pg),
            None => read_state_strict(&self.kills_path()),
        }
    }

    /// Reads, changes with `change` (which appends its audit entry) and
    /// writes the kill state, with every other change held off meanwhile.
    fn update_kills<T>(
        &self,
        change: impl FnOnce(&mut KillState) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        match self.shared() {
            Some(pg) => crate::state::postgres::kills::update(pg, change),
            None => {
                let path = self.kills_path();
                crate::fsutil::update_locked(&path, || {
                    let mut state = read_state_strict(&path)?;
                    let out = change(&mut state)?;
                    write_state(&path, &state)?;
                    Ok(out)
                })
            }
        }
    }

    /// The switch for `app`, created on first use and set from the
    /// persisted state.
    pub fn kill_switch(&self, app: &str) -> Arc<KillSwitch> {
        let mut switches = self.switches().lock().unwrap_or_else(|p| p.into_inner());
        switches
            .entry(app.to_string())
            .or_insert_with(|| {
                let switch = Arc::new(KillSwitch::default());
                // Fail closed: an unreadable kill state, or a kill on record
                // without its unkill, keeps the app stopped.
                let read = self.read_kills();
                let killed_on_record =
                    self.last_kill_event(app).as_deref() == Some(AuditKind::AppKilled.as_str());
                if read.is_err() && !killed_on_record {
                    // Held only for want of a readable state: released by
                    // the first refresh that reads it (see refresh_kills).
                    self.held_blind().insert(app.to_string());
                }
                let in_state = read.map(|state| state.contains_key(app)).unwrap_or(true);
                if in_state || killed_on_record {
                    switch.kill();
                }
                switch
            })
            .clone()
    }

    /// Stops `app` now and for good (until unkilled); audited.
    pub fn kill(&self, app: &str, reason: &str, actor: &str) -> std::io::Result<()> {
        // Until the state says it, a refresh reading the state before
        // this kill would revive the switch pulled here.
        let _changing = self.kill_changes();
        self.pull(app, &self.kill_switch(app));
        self.held_blind().remove(app);
        // Audited inside the lock, as an unkill is, so the record and the
        // state always change in the same order.
        self.update_kills(|state| self.record_kill(state, app, reason, actor))?;
        tracing::info!(app, actor, reason, "app killed");
        Ok(())
    }

    /// Puts `app`'s kill in `state` and the audit log (inside the kill
    /// state's lock, so the record and the state change in the same order).
    fn record_kill(
        &self,
        state: &mut KillState,
        app: &str,
        reason: &str,
        actor: &str,
    ) -> std::io::Result<()> {
        let at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        state.insert(
            app.to_string(),
            KillRecord {
                reason: reason.to_string(),
                actor: actor.to_string(),
                at,
            },
        );
        self.audit()
            .append_blocking(AuditEvent {
                kind: AuditKind::AppKilled,
                app: Some(app.to_string()),
                actor: actor.to_string(),
                details: json!({ "reason": reason }),
            })
            .map_err(std::io::Error::other)?;
        // The live version's history says it too, in the same order as the
        // state; the kill itself stands whatever the registry answers.
        self.mark_version(app, true, actor, reason);
        Ok(())
    }

    /// Kills `app` unless a kill is on record already (anyone's): what a
    /// drill and a suspension do, so neither takes over an operator's kill
    /// (its actor and reason stay). Returns whether this call killed it.
    pub fn kill_unless_killed(
        &self,
        app: &str,
        reason: &str,
        actor: &str,
    ) -> std::io::Result<bool> {
        let _changing = self.kill_changes();
        let killed = self.update_kills(|state| {
            if state.contains_key(app) {
                return Ok(false);
            }
            self.record_kill(state, app, reason, actor).map(|()| true)
        })?;
        if killed {
            self.pull(app, &self.kill_switch(app));
            self.held_blind().remove(app);
            tracing::info!(app, actor, reason, "app killed");
        }
        Ok(killed)
    }

    /// Lets `app` run again, as `actor`, only if the kill on record is one
    /// `ours` accepts (a drill's own, a suspension): a kill anyone else
    /// made meanwhile stays. `Ok(Err(record))`: left as it is, with the
    /// kill now on record (`None`: not killed at all).
    #[allow(clippy::type_complexity)]
    pub fn unkill_if(
        &self,
        app: &str,
        actor: &str,
        ours: impl Fn(&KillRecord) -> bool,
    ) -> std::io::Result<Result<(), Option<KillRecord>>> {
        let _changing = self.kill_changes();
        let done = self.update_kills(|state| {
            match state.get(app) {
                Some(record) if ours(record) => {}
                other => return Ok(Err(other.cloned())),
            }
            state.remove(app);
            self.record_unkill(app, actor).map(Ok)
        })?;
        if done.is_ok() {
            self.kill_switch(app).revive();
            tracing::info!(app, actor, "app unkilled");
        }
        Ok(done)
    }

    /// Lets `app` run again; audited. The `app.unkilled` entry is written
    /// before the kill state changes, so a host that sees the switch gone
    /// always finds the unkill on record (see [`Runtime::refresh_kills`]).
    pub fn unkill(&self, app: &str, actor: &str) -> std::io::Result<bool> {
        let _changing = self.kill_changes();
        let was = self.update_kills(|state| {
            // Killed by the file, or by the record (an entry lost from the
            // file still keeps a serving host's switch pulled).
            let in_file = state.remove(app).is_some();
            if !in_file
                && self.last_kill_event(app).as_deref() != Some(AuditKind::AppKilled.as_str())
            {
                return Ok(false);
            }
            self.record_unkill(app, actor).map(|()| true)
        })?;
        self.kill_switch(app).revive();
        if was {
            tracing::info!(app, actor, "app unkilled");
        }
        Ok(was)
    }

    /// Puts `app`'s unkill in the audit log and its version's history
    /// (inside the kill state's lock, as [`Runtime::record_kill`]).
    fn record_unkill(&self, app: &str, actor: &str) -> std::io::Result<()> {
        self.audit()
            .append_blocking(AuditEvent {
                kind: AuditKind::AppUnkilled,
                app: Some(app.to_string()),
                actor: actor.to_string(),
                details: json!({}),
            })
            .map_err(std::io::Error::other)?;
        self.mark_version(app, false, actor, "unkilled");
        Ok(())
    }

    /// Moves `app`'s live version to `killed` or back (its history); a
    /// registry that cannot be written is logged, never a reason to undo
    /// a kill.
    pub(crate) fn mark_version(&self, app: &str, killed: bool, by: &str, why: &str) {
        if let Err(e) = self.registry().set_killed(app, killed, by, why).wait() {
            tracing::warn!(app, "the version's history misses a kill or unkill: {e}");
        }
    }

    /// Applies the persisted state to this runtime's switches (for kills
    /// made by another process, e.g. the `warden kill` CLI).
    ///
    /// A switch is revived only when the audit log's last kill event for
    /// the app is an `app.unkilled`: a kill state file that lost an entry
    /// (a bad restore, a hand edit) never brings a killed app back.
    ///
    /// Not while this process kills or unkills: between a kill's switch
    /// and its written state, a read of the state would revive the switch
    /// (the kill would not hold for up to a refresh; a drill test caught
    /// it under load).
    pub fn refresh_kills(&self) {
        let _changing = self.kill_changes();
        let state = match self.read_kills() {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!("kill state not refreshed: {e}");
                return;
            }
        };
        let switches = self.switches().lock().unwrap_or_else(|p| p.into_inner());
        for (app, switch) in switches.iter() {
            match (state.contains_key(app), switch.is_killed()) {
                (true, false) => {
                    self.pull(app, switch);
                    let by = state.get(app).map(|k| k.actor.as_str()).unwrap_or("?");
                    tracing::info!(
                        app = app.as_str(),
                        actor = by,
                        "app killed (the kill state changed: `warden kill` or another node)"
                    );
                }
                (false, true) if self.unkill_on_record(app) || self.released_blind(app) => {
                    switch.revive();
                    tracing::info!(
                        app = app.as_str(),
                        "app unkilled (the kill state changed: `warden unkill` or another node)"
                    );
                }
                (false, true) => tracing::warn!(
                    "`{app}` is missing from the kill state but no app.unkilled is on record; it stays killed"
                ),
                _ => {}
            }
        }
    }

    /// Whether the last kill or unkill of `app` in the audit log is an
    /// unkill.
    fn unkill_on_record(&self, app: &str) -> bool {
        self.last_kill_event(app).as_deref() == Some(AuditKind::AppUnkilled.as_str())
    }

    /// Whether `app`'s switch was pulled only because the kill state could
    /// not be read when it was made, and no kill is on record since: then
    /// a state that reads without it lets the app run (and it is no longer
    /// held so).
    fn released_blind(&self, app: &str) -> bool {
        let mut blind = self.held_blind();
        let release = blind.contains(app)
            && self.last_kill_event(app).as_deref() != Some(AuditKind::AppKilled.as_str());
        if release {
            blind.remove(app);
        }
        release
    }

    fn held_blind(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
        self.kills_held_blind()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The kind of the last `app.killed` or `app.unkilled` entry of `app`.
    /// The log is read once per change of its length (one pass for every
    /// app a start-up loads), not once per question.
    fn last_kill_event(&self, app: &str) -> Option<String> {
        let len = self.audit().revision().wait().unwrap_or(0);
        let mut record = self.kill_record().lock().unwrap_or_else(|p| p.into_inner());
        if record.as_ref().map(|(seen, _)| *seen) != Some(len) {
            let mut last = std::collections::HashMap::new();
            let entries = self.audit().read_blocking().map(|(e, _)| e);
            for entry in entries.unwrap_or_default() {
                if let Some(app) = entry.app
                    && [AuditKind::AppKilled, AuditKind::AppUnkilled]
                        .iter()
                        .any(|k| k.as_str() == entry.kind)
                {
                    last.insert(app, entry.kind);
                }
            }
            *record = Some((len, last));
        }
        record.as_ref().and_then(|(_, last)| last.get(app).cloned())
    }

    /// Pulls `app`'s switch and advances the epoch, so running guests
    /// check it at once instead of at the next tick (a deadline is
    /// wall-clock time, so the extra tick shortens nobody's); the OAuth
    /// access tokens cached for it are dropped (a killed app holds none).
    fn pull(&self, app: &str, switch: &KillSwitch) {
        switch.kill();
        self.engine().increment_epoch();
        let dropped = self.credentials().drop_tokens(app);
        if dropped > 0 {
            tracing::info!(app, dropped, "cached OAuth access tokens dropped");
        }
    }

    pub fn kill_state(&self) -> KillState {
        self.read_kills().unwrap_or_default()
    }
}
