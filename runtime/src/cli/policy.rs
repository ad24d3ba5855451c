//! `warden policy check|test`: the publish policy, offline.

use super::exit::{Outcome, fail, quiet};
use super::{ConfigArgs, EXIT_CONFIG, EXIT_USAGE};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use warden_runtime::config::{AppManifest, PlatformConfig};
use warden_runtime::policy::{self, Decision, PolicyBundle, Verdict, input, testing};

/// `warden policy check` of a manifest the policy refuses.
pub const EXIT_REFUSED: u8 = 5;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Judge an app.toml as a deploy would be judged, without deploying:
    /// refused, held for a reviewer, or live, with every finding and its fix.
    #[command(
        after_help = "Examples:\n  warden policy check app.toml\n  warden policy check app.toml --component target/app.wasm --as ada:creator --team tools --json\n  warden policy check app.toml --config /etc/warden/warden.toml\n  WARDEN_TOKEN=... warden policy check app.toml --server http://127.0.0.1:8081\n\nOffline, it knows the templates in warden.toml (not those set through the\nadmin API) and no live version, so rules about new grants stay silent;\nwith --server the host decides, knowing both, and deploys nothing.\nExit codes: 0 live or held (the output says which), 5 refused,\n3 a policy or configuration that cannot be used."
    )]
    Check {
        /// The app's manifest.
        manifest: PathBuf,
        /// The component to judge (default: the manifest's `app.component`,
        /// if it has been built).
        #[arg(long, value_name = "FILE")]
        component: Option<PathBuf>,
        /// Who deploys: `NAME:ROLE` (default: the manifest's owner, or
        /// $USER, as a creator).
        #[arg(long = "as", value_name = "NAME:ROLE")]
        deployer: Option<String>,
        /// The deployer's team (`input.request.team`), as their token or
        /// sign-in would name it.
        #[arg(long, value_name = "TEAM")]
        team: Option<String>,
        /// Ask a running host instead (`POST /v1/policy/check`, token in
        /// WARDEN_TOKEN): its policies, the templates set through its API,
        /// the live version's grants and your token's name, role and team.
        /// Nothing is deployed.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Run every `test_*` rule (the `opa test` convention) and report line
    /// coverage of the policies under test.
    #[command(
        after_help = "Examples:\n  warden policy test\n  warden policy test policies/ --threshold 80\n  warden policy test --config /etc/warden/warden.toml --json\n\nWithout DIR: the policies warden.toml names ([policy] paths) and the\ndefault bundle (unless [policy] use_default = false). With DIR: DIR and\nthe default bundle. Exits 1 on a failed test or coverage under --threshold."
    )]
    Test {
        /// A directory (or file) of policies and their tests.
        dir: Option<PathBuf>,
        /// Least line coverage, in percent, to pass.
        #[arg(long, value_name = "PERCENT")]
        threshold: Option<f64>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

pub fn run(cmd: PolicyCommand) -> Outcome {
    match cmd {
        PolicyCommand::Check {
            manifest,
            component,
            deployer,
            team,
            server: Some(server),
            json,
            ..
        } => {
            if deployer.is_some() || team.is_some() {
                return Err(fail(
                    EXIT_USAGE,
                    "--as and --team describe the deployer offline; with --server your token says who you are",
                ));
            }
            check_remote(&server, &manifest, component.as_deref(), json)
        }
        PolicyCommand::Check {
            manifest,
            component,
            deployer,
            team,
            server: None,
            json,
            config,
        } => check(
            &manifest,
            component.as_deref(),
            deployer.as_deref(),
            team,
            json,
            &config.load()?,
        ),
        PolicyCommand::Test {
            dir,
            threshold,
            json,
            config,
        } => test(dir, threshold, json, &config.load()?),
    }
}

fn check(
    manifest_path: &Path,
    component: Option<&Path>,
    deployer: Option<&str>,
    team: Option<String>,
    json: bool,
    platform: &PlatformConfig,
) -> Outcome {
    if let Some(problem) = team
        .as_deref()
        .and_then(warden_runtime::admin::tokens::team_problem)
    {
        return Err(fail(EXIT_USAGE, format!("--team: {problem}")));
    }
    let manifest = AppManifest::load(manifest_path).map_err(|e| fail(EXIT_CONFIG, e))?;
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", manifest_path.display())))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| fail(EXIT_CONFIG, e))?;
    let (who, role) = match deployer {
        Some(spec) => match spec.split_once(':') {
            Some((name, role)) if !name.is_empty() && !role.is_empty() => {
                (name.to_string(), role.to_string())
            }
            _ => {
                return Err(fail(
                    EXIT_USAGE,
                    format!("--as `{spec}`: write NAME:ROLE, e.g. --as ada:creator"),
                ));
            }
        },
        None => (
            manifest
                .app
                .owner
                .clone()
                .or_else(|| std::env::var("USER").ok())
                .unwrap_or_else(|| "you".into()),
            "creator".to_string(),
        ),
    };
    // As a deploy records it: a creator's deploy is owned by the creator.
    let owner = match (&manifest.app.owner, role.as_str()) {
        (Some(owner), _) => Some(owner.clone()),
        (None, "creator") => Some(who.clone()),
        (None, _) => None,
    };
    let bytes = component_bytes(manifest_path, &manifest, component)?;
    let evidence = policy::evidence(&text, bytes.as_deref()).map_err(|e| {
        let path =
            component.map_or_else(|| manifest.component_path(manifest_path), Path::to_path_buf);
        fail(EXIT_CONFIG, format!("{}: {e}", path.display()))
    })?;
    let facts = evidence.facts;
    let bundle = PolicyBundle::load(&platform.policy, &policy::sample_input(platform))
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    let now = chrono::Utc::now();
    let template = manifest
        .app
        .template
        .as_deref()
        .and_then(|t| platform.templates.get(t));
    let document = input::build(
        &input::Publish {
            request: input::PublishRequest {
                who,
                role,
                team,
                time: policy::now_rfc3339(now),
                dry_run: true,
            },
            manifest: &manifest,
            manifest_table: &table,
            owner: owner.as_deref(),
            component: facts.as_ref(),
            template,
            secrets: &evidence.secrets,
            previous: None,
        },
        platform,
    );
    let decision = bundle
        .decide(&manifest.app.name, &document, now)
        .map_err(|e| fail(EXIT_CONFIG, e))?;
    report(
        &manifest,
        &decision,
        facts.as_ref().map(|f| f.sha256.as_str()),
        json,
    )
}

/// The component to judge: `--component`, else the manifest's
/// `app.component` if it has been built (`None`: not built yet, so rules
/// about the component have nothing to read).
fn component_bytes(
    manifest_path: &Path,
    manifest: &AppManifest,
    component: Option<&Path>,
) -> Result<Option<Vec<u8>>, anyhow::Error> {
    let path = component
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.component_path(manifest_path));
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if component.is_some() => Err(fail(
            EXIT_USAGE,
            format!("--component {}: {e}", path.display()),
        )),
        Err(_) => Ok(None),
    }
}

/// `warden policy check --server`: the host decides, with what it knows.
fn check_remote(
    server: &str,
    manifest_path: &Path,
    component: Option<&Path>,
    json: bool,
) -> Outcome {
    let manifest = AppManifest::load(manifest_path).map_err(|e| fail(EXIT_CONFIG, e))?;
    let text = std::fs::read_to_string(manifest_path)
        .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", manifest_path.display())))?;
    let mut body = serde_json::json!({ "manifest": text });
    if let Some(bytes) = component_bytes(manifest_path, &manifest, component)? {
        body["component_sha256"] = serde_json::json!(super::deploy::upload(server, bytes)?);
    }
    let answer = match super::client::call(server, "POST", "/v1/policy/check", Some(body)) {
        Ok((200, answer)) => answer,
        // The host's policy could not decide: as offline, exit 3.
        Ok((422, answer)) => {
            return Err(fail(
                EXIT_CONFIG,
                answer["error"]
                    .as_str()
                    .unwrap_or("the host could not decide"),
            ));
        }
        other => return super::client::report(other),
    };
    let decision: Decision = serde_json::from_value(answer["decision"].clone()).map_err(|e| {
        fail(
            1,
            format!("the host answered without a decision ({e}): {answer}"),
        )
    })?;
    report(&manifest, &decision, answer["component"].as_str(), json)
}

/// Prints a decision (as JSON, or for a person) and exits by its verdict.
fn report(
    manifest: &AppManifest,
    decision: &Decision,
    component: Option<&str>,
    json: bool,
) -> Outcome {
    if json {
        let out = serde_json::json!({
            "app": manifest.app.name,
            "version": manifest.app.version,
            "component": component,
            "decision": decision,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print!("{}", describe(manifest, decision, component.is_some()));
    }
    match decision.verdict {
        Verdict::Refused => Err(quiet(EXIT_REFUSED)),
        Verdict::Held | Verdict::Live => Ok(()),
    }
}

/// The decision for a person: verdict first, then each finding with its
/// manifest path and fix.
fn describe(manifest: &AppManifest, d: &Decision, has_component: bool) -> String {
    let verdict = match d.verdict {
        Verdict::Refused => "refused: fix the findings marked deny",
        Verdict::Held => "would be held for a reviewer",
        Verdict::Live => "would go live",
    };
    let mut out = format!(
        "{} {}: {verdict} (policy revision {})\n",
        manifest.app.name,
        manifest.app.version,
        &d.revision[..12.min(d.revision.len())]
    );
    let line = |out: &mut String, label: &str, f: &policy::Finding| {
        let path = f
            .path
            .as_deref()
            .map(|p| format!("{p}: "))
            .unwrap_or_default();
        out.push_str(&format!("  {label:<15} {path}{}  [{}]\n", f.msg, f.id));
        if !f.remediation.is_empty() {
            out.push_str(&format!("  {:<15} fix: {}\n", "", f.remediation));
        }
    };
    for f in &d.deny {
        line(&mut out, "deny", f);
    }
    for f in &d.needs_approval {
        line(&mut out, "needs approval", f);
    }
    for f in &d.warn {
        line(&mut out, "warn", f);
    }
    for s in &d.dryrun {
        line(&mut out, &format!("dryrun {}", s.set), &s.finding);
    }
    for e in &d.exempted {
        line(&mut out, "exempted", &e.finding);
        out.push_str(&format!(
            "  {:<15} by {} until {} ({})\n",
            "", e.exception.owner, e.exception.expires, e.exception.reason
        ));
    }
    if !has_component {
        out.push_str("  (no component: build it, or pass --component, to judge it too)\n");
    }
    out
}

fn test(
    dir: Option<PathBuf>,
    threshold: Option<f64>,
    json: bool,
    platform: &PlatformConfig,
) -> Outcome {
    let mut settings = platform.policy.clone();
    if let Some(dir) = dir {
        if !dir.exists() {
            return Err(fail(
                EXIT_USAGE,
                format!("{}: no such file or directory", dir.display()),
            ));
        }
        settings.paths = vec![dir];
    }
    let files = policy::bundle::read_files(&settings, true).map_err(|e| fail(EXIT_CONFIG, e))?;
    let report = testing::run(&files).map_err(|e| fail(EXIT_CONFIG, e))?;
    let coverage = report.coverage_percent();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "tests": report.tests,
                "coverage": report.coverage,
                "coverage_percent": coverage,
            }))
            .unwrap_or_default()
        );
    } else {
        for t in &report.tests {
            match &t.failure {
                None => println!("PASS  {}", t.name),
                Some(why) => println!("FAIL  {}: {why}\n      in {}", t.name, t.file),
            }
        }
        for c in &report.coverage {
            println!("coverage {:>5.1}%  {}", c.percent(), c.file);
        }
        println!(
            "{} tests, {} failed; line coverage {coverage:.1}%",
            report.tests.len(),
            report.failed()
        );
    }
    if report.tests.is_empty() {
        return Err(fail(1, "no test_* rules found"));
    }
    if report.failed() > 0 {
        return Err(quiet(1));
    }
    if let Some(min) = threshold
        && coverage < min
    {
        return Err(fail(
            1,
            format!("line coverage {coverage:.1}% is under --threshold {min}"),
        ));
    }
    Ok(())
}
