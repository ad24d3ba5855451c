//! One change at a time per app. A deploy (from its record to going live),
//! an approval, a rejection and a delete of the same app each hold the
//! app's lock, so a delete cannot land between a deploy's record and its
//! activation and have the deploy bring the app back, and an approval
//! cannot race a rejection. On shared state the registry follower
//! (`serve::follow`) changes an app only under its lock too, so it never
//! undoes a local change half made. Different apps never wait for each
//! other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::OwnedMutexGuard;

#[derive(Default)]
pub struct AppLocks {
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
}

impl AppLocks {
    /// Waits for `app`'s lock; it is held until the guard is dropped.
    pub async fn lock(&self, app: &str) -> OwnedMutexGuard<()> {
        self.of(app).lock_owned().await
    }

    /// `app`'s lock if no one holds it now.
    pub fn try_lock(&self, app: &str) -> Option<OwnedMutexGuard<()>> {
        self.of(app).try_lock_owned().ok()
    }

    fn of(&self, app: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = locks.get(app).and_then(Weak::upgrade) {
            return lock;
        }
        // Entries of apps nobody holds are dropped now and then, so the
        // map stays as small as the changes in progress.
        if locks.len() >= 256 {
            locks.retain(|_, l| l.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(app.to_string(), Arc::downgrade(&lock));
        lock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_app_and_other_apps_do_not_wait() {
        let locks = AppLocks::default();
        let held = locks.lock("payroll").await;
        let other =
            tokio::time::timeout(std::time::Duration::from_secs(5), locks.lock("crm")).await;
        assert!(other.is_ok(), "another app's lock is free");
        let same =
            tokio::time::timeout(std::time::Duration::from_millis(50), locks.lock("payroll")).await;
        assert!(same.is_err(), "the same app's lock waits");
        drop(held);
        let again =
            tokio::time::timeout(std::time::Duration::from_secs(5), locks.lock("payroll")).await;
        assert!(again.is_ok(), "free once dropped");
    }
}
