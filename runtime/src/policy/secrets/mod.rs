//! Secret scanning at publish: credentials baked into a component or its
//! manifest are found before the app goes anywhere. The default policy
//! denies any finding (`secret-in-artifact`).
//!
//! What is scanned: every core module's data segments and every custom
//! section, in the component and every module and component nested in it,
//! and the manifest text. How: one pass of a keyword automaton over the
//! bytes (Aho-Corasick, case-insensitive), then the keyword's rules are
//! tried on a window around each hit, and the secret part must be random
//! enough ([`rules::Rule::min_entropy`]). A finding names the rule, the
//! section and the byte offset, with a redacted preview — never the
//! secret.

pub mod rules;

use aho_corasick::AhoCorasick;
use regex::bytes::Regex;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::OnceLock;
use wasmparser::{Encoding, Parser, Payload};

/// Bytes before a keyword a pattern may start at.
const BEFORE: usize = 64;
/// Bytes after a keyword a pattern may reach to.
const AFTER: usize = 512;
/// Longer than the shortest match of any rule: a window is tried again
/// from this far before its end, so a match that starts near the end of
/// one window is whole in the next.
const OVERLAP: usize = 256;

/// One secret found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SecretFinding {
    /// The rule's id (`github-token`).
    pub rule: &'static str,
    pub description: &'static str,
    /// Where: `module 2 data segment 0`, `custom section `name``,
    /// `app.toml line 7`.
    pub section: String,
    /// Byte offset in the file scanned (the component or the manifest).
    pub offset: u64,
    /// The first four characters and the length: `ghp_…(40 chars)`.
    pub preview: String,
    /// What was scanned: `component` or `app.toml`.
    pub path: &'static str,
}

struct Compiled {
    keywords: AhoCorasick,
    /// Keyword index -> rule index.
    owner: Vec<usize>,
    patterns: Vec<Regex>,
}

fn compiled() -> Result<&'static Compiled, String> {
    static COMPILED: OnceLock<Result<Compiled, String>> = OnceLock::new();
    COMPILED
        .get_or_init(|| {
            let mut words = Vec::new();
            let mut owner = Vec::new();
            for (i, rule) in rules::RULES.iter().enumerate() {
                for word in rule.keywords {
                    words.push(*word);
                    owner.push(i);
                }
            }
            let keywords = AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(&words)
                .map_err(|e| format!("secret-scan keywords: {e}"))?;
            let patterns = rules::RULES
                .iter()
                .map(|r| Regex::new(r.pattern).map_err(|e| format!("rule {}: {e}", r.id)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Compiled {
                keywords,
                owner,
                patterns,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Shannon entropy of `bytes`, in bits per byte.
fn entropy(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in bytes {
        counts[*b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Documentation placeholders (`AKIAIOSFODNN7EXAMPLE`, `xxxx…`) are not
/// secrets.
fn placeholder(secret: &[u8]) -> bool {
    let text = String::from_utf8_lossy(secret).to_ascii_lowercase();
    [
        "example",
        "xxxxxxxx",
        "********",
        "your_",
        "your-",
        "placeholder",
        "dummy",
    ]
    .iter()
    .any(|p| text.contains(p))
}

/// The format's public prefix (at most `shown` bytes) and the length.
fn preview(secret: &[u8], shown: usize) -> String {
    let head: String = secret.iter().take(shown).map(|b| char::from(*b)).collect();
    format!("{head}…({} chars)", secret.len())
}

/// Whether `value` is random enough for `rule`: a short value cannot reach
/// a long one's entropy (20 characters carry at most log2(20) = 4.3 bits
/// each), so the bar is the lower of the rule's and 85% of that maximum.
fn random_enough(value: &[u8], min_entropy: f64) -> bool {
    let reachable = (value.len().max(1) as f64).log2();
    entropy(value) >= min_entropy.min(0.85 * reachable)
}

/// Scans one blob that starts at byte `base` of the scanned file.
fn scan_blob(
    rules: &Compiled,
    bytes: &[u8],
    base: u64,
    section: &dyn Fn(u64) -> String,
    path: &'static str,
    seen: &mut HashSet<(usize, u64)>,
    out: &mut Vec<SecretFinding>,
) {
    // Per rule: the end of the last window tried, so a run of keyword
    // hits (a word repeated in a table) is scanned once.
    let mut tried_until = vec![0usize; rules::RULES.len()];
    for hit in rules.keywords.find_overlapping_iter(bytes) {
        let rule = rules.owner[hit.pattern().as_usize()];
        if hit.start() < tried_until[rule] {
            continue;
        }
        let start = hit.start().saturating_sub(BEFORE);
        let end = (hit.end() + AFTER).min(bytes.len());
        tried_until[rule] = end.saturating_sub(OVERLAP).max(hit.end());
        let spec = &rules::RULES[rule];
        for caps in rules.patterns[rule].captures_iter(&bytes[start..end]) {
            let Some(secret) = caps.get(1).or_else(|| caps.get(0)) else {
                continue;
            };
            let value = secret.as_bytes();
            if !random_enough(value, spec.min_entropy) || placeholder(value) {
                continue;
            }
            let offset = base + (start + secret.start()) as u64;
            if seen.insert((rule, offset)) {
                out.push(SecretFinding {
                    rule: spec.id,
                    description: spec.description,
                    section: section(offset),
                    offset,
                    preview: preview(value, spec.shown),
                    path,
                });
            }
        }
    }
}

/// Secrets in a component's (or core module's) data segments and custom
/// sections, nested modules and components included.
///
/// # Errors
/// Bytes that are not well-formed WebAssembly, or a ruleset that does not
/// compile (a bug; the publish is refused rather than waved through).
pub fn scan_component(bytes: &[u8]) -> Result<Vec<SecretFinding>, String> {
    let rules = compiled()?;
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut module = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("malformed at byte {}: {e}", e.offset()))?;
        match payload {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } => module += 1,
            Payload::DataSection(reader) => {
                for (i, data) in reader.into_iter().enumerate() {
                    let data = data.map_err(|e| e.to_string())?;
                    let base = (data.range.end - data.data.len()) as u64;
                    let name = format!("module {module} data segment {i}");
                    scan_blob(
                        rules,
                        data.data,
                        base,
                        &|_| name.clone(),
                        "component",
                        &mut seen,
                        &mut out,
                    );
                }
            }
            Payload::CustomSection(section) => {
                let name = format!("custom section `{}`", section.name());
                scan_blob(
                    rules,
                    section.data(),
                    section.data_offset() as u64,
                    &|_| name.clone(),
                    "component",
                    &mut seen,
                    &mut out,
                );
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Secrets in a manifest's text, by line.
///
/// # Errors
/// A ruleset that does not compile (a bug).
pub fn scan_manifest(text: &str) -> Result<Vec<SecretFinding>, String> {
    let rules = compiled()?;
    let mut out = Vec::new();
    let line_of = |offset: u64| {
        let upto = (offset as usize).min(text.len());
        let line = text.as_bytes()[..upto]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        format!("app.toml line {line}")
    };
    scan_blob(
        rules,
        text.as_bytes(),
        0,
        &line_of,
        "app.toml",
        &mut HashSet::new(),
        &mut out,
    );
    Ok(out)
}

#[cfg(test)]
mod tests;
