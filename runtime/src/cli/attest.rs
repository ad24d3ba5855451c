//! `warden attest show|key|verify`: signed publish decisions, fetched from
//! a host and checked offline.

use super::client;
use super::exit::{Outcome, fail};
use super::{EXIT_CONFIG, EXIT_USAGE};
use clap::Subcommand;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use warden_runtime::attest;

/// `warden attest verify` of an envelope that does not check out.
pub const EXIT_UNVERIFIED: u8 = 1;

#[derive(Subcommand)]
pub enum AttestCommand {
    /// Print a version's signed decision (a DSSE envelope), from the admin API.
    #[command(
        after_help = "Example:\n  WARDEN_TOKEN=$AUDITOR warden attest show expense-dashboard 1.2.0 > expense-1.2.0.dsse.json"
    )]
    Show {
        app: String,
        version: String,
        #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
        server: String,
    },
    /// Print the public key attestations verify with (PEM), from the admin API.
    #[command(after_help = "Example:\n  WARDEN_TOKEN=... warden attest key > warden-attest.pem")]
    Key {
        #[arg(long, env = "WARDEN_SERVER", default_value = "http://127.0.0.1:8081")]
        server: String,
    },
    /// Check an attestation offline: its signature with the key, and, if
    /// given, that the component and manifest are the ones it names.
    #[command(
        after_help = "Examples:\n  warden attest verify expense-1.2.0.dsse.json --key warden-attest.pem\n  warden attest verify expense-1.2.0.dsse.json --key warden-attest.pem --component app.wasm --manifest app.toml\n  warden attest verify decision.dsse.json --key warden-attest.pem --require-passed\n\nExit status: 0 verified, 1 not verified (the message says why; with\n--require-passed also a decision that did not pass), 2 usage."
    )]
    Verify {
        /// The DSSE envelope (JSON).
        file: PathBuf,
        /// The public key: PEM, or the raw 32 bytes as base64 or hex.
        #[arg(long, value_name = "PUBKEY")]
        key: PathBuf,
        /// A component that must be the one attested.
        #[arg(long, value_name = "FILE")]
        component: Option<PathBuf>,
        /// A manifest that must be the one attested.
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Also fail unless the decision PASSED (live or approved): for a
        /// gate that ships only what was cleared.
        #[arg(long)]
        require_passed: bool,
    },
}

pub fn run(cmd: AttestCommand) -> Outcome {
    match cmd {
        AttestCommand::Show {
            app,
            version,
            server,
        } => {
            let path = format!("/v1/apps/{app}/versions/{version}/attestation");
            match client::call(&server, "GET", &path, None) {
                Ok((200, envelope)) => {
                    println!("{envelope}");
                    Ok(())
                }
                other => client::report(other),
            }
        }
        AttestCommand::Key { server } => {
            match client::call(&server, "GET", "/v1/attestations/key", None) {
                Ok((200, key)) => {
                    print!("{}", key["public_key_pem"].as_str().unwrap_or_default());
                    Ok(())
                }
                other => client::report(other),
            }
        }
        AttestCommand::Verify {
            file,
            key,
            component,
            manifest,
            require_passed,
        } => {
            let result = verify(&file, &key, component.as_deref(), manifest.as_deref())?;
            if require_passed && result != "PASSED" {
                return Err(fail(
                    EXIT_UNVERIFIED,
                    format!(
                        "{}: the signature holds, but the decision is {result}, not PASSED",
                        file.display()
                    ),
                ));
            }
            Ok(())
        }
    }
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| fail(EXIT_USAGE, format!("{what} {}: {e}", path.display())))
}

/// Verifies and prints; returns the verification result (`PASSED`, `FAILED`).
fn verify(
    file: &Path,
    key: &Path,
    component: Option<&Path>,
    manifest: Option<&Path>,
) -> anyhow::Result<String> {
    let envelope: serde_json::Value =
        serde_json::from_slice(&read(file, "attestation")?).map_err(|e| {
            fail(
                EXIT_UNVERIFIED,
                format!("{}: not JSON ({e})", file.display()),
            )
        })?;
    let key_text = String::from_utf8_lossy(&read(key, "--key")?).into_owned();
    let public = attest::parse_public_key(&key_text)
        .map_err(|e| fail(EXIT_CONFIG, format!("--key {}: {e}", key.display())))?;
    let statement = attest::verify(&envelope, &public)
        .map_err(|e| fail(EXIT_UNVERIFIED, format!("{}: {e}", file.display())))?;
    let subject = |name: &str| {
        statement["subject"]
            .as_array()
            .and_then(|s| s.iter().find(|x| x["name"] == name))
            .and_then(|x| x["digest"]["sha256"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    for (given, name) in [(component, "component.wasm"), (manifest, "app.toml")] {
        if let Some(path) = given {
            let digest = hex::encode(Sha256::digest(read(path, name)?));
            let attested = subject(name);
            if digest != attested {
                return Err(fail(
                    EXIT_UNVERIFIED,
                    format!(
                        "{} has SHA-256 {digest}, but the attestation is about {attested}: not the {name} that was decided on",
                        path.display()
                    ),
                ));
            }
        }
    }
    let predicate = &statement["predicate"];
    println!(
        "verified: {} — {} ({}) at {}, policy {}",
        predicate["resourceUri"].as_str().unwrap_or_default(),
        predicate["warden"]["result"].as_str().unwrap_or_default(),
        predicate["verificationResult"].as_str().unwrap_or_default(),
        predicate["timeVerified"].as_str().unwrap_or_default(),
        predicate["policy"]["digest"]["sha256"]
            .as_str()
            .unwrap_or_default(),
    );
    println!("  component.wasm sha256 {}", subject("component.wasm"));
    println!("  app.toml       sha256 {}", subject("app.toml"));
    for review in predicate["warden"]["approvals"]
        .as_array()
        .into_iter()
        .flatten()
    {
        println!(
            "  {} by {} at {}: {}",
            review["outcome"].as_str().unwrap_or_default(),
            review["by"].as_str().unwrap_or_default(),
            review["at"].as_str().unwrap_or_default(),
            review["note"].as_str().unwrap_or_default()
        );
    }
    Ok(predicate["verificationResult"]
        .as_str()
        .unwrap_or_default()
        .to_string())
}
