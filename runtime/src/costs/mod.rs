//! What apps cost, and the budgets of the teams and cost centers that pay.
//!
//! **Charged when it happens.** A connector call that was sent is charged
//! its connector's `cost_per_call` (answered or not: like its quota unit,
//! it may have reached the vendor); an invocation that ran is charged the
//! platform's `costs.per_invocation` and `costs.per_million_fuel` for the
//! fuel it consumed. The charge is added to the app's usage counters
//! (`cost_micros`, millionths of `costs.currency`) in the UTC day it
//! happened, so a report sums exact integers, and a price changed later
//! does not rewrite what was already spent.
//!
//! **Rolled up** ([`report`]): per app, per team (`app.team`), per cost
//! center (`app.cost_center`), per day and month, from the manifest of the
//! version served now (or the last one deployed). `warden costs` and
//! `GET /v1/costs` show it.
//!
//! **Budgets** ([`budgets`]): `[[costs.budgets]]` gives a team or cost
//! center a monthly amount. Crossing 80% and 100% is alerted once per
//! month (audit `budget.crossed`, an ALERT line, the alert webhook). With
//! `on_exceeded = "block-paid-calls"`, once the budget is spent its apps'
//! calls to connectors that cost money are refused (the guest gets a
//! quota error naming the budget) until the month ends or the budget is
//! raised; free connectors, plain egress and the apps themselves go on.

pub mod budgets;
pub mod month;
pub mod report;

pub use month::Month;

use crate::config::PlatformConfig;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use warden_host_apis::metering::Counters;
use warden_host_apis::units::micros;

/// What one invocation that ran adds to its app's total: the fuel it
/// consumed, and the platform's charge for it.
pub fn platform_charge(platform: &PlatformConfig, fuel: u64) -> Counters {
    let prices = &platform.costs;
    let fuel_micros = if prices.per_million_fuel > 0.0 {
        // The price of a million units, per unit, in millionths: exact
        // for whole millionths of the currency per million units.
        (u128::from(micros(prices.per_million_fuel)) * u128::from(fuel) / 1_000_000) as u64
    } else {
        0
    };
    Counters {
        fuel,
        cost_micros: micros(prices.per_invocation).saturating_add(fuel_micros),
        ..Counters::default()
    }
}

/// The apps whose calls to paid connectors a spent budget blocks, with
/// why (the refusal the guest gets). Each host keeps its own, set by its
/// budget checks ([`budgets::spawn`]) from the shared usage counters.
#[derive(Debug, Default)]
pub struct PaidCallGate {
    blocked: RwLock<HashMap<String, Arc<str>>>,
}

impl PaidCallGate {
    /// Why `app`'s paid calls are refused, if they are.
    pub fn blocked(&self, app: &str) -> Option<Arc<str>> {
        let blocked = self.blocked.read().unwrap_or_else(|p| p.into_inner());
        if blocked.is_empty() {
            return None;
        }
        blocked.get(app).cloned()
    }

    /// Replaces the blocked set; returns the apps newly blocked and newly
    /// released, for the host's log.
    pub fn set(&self, now: HashMap<String, Arc<str>>) -> (Vec<String>, Vec<String>) {
        let mut blocked = self.blocked.write().unwrap_or_else(|p| p.into_inner());
        let added = now
            .keys()
            .filter(|a| !blocked.contains_key(*a))
            .cloned()
            .collect();
        let released = blocked
            .keys()
            .filter(|a| !now.contains_key(*a))
            .cloned()
            .collect();
        *blocked = now;
        (added, released)
    }

    /// Every app blocked now, sorted.
    pub fn apps(&self) -> Vec<String> {
        let blocked = self.blocked.read().unwrap_or_else(|p| p.into_inner());
        let mut apps: Vec<String> = blocked.keys().cloned().collect();
        apps.sort();
        apps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_is_charged_its_price_and_its_fuel() {
        let mut platform = PlatformConfig::builtin();
        assert_eq!(platform_charge(&platform, 5_000).cost_micros, 0);
        assert_eq!(platform_charge(&platform, 5_000).fuel, 5_000);
        platform.costs.per_invocation = 0.0001;
        platform.costs.per_million_fuel = 0.02;
        // 100 millionths per invocation; 3 million units at 20 000
        // millionths per million: 60 000.
        let charge = platform_charge(&platform, 3_000_000);
        assert_eq!(charge.cost_micros, 100 + 60_000);
        assert_eq!((charge.invocations, charge.calls), (0, 0));
    }

    #[test]
    fn the_gate_says_who_was_blocked_and_released() {
        let gate = PaidCallGate::default();
        assert_eq!(gate.blocked("a"), None);
        let why: Arc<str> = Arc::from("the team `ops` budget is spent");
        let (added, released) = gate.set(HashMap::from([("a".to_string(), why.clone())]));
        assert_eq!((added, released), (vec!["a".to_string()], vec![]));
        assert_eq!(gate.blocked("a").as_deref(), Some(&*why));
        let (added, released) = gate.set(HashMap::new());
        assert_eq!((added, released), (vec![], vec!["a".to_string()]));
        assert_eq!(gate.blocked("a"), None);
    }
}
