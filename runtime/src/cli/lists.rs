//! `warden apps`, `reviews`, `versions APP`: the same lists from a running
//! host's admin API (with `--server`, `WARDEN_SERVER`, or a token in the
//! environment) or from the data directory on the host itself.

use super::exit::{Outcome, fail};
use super::table::{Column, render};
use super::{ConfigArgs, client};
use clap::Args;
use serde_json::{Value, json};
use warden_runtime::registry::Status;
use warden_runtime::wait::Wait as _;

/// Where a list comes from and how it is printed.
#[derive(Args)]
pub struct ListArgs {
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Ask a running host's admin API (token from WARDEN_TOKEN); without
    /// it (and without WARDEN_TOKEN) the data directory is read.
    #[arg(long, env = "WARDEN_SERVER")]
    pub server: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// The rows under `key` of the admin API's answer to `GET path`, or why
/// there are none.
pub fn fetch(server: &str, path: &str, key: &str) -> anyhow::Result<Vec<Value>> {
    match client::call(server, "GET", path, None) {
        Ok((200, out)) => Ok(out[key].as_array().cloned().unwrap_or_default()),
        // Anything else is reported: an error fails the command; a 2xx
        // other than 200 is printed as it came, and the command ends there.
        other => {
            client::report(other)?;
            Err(super::exit::quiet(0))
        }
    }
}

/// Rows from the server or from `local`, printed with `columns`.
fn list(
    args: &ListArgs,
    path: &str,
    key: &str,
    columns: &[Column<'_>],
    local: impl FnOnce(&warden_runtime::Runtime) -> Result<Vec<Value>, String>,
) -> Outcome {
    let rows = match super::remote(&args.server, &args.config, false) {
        Some(server) => fetch(&server, path, key)?,
        None => {
            let platform = args.config.load()?;
            super::data_dir_to_read(&platform)?;
            let runtime = args.config.runtime()?;
            match local(&runtime) {
                Ok(rows) => rows,
                Err(e) => {
                    return Err(fail(super::EXIT_CONFIG, e));
                }
            }
        }
    };
    print!("{}", render(&rows, columns, args.json));
    Ok(())
}

/// The apps a data directory knows, as `GET /v1/apps` lists them: served
/// (by a host running on it), held for review, killed, or only seen run.
fn local_apps(runtime: &warden_runtime::Runtime) -> Result<Vec<Value>, String> {
    let dir = runtime.data_dir();
    let hosts = warden_runtime::presence::live(dir);
    let kills = runtime.kill_state();
    let mut rows = Vec::new();
    for name in warden_runtime::known_apps::known_apps(runtime, &hosts) {
        let versions = runtime
            .registry()
            .versions(&name)
            .wait()
            .map_err(|e| format!("the registry cannot be read: {e}"))?;
        let active = versions.iter().find(|d| d.status.is_live());
        let pending = versions.iter().find(|d| d.status == Status::Pending);
        let retired = versions.iter().find(|d| d.status == Status::Retired);
        let served = hosts.iter().any(|h| h.apps.contains(&name));
        let shown = active.or(pending).or(retired);
        let manifest =
            shown.and_then(|d| warden_runtime::config::AppManifest::load(&d.manifest_path).ok());
        let compliance = manifest
            .as_ref()
            .map(|m| m.app.compliance.clone())
            .unwrap_or_default();
        let route = manifest.and_then(|m| m.http.map(|h| h.route));
        // "running" only when a host on this directory serves it now.
        let state = if kills.contains_key(&name) {
            "killed"
        } else if served {
            "running"
        } else if active.is_some() {
            "active (no host serves it now)"
        } else if pending.is_some() {
            "pending"
        } else if retired.is_some() {
            "retired"
        } else {
            "not served"
        };
        let served_version = hosts.iter().find_map(|h| h.versions.get(&name).cloned());
        rows.push(json!({
            "name": name,
            "version": served_version.or_else(|| shown.map(|d| d.version.clone())),
            "state": state,
            "owner": shown.and_then(|d| d.owner.clone()),
            "compliance": compliance,
            "route": route,
            "kill": kills.get(&name),
        }));
    }
    Ok(rows)
}

/// `warden apps`: the list, optionally only apps held to one compliance
/// scope; `warden apps transfer` gives an app a new owner.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AppsArgs {
    #[command(subcommand)]
    pub command: Option<AppsCommand>,
    #[command(flatten)]
    pub list: ListArgs,
    /// Only apps held to this compliance scope (`[app] compliance`), e.g.
    /// GDPR; case does not matter.
    #[arg(long, value_name = "SCOPE")]
    pub compliance: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum AppsCommand {
    /// Give an app a new owner (admin): every version, the live one served
    /// under it at once; audited (app.transferred). For an app whose owner
    /// left (flagged as orphaned).
    #[command(after_help = "Example:
  WARDEN_TOKEN=$ADMIN warden apps transfer lunch-bot --to grace@example.com --reason \"ada left; grace runs the lunch orders now\"")]
    Transfer {
        app: String,
        /// The new owner, as they sign in (a token's name, an email).
        #[arg(long)]
        to: String,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
        #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
        server: String,
    },
}

pub fn apps(args: AppsArgs) -> Outcome {
    if let Some(AppsCommand::Transfer {
        app,
        to,
        reason,
        server,
    }) = &args.command
    {
        return client::report(client::call(
            server,
            "POST",
            &format!("/v1/apps/{app}/transfer"),
            Some(json!({ "to": to, "reason": reason })),
        ));
    }
    let path = match &args.compliance {
        Some(scope) => format!(
            "/v1/apps?compliance={}",
            url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()
        ),
        None => "/v1/apps".to_string(),
    };
    let scope = args.compliance.clone();
    list(
        &args.list,
        &path,
        "apps",
        &[
            ("NAME", "name"),
            ("VERSION", "version"),
            ("STATE", "state"),
            ("OWNER", "owner"),
            ("COMPLIANCE", "compliance"),
            ("ROUTE", "route"),
            ("ORPHANED", "orphaned_because"),
        ],
        move |runtime| {
            let mut rows = local_apps(runtime)?;
            let orphans =
                warden_runtime::lifecycle::orphans::find(runtime, std::time::SystemTime::now())
                    .wait()
                    .map_err(|e| format!("orphaned apps cannot be told: {e}"))?;
            for row in &mut rows {
                let reasons: Vec<String> = orphans
                    .iter()
                    .filter(|o| row["name"] == o.app.as_str())
                    .flat_map(|o| o.reasons.iter().map(|r| r.describe()))
                    .collect();
                row["orphaned_because"] = json!(reasons);
            }
            if let Some(scope) = &scope {
                rows.retain(|r| warden_runtime::admin::held_to(r, scope));
            }
            Ok(rows)
        },
    )
}

/// `warden reviews [due]`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReviewsArgs {
    #[command(subcommand)]
    due: Option<ReviewsCommand>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(clap::Subcommand)]
enum ReviewsCommand {
    /// Live apps whose periodic review is due, overdue or lapsed, with
    /// their risk tier and why (reviewer, admin or auditor).
    #[command(after_help = "Examples:
  WARDEN_TOKEN=$REVIEWER warden reviews due
  WARDEN_TOKEN=$REVIEWER warden reviews due --all --json
  WARDEN_TOKEN=$REVIEWER warden reviews due --at 2027-03-31   # due by the quarter's end

Tiers and intervals: [lifecycle] review_every in warden.toml (high 30d, medium
90d, low 180d). Record a review with `warden review record APP --note ...`.")]
    Due {
        /// Every live app with its schedule, not only those due.
        #[arg(long)]
        all: bool,
        /// As they will stand then (a date or RFC 3339 time; default now).
        #[arg(long, value_name = "WHEN")]
        at: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
}

pub fn reviews(args: ReviewsArgs) -> Outcome {
    match args.due {
        Some(ReviewsCommand::Due { all, at, list }) => reviews_due(all, at.as_deref(), &list),
        None => pending_reviews(args.list),
    }
}

fn reviews_due(all: bool, at: Option<&str>, args: &ListArgs) -> Outcome {
    let when = match at {
        None => std::time::SystemTime::now(),
        Some(at) => warden_runtime::audit::export::parse_instant(at)
            .map_err(|e| fail(super::EXIT_USAGE, format!("--at {e}")))?,
    };
    let mut path = format!("/v1/reviews/due?all={all}");
    if let Some(at) = at {
        let at: String = url::form_urlencoded::byte_serialize(at.as_bytes()).collect();
        path += &format!("&at={at}");
    }
    list(
        args,
        &path,
        "apps",
        &[
            ("APP", "app"),
            ("VERSION", "version"),
            ("TIER", "tier"),
            ("STATUS", "status"),
            ("DUE", "due_at"),
            ("DAYS", "days_left"),
            ("WHY", "reasons"),
        ],
        |runtime| {
            let apps = warden_runtime::lifecycle::due::schedule(runtime, when)
                .wait()
                .map_err(|e| format!("the registry cannot be read: {e}"))?;
            Ok(apps
                .into_iter()
                .filter(|d| all || d.is_due())
                .map(|d| json!(d))
                .collect())
        },
    )
}

fn pending_reviews(args: ListArgs) -> Outcome {
    list(
        &args,
        "/v1/reviews",
        "pending",
        &[
            ("APP", "app"),
            ("VERSION", "version"),
            ("DEPLOY", "id"),
            ("BY", "deployed_by"),
            ("AT", "deployed_at"),
            ("WHY", "reasons"),
        ],
        |runtime| {
            let pending = runtime
                .registry()
                .pending()
                .wait()
                .map_err(|e| format!("the registry cannot be read: {e}"))?;
            Ok(pending.iter().map(|d| json!(d)).collect())
        },
    )
}

pub fn versions(app: &str, args: ListArgs) -> Outcome {
    list(
        &args,
        &format!("/v1/apps/{app}/versions"),
        "versions",
        &[
            ("VERSION", "version"),
            ("DEPLOY", "id"),
            ("STATUS", "status"),
            ("BY", "deployed_by"),
            ("AT", "deployed_at"),
            ("REVIEWED BY", "reviewed_by"),
            ("NOTE", "review_note"),
        ],
        |runtime| {
            let all = runtime
                .registry()
                .versions(app)
                .wait()
                .map_err(|e| format!("the registry cannot be read: {e}"))?;
            if all.is_empty() {
                return Err(format!(
                    "no deploys of `{app}` in {}",
                    runtime.data_dir().display()
                ));
            }
            Ok(all.iter().map(|d| json!(d)).collect())
        },
    )
}
