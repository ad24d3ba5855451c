//! `index.html` of an audit export: what the archive holds, for a person,
//! readable offline in any browser — no script, no stylesheet or font
//! fetched, every value escaped.

use super::export::ManifestBody;
use serde_json::Value;

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn file<'a>(files: &'a [(String, Vec<u8>)], path: &str) -> Option<&'a [u8]> {
    files
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, b)| b.as_slice())
}

fn json(files: &[(String, Vec<u8>)], path: &str) -> Value {
    file(files, path)
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null)
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => escape(s),
        other => escape(&other.to_string()),
    }
}

/// The page for an export whose manifest body is `body` and whose files
/// are `files`.
pub fn render(body: &ManifestBody, files: &[(String, Vec<u8>)]) -> String {
    let app = json(files, "app.json");
    let mut html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Audit export: {name}</title>\n<style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .5em;text-align:left;vertical-align:top}}code{{font-size:.9em}}</style></head><body>\n<h1>Audit export: {name}</h1>\n<p>Made {created}{range}. Signed with key <code>{keyid}</code>. Check it on any machine with <code>warden audit verify-export FILE --key KEY</code>: every file below must have the SHA-256 listed, the list must carry a valid signature, and the audit entries must be the ones the checkpoints signed.</p>\n",
        name = escape(&body.app),
        created = escape(&body.created),
        keyid = escape(&body.keyid),
        range = match (&body.since, &body.until) {
            (None, None) => String::new(),
            (s, u) => format!(
                ", covering {} to {}",
                escape(s.as_deref().unwrap_or("the start")),
                escape(u.as_deref().unwrap_or("now"))
            ),
        },
    );
    html += "<h2>The app</h2>\n<table>\n";
    for key in [
        "owner",
        "team",
        "cost_center",
        "compliance",
        "description",
        "runbook",
        "killed",
    ] {
        html += &format!(
            "<tr><th>{}</th><td>{}</td></tr>\n",
            escape(key),
            text(&app[key])
        );
    }
    html += "</table>\n<h2>Versions</h2>\n<table><tr><th>version</th><th>status</th><th>component SHA-256</th><th>deployed by, at</th><th>reviewed by</th><th>note</th></tr>\n";
    for v in json(files, "versions.json")
        .as_array()
        .into_iter()
        .flatten()
    {
        let d = &v["deployment"];
        html += &format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}, {}</td><td>{}</td><td>{}</td></tr>\n",
            text(&d["version"]),
            text(&d["status"]),
            text(&d["digest"]),
            text(&d["deployed_by"]),
            text(&d["deployed_at"]),
            text(&d["reviewed_by"]),
            text(&d["review_note"])
        );
    }
    html += "</table>\n<h2>Audit entries</h2>\n<table><tr><th>seq</th><th>time</th><th>kind</th><th>actor</th><th>details</th></tr>\n";
    let entries = file(files, "audit/entries.jsonl").unwrap_or_default();
    for line in String::from_utf8_lossy(entries).lines() {
        let e: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        html += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            text(&e["seq"]),
            text(&e["time"]),
            text(&e["kind"]),
            text(&e["actor"]),
            text(&e["details"])
        );
    }
    html +=
        "</table>\n<h2>Files</h2>\n<table><tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>\n";
    for f in &body.files {
        html += &format!(
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>\n",
            escape(&f.path),
            f.bytes,
            escape(&f.sha256)
        );
    }
    html += "</table>\n</body></html>\n";
    html
}
