//! Governance after the publish gate: each app's risk tier, and the
//! periodic reviews that come due by it (`[lifecycle]`).

pub mod due;
pub mod risk;
