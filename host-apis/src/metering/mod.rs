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

mod lease;
mod quota;
mod store;
mod window;

pub use lease::{MAX_LEASE, lease_size};
pub use quota::{QuotaExceeded, QuotaLimits, QuotaRequest, QuotaRules, QuotaSource, QuotaSources};
pub use store::{
    DayUsage, UsageBackend, UsageError, UsageStore, counter_columns, day_key_range, day_of_key,
};
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
    /// Fuel units the app's invocations consumed (wasmtime fuel: about
    /// one per Wasm instruction).
    pub fuel: u64,
    /// What was charged, in millionths of the platform's currency, priced
    /// when it happened: a connector's `cost_per_call` on its scope, and
    /// the platform's prices per invocation and per million fuel units on
    /// the app total (see `warden_runtime::costs`).
    pub cost_micros: u64,
}

/// The counters' names, in the order [`Counters::values`] gives them and
/// the usage tables store them.
pub const COUNTER_NAMES: [&str; 7] = [
    "calls",
    "bytes_out",
    "bytes_in",
    "denials",
    "invocations",
    "fuel",
    "cost_micros",
];

impl Counters {
    /// Every counter, in [`COUNTER_NAMES`] order.
    pub fn values(&self) -> [u64; 7] {
        [
            self.calls,
            self.bytes_out,
            self.bytes_in,
            self.denials,
            self.invocations,
            self.fuel,
            self.cost_micros,
        ]
    }

    /// The counters from [`Counters::values`].
    pub fn from_values(v: [u64; 7]) -> Counters {
        let [
            calls,
            bytes_out,
            bytes_in,
            denials,
            invocations,
            fuel,
            cost_micros,
        ] = v;
        Counters {
            calls,
            bytes_out,
            bytes_in,
            denials,
            invocations,
            fuel,
            cost_micros,
        }
    }

    /// Adds `other` to these counters (saturating: a counter pinned at
    /// its maximum is wrong less than one that wrapped to zero).
    pub fn add(&mut self, other: &Counters) {
        let (mine, theirs) = (self.values(), other.values());
        *self = Counters::from_values(std::array::from_fn(|i| mine[i].saturating_add(theirs[i])));
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
    /// A batch whose write failed, as sent and under its name: sent again
    /// as it was (it may have been added after all), never merged into
    /// newer deltas.
    unsent: Option<(String, Rows)>,
}

/// Deltas as a backend adds them: ((scope, window key), counters).
type Rows = Vec<((String, String), Counters)>;

/// A new batch name: random, so no two meters (or nodes) share one.
fn batch_name() -> String {
    crate::aead::random_key()
        .map(|k| hex::encode(&k[..16]))
        .unwrap_or_else(|_| format!("{}-{:?}", std::process::id(), std::time::SystemTime::now()))
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
    add_to(&mut state.totals, scope, window.id(), delta);
    add_to(&mut state.pending, scope, window.id(), delta);
}

/// One app's meter, shared by all its invocations.
pub struct Meter {
    app: String,
    limits: QuotaLimits,
    store: Arc<dyn UsageBackend>,
    state: Mutex<State>,
    last_flush: Mutex<std::time::Instant>,
    /// Units of leased quotas this node holds, by quota (see [`lease`]).
    held: Mutex<BTreeMap<&'static str, lease::Held>>,
}

/// The leased quota of outbound calls per day.
const CALLS: &str = "connector_calls";
/// The leased quota of invocations per minute.
const INVOCATIONS: &str = "requests_per_minute";

/// One unit of the app's daily call quota, taken for one outbound call
/// before it is made. Dropped, it stays spent — a call cut off midway (a
/// kill, a deadline) may have reached the upstream — unless
/// [`CallTicket::refund`] says no call was made. (Without a call quota it
/// holds nothing.)
#[must_use = "a ticket is refunded only by refund()"]
pub struct CallTicket<'a> {
    meter: &'a Meter,
    /// The day window the unit was taken in.
    held: Option<u64>,
}

impl CallTicket<'_> {
    /// No call was made: the unit goes back, for this node's next call.
    pub fn refund(mut self) {
        if let Some(window) = self.held.take() {
            self.meter.unit_unused(CALLS, window);
        }
    }
}

impl std::fmt::Debug for CallTicket<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallTicket")
            .field("app", &self.meter.app)
            .field("held", &self.held)
            .finish()
    }
}

/// Pending deltas are written at most this often (in a task of their own,
/// not the invocation's, see `take_flush_turn`); the rest is written when
/// the meter is dropped.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Meter {
    pub fn new(app: &str, limits: QuotaLimits, store: Arc<dyn UsageBackend>) -> Meter {
        Meter {
            app: app.to_string(),
            limits,
            store,
            state: Mutex::new(State::default()),
            last_flush: Mutex::new(std::time::Instant::now()),
            held: Mutex::default(),
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
    /// The read is async: in place when nothing holds the database, else
    /// on the blocking pool (see `UsageStore`).
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

    /// May one more outbound call of `bytes_out` bytes go out? With a
    /// daily call quota, the call's unit is taken now, from the units this
    /// node leased (leasing more when it has none): the quota is exact
    /// across nodes. Spend the ticket once the call is made.
    ///
    /// A backend that cannot lease is not a reason to stop work (as for
    /// counters): the call is then decided by this node's own count, and
    /// the failure logged.
    pub async fn check_call(&self, bytes_out: u64) -> Result<CallTicket<'_>, QuotaExceeded> {
        let day = Window::day_now();
        self.load(ALL, &day).await;
        let today = self.known(ALL, &day);
        quota::check_call(&self.limits, &today, bytes_out, &day)?;
        let free = CallTicket {
            meter: self,
            held: None,
        };
        let Some(limit) = self.limits.connector_calls else {
            return Ok(free);
        };
        match self.take_unit(CALLS, limit, &day).await {
            Ok(true) => Ok(CallTicket {
                meter: self,
                held: Some(day.id()),
            }),
            Ok(false) => Err(QuotaExceeded {
                quota: CALLS,
                used: limit.max(today.calls),
                limit,
                resets_at: day.resets_at(),
                set_by: self.limits.sources.connector_calls,
            }),
            Err(e) => {
                tracing::warn!(
                    app = self.app.as_str(),
                    "the call quota could not be leased ({e}); this call is decided by this node's own count"
                );
                Ok(free)
            }
        }
    }

    /// Puts back a unit of `quota` taken in window `window` (an id) and
    /// not used, while that window lasts.
    fn unit_unused(&self, quota: &'static str, window: u64) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = held.get_mut(quota).filter(|h| h.window == window) {
            h.left += 1;
        }
    }

    /// Takes one unit of `quota` in `window` from those this node holds,
    /// leasing a block from the backend when it holds none; `false` when
    /// the limit is handed out.
    async fn take_unit(
        &self,
        quota: &'static str,
        limit: u64,
        window: &Window,
    ) -> Result<bool, UsageError> {
        let id = window.id();
        loop {
            {
                let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
                let h = held.entry(quota).or_default();
                if h.window != id {
                    // Units of a window that is over are worth nothing.
                    *h = lease::Held {
                        window: id,
                        left: 0,
                    };
                }
                if h.left > 0 {
                    h.left -= 1;
                    return Ok(true);
                }
            }
            let units = self
                .store
                .lease(&self.app, quota, &window.key(), limit)
                .await?;
            if units == 0 {
                return Ok(false);
            }
            let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
            let h = held.entry(quota).or_default();
            if h.window == id {
                h.left += units;
            } else if h.window < id {
                *h = lease::Held {
                    window: id,
                    left: units,
                };
            }
            // Else a newer window began while this lease was asked for:
            // its units are of a window that is over.
        }
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
    /// With a limit, the invocation's unit is taken from those this node
    /// leased (as for calls, see [`Meter::check_call`]), so the limit
    /// holds across nodes.
    pub async fn admit_invocation(&self) -> Result<(), QuotaExceeded> {
        let windows = [Window::day_now(), Window::minute_now()];
        for window in &windows {
            self.load(ALL, window).await;
        }
        let minute = &windows[1];
        quota::check_invocation(&self.limits, &self.known(ALL, minute), minute)?;
        let mut taken = false;
        if let Some(limit) = self.limits.requests_per_minute {
            match self.take_unit(INVOCATIONS, limit, minute).await {
                Ok(true) => taken = true,
                Ok(false) => {
                    return Err(QuotaExceeded {
                        quota: INVOCATIONS,
                        used: limit,
                        limit,
                        resets_at: minute.resets_at(),
                        set_by: self.limits.sources.requests_per_minute,
                    });
                }
                Err(e) => tracing::warn!(
                    app = self.app.as_str(),
                    "the invocation quota could not be leased ({e}); this invocation is decided by this node's own count"
                ),
            }
        }
        let mut state = self.lock();
        let now = known_in(&state, ALL, minute);
        if let Err(e) = quota::check_invocation(&self.limits, &now, minute) {
            if taken {
                self.unit_unused(INVOCATIONS, minute.id());
            }
            return Err(e);
        }
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
    /// flushes, e.g. in a task of its own) and the next is a second away.
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
        // A batch that failed goes again first, as it was, under its name.
        let unsent = self.lock().unsent.take();
        if let Some((batch, rows)) = unsent
            && let Err(e) = self.store.add_all(&self.app, &batch, &rows).await
        {
            self.lock().unsent = Some((batch, rows));
            return Err(e);
        }
        let pending = std::mem::take(&mut self.lock().pending);
        let rows: Vec<_> = pending
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
        let batch = batch_name();
        let written = self.store.add_all(&self.app, &batch, &rows).await;
        if written.is_err() {
            // Not lost: the batch waits for the next flush.
            self.lock().unsent = Some((batch, rows));
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
        // Units this node holds go back, for the other nodes (or this
        // app's next load) to use.
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|p| p.into_inner()));
        let current = |h: &lease::Held| Window::from_id(h.window).is_current();
        for (quota, h) in held.into_iter().filter(|(_, h)| h.left > 0 && current(h)) {
            let window = Window::from_id(h.window).key();
            if let Err(e) =
                futures_executor::block_on(self.store.give_back(&self.app, quota, &window, h.left))
            {
                tracing::warn!(
                    "{} leased units of `{quota}` for `{}` not given back: {e}",
                    h.left,
                    self.app
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
