//! A configuration problem found by a capability, before the runtime adds
//! which file it came from. Every problem says what, where and how to fix.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted field path, e.g. `connectors[2].vendor.dpa`.
    pub field: String,
    pub problem: String,
    pub fix: String,
}

impl Problem {
    pub fn new(
        field: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Problem {
            field: field.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}
