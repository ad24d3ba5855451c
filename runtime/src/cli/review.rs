//! `warden review show APP [VERSION]`: one version as a reviewer needs it —
//! why it is held, what changed from the live version, what its template
//! allows, every grant — and the exact command that approves what was shown.

use super::client;
use super::exit::{Outcome, fail};
use clap::Subcommand;
use serde_json::Value;

#[derive(Subcommand)]
pub enum ReviewCommand {
    /// Show a version's grants, the reasons it is held, its changes from
    /// the live version and its template's allowance (admin API).
    #[command(after_help = "Examples:
  WARDEN_TOKEN=$REVIEWER warden review show expense-dashboard
  WARDEN_TOKEN=$REVIEWER warden review show expense-dashboard 1.3.0 --json

Without VERSION: the newest pending version, else the live one.")]
    Show {
        app: String,
        version: Option<String>,
        /// The server's JSON answer instead of text.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "WARDEN_SERVER", default_value = super::DEFAULT_SERVER)]
        server: String,
    },
    /// Record a periodic review of a live app: you looked at it again as
    /// it stands (reviewer role; not your own app). Its next review comes
    /// due a risk tier's interval from now (`warden reviews due`).
    #[command(after_help = "Example:
  WARDEN_TOKEN=$REVIEWER warden review record expense-dashboard --note \"grants still needed; owner confirmed\"")]
    Record {
        app: String,
        /// What you looked at and found; kept with the review and audited.
        #[arg(long)]
        note: String,
        #[arg(long, env = "WARDEN_SERVER", default_value = super::DEFAULT_SERVER)]
        server: String,
    },
}

pub fn run(cmd: ReviewCommand) -> Outcome {
    let (app, version, json, server) = match cmd {
        ReviewCommand::Show {
            app,
            version,
            json,
            server,
        } => (app, version, json, server),
        ReviewCommand::Record { app, note, server } => {
            return client::report(client::call(
                &server,
                "POST",
                &format!("/v1/apps/{app}/review"),
                Some(serde_json::json!({ "note": note })),
            ));
        }
    };
    let version = match version {
        Some(v) => v,
        None => match client::call(&server, "GET", &format!("/v1/apps/{app}/versions"), None) {
            Ok((200, all)) => {
                let versions = all["versions"].as_array().cloned().unwrap_or_default();
                let pick = |status: &str| {
                    versions
                        .iter()
                        .find(|v| v["status"] == status)
                        .and_then(|v| v["version"].as_str())
                        .map(str::to_string)
                };
                match pick("pending")
                    .or_else(|| pick("active"))
                    .or_else(|| pick("killed"))
                {
                    Some(v) => v,
                    None => {
                        return Err(fail(
                            1,
                            format!(
                                "`{app}` has no pending or live version; `warden versions {app}` lists them all"
                            ),
                        ));
                    }
                }
            }
            other => return client::report(other),
        },
    };
    match client::call(
        &server,
        "GET",
        &format!("/v1/apps/{app}/versions/{version}"),
        None,
    ) {
        Ok((200, shown)) if !json => {
            print!("{}", render(&shown));
            Ok(())
        }
        other => client::report(other),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn list(v: &Value) -> String {
    match v.as_array() {
        Some(items) if !items.is_empty() => items.iter().map(text).collect::<Vec<_>>().join(", "),
        _ => "none".into(),
    }
}

/// The review as text.
pub fn render(v: &Value) -> String {
    let mut out = format!(
        "{} {}  [{}]  deploy {} by {} at {}\n  component sha256:{}  manifest sha256:{}\n",
        text(&v["app"]),
        text(&v["version"]),
        text(&v["status"]),
        v["deploy"],
        text(&v["deployed_by"]),
        text(&v["deployed_at"]),
        text(&v["component_sha256"]),
        text(&v["manifest_sha256"]),
    );
    let reasons = v["reasons"].as_array().cloned().unwrap_or_default();
    if !reasons.is_empty() {
        out += "  held because:\n";
        for r in &reasons {
            out += &format!("    - {}\n", text(r));
        }
    }
    match &v["live"] {
        Value::Null => out += "  changes: first version (everything below is new)\n",
        live => {
            out += &format!("  changes from live {}:\n", text(&live["version"]));
            let changes = v["changes_from_live"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if changes.is_empty() {
                out += "    none\n";
            }
            for c in changes {
                let line = match c["change"].as_str() {
                    Some("added") => format!("+ {}: {}", text(&c["path"]), text(&c["this"])),
                    Some("removed") => format!("- {}: {}", text(&c["path"]), text(&c["live"])),
                    _ if c["this"].is_array() => format!(
                        "~ {}: added {}; removed {}",
                        text(&c["path"]),
                        list(&c["this"]),
                        list(&c["live"])
                    ),
                    _ => format!(
                        "~ {}: {} -> {}",
                        text(&c["path"]),
                        text(&c["live"]),
                        text(&c["this"])
                    ),
                };
                out += &format!("    {line}\n");
            }
        }
    }
    match &v["template"] {
        Value::Null => {
            out += "  template: none (with none, connectors, plain hosts and storage above internal need review)\n"
        }
        t => {
            let allows = &t["allows"];
            let connectors: Vec<String> = allows["connectors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{} [{}]", text(&c["name"]), list(&c["scopes"])))
                .collect();
            out += &format!(
                "  template `{}` allows: connectors {}; hosts {}; data up to {}\n",
                text(&t["name"]),
                if connectors.is_empty() {
                    "none".into()
                } else {
                    connectors.join(", ")
                },
                list(&allows["allowed_hosts"]),
                allows["max_class"].as_str().unwrap_or("internal"),
            );
        }
    }
    let beyond = v["beyond_template"].as_array().cloned().unwrap_or_default();
    if !beyond.is_empty() && beyond != reasons {
        out += "  beyond its template now:\n";
        for r in &beyond {
            out += &format!("    - {}\n", text(r));
        }
    }
    let g = &v["grants"];
    let connectors: Vec<String> = g["connectors"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, scopes)| format!("{name} [{}]", list(scopes)))
        .collect();
    let schedules: Vec<String> = g["schedules"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(cron, input)| format!("{cron} (input {})", text(input)))
        .collect();
    let buckets: Vec<String> = g["storage"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, b)| format!("{name} ({}, ttl {})", text(&b["class"]), text(&b["ttl"])))
        .collect();
    out += &format!(
        "  grants:\n    route {}\n    connectors: {}\n    hosts: {}\n    storage: {}\n    schedules: {}\n    limits: {}\n    quota: {}\n",
        text(&g["route"]),
        if connectors.is_empty() {
            "none".into()
        } else {
            connectors.join(", ")
        },
        list(&g["allowed_hosts"]),
        if buckets.is_empty() {
            "none".into()
        } else {
            buckets.join(", ")
        },
        if schedules.is_empty() {
            "none".into()
        } else {
            schedules.join(", ")
        },
        g["limits"],
        g["quota"],
    );
    if v["status"] == "pending" {
        out += &format!(
            "  approve exactly this: warden approve {} --deploy {} --digest {}\n  or: warden reject {} --deploy {} --reason \"…\"\n",
            text(&v["app"]),
            v["deploy"],
            text(&v["component_sha256"]),
            text(&v["app"]),
            v["deploy"],
        );
    }
    out
}
