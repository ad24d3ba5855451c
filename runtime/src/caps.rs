//! Counting caps: at most N of something at once in total, and at most M
//! per key (a client address, a creator). Used for open connections and
//! deploys in progress; a place is held until its guard is dropped.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct Caps<K> {
    total: usize,
    per_key: usize,
    held: Mutex<(usize, HashMap<K, usize>)>,
}

/// Why a place was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// `total` places are held.
    Total,
    /// `per_key` places are held by this key.
    Key,
}

/// One held place; dropping it frees the place.
#[derive(Debug)]
pub struct Held<K: Hash + Eq + Clone> {
    caps: Arc<Caps<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> Caps<K> {
    pub fn new(total: usize, per_key: usize) -> Arc<Caps<K>> {
        Arc::new(Caps {
            total,
            per_key,
            held: Mutex::new((0, HashMap::new())),
        })
    }

    /// Takes a place for `key`, or says which cap is full.
    pub fn take(self: &Arc<Self>, key: K) -> Result<Held<K>, Full> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.0 >= self.total {
            return Err(Full::Total);
        }
        let of_key = held.1.get(&key).copied().unwrap_or(0);
        if of_key >= self.per_key {
            return Err(Full::Key);
        }
        held.0 += 1;
        held.1.insert(key.clone(), of_key + 1);
        Ok(Held {
            caps: self.clone(),
            key,
        })
    }

    /// Places held now.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).0
    }
}

impl<K: Hash + Eq + Clone> Drop for Held<K> {
    fn drop(&mut self) {
        let mut held = self.caps.held.lock().unwrap_or_else(|p| p.into_inner());
        held.0 = held.0.saturating_sub(1);
        if let Some(n) = held.1.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.1.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_past_the_per_key_and_total_caps_are_refused_and_freed_on_drop() {
        let caps = Caps::new(3, 2);
        let first = caps.take("a");
        let second = caps.take("a");
        assert!(first.is_ok() && second.is_ok());
        assert_eq!(caps.take("a").err(), Some(Full::Key));
        let third = caps.take("b");
        assert!(third.is_ok());
        assert_eq!(caps.take("b").err(), Some(Full::Total));
        drop(first);
        assert_eq!(caps.held(), 2);
        assert!(caps.take("a").is_ok(), "a freed place is free again");
    }
}
