//! The policies that decide: Warden's default bundle and the platform's
//! files, compiled once into an embedded Rego engine (regorus; no OPA
//! server), evaluated per publish on a copy.

use super::decision::{Decision, Finding, Findings};
use crate::config::policy::PolicySettings;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The package every publish rule lives in.
pub const PACKAGE: &str = "data.warden.publish";

/// The sets a decision reads from [`PACKAGE`].
const SETS: [&str; 3] = ["deny", "needs_approval", "warn"];

/// Warden's default bundle, shipped inside the binary: (name, text).
pub const DEFAULT_BUNDLE: [(&str, &str); 2] = [
    (
        "warden-default/publish.rego",
        include_str!("../../policy/default/publish.rego"),
    ),
    (
        "warden-default/publish_test.rego",
        include_str!("../../policy/default/publish_test.rego"),
    ),
];

/// Why policies could not be loaded or evaluated. Every variant fails
/// closed: `warden serve` does not start, a deploy is refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A Rego file that does not parse or compile; regorus' message
    /// names file, line and column.
    #[error("policy {file} does not compile: {message}")]
    Compile { file: String, message: String },
    #[error("policy data {file} cannot be read: {message}")]
    Data { file: String, message: String },
    /// An error while evaluating (a type error, a conflict between rule
    /// outputs, a builtin failing).
    #[error("policy evaluation failed: {0}")]
    Eval(String),
    /// A rule produced something that is not a finding.
    #[error("policy rule `{rule}` produced {message}")]
    Shape { rule: String, message: String },
}

/// One file of a bundle, as loaded.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// How errors and coverage name it: a path, or `warden-default/…`.
    pub name: String,
    pub text: String,
}

impl BundleFile {
    pub(crate) fn is_rego(&self) -> bool {
        self.name.ends_with(".rego")
    }

    /// `*_test.rego`: loaded by `warden policy test`, not to decide.
    pub fn is_test(&self) -> bool {
        self.name.ends_with("_test.rego")
    }
}

/// A compiled bundle, ready to decide.
#[derive(Clone)]
pub struct PolicyBundle {
    engine: regorus::Engine,
    settings: PolicySettings,
    /// SHA-256 (hex) over the sorted files the decision reads and the
    /// enforcement levels and exceptions that weigh its findings.
    pub revision: String,
    /// Names of the files that decide, in order.
    pub files: Vec<String>,
}

impl std::fmt::Debug for PolicyBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyBundle")
            .field("revision", &self.revision)
            .field("files", &self.files)
            .finish()
    }
}

/// Reads the bundle's files: the default bundle (unless switched off),
/// then every path in name order, directories recursively; `tests` says
/// whether `*_test.rego` files are kept.
pub fn read_files(settings: &PolicySettings, tests: bool) -> Result<Vec<BundleFile>, PolicyError> {
    let mut files = Vec::new();
    if settings.use_default {
        files.extend(DEFAULT_BUNDLE.iter().map(|(name, text)| BundleFile {
            name: (*name).to_string(),
            text: (*text).to_string(),
        }));
    }
    for path in &settings.paths {
        collect(path, &mut files)?;
    }
    if !settings.data.is_empty() {
        files.push(BundleFile {
            name: "warden.toml [policy.data]".into(),
            text: toml::to_string(&settings.data).map_err(|e| PolicyError::Data {
                file: "warden.toml [policy.data]".into(),
                message: e.to_string(),
            })?,
        });
    }
    files.retain(|f| tests || !f.is_test());
    Ok(files)
}

fn collect(path: &Path, files: &mut Vec<BundleFile>) -> Result<(), PolicyError> {
    let read_err = |source| PolicyError::Read {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let wanted = entry.is_dir()
                || matches!(
                    entry.extension().and_then(|e| e.to_str()),
                    Some("rego" | "json" | "toml")
                );
            if wanted {
                collect(&entry, files)?;
            }
        }
        return Ok(());
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    files.push(BundleFile {
        name: path.display().to_string(),
        text,
    });
    Ok(())
}

/// A fresh engine with `files` loaded: Rego compiled, data merged at the
/// root of `data`. Builtin errors are errors (fail closed), not undefined.
pub fn engine(files: &[BundleFile]) -> Result<regorus::Engine, PolicyError> {
    let mut engine = regorus::Engine::new();
    engine.set_strict_builtin_errors(true);
    for file in files {
        if file.is_rego() {
            engine
                .add_policy(file.name.clone(), file.text.clone())
                .map_err(|e| PolicyError::Compile {
                    file: file.name.clone(),
                    message: e.to_string(),
                })?;
        } else {
            let data_err = |message: String| PolicyError::Data {
                file: file.name.clone(),
                message,
            };
            let json = if file.name.ends_with(".json") {
                file.text.clone()
            } else {
                let table: toml::Table =
                    toml::from_str(&file.text).map_err(|e| data_err(e.to_string()))?;
                serde_json::to_string(&table).map_err(|e| data_err(e.to_string()))?
            };
            let value =
                regorus::Value::from_json_str(&json).map_err(|e| data_err(e.to_string()))?;
            engine
                .add_data(value)
                .map_err(|e| data_err(e.to_string()))?;
        }
    }
    Ok(engine)
}

/// SHA-256 over the files sorted by name: each name, a NUL, its text, a NUL.
pub fn revision(files: &[BundleFile]) -> String {
    let mut sorted: Vec<&BundleFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut hash = Sha256::new();
    for file in sorted {
        hash.update(file.name.as_bytes());
        hash.update([0]);
        hash.update(file.text.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// A set element: a finding object, or (OPA's common style) a bare
/// message string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Element {
    Finding(Finding),
    Message(String),
}

impl PolicyBundle {
    /// Loads and compiles the bundle `settings` describe, and evaluates it
    /// once on a sample publish so a rule that fails on every input stops
    /// start-up rather than every deploy.
    ///
    /// # Errors
    /// A file that cannot be read, a policy that does not compile (naming
    /// file, line and column), data that does not parse, or an evaluation
    /// error on the sample.
    pub fn load(settings: &PolicySettings, sample: &Value) -> Result<PolicyBundle, PolicyError> {
        let files = read_files(settings, false)?;
        // What decides includes how findings count: the enforcement levels
        // and exceptions are part of the revision, beside the files.
        let mut decisive = files.clone();
        decisive.push(BundleFile {
            name: "warden.toml [policy] enforcement and exceptions".into(),
            text: serde_json::json!({
                "enforcement": settings.enforcement,
                "exceptions": settings.exceptions,
            })
            .to_string(),
        });
        let bundle = PolicyBundle {
            engine: engine(&files)?,
            settings: settings.clone(),
            revision: revision(&decisive),
            files: files.into_iter().map(|f| f.name).collect(),
        };
        bundle.evaluate(sample)?;
        Ok(bundle)
    }

    /// The raw `deny`, `needs_approval` and `warn` sets for `input`. A set
    /// the bundle does not define is empty.
    ///
    /// # Errors
    /// [`PolicyError::Eval`] or [`PolicyError::Shape`].
    pub fn evaluate(&self, input: &Value) -> Result<Findings, PolicyError> {
        let mut engine = self.engine.clone();
        let input = regorus::Value::from_json_str(&input.to_string())
            .map_err(|e| PolicyError::Eval(format!("the input document: {e}")))?;
        engine.set_input(input);
        let mut out = Findings::default();
        for set in SETS {
            let results = engine
                .eval_query(format!("{PACKAGE}.{set}"), false)
                .map_err(|e| PolicyError::Eval(e.to_string()))?;
            let Some(value) = results
                .result
                .first()
                .and_then(|r| r.expressions.first())
                .map(|e| e.value.clone())
            else {
                continue;
            };
            let json = value
                .to_json_str()
                .map_err(|e| PolicyError::Eval(e.to_string()))?;
            let shape = |message: String| PolicyError::Shape {
                rule: set.to_string(),
                message,
            };
            let elements: Vec<Element> = serde_json::from_str(&json).map_err(|e| {
                shape(format!(
                    "{json}, not a set of findings ({{\"id\", \"msg\", \"remediation\", \"path\"}}): {e}"
                ))
            })?;
            let findings = elements.into_iter().map(|e| match e {
                Element::Finding(f) => f,
                Element::Message(msg) => Finding {
                    id: set.to_string(),
                    msg,
                    remediation: String::new(),
                    path: None,
                },
            });
            match set {
                "deny" => out.deny.extend(findings),
                "needs_approval" => out.needs_approval.extend(findings),
                _ => out.warn.extend(findings),
            }
        }
        Ok(out)
    }

    /// Decides a publish of `app` at `now`: evaluation, then the
    /// platform's enforcement levels and exceptions.
    ///
    /// # Errors
    /// As [`PolicyBundle::evaluate`]; the deploy is refused with it.
    pub fn decide(
        &self,
        app: &str,
        input: &Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Decision, PolicyError> {
        Ok(self.evaluate(input)?.decide(
            app,
            now,
            &self.settings.enforcement,
            &self.settings.exceptions,
            self.revision.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> BundleFile {
        BundleFile {
            name: name.into(),
            text: text.into(),
        }
    }

    fn bundle(files: &[BundleFile]) -> Result<PolicyBundle, PolicyError> {
        Ok(PolicyBundle {
            engine: engine(files)?,
            settings: PolicySettings::default(),
            revision: revision(files),
            files: files.iter().map(|f| f.name.clone()).collect(),
        })
    }

    #[test]
    fn a_policy_that_does_not_parse_is_named_with_its_line() {
        let bad = file(
            "policies/broken.rego",
            "package warden.publish\n\ndeny contains x if {\n  x := \n}\n",
        );
        let e = bundle(&[bad])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("policies/broken.rego"), "{e}");
        assert!(
            e.contains(":4:") || e.contains(":5:"),
            "names the line: {e}"
        );
    }

    #[test]
    fn the_revision_covers_every_file_and_not_their_order() {
        let a = file("a.rego", "package a\n");
        let b = file("b.json", "{\"x\": 1}");
        let r = revision(&[a.clone(), b.clone()]);
        assert_eq!(r, revision(&[b.clone(), a.clone()]));
        assert_ne!(r, revision(&[a, file("b.json", "{\"x\": 2}")]));
        assert_eq!(r.len(), 64);
    }

    #[test]
    fn findings_messages_and_undefined_sets_are_read() {
        let policy = file(
            "p.rego",
            "package warden.publish\n\ndeny contains {\"id\": \"x\", \"msg\": \"no\", \"remediation\": \"do\", \"path\": \"app.team\"} if input.team == null\n\nwarn contains \"plain message\" if true\n",
        );
        let b = bundle(&[policy]).unwrap_or_else(|e| unreachable!("{e}"));
        let f = b
            .evaluate(&serde_json::json!({ "team": null }))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(f.deny.len(), 1);
        assert_eq!(f.deny[0].path.as_deref(), Some("app.team"));
        assert_eq!(f.warn[0].msg, "plain message");
        assert!(f.needs_approval.is_empty(), "undefined set: empty");
    }

    #[test]
    fn a_rule_that_errors_fails_closed_and_a_wrong_shape_is_named() {
        let conflict = file(
            "p.rego",
            "package warden.publish\n\nlevel := 1\nlevel := 2\n\ndeny contains level if true\n",
        );
        let b = bundle(&[conflict]).unwrap_or_else(|e| unreachable!("{e}"));
        assert!(matches!(
            b.evaluate(&serde_json::json!({})),
            Err(PolicyError::Eval(_))
        ));
        let shape = file(
            "s.rego",
            "package warden.publish\n\ndeny contains 42 if true\n",
        );
        let b = bundle(&[shape]).unwrap_or_else(|e| unreachable!("{e}"));
        let e = b
            .evaluate(&serde_json::json!({}))
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("`deny`") && e.contains("42")),
            "{e:?}"
        );
    }

    #[test]
    fn data_files_in_json_and_toml_reach_the_policies() {
        let policy = file(
            "p.rego",
            "package warden.publish\n\nwarn contains sprintf(\"%v %v\", [data.limit, data.team.name]) if true\n",
        );
        let json = file("limits.json", "{\"limit\": 7}");
        let toml = file("team.toml", "[team]\nname = \"tools\"\n");
        let b = bundle(&[policy, json, toml]).unwrap_or_else(|e| unreachable!("{e}"));
        let f = b
            .evaluate(&serde_json::json!({}))
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(f.warn[0].msg, "7 tools");
    }
}
