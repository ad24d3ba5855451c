//! Connector scopes: which (method, path) pairs a scope allows.
//!
//! A catalog entry maps each scope name to rules written `"METHOD /path"`:
//!
//! | rule                     | allows                                          |
//! |--------------------------|-------------------------------------------------|
//! | `"GET /bases/*"`         | GET of `/bases/x` (one segment, not empty)      |
//! | `"GET /bases/**"`        | GET of `/bases` and anything below it           |
//! | `"POST /bases/*/records"`| POST of exactly that shape                      |
//! | `"* /status"`            | any method on `/status`                         |
//!
//! Paths are relative to the connector's base URL. Fail-closed rules: the
//! query string is ignored for matching but kept on the request; a path
//! with `.` or `..` segments, an encoded dot, slash or backslash, or a
//! backslash is refused outright (it could resolve outside the pattern
//! upstream); methods compare case-insensitively.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeRule {
    /// Upper-case method, or `*` for any.
    method: String,
    segments: Vec<String>,
    text: String,
}

impl fmt::Display for ScopeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for ScopeRule {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (method, path) = text
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("`{text}` is not a rule; write it like \"GET /bases/*\""))?;
        let path = path.trim();
        if !path.starts_with('/') {
            return Err(format!("`{text}`: the path must start with '/'"));
        }
        let segments: Vec<String> = split(path).map(String::from).collect();
        if let Some(pos) = segments.iter().position(|s| s == "**")
            && pos + 1 != segments.len()
        {
            return Err(format!("`{text}`: `**` may only end a path"));
        }
        let method = method.to_ascii_uppercase();
        if method != "*" && !method.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(format!("`{text}`: `{method}` is not an HTTP method"));
        }
        Ok(ScopeRule {
            method,
            segments,
            text: text.trim().to_string(),
        })
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Why a path cannot be checked against any rule.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    let lower = path.to_ascii_lowercase();
    if !path.starts_with('/') {
        Some("path must start with '/'")
    } else if path.contains('\\') || lower.contains("%5c") {
        Some("path contains a backslash")
    } else if lower.contains("%2e") || lower.contains("%2f") {
        Some("path contains an encoded dot or slash")
    } else if path.split('/').any(|s| s == "." || s == "..") {
        Some("path contains a . or .. segment")
    } else {
        None
    }
}

impl ScopeRule {
    pub fn allows(&self, method: &str, path: &str) -> bool {
        if self.method != "*" && !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let path = path.split(['?', '#']).next().unwrap_or_default();
        if unsafe_path(path).is_some() {
            return false;
        }
        let mut actual = split(path);
        for pattern in &self.segments {
            match pattern.as_str() {
                "**" => return true,
                "*" => {
                    if actual.next().is_none() {
                        return false;
                    }
                }
                literal => {
                    if actual.next() != Some(literal) {
                        return false;
                    }
                }
            }
        }
        actual.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> ScopeRule {
        s.parse().unwrap_or_else(|_| ScopeRule {
            method: "NONE".into(),
            segments: vec![],
            text: String::new(),
        })
    }

    #[test]
    fn a_single_star_matches_exactly_one_segment() {
        let r = rule("GET /bases/*");
        assert!(r.allows("GET", "/bases/app1"));
        assert!(r.allows("get", "/bases/app1?view=grid"));
        assert!(!r.allows("GET", "/bases"));
        assert!(!r.allows("GET", "/bases/app1/tables"));
        assert!(!r.allows("POST", "/bases/app1"));
    }

    #[test]
    fn a_double_star_matches_the_rest() {
        let r = rule("GET /bases/**");
        assert!(r.allows("GET", "/bases"));
        assert!(r.allows("GET", "/bases/a/b/c"));
        assert!(!r.allows("GET", "/other"));
    }

    #[test]
    fn any_method_rules_match_every_method() {
        let r = rule("* /status");
        assert!(r.allows("DELETE", "/status"));
        assert!(!r.allows("GET", "/status/x"));
    }

    #[test]
    fn traversal_attempts_are_never_allowed() {
        let r = rule("GET /bases/**");
        for path in [
            "/bases/../admin",
            "/bases/%2e%2e/admin",
            "/bases/a%2Fb",
            "/bases\\..\\admin",
            "/bases/./x",
            "bases/x",
        ] {
            assert!(!r.allows("GET", path), "{path}");
            assert!(unsafe_path(path).is_some(), "{path}");
        }
    }

    #[test]
    fn malformed_rules_are_rejected() {
        for bad in ["GET", "GET bases", "GET /a/**/b", "G3T /a"] {
            assert!(bad.parse::<ScopeRule>().is_err(), "{bad}");
        }
    }
}
