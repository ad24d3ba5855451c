//! `[[audit.sinks]]` in `warden.toml`: where audit entries are forwarded
//! (a SIEM), each sink with its own persisted position (see
//! `crate::audit::forward`).
//!
//! ```toml
//! [[audit.sinks]]
//! name = "siem"                      # names its position and its lag
//! kind = "syslog"                    # RFC 5424 over TCP (RFC 6587 framing)
//! address = "siem.internal:6514"
//! tls = true                         # RFC 5425
//! ca = "/etc/warden/siem-ca.pem"     # trusted besides the web PKI roots
//!
//! [[audit.sinks]]
//! name = "hook"
//! kind = "webhook"                   # JSON batches over HTTPS
//! url = "https://siem.example.com/warden/audit"
//! token_secret = "siem-token"        # sent as `Authorization: Bearer …`
//!
//! [[audit.sinks]]
//! name = "collector"
//! kind = "otlp"                      # OTLP/HTTP logs
//! endpoint = "http://collector:4318" # default: [telemetry.otlp] or OTEL_*
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use warden_host_apis::units::Dur;

/// The protocol a sink speaks.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// OTLP/HTTP logs (protobuf), to `/v1/logs` of the collector.
    Otlp,
    /// RFC 5424 messages over TCP, octet-counted (RFC 6587 §3.4.1),
    /// optionally in TLS (RFC 5425).
    Syslog,
    /// JSON batches POSTed to a URL.
    Webhook,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Otlp => "otlp",
            SinkKind::Syslog => "syslog",
            SinkKind::Webhook => "webhook",
        }
    }
}

/// One `[[audit.sinks]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SinkSettings {
    /// Unique among the sinks; its position is kept under this name, so
    /// renaming a sink starts it again from the first entry.
    pub name: String,
    pub kind: SinkKind,
    /// webhook: where batches are POSTed (`https://`; `http://` only to a
    /// loopback address).
    #[serde(default)]
    pub url: Option<String>,
    /// syslog: `host:port` of the receiver.
    #[serde(default)]
    pub address: Option<String>,
    /// syslog: speak TLS (RFC 5425), verifying the receiver's certificate.
    #[serde(default)]
    pub tls: bool,
    /// syslog with `tls`, webhook: a PEM file of CA certificates trusted
    /// besides the web PKI roots (a company's own CA).
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// otlp: the collector's base URL (`/v1/logs` is added); default the
    /// `[telemetry.otlp]` endpoint or the `OTEL_EXPORTER_OTLP_*` variables.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// webhook, otlp: extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// webhook: a secret in Warden's secret store, sent as
    /// `Authorization: Bearer <value>` (so no token sits in this file).
    #[serde(default)]
    pub token_secret: Option<String>,
    /// Most entries in one request (webhook, otlp) or one write (syslog).
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Longest pause between tries while the sink fails; pauses start at
    /// 250 ms and double up to this.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: Dur,
    /// Longest one delivery may take before it counts as failed.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
}

fn default_batch() -> usize {
    100
}

fn default_max_backoff() -> Dur {
    Dur(Duration::from_secs(30))
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(10))
}

/// Largest `batch`.
const MAX_BATCH: usize = 10_000;

impl SinkSettings {
    /// What is wrong with this sink (the `i`th), as (field, problem, fix).
    pub fn problem(&self, i: usize) -> Option<(String, String, String)> {
        let field = |f: &str| format!("audit.sinks[{i}].{f}");
        let valid_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid_name {
            return Some((
                field("name"),
                format!("`{}` is not a sink name", self.name),
                "use 1 to 64 letters, digits, `-`, `_` or `.`, e.g. \"siem\"".into(),
            ));
        }
        let kind = self.kind.as_str();
        let misplaced = [
            ("url", self.url.is_some(), SinkKind::Webhook),
            ("address", self.address.is_some(), SinkKind::Syslog),
            ("tls", self.tls, SinkKind::Syslog),
            ("endpoint", self.endpoint.is_some(), SinkKind::Otlp),
            (
                "token_secret",
                self.token_secret.is_some(),
                SinkKind::Webhook,
            ),
        ];
        let takes = match self.kind {
            SinkKind::Webhook => "url = \"https://…\" (and token_secret, headers, ca)",
            SinkKind::Syslog => "address = \"host:port\" (and tls, ca)",
            SinkKind::Otlp => "endpoint = \"http://collector:4318\" (and headers)",
        };
        for (name, set, owner) in misplaced {
            if set && owner != self.kind {
                return Some((
                    field(name),
                    format!("`{name}` is for {} sinks, not {kind}", owner.as_str()),
                    format!(
                        "a {kind} sink takes {takes}; or set `kind = \"{}\"`",
                        owner.as_str()
                    ),
                ));
            }
        }
        if !self.headers.is_empty() && self.kind == SinkKind::Syslog {
            return Some((
                field("headers"),
                "syslog has no headers".into(),
                "remove `headers`".into(),
            ));
        }
        for (name, value) in &self.headers {
            let lower = name.to_ascii_lowercase();
            let problem = if matches!(
                lower.as_str(),
                "content-type" | "content-length" | "host" | "idempotency-key"
            ) || (lower == "authorization" && self.token_secret.is_some())
            {
                Some(format!("`{name}` is set by Warden (or by `token_secret`)"))
            } else if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                Some(format!("`{name}` is not a header name"))
            } else if http::HeaderValue::from_str(value).is_err() {
                Some(format!("the value of `{name}` cannot be sent in a header"))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Some((
                    field("headers"),
                    problem,
                    "remove it; other headers are names of letters, digits and `-` with printable values".into(),
                ));
            }
        }
        if self.ca.is_some() && self.kind == SinkKind::Otlp {
            return Some((
                field("ca"),
                "an OTLP sink trusts what the OTLP exporter trusts".into(),
                "remove `ca`".into(),
            ));
        }
        if self.ca.is_some() && self.kind == SinkKind::Syslog && !self.tls {
            return Some((
                field("ca"),
                "`ca` is given but `tls` is off".into(),
                "set `tls = true`, or remove `ca`".into(),
            ));
        }
        match self.kind {
            SinkKind::Webhook => {
                if let Some(problem) = self.webhook_url_problem() {
                    return Some((
                        field("url"),
                        problem,
                        "write the receiver's https URL, e.g. \"https://siem.example.com/warden\""
                            .into(),
                    ));
                }
            }
            SinkKind::Syslog => {
                if let Some(problem) = self.address_problem() {
                    return Some((
                        field("address"),
                        problem,
                        "write the receiver as host:port, e.g. \"siem.internal:6514\"".into(),
                    ));
                }
            }
            SinkKind::Otlp => {
                if let Some(endpoint) = &self.endpoint
                    && let Err(problem) = super::urls::check_url(endpoint)
                {
                    return Some((
                        field("endpoint"),
                        problem,
                        "write the collector's base URL, e.g. \"http://collector:4318\"".into(),
                    ));
                }
            }
        }
        if !(1..=MAX_BATCH).contains(&self.batch) {
            return Some((
                field("batch"),
                format!("{} entries", self.batch),
                format!("use 1 to {MAX_BATCH} (100 is the default)"),
            ));
        }
        for (name, value) in [("max_backoff", self.max_backoff), ("timeout", self.timeout)] {
            if value.get() < Duration::from_millis(100) {
                return Some((
                    field(name),
                    format!("{value} is shorter than 100ms"),
                    "use 100ms or more".into(),
                ));
            }
        }
        None
    }

    fn webhook_url_problem(&self) -> Option<String> {
        let Some(text) = &self.url else {
            return Some("a webhook sink needs `url`".into());
        };
        let url = match super::urls::check_url(text) {
            Ok(url) => url,
            Err(problem) => return Some(problem),
        };
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        (url.scheme() == "http" && !loopback).then(|| {
            format!("`{text}` is plain http: audit entries would cross the network unencrypted")
        })
    }

    fn address_problem(&self) -> Option<String> {
        let Some(address) = &self.address else {
            return Some("a syslog sink needs `address`".into());
        };
        if address.contains("://") || address.contains('/') {
            return Some(format!(
                "`{address}` is a URL; a syslog sink takes host:port"
            ));
        }
        match address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
                None
            }
            _ => Some(format!("`{address}` is not host:port")),
        }
    }
}

/// What is wrong with the sinks as a whole: a name used twice.
pub fn duplicate(sinks: &[SinkSettings]) -> Option<(String, String, String)> {
    sinks.iter().enumerate().find_map(|(i, s)| {
        sinks[..i].iter().any(|t| t.name == s.name).then(|| {
            (
                format!("audit.sinks[{i}].name"),
                format!("`{}` names another sink too", s.name),
                "give each sink its own name (it keys the sink's position)".into(),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(toml_text: &str) -> SinkSettings {
        toml::from_str(toml_text).unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[test]
    fn each_kind_needs_its_own_fields_and_refuses_the_others() {
        let ok = [
            "name = \"a\"\nkind = \"webhook\"\nurl = \"https://siem.example.com/x\"",
            "name = \"a\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/x\"",
            "name = \"a\"\nkind = \"syslog\"\naddress = \"siem:6514\"\ntls = true",
            "name = \"a\"\nkind = \"otlp\"",
        ];
        for text in ok {
            assert_eq!(sink(text).problem(0), None, "{text}");
        }
        let bad = [
            ("name = \"a b\"\nkind = \"otlp\"", "name"),
            ("name = \"a\"\nkind = \"webhook\"", "url"),
            (
                "name = \"a\"\nkind = \"webhook\"\nurl = \"http://siem.example.com/x\"",
                "url",
            ),
            (
                "name = \"a\"\nkind = \"syslog\"\naddress = \"siem\"",
                "address",
            ),
            (
                "name = \"a\"\nkind = \"syslog\"\naddress = \"tcp://siem:514\"",
                "address",
            ),
            (
                "name = \"a\"\nkind = \"webhook\"\nurl = \"https://s/x\"\nheaders = { Content-Type = \"text/plain\" }",
                "headers",
            ),
            (
                "name = \"a\"\nkind = \"webhook\"\nurl = \"https://s/x\"\ntoken_secret = \"t\"\nheaders = { Authorization = \"Basic x\" }",
                "headers",
            ),
            ("name = \"a\"\nkind = \"syslog\"", "address"),
            (
                "name = \"a\"\nkind = \"syslog\"\naddress = \"s:1\"\nca = \"x.pem\"",
                "ca",
            ),
            (
                "name = \"a\"\nkind = \"otlp\"\naddress = \"s:1\"",
                "address",
            ),
            ("name = \"a\"\nkind = \"otlp\"\nbatch = 0", "batch"),
            (
                "name = \"a\"\nkind = \"otlp\"\nheaders = { \"a b\" = \"x\" }",
                "headers",
            ),
            (
                "name = \"a\"\nkind = \"syslog\"\naddress = \"s:1\"\nheaders = { k = \"v\" }",
                "headers",
            ),
            (
                "name = \"a\"\nkind = \"otlp\"\ntimeout = \"1ms\"",
                "timeout",
            ),
        ];
        for (text, field) in bad {
            let problem = sink(text).problem(3);
            assert_eq!(
                problem.as_ref().map(|p| p.0.as_str()),
                Some(format!("audit.sinks[3].{field}").as_str()),
                "{text}: {problem:?}"
            );
        }
    }

    #[test]
    fn two_sinks_with_one_name_are_refused() {
        let a = sink("name = \"a\"\nkind = \"otlp\"");
        assert_eq!(duplicate(std::slice::from_ref(&a)), None);
        let found = duplicate(&[a.clone(), sink("name = \"b\"\nkind = \"otlp\""), a]);
        assert_eq!(found.map(|p| p.0), Some("audit.sinks[2].name".into()));
    }
}
