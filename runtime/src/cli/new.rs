//! `warden new`: a buildable app that passes the publish policy as
//! scaffolded — a Rust crate, a Python module or a JavaScript module on
//! the Warden SDK of its language, an `app.toml` filled with who answers
//! for it and its template's grants, and a README for its creator.
//! `warden build` builds any of them.

use super::exit::{Outcome, fail};
use super::{ConfigArgs, EXIT_CONFIG, EXIT_USAGE};
use std::path::{Path, PathBuf};
use warden_host_apis::classes::DataClass;
use warden_runtime::config::AppManifest;
use warden_runtime::config::build::Language;
use warden_runtime::registry::Template;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  warden new expense-dashboard --team finance-ops --cost-center CC-1234\n  warden new lunch-bot --lang python\n  warden new crm-reader --lang js --template read-only-dashboard --config /etc/warden/warden.toml\n\nOwner, team and cost center come from the flags, else from git config\n(user.email, warden.team, warden.costCenter); the runbook contact defaults\nto the owner. Then:\n  cd NAME && warden build\n  warden policy check app.toml && warden run app.toml --input hello"
)]
pub struct NewArgs {
    /// The app's name: 1-63 characters of a-z, 0-9 and '-'.
    name: String,
    /// A template in warden.toml whose grants the app starts with.
    #[arg(long)]
    template: Option<String>,
    /// The app's language: rust, python or js.
    #[arg(long, default_value = "rust")]
    lang: String,
    /// Who answers for the app (default: git config user.email).
    #[arg(long)]
    owner: Option<String>,
    /// The team that keeps it (default: git config warden.team).
    #[arg(long)]
    team: Option<String>,
    /// The cost center its usage is charged to (default: git config
    /// warden.costCenter).
    #[arg(long = "cost-center")]
    cost_center: Option<String>,
    /// Who to call when it misbehaves (default: the owner).
    #[arg(long)]
    contact: Option<String>,
    /// Where to create the app's folder (default: here).
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    #[command(flatten)]
    config: ConfigArgs,
}

fn git_config(key: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["config", "--get", key])
        .output()
        .ok()?;
    let value = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !value.is_empty()).then_some(value)
}

/// A flag's value, else git config's, else an error saying both ways.
fn required(
    flag: Option<String>,
    git_key: &str,
    what: &str,
    flag_name: &str,
) -> anyhow::Result<String> {
    flag.or_else(|| git_config(git_key)).ok_or_else(|| {
        fail(
            EXIT_USAGE,
            format!(
                "{what} is required: the publish policy asks every app for it\n  fix: pass {flag_name}, or set it once with `git config --global {git_key} VALUE`"
            ),
        )
    })
}

/// The SDK crate a scaffold depends on: `WARDEN_SDK_DIR`, else the `sdk/`
/// of the Warden source tree this binary was built from.
fn sdk_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::var_os("WARDEN_SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk"));
    dir.join("Cargo.toml")
        .is_file()
        .then(|| dir.canonicalize().unwrap_or(dir.clone()))
        .ok_or_else(|| {
            fail(
                EXIT_CONFIG,
                format!(
                    "the Warden SDK is not at {}\n  fix: set WARDEN_SDK_DIR to the sdk/ folder of a Warden checkout",
                    dir.display()
                ),
            )
        })
}

/// TOML string literal.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub fn run(args: NewArgs) -> Outcome {
    let lang = Language::parse(&args.lang).ok_or_else(|| {
        fail(
            EXIT_USAGE,
            format!(
                "--lang {}: no such language\n  fix: pass --lang rust, --lang python or --lang js",
                args.lang
            ),
        )
    })?;
    let platform = args.config.load()?;
    let template = match &args.template {
        None => None,
        Some(name) => Some(platform.templates.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = platform.templates.keys().map(String::as_str).collect();
            fail(
                EXIT_USAGE,
                format!(
                    "--template {name}: no such template in warden.toml (it has: {})\n  fix: name one of those, or pass --config with the platform's warden.toml",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            )
        })?),
    };
    let owner = required(args.owner, "user.email", "an owner", "--owner")?;
    let team = required(args.team, "warden.team", "a team", "--team")?;
    let cost_center = required(
        args.cost_center,
        "warden.costCenter",
        "a cost center",
        "--cost-center",
    )?;
    let contact = args.contact.unwrap_or_else(|| owner.clone());
    let folder = args.dir.join(&args.name);
    if folder.exists() {
        return Err(fail(
            EXIT_USAGE,
            format!(
                "{} exists; nothing was changed\n  fix: pick another name or --dir",
                folder.display()
            ),
        ));
    }
    // The bucket's class: the template's highest that needs no reviewer.
    let class = template.as_ref().and_then(|t| {
        // Never regulated: the default policy always sends it to review.
        [
            DataClass::Confidential,
            DataClass::Internal,
            DataClass::Public,
        ]
        .into_iter()
        .filter(|c| *c <= t.max_class())
        .find(|c| !platform.storage.rule(*c).approval)
    });
    let manifest = manifest_text(
        lang,
        &args.name,
        &owner,
        &team,
        &cost_center,
        &contact,
        args.template.as_deref(),
        template.as_ref(),
        class,
    );
    // The manifest is checked as Warden will read it, before anything is written.
    AppManifest::parse(Path::new("app.toml"), &manifest).map_err(|e| fail(EXIT_USAGE, e))?;
    let mut files = vec![
        ("app.toml", manifest),
        (
            "README.md",
            readme(
                lang,
                &args.name,
                args.template.as_deref(),
                template.as_ref(),
            ),
        ),
    ];
    match lang {
        Language::Rust => {
            let sdk = sdk_dir()?;
            files.push(("Cargo.toml", cargo_toml(&args.name, &sdk)));
            files.push(("src/lib.rs", lib_rs(&args.name)));
            files.push((".gitignore", "/target\n".to_string()));
        }
        Language::Python => {
            files.push(("app.py", app_py(&args.name)));
            files.push((
                ".gitignore",
                "/target\n/.warden-build\n__pycache__/\n".to_string(),
            ));
        }
        Language::Js => {
            files.push(("app.js", app_js(&args.name)));
            // Types for the editor: `import … from "warden"` resolves to them.
            files.push(("warden.d.ts", super::build::shipped::JS_TYPES.to_string()));
            files.push(("jsconfig.json", JSCONFIG.to_string()));
            files.push((".gitignore", "/target\n/.warden-build\n".to_string()));
        }
    }
    for (path, text) in files {
        let path = folder.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", parent.display())))?;
        }
        std::fs::write(&path, text)
            .map_err(|e| fail(EXIT_CONFIG, format!("{}: {e}", path.display())))?;
    }
    println!("created {} ({})", folder.display(), lang.as_str());
    println!("  cd {} && warden build", folder.display());
    println!("  warden policy check app.toml");
    println!("  warden run app.toml --input hello");
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn manifest_text(
    lang: Language,
    name: &str,
    owner: &str,
    team: &str,
    cost_center: &str,
    contact: &str,
    template_name: Option<&str>,
    template: Option<&Template>,
    class: Option<DataClass>,
) -> String {
    let wasm = name.replace('-', "_");
    let component = match lang {
        Language::Rust => format!("target/wasm32-wasip2/release/{wasm}.wasm"),
        Language::Python | Language::Js => format!("target/{wasm}.wasm"),
    };
    let mut out = format!(
        "# {name}: scaffolded by `warden new`. Every field is explained in the\n# app.toml reference of Warden's README.\n[app]\nname = {}\nversion = \"0.1.0\"\ncomponent = \"{component}\"\ndescription = {}\nowner = {}\nteam = {}\ncost_center = {}\nrunbook = {{ contact = {}, kill_switch = {} }}\n",
        quoted(name),
        quoted(&format!("{name}: a Warden micro app")),
        quoted(owner),
        quoted(team),
        quoted(cost_center),
        quoted(contact),
        quoted(&format!("warden kill {name}")),
    );
    if let (Some(t_name), Some(t)) = (template_name, template) {
        out.push_str(&format!("template = {}\n", quoted(t_name)));
        for c in &t.connectors {
            let scopes: Vec<String> = c.scopes.iter().map(|s| quoted(s)).collect();
            out.push_str(&format!(
                "\n[[connectors]]\nname = {}\nscopes = [{}]\n",
                quoted(&c.name),
                scopes.join(", ")
            ));
        }
        if !t.allowed_hosts.is_empty() {
            let hosts: Vec<String> = t.allowed_hosts.iter().map(|h| quoted(h)).collect();
            out.push_str(&format!(
                "\n[egress]\nallowed_hosts = [{}]\n",
                hosts.join(", ")
            ));
        }
        if let Some(class) = class {
            out.push_str(&format!(
                "\n[[storage]]\nbucket = \"data\"\nclass = \"{class}\"\nttl = \"1d\"\n"
            ));
        }
    }
    out.push_str(&format!(
        "\n[build]                 # how `warden build` builds it\nlanguage = \"{}\"\n",
        lang.as_str()
    ));
    out
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        "[package]\nname = {}\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nwarden-sdk = {{ path = {} }}\n\n# Its own workspace, wherever it is created.\n[workspace]\n\n[profile.release]\nopt-level = \"s\"\nlto = true\nstrip = true\ncodegen-units = 1\n",
        quoted(name),
        quoted(&sdk.display().to_string())
    )
}

fn lib_rs(name: &str) -> String {
    format!(
        r#"//! {name}: a Warden micro app (`warden:host/app`: bytes in, bytes out).
//!
//! Build: `cargo build --release --target wasm32-wasip2`
//! Try:   `warden run app.toml --input hello`
//!
//! The SDK also reaches the connectors, storage buckets and config values
//! `app.toml` asks for (`warden_sdk::connectors`, `warden_sdk::storage`);
//! anything it does not ask for, the host refuses.

use warden_sdk::{{Handler, log}};

struct App;

impl Handler for App {{
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {{
        let text = String::from_utf8(input).map_err(|_| "send UTF-8 text".to_string())?;
        log::info(&format!("{name} got {{}} bytes", text.len()));
        Ok(format!("{name} says: {{text}}\n").into_bytes())
    }}
}}

warden_sdk::export!(App);
"#
    )
}

fn app_py(name: &str) -> String {
    format!(
        r#""""{name}: a Warden micro app in Python (`warden:host/app`: input in, answer out).

Build: `warden build`      Try: `warden run app.toml --input hello`

The SDK (`import warden`) also reaches the connectors, storage buckets and
config values `app.toml` asks for (`warden.connectors`, `warden.Bucket`,
`warden.config`); anything it does not ask for, the host refuses.
"""

import warden
from warden import log


@warden.handler
def handle(request: warden.Request):
    text = request.text
    log.info(f"{name} got {{len(text)}} characters")
    return f"{name} says: {{text}}\n"


Handler = warden.Handler
"#
    )
}

fn app_js(name: &str) -> String {
    format!(
        r#"// {name}: a Warden micro app in JavaScript (`warden:host/app`: input in, answer out).
//
// Build: `warden build`      Try: `warden run app.toml --input hello`
//
// The SDK ("warden", typed in warden.d.ts) also reaches the connectors,
// storage buckets and config values `app.toml` asks for (`connectors`,
// `Bucket`, `config`); anything it does not ask for, the host refuses.

import {{ defineHandler, log }} from "warden";

export const handler = defineHandler(async (request) => {{
  const text = request.text();
  log.info(`{name} got ${{text.length}} characters`);
  return `{name} says: ${{text}}\n`;
}});
"#
    )
}

/// Lets an editor type-check `import … from "warden"` against warden.d.ts.
const JSCONFIG: &str = r#"{
  "compilerOptions": {
    "checkJs": true,
    "module": "es2022",
    "target": "es2022",
    "moduleResolution": "bundler",
    "paths": { "warden": ["./warden.d.ts"] }
  },
  "include": ["*.js", "warden.d.ts"]
}
"#;

fn readme(
    lang: Language,
    name: &str,
    template_name: Option<&str>,
    template: Option<&Template>,
) -> String {
    let grants = match (template_name, template) {
        (Some(t), Some(template)) => {
            let connectors: Vec<String> = template
                .connectors
                .iter()
                .map(|c| format!("`{}` ({})", c.name, c.scopes.join(", ")))
                .collect();
            format!(
                "It starts within what template `{t}` allows — connectors: {}; hosts: {}; storage up to `{}`. `warden policy check app.toml` says whether a deploy would go live or wait for a reviewer (a writing scope on an `hr` or `finance` connector waits); asking for more than the template sends it to review.\n",
                if connectors.is_empty() { "none".to_string() } else { connectors.join(", ") },
                if template.allowed_hosts.is_empty() { "none".to_string() } else { template.allowed_hosts.join(", ") },
                template.max_class()
            )
        }
        _ => "It asks for nothing (no connectors, hosts or storage), so it goes live without a reviewer. Every grant you add in `app.toml` is checked by the platform's policy.\n".to_string(),
    };
    let (language, source) = match lang {
        Language::Rust => ("Rust", "src/lib.rs"),
        Language::Python => ("Python", "app.py"),
        Language::Js => ("JavaScript", "app.js"),
    };
    format!(
        "# {name}\n\nA Warden micro app in {language} ({source}). {grants}\n## Build, check, run, deploy\n\n```sh\nwarden build                                    # the component, with {language}'s toolchain (installed once)\nwarden policy check app.toml                    # what a deploy would get, and why\nwarden run app.toml --input hello               # run it here, under its limits\nWARDEN_TOKEN=... warden deploy app.toml         # publish it to the platform\n```\n\n`app.toml` names who answers for the app (owner, team, cost center, runbook\ncontact): the platform's policy refuses a deploy without them.\n"
    )
}
