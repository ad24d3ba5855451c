//! Usage counters and quotas, per app and per connector.
//!
//! Counts calls, bytes out, bytes in, denials and invocations in daily and
//! per-minute windows (UTC). Counters live in memory for the decisions and
//! are written to `<data_dir>/usage.db` (SQLite) as deltas — added to what
//! is stored, never overwriting it — so they survive restarts and several
//! processes on one data directory add up instead of clobbering each other.
//! A window's stored total is read once when the window is first used.
//!
//! Running out of quota is not a denial of access: it is reported as
//! [`QuotaExceeded`], naming the quota, the usage, the limit and when the
//! window resets.

mod quota;
mod store;
mod window;

pub use quota::{QuotaExceeded, QuotaLimits, QuotaRequest, QuotaRules, QuotaSource, QuotaSources};
pub use store::{UsageBackend, UsageError, UsageStore};
pub use window::Window;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// One set of counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub calls: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
    pub denials: u64,
    pub invocations: u64,
}

impl Counters {
    fn add(&mut self, other: &Counters) {
        self.calls += other.calls;
        self.bytes_out += other.bytes_out;
        self.bytes_in += other.bytes_in;
        self.denials += other.denials;
        self.invocations += other.invocations;
    }

    fn is_zero(&self) -> bool {
        *self == Counters::default()
    }
}

/// Where counters for all scopes of an app are summed.
pub const ALL: &str = "*";

/// scope -> window id -> counters. Nested so the hot path looks scopes up
/// by `&str` without allocating.
type ByScope = BTreeMap<String, BTreeMap<u64, Counters>>;

#[derive(Default)]
struct State {
    /// Totals known (stored when the window was first used + local since).
    totals: ByScope,
    /// Deltas not yet written.
    pending: ByScope,
}

fn slot<'a>(map: &'a mut ByScope, scope: &str, window: u64) -> Option<&'a mut Counters> {
    map.get_mut(scope).and_then(|w| w.get_mut(&window))
}

/// Adds `delta` to `scope`'s counters of `window` in `map`. (Allocates
/// the scope's name only the first time it is seen.)
fn add_to(map: &mut ByScope, scope: &str, window: u64, delta: &Counters) {
    match slot(map, scope, window) {
        Some(kept) => kept.add(delta),
        None => {
            map.entry(scope.to_string())
                .or_default()
                .insert(window, *delta);
        }
    }
}

/// The totals of `scope` in `window` in `state` (zero when not read yet).
fn known_in(state: &State, scope: &str, window: &Window) -> Counters {
    state
        .totals
        .get(scope)
        .and_then(|w| w.get(&window.id()))
        .copied()
        .unwrap_or_default()
}

/// Adds `delta` to the totals of `scope` in `window` and to what the next
/// flush writes.
fn count(state: &mut State, scope: &str, window: &Window, delta: &Counters) {
    state
        .totals
        .entry(scope.to_string())
        .or_default()
        .entry(window.id())
        .or_default()
        .add(delta);
    add_to(&mut state.pending, scope, window.id(), delta);
}

/// One app's meter, shared by all its invocations.
pub struct Meter {
    app: String,
    limits: QuotaLimits,
    store: Arc<dyn UsageBackend>,
    state: Mutex<State>,
    last_flush: Mutex<std::time::Instant>,
}

/// Pending deltas are written at most this often (off the invocation's
/// thread, see `take_flush_turn`); the rest is written when the meter is
/// dropped.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Meter {
    pub fn new(app: &str, limits: QuotaLimits, store: Arc<dyn UsageBackend>) -> Meter {
        Meter {
            app: app.to_string(),
            limits,
            store,
            state: Mutex::new(State::default()),
            last_flush: Mutex::new(std::time::Instant::now()),
        }
    }

    pub fn limits(&self) -> &QuotaLimits {
        &self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the stored counters of `scope` in `window` the first time
    /// this meter needs them (another process sharing the data directory
    /// may have counted there); from then on they are kept in memory.
    /// The read is async: it runs off the caller's thread.
    async fn load(&self, scope: &str, window: &Window) {
        let id = window.id();
        if slot(&mut self.lock().totals, scope, id).is_some() {
            return;
        }
        // A failed read counts from zero rather than refusing work: the
        // meter is the quota, and a fresh window starts at zero anyway.
        let stored = self
            .store
            .get(&self.app, scope, &window.key())
            .await
            .unwrap_or_default();
        self.lock()
            .totals
            .entry(scope.to_string())
            .or_default()
            .entry(id)
            .or_insert(stored);
    }

    /// Adds `delta` to `scope` and to the app total, in the day and minute
    /// windows.
    pub async fn record(&self, scope: &str, delta: Counters) {
        let scopes: &[&str] = if scope == ALL { &[ALL] } else { &[scope, ALL] };
        let windows = [Window::day_now(), Window::minute_now()];
        for window in &windows {
            for &s in scopes {
                self.load(s, window).await;
            }
        }
        let mut state = self.lock();
        for window in &windows {
            for &s in scopes {
                count(&mut state, s, window, &delta);
            }
        }
    }

    /// Today's (or this minute's) counters for a scope. For the admin API
    /// and the CLI: a window not yet in memory is read, and waited for.
    pub fn usage(&self, scope: &str, window: &Window) -> Counters {
        futures_executor::block_on(self.load(scope, window));
        self.known(scope, window)
    }

    /// The counters already in memory (zero for a window not yet read),
    /// without touching the backend.
    fn known(&self, scope: &str, window: &Window) -> Counters {
        known_in(&self.lock(), scope, window)
    }

    /// May one more outbound call of `bytes_out` bytes go out?
    pub async fn check_call(&self, bytes_out: u64) -> Result<(), QuotaExceeded> {
        let day = Window::day_now();
        self.load(ALL, &day).await;
        let today = self.known(ALL, &day);
        quota::check_call(&self.limits, &today, bytes_out, &day)
    }

    /// May one more invocation start this minute?
    pub async fn check_invocation(&self) -> Result<(), QuotaExceeded> {
        let minute = Window::minute_now();
        self.load(ALL, &minute).await;
        let now = self.known(ALL, &minute);
        quota::check_invocation(&self.limits, &now, &minute)
    }

    /// Admits one invocation: checks `requests_per_minute` and counts it
    /// in one step, so a burst at a window's start (the stored counters
    /// being read) cannot slip past the limit between check and count.
    pub async fn admit_invocation(&self) -> Result<(), QuotaExceeded> {
        let windows = [Window::day_now(), Window::minute_now()];
        for window in &windows {
            self.load(ALL, window).await;
        }
        let mut state = self.lock();
        let minute = &windows[1];
        let now = known_in(&state, ALL, minute);
        quota::check_invocation(&self.limits, &now, minute)?;
        let delta = Counters {
            invocations: 1,
            ..Counters::default()
        };
        for window in &windows {
            count(&mut state, ALL, window, &delta);
        }
        Ok(())
    }

    /// Whether a flush is due now; if so, the turn is taken (the caller
    /// flushes, e.g. off the invocation's thread) and the next is a
    /// second away.
    pub fn take_flush_turn(&self) -> bool {
        let mut last = self.last_flush.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < FLUSH_EVERY {
            return false;
        }
        *last = std::time::Instant::now();
        true
    }

    /// Writes pending deltas. Cheap when nothing happened.
    ///
    /// # Errors
    /// The backend refused the write; the deltas are kept for the next
    /// flush, so nothing is lost.
    pub async fn flush(&self) -> Result<(), UsageError> {
        let pending = std::mem::take(&mut self.lock().pending);
        let rows: Vec<_> = pending
            .clone()
            .into_iter()
            .flat_map(|(scope, windows)| {
                windows
                    .into_iter()
                    .map(move |(id, c)| ((scope.clone(), Window::from_id(id).key()), c))
            })
            .filter(|(_, c)| !c.is_zero())
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let written = self.store.add_all(&self.app, &rows).await;
        if written.is_err() {
            // Not lost: the deltas wait for the next flush.
            let mut state = self.lock();
            for (scope, windows) in pending {
                for (id, delta) in windows {
                    add_to(&mut state.pending, &scope, id, &delta);
                }
            }
        }
        written
    }
}

impl Drop for Meter {
    /// The last deltas are written when the app is unloaded (waiting for
    /// the backend: an unload is not on a guest's thread).
    fn drop(&mut self) {
        if let Err(e) = futures_executor::block_on(self.flush()) {
            tracing::warn!("usage counters for `{}` not saved: {e}", self.app);
        }
    }
}

#[cfg(test)]
mod tests;
