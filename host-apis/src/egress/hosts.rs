//! `egress.allowed_hosts` in `app.toml`: plain destinations beyond
//! connectors, each one approved by the platform.
//!
//! | written                          | matches                                   |
//! |----------------------------------|-------------------------------------------|
//! | `https://api.example.com`        | that host, https, port 443                |
//! | `http://api.example.com:8080`    | that host, http, port 8080                |
//! | `https://*.example.com`          | any subdomain (not `example.com` itself)  |
//! | `http://localhost:8000-8100`     | ports 8000 to 8100                        |
//! | `http://127.0.0.1:9000`          | that IP literal (the address rules still apply) |
//! | `http://10.0.0.0/24:8080`        | IP literals inside that CIDR              |
//!
//! Fail-closed rules: a scheme is required; paths, queries, user info and
//! a bare `*` are rejected; an empty list allows nothing. A request to an IP
//! literal only matches an IP or CIDR entry, never a hostname pattern.
//! Host names compare case-insensitively, without a trailing dot.

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    /// `*.suffix`: stores `.suffix`.
    Subdomains(String),
    Ip(IpNet),
}

/// One parsed `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    scheme: String,
    host: HostPattern,
    ports: (u16, u16),
    text: String,
}

impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "http" { 80 } else { 443 }
}

/// Lower-cased host without a trailing dot or IPv6 brackets.
pub fn normalize_host(host: &str) -> String {
    host.trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

impl FromStr for AllowedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let example = "write it like \"https://api.example.com\", \"https://*.example.com\" or \"http://localhost:8000-8100\"";
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("`{text}` has no scheme; {example}"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{text}`: scheme must be http or https"));
        }
        if rest.contains(['?', '#', '@']) || rest.is_empty() {
            return Err(format!(
                "`{text}` must be only scheme://host[:port]; {example}"
            ));
        }
        let (host_part, ports) =
            split_ports(rest, &scheme).map_err(|e| format!("`{text}`: {e}"))?;
        let host = if host_part == "*" || host_part.is_empty() {
            return Err(format!("`{text}` allows any host; name the hosts instead"));
        } else if let Some(suffix) = host_part.strip_prefix("*.") {
            if suffix.contains('*') || !suffix.contains('.') {
                return Err(format!(
                    "`{text}`: a wildcard must cover subdomains of a registered domain, e.g. *.example.com"
                ));
            }
            HostPattern::Subdomains(format!(".{}", normalize_host(suffix)))
        } else if let Ok(net) = host_part.parse::<IpNet>() {
            HostPattern::Ip(net)
        } else if let Ok(ip) = normalize_host(&host_part).parse::<IpAddr>() {
            HostPattern::Ip(IpNet::from(ip))
        } else if host_part.contains(['*', '/']) {
            return Err(format!(
                "`{text}` must be only scheme://host[:port]; {example}"
            ));
        } else {
            HostPattern::Exact(normalize_host(&host_part))
        };
        Ok(AllowedHost {
            scheme,
            host,
            ports,
            text: text.to_string(),
        })
    }
}

/// Splits `host[:port[-port]]`, minding IPv6 brackets and CIDR slashes.
fn split_ports(rest: &str, scheme: &str) -> Result<(String, (u16, u16)), String> {
    let rest = rest.trim_end_matches('/');
    let (host, port) = if let Some(stripped) = rest.strip_prefix('[') {
        let (inside, after) = stripped.split_once(']').ok_or("unclosed [")?;
        let port = after.strip_prefix(':');
        if !after.is_empty() && port.is_none() {
            return Err("unexpected text after ]".into());
        }
        (inside.to_string(), port)
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
            _ => (rest.to_string(), None),
        }
    };
    let ports = match port {
        None => (default_port(scheme), default_port(scheme)),
        Some(p) => {
            let parse = |s: &str| s.parse::<u16>().map_err(|_| format!("`{s}` is not a port"));
            match p.split_once('-') {
                Some((lo, hi)) => {
                    let (lo, hi) = (parse(lo)?, parse(hi)?);
                    if lo > hi {
                        return Err(format!("port range {lo}-{hi} is reversed"));
                    }
                    (lo, hi)
                }
                None => {
                    let port = parse(p)?;
                    (port, port)
                }
            }
        }
    };
    Ok((host, ports))
}

impl AllowedHost {
    /// Does a request to `scheme://host:port` match this entry?
    pub fn matches(&self, scheme: &str, host: &str, port: u16) -> bool {
        if !self.scheme.eq_ignore_ascii_case(scheme) || port < self.ports.0 || port > self.ports.1 {
            return false;
        }
        let host = normalize_host(host);
        match (&self.host, host.parse::<IpAddr>()) {
            (HostPattern::Ip(net), Ok(ip)) => net.contains(&ip),
            (HostPattern::Ip(_), Err(_)) | (_, Ok(_)) => false,
            (HostPattern::Exact(h), Err(_)) => *h == host,
            (HostPattern::Subdomains(suffix), Err(_)) => host.ends_with(suffix.as_str()),
        }
    }
}

/// An app's whole allowlist. Empty allows nothing.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(Vec<AllowedHost>);

impl AllowedHosts {
    pub fn parse(entries: &[String]) -> Result<AllowedHosts, String> {
        entries
            .iter()
            .map(|e| e.parse())
            .collect::<Result<Vec<_>, _>>()
            .map(AllowedHosts)
    }

    /// The entry that allows the destination, if any.
    pub fn find(&self, scheme: &str, host: &str, port: u16) -> Option<&AllowedHost> {
        self.0.iter().find(|e| e.matches(scheme, host, port))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowedHosts {
        let owned: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        AllowedHosts::parse(&owned).unwrap_or_default()
    }

    #[test]
    fn an_empty_list_allows_nothing() {
        assert!(list(&[]).find("https", "api.example.com", 443).is_none());
    }

    #[test]
    fn exact_hosts_match_scheme_host_and_default_port() {
        let hosts = list(&["https://api.example.com"]);
        assert!(hosts.find("https", "API.example.com.", 443).is_some());
        assert!(hosts.find("http", "api.example.com", 80).is_none());
        assert!(hosts.find("https", "api.example.com", 8443).is_none());
        assert!(hosts.find("https", "evil-api.example.com", 443).is_none());
        assert!(
            hosts
                .find("https", "api.example.com.evil.net", 443)
                .is_none()
        );
    }

    #[test]
    fn wildcards_cover_subdomains_but_not_the_apex() {
        let hosts = list(&["https://*.example.com"]);
        assert!(hosts.find("https", "a.example.com", 443).is_some());
        assert!(hosts.find("https", "a.b.example.com", 443).is_some());
        assert!(hosts.find("https", "example.com", 443).is_none());
        assert!(hosts.find("https", "badexample.com", 443).is_none());
    }

    #[test]
    fn port_ranges_are_inclusive() {
        let hosts = list(&["http://localhost:8000-8100"]);
        assert!(hosts.find("http", "localhost", 8000).is_some());
        assert!(hosts.find("http", "localhost", 8100).is_some());
        assert!(hosts.find("http", "localhost", 8101).is_none());
    }

    #[test]
    fn ip_literals_only_match_ip_or_cidr_entries() {
        let hosts = list(&[
            "http://*.example.com:80",
            "http://127.0.0.1:9000",
            "http://10.0.0.0/24:8080",
            "http://[::1]:9000",
        ]);
        assert!(hosts.find("http", "127.0.0.1", 9000).is_some());
        assert!(hosts.find("http", "10.0.0.7", 8080).is_some());
        assert!(hosts.find("http", "10.0.1.7", 8080).is_none());
        assert!(hosts.find("http", "[::1]", 9000).is_some());
        assert!(hosts.find("http", "93.184.216.34", 80).is_none());
    }

    #[test]
    fn vague_or_malformed_entries_are_rejected() {
        for bad in [
            "api.example.com",
            "*",
            "https://*",
            "ftp://example.com",
            "https://example.com/path",
            "https://user@example.com",
            "https://*.com",
            "https://a.*.example.com",
            "http://localhost:9000-8000",
            "http://localhost:http",
        ] {
            assert!(
                bad.parse::<AllowedHost>().is_err(),
                "{bad} should be rejected"
            );
        }
    }
}
