//! `warden deploy`, `approve` and `reject`: the admin API verbs creators
//! and reviewers use against a running host.

use super::client;
use super::exit::{Outcome, fail};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;

/// Deploy an app (its manifest and component) to a running host.
#[derive(Args)]
#[command(after_help = "Examples:
  WARDEN_TOKEN=... warden deploy examples/hello-http/app.toml
  WARDEN_TOKEN=... warden deploy app.toml --server http://warden.internal:8081

An app that stays within its template (or asks for no connectors, hosts or
confidential storage) is served at once; otherwise it waits for a reviewer
and the answer lists why.")]
pub struct DeployArgs {
    /// The app's manifest; its `app.component` is uploaded with it.
    manifest: PathBuf,
    #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
    server: String,
}

pub fn deploy(args: DeployArgs) -> Outcome {
    let manifest = match warden_runtime::config::AppManifest::load(&args.manifest) {
        Ok(m) => m,
        Err(e) => {
            return Err(fail(super::EXIT_CONFIG, e));
        }
    };
    let component_path = manifest.component_path(&args.manifest);
    let (text, component) = match (
        std::fs::read_to_string(&args.manifest),
        std::fs::read(&component_path),
    ) {
        (Ok(t), Ok(c)) => (t, c),
        (Err(e), _) => {
            return Err(fail(
                super::EXIT_CONFIG,
                format!("cannot read {}: {e}", args.manifest.display()),
            ));
        }
        (_, Err(e)) => {
            return Err(fail(
                super::EXIT_CONFIG,
                format!(
                    "{}: app.component: cannot read {}: {e}\n  fix: build the component first (see the app's README)",
                    args.manifest.display(),
                    component_path.display()
                ),
            ));
        }
    };
    // The component goes first, streamed to the host's disk; the deploy
    // then names it by digest.
    let digest = upload(&args.server, component)?;
    let body = json!({
        "manifest": text,
        "component_sha256": digest,
    });
    let answer = client::call(&args.server, "POST", "/v1/apps", Some(body));
    let next = match &answer {
        Ok((202, out)) => out["next"].as_str().map(str::to_string),
        _ => None,
    };
    let code = client::report(answer);
    if let Some(next) = next {
        eprintln!("warden: {next}");
    }
    code
}

/// Uploads a component to `server` (`PUT /v1/components`, streamed to
/// the host's disk); its SHA-256 as the host computed it.
pub(super) fn upload(server: &str, component: Vec<u8>) -> anyhow::Result<String> {
    let uploaded = client::send(
        server,
        "PUT",
        "/v1/components",
        "application/wasm",
        bytes::Bytes::from(component),
    );
    match uploaded {
        Ok((201, answer)) if answer["sha256"].is_string() => {
            Ok(answer["sha256"].as_str().unwrap_or_default().to_string())
        }
        Ok((status, answer)) if (200..300).contains(&status) => Err(fail(
            1,
            format!("the upload was answered {status} without a digest: {answer}"),
        )),
        other => Err(client::report(other)
            .err()
            .unwrap_or_else(|| fail(1, "the upload failed"))),
    }
}

/// Approve a pending deploy of someone else's app (reviewer role).
#[derive(Args)]
#[command(after_help = "Examples:
  WARDEN_TOKEN=... warden approve expense-dashboard --note \"scopes checked with finance\"
  WARDEN_TOKEN=... warden approve expense-dashboard --version 1.2.0
  WARDEN_TOKEN=... warden approve expense-dashboard --deploy 12 --digest 9f2c…   # exactly what `warden review show` showed")]
pub struct ApproveArgs {
    app: String,
    /// The version to approve (default: the latest pending one).
    #[arg(long)]
    version: Option<String>,
    /// The exact deploy reviewed (its id in `warden review show`).
    #[arg(long)]
    deploy: Option<i64>,
    /// The component SHA-256 reviewed; refused if what is pending differs.
    #[arg(long)]
    digest: Option<String>,
    /// A note kept with the approval.
    #[arg(long)]
    note: Option<String>,
    #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
    server: String,
}

pub fn approve(args: ApproveArgs) -> Outcome {
    let body = json!({ "version": args.version, "deploy": args.deploy, "digest": args.digest, "note": args.note });
    client::report(client::call(
        &args.server,
        "POST",
        &format!("/v1/apps/{}/approve", args.app),
        Some(body),
    ))
}

/// Reject a pending deploy, saying why (reviewer role).
#[derive(Args)]
#[command(after_help = "Example:
  WARDEN_TOKEN=... warden reject expense-dashboard --reason \"needs the read scope only\"")]
pub struct RejectArgs {
    app: String,
    /// Why; the creator sees it.
    #[arg(long)]
    reason: String,
    #[arg(long)]
    version: Option<String>,
    /// The exact deploy reviewed (its id in `warden review show`).
    #[arg(long)]
    deploy: Option<i64>,
    #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
    server: String,
}

pub fn reject(args: RejectArgs) -> Outcome {
    let body = json!({ "version": args.version, "deploy": args.deploy, "note": args.reason });
    client::report(client::call(
        &args.server,
        "POST",
        &format!("/v1/apps/{}/reject", args.app),
        Some(body),
    ))
}
