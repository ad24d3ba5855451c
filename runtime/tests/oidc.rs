//! OIDC sign-in on the admin API: JWTs from a (test) identity provider,
//! verified against its JWKS from a file or from a JWKS endpoint on
//! loopback, next to Warden's own tokens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::admin_api::{Admin, admin_with};
use warden_runtime::admin::tokens::Role;

/// An Ed25519 signing key and its public JWK.
struct Key {
    pkcs8: Vec<u8>,
    jwk: Value,
}

fn key(kid: &str) -> Key {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    Key {
        pkcs8: pkcs8.as_ref().to_vec(),
        jwk: json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig", "x": x }),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(key: &Key, kid: &str, claims: Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_ed_der(&key.pkcs8)).unwrap()
}

fn claims(name: &str, role: Value) -> Value {
    json!({
        "iss": "https://idp.test",
        "aud": "warden",
        "exp": now() + 300,
        "email": name,
        "warden_role": role,
    })
}

fn host_with_jwks_file(keys: &[&Key]) -> (Admin, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    let set = json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() });
    std::fs::write(&jwks, set.to_string()).unwrap();
    let config = format!(
        "[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\njwks_file = \"{}\"\nname_claim = \"email\"\n",
        jwks.display()
    );
    (admin_with(&config, &[]), dir)
}

fn get(a: &Admin, token: &str, path: &str) -> (u16, Value) {
    a.call_with(Some(token), "GET", path, "")
}

#[test]
fn a_valid_jwt_signs_in_with_its_role_and_name() {
    let k1 = key("k1");
    let (a, _dir) = host_with_jwks_file(&[&k1]);
    let auditor = sign(&k1, "k1", claims("audra@example.com", json!("auditor")));
    assert_eq!(get(&a, &auditor, "/v1/audit").0, 200);
    let creator = sign(&k1, "k1", claims("carl@example.com", json!(["creator"])));
    let (status, out) = get(&a, &creator, "/v1/audit");
    assert_eq!(status, 403, "a creator may not read the audit log: {out}");
    // Warden's own tokens keep working next to OIDC.
    assert_eq!(a.call(Some(Role::Admin), "GET", "/v1/audit", "").0, 200);
    // Actions are audited under the JWT's name.
    let admin = sign(&k1, "k1", claims("ada@example.com", json!("admin")));
    let (status, _) = a.call_with(
        Some(&admin),
        "PUT",
        "/v1/templates/sso-made",
        r#"{"max_class":"public"}"#,
    );
    assert_eq!(status, 200);
    let (_, audit) = get(&a, &auditor, "/v1/audit");
    assert!(
        audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "template.set" && e["actor"] == "token:ada@example.com"),
        "{audit}"
    );
}

#[test]
fn forged_expired_misaddressed_and_roleless_jwts_are_refused_with_the_reason() {
    let k1 = key("k1");
    let impostor = key("k1");
    let (a, _dir) = host_with_jwks_file(&[&k1]);
    let mut expired = claims("ada@example.com", json!("admin"));
    expired["exp"] = json!(now() - 3600);
    let mut elsewhere = claims("ada@example.com", json!("admin"));
    elsewhere["aud"] = json!("another-app");
    let mut other_issuer = claims("ada@example.com", json!("admin"));
    other_issuer["iss"] = json!("https://evil.test");
    let hs256 = jsonwebtoken::encode(
        &Header {
            kid: Some("k1".into()),
            ..Header::new(Algorithm::HS256)
        },
        &claims("ada@example.com", json!("admin")),
        &EncodingKey::from_secret(b"guessable"),
    )
    .unwrap();
    let cases = [
        (
            sign(&impostor, "k1", claims("ada@example.com", json!("admin"))),
            "InvalidSignature",
        ),
        (sign(&k1, "k1", expired), "ExpiredSignature"),
        (sign(&k1, "k1", elsewhere), "InvalidAudience"),
        (sign(&k1, "k1", other_issuer), "InvalidIssuer"),
        (
            sign(&k1, "k9", claims("ada@example.com", json!("admin"))),
            "no key `k9`",
        ),
        (hs256, "InvalidAlgorithm"),
        (
            sign(&k1, "k1", claims("ada@example.com", json!("superuser"))),
            "names no Warden role",
        ),
        (
            sign(
                &k1,
                "k1",
                claims("ada@example.com", json!(["admin", "creator"])),
            ),
            "several Warden roles",
        ),
        ("not.a.jwt".to_string(), "not a JWT"),
    ];
    for (token, reason) in cases {
        let (status, out) = get(&a, &token, "/v1/apps");
        assert_eq!(status, 401, "{reason}: {out}");
        let error = out["error"].as_str().unwrap_or_default();
        assert!(error.contains(reason), "expected `{reason}` in `{error}`");
    }
}

/// A JWKS endpoint on loopback that counts fetches and can rotate keys.
struct Provider {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<Mutex<u32>>,
    _thread: std::thread::JoinHandle<()>,
}

fn provider(initial: Value) -> Provider {
    let keys = Arc::new(Mutex::new(initial));
    let fetches = Arc::new(Mutex::new(0u32));
    let (tx, rx) = std::sync::mpsc::channel();
    let (k, f) = (keys.clone(), fetches.clone());
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/jwks.json",
                axum::routing::get(move || {
                    let (k, f) = (k.clone(), f.clone());
                    async move {
                        *f.lock().unwrap() += 1;
                        axum::Json(k.lock().unwrap().clone())
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = rx.recv().unwrap();
    Provider {
        url: format!("http://{addr}/jwks.json"),
        keys,
        fetches,
        _thread: thread,
    }
}

#[test]
fn the_jwks_is_fetched_once_cached_and_refetched_when_the_provider_rotates_keys() {
    let k1 = key("k1");
    let k2 = key("k2");
    let idp = provider(json!({ "keys": [k1.jwk] }));
    let config = format!(
        "[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\njwks_url = \"{}\"\nname_claim = \"email\"\n",
        idp.url
    );
    let a = admin_with(&config, &[]);
    let token = sign(&k1, "k1", claims("audra@example.com", json!("auditor")));
    for _ in 0..3 {
        assert_eq!(get(&a, &token, "/v1/audit").0, 200);
    }
    assert_eq!(
        *idp.fetches.lock().unwrap(),
        1,
        "cached after the first fetch"
    );
    *idp.keys.lock().unwrap() = json!({ "keys": [k1.jwk, k2.jwk] });
    let rotated = sign(&k2, "k2", claims("audra@example.com", json!("auditor")));
    assert_eq!(
        get(&a, &rotated, "/v1/audit").0,
        200,
        "an unknown kid refetches"
    );
    assert_eq!(*idp.fetches.lock().unwrap(), 2);
    let forged = sign(&k2, "k7", claims("audra@example.com", json!("auditor")));
    for _ in 0..5 {
        assert_eq!(get(&a, &forged, "/v1/audit").0, 401);
    }
    assert_eq!(
        *idp.fetches.lock().unwrap(),
        2,
        "unknown kids refetch at most once every 30 s"
    );
}

#[test]
fn a_config_with_both_or_neither_jwks_source_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.toml");
    for extra in [
        "",
        "jwks_url = \"https://idp.test/jwks\"\njwks_file = \"/x\"\n",
    ] {
        std::fs::write(
            &path,
            format!("[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\n{extra}"),
        )
        .unwrap();
        let err = warden_runtime::config::PlatformConfig::load(&path).expect_err("refused");
        assert_eq!(err.field(), Some("admin.oidc.jwks_url"), "{err}");
    }
}
