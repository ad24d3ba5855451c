//! The HTTP route table: which app answers which path.
//!
//! | `[http] route`   | matches                                  |
//! |------------------|------------------------------------------|
//! | `/hello/...`     | `/hello` and everything below it         |
//! | `/status`        | exactly `/status`                        |
//! | `/...`           | everything (the most general route)      |
//!
//! The longest matching route wins; two apps on the same route are refused
//! when the host starts. Matching is on the path only, segment-wise, so
//! `/hello/...` never matches `/helloworld`.

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Route {
    prefix: String,
    wildcard: bool,
}

impl Route {
    pub fn parse(text: &str) -> Result<Route, String> {
        if !text.starts_with('/') {
            return Err(format!("`{text}` does not start with '/'"));
        }
        let (prefix, wildcard) = match text.strip_suffix("/...") {
            Some(p) => (p.to_string(), true),
            None => (text.trim_end_matches('/').to_string(), false),
        };
        if prefix.contains("...") || prefix.contains('*') {
            return Err(format!("`{text}`: only a trailing `/...` is a wildcard"));
        }
        if prefix.contains("//")
            || (prefix.is_empty() && text.len() > 1 && !wildcard)
            || text.starts_with("//")
        {
            return Err(format!("`{text}`: a route has no empty path segments"));
        }
        Ok(Route { prefix, wildcard })
    }

    pub fn matches(&self, path: &str) -> bool {
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        if self.wildcard {
            self.prefix.is_empty()
                || path == self.prefix
                || path.starts_with(&format!("{}/", self.prefix))
        } else {
            path == self.prefix || (self.prefix.is_empty() && path == "/")
        }
    }

    /// Whether some path matches both routes: one is nested in, equal to
    /// the prefix of, or encloses the other.
    pub(crate) fn overlaps(&self, other: &Route) -> bool {
        let within = |wide: &Route, path: &str| {
            wide.prefix.is_empty()
                || path == wide.prefix
                || path.starts_with(&format!("{}/", wide.prefix))
        };
        match (self.wildcard, other.wildcard) {
            (false, false) => self.prefix == other.prefix,
            (true, false) => within(self, &other.prefix),
            (false, true) => within(other, &self.prefix),
            (true, true) => within(self, &other.prefix) || within(other, &self.prefix),
        }
    }

    /// `/` or `/...`: the origin's root, which only the platform may give.
    pub(crate) fn is_root(&self) -> bool {
        self.prefix.is_empty()
    }

    /// Longer prefixes are more specific; exact beats wildcard.
    fn specificity(&self) -> (usize, bool) {
        (self.prefix.len(), !self.wildcard)
    }
}

/// Routes to values (app indices), most specific first.
#[derive(Debug)]
pub(crate) struct RouteTable<T> {
    entries: Vec<(Route, T)>,
}

// Not derived: an empty table needs no default value.
impl<T> Default for RouteTable<T> {
    fn default() -> Self {
        RouteTable {
            entries: Vec::new(),
        }
    }
}

impl<T> RouteTable<T> {
    pub fn insert(&mut self, route: Route, value: T) -> Result<(), String> {
        if self.entries.iter().any(|(r, _)| *r == route) {
            return Err("another app already serves this route".into());
        }
        self.entries.push((route, value));
        self.entries
            .sort_by_key(|e| std::cmp::Reverse(e.0.specificity()));
        Ok(())
    }

    pub fn find(&self, path: &str) -> Option<&T> {
        self.entries
            .iter()
            .find(|(r, _)| r.matches(path))
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(text: &str) -> Route {
        Route::parse(text).unwrap_or(Route {
            prefix: "?".into(),
            wildcard: false,
        })
    }

    #[test]
    fn routes_overlap_when_nested_equal_to_a_prefix_or_enclosing() {
        let hello = route("/hello/...");
        for other in [
            "/hello/ada",
            "/hello",
            "/hello/...",
            "/...",
            "/hello/ada/...",
        ] {
            assert!(hello.overlaps(&route(other)), "{other}");
            assert!(route(other).overlaps(&hello), "{other} (reversed)");
        }
        // `/` (exact) is only the root path, which `/hello/...` never
        // matches; a creator is refused it as the root anyway.
        for apart in ["/helloworld", "/hell", "/other/...", "/status", "/"] {
            assert!(!hello.overlaps(&route(apart)), "{apart}");
        }
        assert!(route("/status").overlaps(&route("/status")));
        assert!(!route("/status").overlaps(&route("/status/x")));
        assert!(route("/").is_root() && route("/...").is_root() && !hello.is_root());
        for empty in ["//...", "//", "/a//b", "//x/..."] {
            assert!(Route::parse(empty).is_err(), "{empty}");
        }
    }

    fn table(routes: &[&str]) -> RouteTable<String> {
        let mut t = RouteTable::default();
        for r in routes {
            t.insert(
                Route::parse(r).unwrap_or(Route {
                    prefix: "?".into(),
                    wildcard: false,
                }),
                r.to_string(),
            )
            .unwrap_or_default();
        }
        t
    }

    #[test]
    fn wildcards_match_their_prefix_by_segment() {
        let t = table(&["/hello/..."]);
        assert_eq!(t.find("/hello").map(String::as_str), Some("/hello/..."));
        assert_eq!(t.find("/hello/ada").map(String::as_str), Some("/hello/..."));
        assert_eq!(t.find("/helloworld"), None);
    }

    #[test]
    fn the_most_specific_route_wins() {
        let t = table(&["/...", "/api/...", "/api/status"]);
        assert_eq!(
            t.find("/api/status").map(String::as_str),
            Some("/api/status")
        );
        assert_eq!(t.find("/api/x").map(String::as_str), Some("/api/..."));
        assert_eq!(t.find("/other").map(String::as_str), Some("/..."));
    }

    #[test]
    fn duplicate_and_malformed_routes_are_refused() {
        let mut t = RouteTable::default();
        assert!(
            t.insert(
                Route::parse("/a/...").unwrap_or(Route {
                    prefix: String::new(),
                    wildcard: true
                }),
                1
            )
            .is_ok()
        );
        assert!(
            t.insert(
                Route::parse("/a/...").unwrap_or(Route {
                    prefix: String::new(),
                    wildcard: true
                }),
                2
            )
            .is_err()
        );
        assert!(Route::parse("a").is_err());
        assert!(Route::parse("/a/*/b").is_err());
    }
}
