//! Every publish decision is signed (DSSE, in-toto Statement v1 with a SLSA
//! verification summary) and can be checked offline with the host's public
//! key: live, held then approved, refused; a changed envelope, another key
//! or another component does not verify.

use crate::support;
use std::process::Command;
use support::admin_api::{admin_with, deploy_body};
use support::fixture;
use support::said;
use warden_runtime::admin::tokens::Role;

fn warden(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(args)
        .output()
        .expect("run warden")
}

#[test]
fn decisions_are_signed_and_verify_offline_with_the_hosts_key() {
    let a = admin_with("", &[]);
    let dir = tempfile::tempdir().unwrap();
    let (status, key) = a.call(Some(Role::Auditor), "GET", "/v1/attestations/key", "");
    assert_eq!(status, 200, "{key}");
    let pem = dir.path().join("warden.pem");
    std::fs::write(&pem, key["public_key_pem"].as_str().unwrap()).unwrap();
    let fetch = |app: &str, version: &str| {
        let (status, envelope) = a.call(
            Some(Role::Auditor),
            "GET",
            &format!("/v1/apps/{app}/versions/{version}/attestation"),
            "",
        );
        assert_eq!(status, 200, "{envelope}");
        let path = dir.path().join(format!("{app}-{version}.dsse.json"));
        std::fs::write(&path, envelope.to_string()).unwrap();
        path
    };
    let verify = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "attest",
            "verify",
            file.to_str().unwrap(),
            "--key",
            pem.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        warden(&args)
    };

    // Live at once: PASSED, about exactly this component and manifest.
    let component = fixture("noop_handler");
    let body = deploy_body("plain", "1.0.0", &component, "[http]\nroute = \"/plain\"");
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    assert!(out.get("attestation_error").is_none(), "{out}");
    let live = fetch("plain", "1.0.0");
    let out = verify(&live, &["--component", component.to_str().unwrap()]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains("warden:app/plain@1.0.0 — live (PASSED)"),
        "{}",
        said(&out)
    );
    let other = fixture("kv_app");
    let out = verify(&live, &["--component", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("not the component.wasm that was decided on"),
        "{}",
        said(&out)
    );

    // Held, then approved: signed again with the review in its history.
    let body = deploy_body(
        "reader",
        "1.0.0",
        &component,
        "[http]\nroute = \"/reader\"\n[egress]\nallowed_hosts = [\"https://api.example.com\"]",
    );
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 202, "{out}");
    let held = fetch("reader", "1.0.0");
    let statement = support::attested(&held);
    assert_eq!(statement["predicate"]["warden"]["result"], "held");
    assert_eq!(statement["predicate"]["verificationResult"], "FAILED");
    let (status, out) = a.call(
        Some(Role::Reviewer),
        "POST",
        "/v1/apps/reader/approve",
        r#"{"note":"api.example.com is the vendor's API"}"#,
    );
    assert_eq!(status, 200, "{out}");
    let approved = fetch("reader", "1.0.0");
    let out = verify(&approved, &[]);
    assert!(out.status.success(), "{}", said(&out));
    let text = said(&out);
    assert!(text.contains("approved (PASSED)"), "{text}");
    assert!(
        text.contains("approved by token:reviewer-user") && text.contains("vendor's API"),
        "{text}"
    );
    let statement = support::attested(&approved);
    assert_eq!(
        statement["predicate"]["warden"]["decision"]["needs_approval"][0]["id"], "outside-template",
        "the approval keeps the decision it rests on"
    );

    // Refused: signed too.
    let body = serde_json::json!({
        "manifest": "[app]\nname = \"nameless\"\nversion = \"1.0.0\"\ncomponent = \"app.wasm\"\n",
        "component": base64_of(&component),
    })
    .to_string();
    let (status, out) = a.call(Some(Role::Creator), "POST", "/v1/apps", &body);
    assert_eq!(status, 422, "{out}");
    let refused = fetch("nameless", "1.0.0");
    assert_eq!(
        support::attested(&refused)["predicate"]["warden"]["result"],
        "refused"
    );
    // A gate that ships only cleared versions: the signature holds, the
    // decision did not pass.
    let out = verify(&refused, &["--require-passed"]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(said(&out).contains("not PASSED"), "{}", said(&out));
    let out = verify(&approved, &["--require-passed"]);
    assert!(out.status.success(), "{}", said(&out));

    // A changed payload, or another key, does not verify.
    let mut envelope: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&refused).unwrap()).unwrap();
    let mut statement = support::attested(&refused);
    statement["predicate"]["warden"]["result"] = serde_json::json!("live");
    statement["predicate"]["verificationResult"] = serde_json::json!("PASSED");
    envelope["payload"] = serde_json::json!(base64_text(&statement.to_string()));
    let forged = dir.path().join("forged.dsse.json");
    std::fs::write(&forged, envelope.to_string()).unwrap();
    let out = verify(&forged, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
    assert!(
        said(&out).contains("signature does not verify"),
        "{}",
        said(&out)
    );
    let stranger = dir.path().join("stranger.pem");
    std::fs::write(&stranger, hex_key()).unwrap();
    let out = warden(&[
        "attest",
        "verify",
        live.to_str().unwrap(),
        "--key",
        stranger.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", said(&out));
}

fn base64_of(path: &std::path::Path) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}

fn base64_text(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// Some other Ed25519 public key, as hex.
fn hex_key() -> String {
    use ring::signature::KeyPair as _;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    pair.public_key()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
