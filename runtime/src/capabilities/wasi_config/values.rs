//! The values `wasi:config` serves: `[config]` in `app.toml` (the
//! request) and `[config.apps.NAME]` in `warden.toml` (the platform's
//! values, which win). Both are checked as they are parsed, so a bad value
//! is refused at load with the field it is in.
//!
//! A value is a string, number or boolean (WASI config values are strings:
//! numbers and booleans as TOML writes them: `1.0` is `"1.0"`, `nan` is
//! `"nan"`). A key or value that looks like a credential (a private key,
//! an API key, a JWT) is refused, and named without being repeated. A
//! secret is never a value: a table such as `{ secret = "crm-token" }`, the way a
//! connector's `auth` names one, or a `${secret…}` / `{{ secret… }}`
//! template is refused — an app reaches a secret only through a connector,
//! which injects it on the way out and never shows it to the guest.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// Most keys one app may have (its own and the platform's together).
pub const MAX_KEYS: usize = 256;
/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Longest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;

/// `[config]` in `app.toml`: key → value.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ConfigRequest(pub BTreeMap<String, String>);

impl<'de> Deserialize<'de> for ConfigRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = BTreeMap::<String, toml::Value>::deserialize(d)?;
        values("config", raw)
            .map(ConfigRequest)
            .map_err(D::Error::custom)
    }
}

/// `[config]` in `warden.toml`: the platform's values per app
/// (`[config.apps.NAME]`), which take precedence over the app's own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRules {
    #[serde(default, deserialize_with = "platform_values")]
    pub apps: BTreeMap<String, BTreeMap<String, String>>,
}

fn platform_values<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, D::Error> {
    let raw = BTreeMap::<String, BTreeMap<String, toml::Value>>::deserialize(d)?;
    raw.into_iter()
        .map(|(app, table)| {
            values(&format!("config.apps.{app}"), table)
                .map(|v| (app, v))
                .map_err(D::Error::custom)
        })
        .collect()
}

const SECRET_FIX: &str = "an app never reads a secret: declare a connector whose `auth` names the secret (`[[connectors]]` in app.toml, the catalog in warden.toml) and the host adds it to the app's requests";

/// Checks each key and value of the table at `prefix`; the error names the
/// field and the fix.
fn values(
    prefix: &str,
    raw: BTreeMap<String, toml::Value>,
) -> Result<BTreeMap<String, String>, String> {
    if raw.len() > MAX_KEYS {
        return Err(format!(
            "`{prefix}` has {} keys; an app may have at most {MAX_KEYS}\n  fix: keep larger data in storage or behind a connector",
            raw.len()
        ));
    }
    raw.into_iter()
        .map(|(key, value)| {
            let field = format!("{prefix}.{}", redacted(&key));
            key_problem(&key).map_or(Ok(()), |p| Err(format!("`{field}`: {p}")))?;
            let value = scalar(&field, value)?;
            if let Some(pattern) = credential(&key).or_else(|| credential(&value)) {
                return Err(format!(
                    "`{field}`: the key or value looks like a credential ({pattern}); a secret cannot be a config value\n  fix: {SECRET_FIX}"
                ));
            }
            Ok((key, value))
        })
        .collect()
}

/// The scanner used to recognise credentials as files are parsed (before
/// the host's own, salted scanner exists; its salt only shapes redaction
/// tokens, which are not used here).
fn scanner() -> &'static warden_host_apis::dlp::Scanner {
    static SCANNER: warden_host_apis::dlp::Scanner = warden_host_apis::dlp::Scanner::new([0; 32]);
    &SCANNER
}

/// The first credential pattern (private key, API key, JWT) in `text`.
fn credential(text: &str) -> Option<&'static str> {
    scanner().credentials(text.as_bytes()).first().copied()
}

/// `text` with every sensitive value replaced by `[REDACTED:PATTERN]`: a
/// key that is itself a credential is named without being repeated (in an
/// error, in a log, in the audited settings).
fn redacted(text: &str) -> String {
    let mut out = String::new();
    let mut at = 0;
    for finding in scanner().scan(text.as_bytes()) {
        out.push_str(text.get(at..finding.start).unwrap_or_default());
        out.push_str(&format!("[REDACTED:{}]", finding.pattern));
        at = finding.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

/// Why `key` cannot be a config key, if it cannot.
fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Some(format!(
            "a key has 1 to {MAX_KEY_BYTES} bytes\n  fix: shorten the key"
        ));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Some(
            "a key is made of ASCII letters, digits, '_', '-' and '.'\n  fix: rename the key (e.g. \"page_size\")"
                .into(),
        );
    }
    None
}

/// A TOML value as the string `wasi:config` serves.
fn scalar(field: &str, value: toml::Value) -> Result<String, String> {
    let text = match value {
        toml::Value::String(s) => {
            if names_a_secret(&s) {
                return Err(format!(
                    "`{field}` references a secret; a secret cannot be a config value\n  fix: {SECRET_FIX}"
                ));
            }
            s
        }
        toml::Value::Integer(i) => i.to_string(),
        // `{:?}` keeps a float a float: 1.0 stays "1.0", not "1".
        toml::Value::Float(f) if f.is_nan() => "nan".to_string(),
        toml::Value::Float(f) if f.is_infinite() => {
            if f > 0.0 { "inf" } else { "-inf" }.to_string()
        }
        toml::Value::Float(f) => format!("{f:?}"),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Table(t) if t.contains_key("secret") => {
            return Err(format!(
                "`{field}` names a secret; a secret cannot be a config value\n  fix: {SECRET_FIX}"
            ));
        }
        other => {
            return Err(format!(
                "`{field}` is {}; a config value is a string, number or boolean\n  fix: write it as a string (e.g. a JSON document in quotes)",
                describe(&other)
            ));
        }
    };
    if text.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "`{field}` is {} bytes; a value may have at most {MAX_VALUE_BYTES}\n  fix: keep larger data in storage or behind a connector",
            text.len()
        ));
    }
    Ok(text)
}

/// A `${secret…}` or `{{ secret… }}` template: another runtime's way of
/// putting a secret into a variable, which Warden does not do.
fn names_a_secret(value: &str) -> bool {
    let squeezed: String = value
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    squeezed.contains("${secret") || squeezed.contains("{{secret")
}

fn describe(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
        toml::Value::Datetime(_) => "a date-time",
        _ => "a scalar",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(text: &str) -> Result<ConfigRequest, String> {
        #[derive(Deserialize)]
        struct Manifest {
            config: ConfigRequest,
        }
        toml::from_str::<Manifest>(text)
            .map(|m| m.config)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn scalars_become_strings() {
        let config = app("[config]\ngreeting = \"hi\"\npage_size = 20\nratio = 0.5\nbeta = true")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let got: Vec<(&str, &str)> = config
            .0
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("beta", "true"),
                ("greeting", "hi"),
                ("page_size", "20"),
                ("ratio", "0.5")
            ]
        );
    }

    #[test]
    fn refusals_name_the_field_and_the_fix() {
        let cases = [
            (
                "[config]\napi_key = { secret = \"crm-token\" }",
                "`config.api_key` names a secret",
            ),
            (
                "[config]\ntoken = \"${secret:crm-token}\"",
                "`config.token` references a secret",
            ),
            (
                "[config]\ntoken = \"{{ Secret.crm }}\"",
                "`config.token` references a secret",
            ),
            ("[config]\nlist = [1, 2]", "`config.list` is an array"),
            ("[config]\nnested = { a = 1 }", "`config.nested` is a table"),
            (
                "[config]\n\"bad key\" = \"x\"",
                "`config.bad key`: a key is made of",
            ),
        ];
        for (text, expected) in cases {
            let err = app(text).err().unwrap_or_default();
            assert!(err.contains(expected), "{text}: {err}");
            assert!(err.contains("fix:"), "{text}: {err}");
        }
        let long = format!("[config]\nbig = \"{}\"", "x".repeat(MAX_VALUE_BYTES + 1));
        assert!(
            app(&long)
                .err()
                .unwrap_or_default()
                .contains("at most 16384")
        );
    }

    #[test]
    fn platform_values_are_checked_under_their_full_name() {
        let rules: Result<ConfigRules, _> =
            toml::from_str("[apps.hello]\nkey = { secret = \"x\" }");
        let err = rules.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("`config.apps.hello.key` names a secret"),
            "{err}"
        );
        let rules: ConfigRules = toml::from_str("[apps.hello]\ngreeting = \"hey\"")
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(rules.apps["hello"]["greeting"], "hey");
    }
}
