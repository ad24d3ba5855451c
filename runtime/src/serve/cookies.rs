//! Cookies of apps that share one origin. A browser keeps cookies per
//! host, not per app, so an app at `/hello/...` could set a cookie for `/`
//! that every other app on the host receives, or overwrite another app's
//! cookie of the same name. Warden scopes every `Set-Cookie` an app sends
//! to the app's own route: a `Path` outside the route (or none) becomes
//! the route's path, and a `Domain` attribute is dropped (the cookie stays
//! with this host). A `__Host-` cookie needs `Path=/` (RFC 6265bis
//! §4.1.3.2), so below the root a browser drops it; apps use `__Secure-`.
//! Path scoping keeps apps from stepping on each other's
//! cookies; it is not a wall between scripts of one origin — apps that
//! must not trust each other belong on separate hosts.

use http::HeaderValue;

/// The cookie path of a route: `/hello/...` → `/hello`, `/status` →
/// `/status`, `/...` → `/`.
pub(crate) fn route_path(route: &str) -> String {
    let prefix = route
        .strip_suffix("/...")
        .unwrap_or(route)
        .trim_end_matches('/');
    if prefix.is_empty() {
        "/".to_string()
    } else {
        prefix.to_string()
    }
}

fn within(path: &str, scope: &str) -> bool {
    scope == "/" || path == scope || path.starts_with(&format!("{scope}/"))
}

/// `set_cookie` with its `Path` inside `scope` and no `Domain`.
pub(crate) fn scoped(set_cookie: &str, scope: &str) -> String {
    let mut parts = set_cookie.split(';').map(str::trim);
    let mut out = parts.next().unwrap_or_default().to_string();
    let mut path = None;
    for attribute in parts {
        let name = attribute.split('=').next().unwrap_or_default().trim();
        if name.eq_ignore_ascii_case("domain") {
            continue;
        }
        if name.eq_ignore_ascii_case("path") {
            path = attribute.split_once('=').map(|(_, v)| v.trim().to_string());
            continue;
        }
        if !attribute.is_empty() {
            out.push_str("; ");
            out.push_str(attribute);
        }
    }
    let path = path
        .filter(|p| within(p, scope))
        .unwrap_or_else(|| scope.to_string());
    out.push_str("; Path=");
    out.push_str(&path);
    out
}

/// Rewrites every `Set-Cookie` of `headers` to the path of `route`.
pub(crate) fn scope_all(headers: &mut http::HeaderMap, route: &str) {
    let values: Vec<HeaderValue> = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if values.is_empty() {
        return;
    }
    let scope = route_path(route);
    headers.remove(http::header::SET_COOKIE);
    for value in values {
        let Ok(text) = value.to_str() else {
            continue; // not text: dropped rather than passed on unscoped
        };
        if let Ok(v) = HeaderValue::from_str(&scoped(text, &scope)) {
            headers.append(http::header::SET_COOKIE, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_kept_to_the_apps_route_and_host() {
        assert_eq!(route_path("/hello/..."), "/hello");
        assert_eq!(route_path("/..."), "/");
        assert_eq!(scoped("sid=1", "/hello"), "sid=1; Path=/hello");
        assert_eq!(scoped("sid=1; Path=/", "/hello"), "sid=1; Path=/hello");
        assert_eq!(
            scoped("sid=1; path=/helloworld; HttpOnly", "/hello"),
            "sid=1; HttpOnly; Path=/hello"
        );
        assert_eq!(
            scoped("sid=1; Path=/hello/a; Secure", "/hello"),
            "sid=1; Secure; Path=/hello/a"
        );
        assert_eq!(
            scoped("sid=1; Domain=example.com; SameSite=Lax", "/hello"),
            "sid=1; SameSite=Lax; Path=/hello"
        );
        assert_eq!(scoped("sid=1; Path=/x", "/"), "sid=1; Path=/x");
    }
}
