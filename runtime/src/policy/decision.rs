//! A publish decision: what the policies found, after the platform's
//! enforcement levels and exceptions, and what it means for the deploy.

use crate::config::policy::{Enforcement, PolicyException};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One element of a policy's `deny`, `needs_approval` or `warn` set.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The rule's id, which enforcement levels and exceptions name.
    pub id: String,
    pub msg: String,
    /// What to change so the finding goes away.
    #[serde(default)]
    pub remediation: String,
    /// The manifest field it concerns (`connectors[0].scopes`), if any.
    #[serde(default)]
    pub path: Option<String>,
}

/// A finding an exception suppressed, with the exception.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Exempted {
    /// `deny`, `needs_approval` or `warn`: the set it came from.
    pub set: String,
    pub finding: Finding,
    pub exception: PolicyException,
}

/// A finding of a rule in `dryrun`: recorded, deciding nothing.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Shadowed {
    pub set: String,
    pub finding: Finding,
}

/// What a publish comes to.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Some `deny`: the deploy is refused (HTTP 422).
    Refused,
    /// Some `needs_approval`: held for a reviewer (HTTP 202).
    Held,
    /// Nothing in the way: live at once (HTTP 201).
    Live,
}

/// The decision on one publish, as stored with the deploy and audited.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    pub deny: Vec<Finding>,
    pub needs_approval: Vec<Finding>,
    pub warn: Vec<Finding>,
    /// Findings of rules in `dryrun`.
    pub dryrun: Vec<Shadowed>,
    /// Findings an exception suppressed.
    pub exempted: Vec<Exempted>,
    /// SHA-256 over the bundle's sorted files: which policies decided.
    pub revision: String,
}

/// The raw sets a bundle's evaluation returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub deny: Vec<Finding>,
    pub needs_approval: Vec<Finding>,
    pub warn: Vec<Finding>,
}

impl Findings {
    /// Applies enforcement levels and the exceptions unexpired at `now`
    /// for `app`, and decides. An expired exception suppresses nothing;
    /// the finding stays and a warning says the exception ran out.
    pub fn decide(
        self,
        app: &str,
        now: chrono::DateTime<chrono::Utc>,
        enforcement: &BTreeMap<String, Enforcement>,
        exceptions: &[PolicyException],
        revision: String,
    ) -> Decision {
        let mut decision = Decision {
            verdict: Verdict::Live,
            deny: Vec::new(),
            needs_approval: Vec::new(),
            warn: Vec::new(),
            dryrun: Vec::new(),
            exempted: Vec::new(),
            revision,
        };
        let sets = [
            ("deny", self.deny),
            ("needs_approval", self.needs_approval),
            ("warn", self.warn),
        ];
        for (set, findings) in sets {
            for finding in findings {
                let level = enforcement
                    .get(&finding.id)
                    .copied()
                    .unwrap_or(Enforcement::Deny);
                if level == Enforcement::Dryrun {
                    decision.dryrun.push(Shadowed {
                        set: set.to_string(),
                        finding,
                    });
                    continue;
                }
                let waiver = exceptions
                    .iter()
                    .filter(|e| e.app == app && e.rule == finding.id);
                let (live, expired): (Vec<_>, Vec<_>) =
                    waiver.partition(|e| e.expiry().is_ok_and(|t| t > now));
                if let Some(exception) = live.first() {
                    decision.exempted.push(Exempted {
                        set: set.to_string(),
                        finding,
                        exception: (*exception).clone(),
                    });
                    continue;
                }
                for exception in expired {
                    decision.warn.push(Finding {
                        id: "exception-expired".into(),
                        msg: format!(
                            "the exception for rule `{}` (owner {}, {}) expired at {}",
                            exception.rule, exception.owner, exception.reason, exception.expires
                        ),
                        remediation: "renew the exception in [[policy.exceptions]], or fix what the rule finds".into(),
                        path: finding.path.clone(),
                    });
                }
                match (set, level) {
                    ("deny", Enforcement::Deny) => decision.deny.push(finding),
                    ("needs_approval", Enforcement::Deny) => decision.needs_approval.push(finding),
                    _ => decision.warn.push(finding),
                }
            }
        }
        for set in [
            &mut decision.deny,
            &mut decision.needs_approval,
            &mut decision.warn,
        ] {
            set.sort();
            set.dedup();
        }
        decision.verdict = if !decision.deny.is_empty() {
            Verdict::Refused
        } else if !decision.needs_approval.is_empty() {
            Verdict::Held
        } else {
            Verdict::Live
        };
        decision
    }
}

impl Decision {
    /// The reasons a held deploy shows its reviewer, one line each.
    pub fn reasons(&self) -> Vec<String> {
        self.needs_approval.iter().map(|f| f.msg.clone()).collect()
    }

    /// Every refusal as `path: msg (fix: remediation)`, one per line.
    pub fn refusals(&self) -> String {
        self.deny
            .iter()
            .map(|f| match &f.path {
                Some(path) => format!("app.toml: {path}: {}\n  fix: {}", f.msg, f.remediation),
                None => format!("{}\n  fix: {}", f.msg, f.remediation),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str) -> Finding {
        Finding {
            id: id.into(),
            msg: format!("{id} found"),
            remediation: "fix it".into(),
            path: Some("app.owner".into()),
        }
    }

    fn exception(rule: &str, expires: &str) -> PolicyException {
        PolicyException {
            app: "a".into(),
            rule: rule.into(),
            owner: "ops".into(),
            reason: "migration".into(),
            ticket: Some("SEC-1".into()),
            expires: expires.into(),
        }
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn any_deny_refuses_else_any_approval_holds_else_live() {
        let decide = |f: Findings| f.decide("a", now(), &BTreeMap::new(), &[], "r".into());
        let refused = Findings {
            deny: vec![finding("x")],
            needs_approval: vec![finding("y")],
            ..Findings::default()
        };
        assert_eq!(decide(refused).verdict, Verdict::Refused);
        let held = Findings {
            needs_approval: vec![finding("y")],
            warn: vec![finding("z")],
            ..Findings::default()
        };
        assert_eq!(decide(held).verdict, Verdict::Held);
        let live = Findings {
            warn: vec![finding("z")],
            ..Findings::default()
        };
        let d = decide(live);
        assert_eq!((d.verdict, d.warn.len()), (Verdict::Live, 1));
    }

    #[test]
    fn enforcement_levels_turn_a_rule_into_a_warning_or_a_shadow() {
        let levels = BTreeMap::from([
            ("x".to_string(), Enforcement::Warn),
            ("y".to_string(), Enforcement::Dryrun),
        ]);
        let d = Findings {
            deny: vec![finding("x")],
            needs_approval: vec![finding("y")],
            ..Findings::default()
        }
        .decide("a", now(), &levels, &[], "r".into());
        assert_eq!(d.verdict, Verdict::Live);
        assert_eq!(d.warn, vec![finding("x")]);
        assert_eq!(d.dryrun.len(), 1);
        assert_eq!(d.dryrun[0].set, "needs_approval");
    }

    #[test]
    fn a_live_exception_exempts_only_what_it_suppressed_and_an_expired_one_nothing() {
        let exceptions = [
            exception("x", "2027-01-01T00:00:00Z"),
            exception("y", "2026-11-01T00:00:00Z"),
            exception("unused", "2027-01-01T00:00:00Z"),
        ];
        let d = Findings {
            deny: vec![finding("x"), finding("y")],
            ..Findings::default()
        }
        .decide("a", now(), &BTreeMap::new(), &exceptions, "r".into());
        assert_eq!(d.verdict, Verdict::Refused);
        assert_eq!(d.deny, vec![finding("y")]);
        assert_eq!(d.exempted.len(), 1, "only the exception that suppressed");
        assert_eq!(d.exempted[0].finding.id, "x");
        assert!(
            d.warn
                .iter()
                .any(|w| w.id == "exception-expired" && w.msg.contains("`y`")),
            "{:?}",
            d.warn
        );
        let other_app = Findings {
            deny: vec![finding("x")],
            ..Findings::default()
        }
        .decide("b", now(), &BTreeMap::new(), &exceptions, "r".into());
        assert_eq!(other_app.verdict, Verdict::Refused);
    }
}
