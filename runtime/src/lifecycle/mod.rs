//! Governance after the publish gate: each app's risk tier, the periodic
//! reviews that come due by it, and the apps nobody looks after any more
//! (`[lifecycle]`).

pub mod credentials;
pub mod due;
pub mod orphans;
pub mod risk;
