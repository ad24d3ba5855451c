//! The kill switch of one app: once pulled, new invocations are refused,
//! running ones are trapped at the next epoch tick (or, when parked in a
//! host call, woken and ended), and its connector credentials are withheld.

use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct KillSwitch {
    killed: AtomicBool,
    notify: Notify,
}

/// The error a killed invocation traps with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Killed;

impl std::fmt::Display for Killed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the app was killed by an operator")
    }
}

impl std::error::Error for Killed {}

impl KillSwitch {
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn revive(&self) {
        self.killed.store(false, Ordering::SeqCst);
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// Resolves once the switch is pulled (at once if it already is).
    pub async fn killed(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_killed() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waiters_wake_when_the_switch_is_pulled() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { return };
        rt.block_on(async {
            let switch = Arc::new(KillSwitch::default());
            let waiter = tokio::spawn({
                let s = switch.clone();
                async move { s.killed().await }
            });
            tokio::task::yield_now().await;
            assert!(!switch.is_killed());
            switch.kill();
            assert!(
                tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
                    .await
                    .is_ok()
            );
            switch.killed().await; // already pulled: returns at once
            switch.revive();
            assert!(!switch.is_killed());
        });
    }
}
