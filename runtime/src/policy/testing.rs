//! `warden policy test`: every `test_*` rule of a bundle, the `opa test`
//! convention (a test passes when its rule is `true`), with line coverage
//! of the policies under test.

use super::bundle::{BundleFile, PolicyError, engine};
use serde::Serialize;

/// One test's result.
#[derive(Debug, Clone, Serialize)]
pub struct TestResult {
    /// `data.warden.publish_test.test_x`.
    pub name: String,
    /// The file that defines it.
    pub file: String,
    pub passed: bool,
    /// Why it failed: `false`/undefined, or the evaluation error.
    pub failure: Option<String>,
}

/// Line coverage of one policy file (test files are not counted).
#[derive(Debug, Clone, Serialize)]
pub struct FileCoverage {
    pub file: String,
    pub covered: usize,
    pub not_covered: Vec<u32>,
}

impl FileCoverage {
    pub fn percent(&self) -> f64 {
        let total = self.covered + self.not_covered.len();
        if total == 0 {
            100.0
        } else {
            100.0 * self.covered as f64 / total as f64
        }
    }
}

/// All results and the coverage.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub tests: Vec<TestResult>,
    pub coverage: Vec<FileCoverage>,
}

impl TestReport {
    pub fn failed(&self) -> usize {
        self.tests.iter().filter(|t| !t.passed).count()
    }

    /// Covered lines over all lines evaluated or not, in percent, over
    /// every policy file.
    pub fn coverage_percent(&self) -> f64 {
        let covered: usize = self.coverage.iter().map(|c| c.covered).sum();
        let missed: usize = self.coverage.iter().map(|c| c.not_covered.len()).sum();
        if covered + missed == 0 {
            100.0
        } else {
            100.0 * covered as f64 / (covered + missed) as f64
        }
    }
}

/// The `package` a Rego file declares.
fn package_of(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("package "))
        .map(|p| p.trim().to_string())
}

/// Names of the `test_*` rules a file defines (a rule head starts a line).
fn tests_in(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("test_"))
        .filter_map(|l| {
            let end = l
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(l.len());
            Some(l[..end].to_string()).filter(|n| n.len() > "test_".len())
        })
        .collect();
    names.dedup();
    names
}

/// Runs every `test_*` rule in `files`.
///
/// # Errors
/// A file that does not compile or data that does not parse (a test that
/// fails to evaluate is a failed test, not an error).
pub fn run(files: &[BundleFile]) -> Result<TestReport, PolicyError> {
    let mut engine = engine(files)?;
    engine.set_enable_coverage(true);
    let mut tests = Vec::new();
    for file in files.iter().filter(|f| f.is_rego()) {
        let Some(package) = package_of(&file.text) else {
            continue;
        };
        for rule in tests_in(&file.text) {
            let name = format!("data.{package}.{rule}");
            let outcome = engine.eval_query(name.clone(), false);
            let failure = match outcome {
                Err(e) => Some(format!("error: {e}")),
                Ok(results) => {
                    let value = results
                        .result
                        .first()
                        .and_then(|r| r.expressions.first())
                        .map(|e| e.value.clone());
                    match value {
                        Some(regorus::Value::Bool(true)) => None,
                        Some(v) => Some(format!("evaluated to {v}")),
                        None => Some("undefined (a condition in its body did not hold)".into()),
                    }
                }
            };
            tests.push(TestResult {
                name,
                file: file.name.clone(),
                passed: failure.is_none(),
                failure,
            });
        }
    }
    let report = engine
        .get_coverage_report()
        .map_err(|e| PolicyError::Eval(format!("coverage: {e}")))?;
    let coverage = report
        .files
        .into_iter()
        .filter(|f| !f.path.ends_with("_test.rego"))
        .map(|f| FileCoverage {
            file: f.path,
            covered: f.covered.len(),
            not_covered: f.not_covered.into_iter().collect(),
        })
        .collect();
    Ok(TestReport { tests, coverage })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::policy::PolicySettings;

    /// The default bundle's own Rego tests, as `warden policy test` runs
    /// them: all pass, and they reach most of the policy.
    #[test]
    fn the_default_bundle_passes_its_own_tests() {
        let files = crate::policy::bundle::read_files(&PolicySettings::default(), true)
            .unwrap_or_else(|e| unreachable!("{e}"));
        let report = run(&files).unwrap_or_else(|e| unreachable!("{e}"));
        let failed: Vec<_> = report.tests.iter().filter(|t| !t.passed).collect();
        assert!(failed.is_empty(), "{failed:#?}");
        assert!(report.tests.len() >= 15, "{}", report.tests.len());
        assert!(
            report.coverage_percent() >= 80.0,
            "coverage {:.1}%: {:?}",
            report.coverage_percent(),
            report.coverage
        );
    }

    #[test]
    fn a_failing_test_is_reported_with_why() {
        let files = [BundleFile {
            name: "t_test.rego".into(),
            text: "package t\n\ntest_holds if { 1 == 1 }\ntest_fails if { 1 == 2 }\n".into(),
        }];
        let report = run(&files).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(report.tests.len(), 2);
        assert_eq!(report.failed(), 1);
        let failed = report.tests.iter().find(|t| !t.passed);
        assert!(
            failed.is_some_and(|t| t.name == "data.t.test_fails" && t.failure.is_some()),
            "{:?}",
            report.tests
        );
    }

    #[test]
    fn test_rules_are_found_by_name_at_the_start_of_a_line() {
        let text = "package p\n\ntest_one if { true }\ntest_two if {\n  1 == 1\n}\nhelper_test_x if { true }\n  test_indented if { true }\n";
        assert_eq!(tests_in(text), vec!["test_one", "test_two"]);
        assert_eq!(package_of(text).as_deref(), Some("p"));
    }
}
