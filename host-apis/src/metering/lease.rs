//! Leased quota units: how a limit stays exact when several nodes (or
//! processes sharing a data directory) count against it.
//!
//! The backend keeps, per app, quota and window, how many units it has
//! handed out (`granted`), never more than the limit; a node takes a block
//! of units when it has none left and spends them from memory, so a call
//! costs no round trip while its node holds units. A unit is taken before
//! the call it pays for and given back if no call was made. Blocks shrink
//! as the limit nears ([`lease_size`]): the last units go one at a time,
//! so no node sits on units another could use. A node gives back what it
//! holds when its meter is dropped (an app reloaded or unloaded, a host
//! stopping); units held by a node that died are lost for their window —
//! at most one block.

/// The most units one lease hands out.
pub const MAX_LEASE: u64 = 64;

/// How many units to hand out when `granted` of `limit` are out: an
/// eighth of what is left, at least one and at most [`MAX_LEASE`], never
/// more than is left.
pub fn lease_size(limit: u64, granted: u64) -> u64 {
    let left = limit.saturating_sub(granted);
    (left / 8).clamp(1, MAX_LEASE).min(left)
}

/// Units this node holds for one quota: for which window, and how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Held {
    pub window: u64,
    pub left: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_shrink_to_one_unit_as_the_limit_nears_and_never_pass_it() {
        assert_eq!(lease_size(1000, 0), 64);
        assert_eq!(lease_size(100, 0), 12);
        assert_eq!(lease_size(100, 90), 1);
        assert_eq!(lease_size(100, 99), 1);
        assert_eq!(lease_size(100, 100), 0);
        assert_eq!(lease_size(100, 150), 0);
        assert_eq!(lease_size(2, 0), 1);
        assert_eq!(lease_size(0, 0), 0);
        // Handing out blocks until none is left gives exactly the limit.
        for limit in [0, 1, 7, 100, 1000, 12_345] {
            let mut granted = 0;
            loop {
                let n = lease_size(limit, granted);
                if n == 0 {
                    break;
                }
                granted += n;
            }
            assert_eq!(granted, limit);
        }
    }
}
