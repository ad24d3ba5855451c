//! OIDC sign-in on the admin API: JWTs from a (test) identity provider,
//! verified against its JWKS from a file or from a JWKS endpoint on
//! loopback, next to Warden's own tokens.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use support::admin_api::{Admin, admin_with, deploy_body};
use support::fixture;
use warden_runtime::admin::oidc::{Oidc, OidcSettings};
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
        "email_verified": true,
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
            .any(|e| e["kind"] == "template.set" && e["actor"] == "oidc:ada@example.com"),
        "{audit}"
    );
}

/// The settings of the test provider, reading its keys from `jwks`.
fn settings(jwks: &std::path::Path, name_claim: &str) -> OidcSettings {
    toml::from_str(&format!(
        "issuer = \"https://idp.test\"\naudience = \"warden\"\njwks_file = \"{}\"\nname_claim = \"{name_claim}\"\n",
        jwks.display()
    ))
    .unwrap()
}

fn verify(oidc: &Oidc, token: &str) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(oidc.verify(token)).map(|p| p.name)
}

#[test]
fn forged_expired_early_misaddressed_and_roleless_jwts_get_one_generic_401() {
    let k1 = key("k1");
    let impostor = key("k1");
    let (a, dir) = host_with_jwks_file(&[&k1]);
    let oidc = Oidc::new(settings(&dir.path().join("jwks.json"), "email"));
    let mut expired = claims("ada@example.com", json!("admin"));
    expired["exp"] = json!(now() - 3600);
    let mut early = claims("ada@example.com", json!("admin"));
    early["nbf"] = json!(now() + 3600);
    let mut elsewhere = claims("ada@example.com", json!("admin"));
    elsewhere["aud"] = json!("another-app");
    let mut other_issuer = claims("ada@example.com", json!("admin"));
    other_issuer["iss"] = json!("https://evil.test");
    let mut unverified = claims("ada@example.com", json!("admin"));
    unverified["email_verified"] = json!(false);
    let mut unsaid = claims("ada@example.com", json!("admin"));
    unsaid.as_object_mut().unwrap().remove("email_verified");
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
        (sign(&k1, "k1", early), "ImmatureSignature"),
        (sign(&k1, "k1", elsewhere), "InvalidAudience"),
        (sign(&k1, "k1", other_issuer), "InvalidIssuer"),
        (sign(&k1, "k1", unverified), "is not verified"),
        (sign(&k1, "k1", unsaid), "is not verified"),
        (
            sign(&k1, "k9", claims("ada@example.com", json!("admin"))),
            "no key `k9`",
        ),
        (hs256, "InvalidAlgorithm"),
        (
            sign(&k1, "k1", claims("ada@example.com", json!("superuser"))),
            "names no Warden role",
        ),
        // The identity provider's SCIM credential is a Warden token only.
        (
            sign(&k1, "k1", claims("ada@example.com", json!("scim"))),
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
        // The host's log gets the reason...
        let error = verify(&oidc, &token).expect_err(reason);
        assert!(error.contains(reason), "expected `{reason}` in `{error}`");
        // ...the caller one answer that tells a prober nothing.
        let (status, out) = get(&a, &token, "/v1/apps");
        assert_eq!(status, 401, "{reason}: {out}");
        assert_eq!(
            out["error"], "missing, unknown or invalid bearer token",
            "{reason}"
        );
    }
    // A verified email is the principal, lower-cased (one person, one name).
    let mut shouting = claims("Ada@Example.COM", json!("admin"));
    shouting["email_verified"] = json!("true");
    assert_eq!(
        verify(&oidc, &sign(&k1, "k1", shouting)).unwrap(),
        "ada@example.com"
    );
}

#[test]
fn a_subject_is_qualified_by_its_issuer_and_never_acts_as_a_warden_token_of_that_name() {
    let k1 = key("k1");
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({ "keys": [k1.jwk] }).to_string()).unwrap();
    let mut alice_claims = claims("alice@example.com", json!("creator"));
    alice_claims["sub"] = json!("alice");
    let alice_jwt = sign(&k1, "k1", alice_claims);
    assert_eq!(
        verify(&Oidc::new(settings(&jwks, "sub")), &alice_jwt).unwrap(),
        "https://idp.test#alice"
    );

    let a = admin_with(
        &format!(
            "[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\njwks_file = \"{}\"\n",
            jwks.display()
        ),
        &[],
    );
    let alice_token = a.token("alice", Role::Creator);
    let body = deploy_body("alices-app", "1.0.0", &fixture("noop_handler"), "");
    let (status, out) = a.call_with(Some(&alice_token), "POST", "/v1/apps", &body);
    assert_eq!(status, 201, "{out}");
    let (status, _) = get(&a, &alice_jwt, "/v1/apps/alices-app/versions");
    assert_eq!(status, 404, "the JWT's alice is not the token's alice");
    let next = deploy_body("alices-app", "1.0.1", &fixture("noop_handler"), "");
    let (status, out) = a.call_with(Some(&alice_jwt), "POST", "/v1/apps", &next);
    assert_eq!(status, 403, "{out}");
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("belongs to someone else"),
        "{out}"
    );
}

/// A JWKS endpoint on loopback that counts fetches, can rotate keys and
/// can be down (answering 503).
struct Provider {
    url: String,
    keys: Arc<Mutex<Value>>,
    fetches: Arc<Mutex<u32>>,
    down: Arc<Mutex<bool>>,
    _thread: std::thread::JoinHandle<()>,
}

fn provider(initial: Value) -> Provider {
    let keys = Arc::new(Mutex::new(initial));
    let fetches = Arc::new(Mutex::new(0u32));
    let down = Arc::new(Mutex::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let (k, f, d) = (keys.clone(), fetches.clone(), down.clone());
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/jwks.json",
                axum::routing::get(move || {
                    let (k, f, d) = (k.clone(), f.clone(), d.clone());
                    async move {
                        use axum::response::IntoResponse;
                        *f.lock().unwrap() += 1;
                        if *d.lock().unwrap() {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                        }
                        axum::Json(k.lock().unwrap().clone()).into_response()
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
        down,
        _thread: thread,
    }
}

#[test]
fn the_jwks_is_fetched_once_cached_and_refetched_when_the_provider_rotates_keys() {
    let k1 = key("k1");
    let k2 = key("k2");
    let idp = provider(json!({ "keys": [k1.jwk] }));
    let config = format!(
        "[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\njwks_url = \"{}\"\nname_claim = \"email\"\nallow_http_loopback = true\n",
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
fn a_provider_that_is_down_is_asked_once_per_interval_not_once_per_request() {
    let k1 = key("k1");
    let idp = provider(json!({ "keys": [k1.jwk] }));
    *idp.down.lock().unwrap() = true;
    let config = format!(
        "[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\njwks_url = \"{}\"\nname_claim = \"email\"\nallow_http_loopback = true\n",
        idp.url
    );
    let a = admin_with(&config, &[]);
    let token = sign(&k1, "k1", claims("audra@example.com", json!("auditor")));
    for _ in 0..6 {
        assert_eq!(get(&a, &token, "/v1/audit").0, 401);
    }
    assert_eq!(
        *idp.fetches.lock().unwrap(),
        1,
        "one fetch for six refused requests"
    );
    // Warden's own tokens do not depend on the provider.
    assert_eq!(a.call(Some(Role::Auditor), "GET", "/v1/audit", "").0, 200);
}

#[test]
fn a_config_with_both_or_neither_jwks_source_or_a_plain_http_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.toml");
    for extra in [
        "",
        "jwks_url = \"https://idp.test/jwks\"\njwks_file = \"/x\"\n",
        "jwks_url = \"http://idp.test/jwks\"\n",
        "jwks_url = \"http://idp.test/jwks\"\nallow_http_loopback = true\n",
        "jwks_url = \"http://127.0.0.1:9/jwks\"\n",
    ] {
        std::fs::write(
            &path,
            format!("[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\n{extra}"),
        )
        .unwrap();
        let err = warden_runtime::config::PlatformConfig::load(&path).expect_err(extra);
        assert_eq!(err.field(), Some("admin.oidc.jwks_url"), "{err}");
    }
    for fine in [
        "jwks_url = \"https://idp.test/jwks\"\n",
        "jwks_url = \"http://127.0.0.1:9/jwks\"\nallow_http_loopback = true\n",
        "jwks_url = \"http://[::1]:9/jwks\"\nallow_http_loopback = true\n",
    ] {
        std::fs::write(
            &path,
            format!("[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\n{fine}"),
        )
        .unwrap();
        warden_runtime::config::PlatformConfig::load(&path).expect(fine);
    }
}

#[test]
fn the_host_log_says_why_a_jwt_was_refused_escaped_and_at_most_once_a_second() {
    use support::process::{Host, noop_app};
    let k1 = key("k1");
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({ "keys": [k1.jwk] }).to_string()).unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\njwks_file = \"{}\"\nname_claim = \"email\"\n",
            jwks.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let app = noop_app(dir.path(), "noop", "");
    let mut host = Host::start(
        &data,
        &[
            "--config",
            config.to_str().unwrap(),
            "--app",
            app.to_str().unwrap(),
        ],
    );
    let mut expired = claims("ada@example.com", json!("admin"));
    expired["exp"] = json!(now() - 3600);
    let admin = host.admin_addr();
    let send = |token: &str| {
        let auth = format!("Bearer {token}");
        support::block_on(support::serving::send_with(
            admin,
            "GET",
            "/v1/apps",
            "",
            &[("authorization", auth.as_str())],
        ))
        .status
    };
    assert_eq!(send(&sign(&k1, "k1", expired)), 401);
    assert!(
        host.wait_line(
            "a sign-in was refused: JWT rejected: ExpiredSignature",
            std::time::Duration::from_secs(10)
        ),
        "the reason is in the host's log"
    );
    // A forged `kid` with a line break cannot forge a log line, and a burst
    // of refusals is summed up rather than written one per request.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let started = std::time::Instant::now();
    let forged = sign(
        &k1,
        "k9\nwarden: all is well",
        claims("a@b.c", json!("admin")),
    );
    for _ in 0..20 {
        assert_eq!(send(&forged), 401);
    }
    let seconds = started.elapsed().as_secs();
    let lines = host.stop();
    let refusals: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("a sign-in was refused"))
        .collect();
    assert!(
        !lines.iter().any(|l| l.starts_with("warden: all is well")),
        "{lines:?}"
    );
    assert!(
        refusals
            .iter()
            .any(|l| l.contains("no key `k9\\nwarden: all is well`")),
        "{refusals:?}"
    );
    assert!(
        refusals.len() as u64 <= seconds + 2,
        "{} lines for 21 refusals in {seconds} s: {refusals:?}",
        refusals.len()
    );
}

#[test]
fn a_code_is_exchanged_only_with_its_pkce_verifier_and_a_partial_sign_in_config_is_refused() {
    use sha2::{Digest, Sha256};
    let idp = support::idp::Idp::start(
        "warden-dashboard",
        json!({ "email": "rita@example.com", "email_verified": true, "warden_role": "reviewer" }),
    );
    let config = format!(
        "[admin.oidc]\nissuer = \"{u}\"\naudience = \"warden-dashboard\"\njwks_url = \"{u}/jwks.json\"\nname_claim = \"email\"\nallow_http_loopback = true\nclient_id = \"warden-dashboard\"\nauthorization_endpoint = \"{u}/authorize\"\ntoken_endpoint = \"{u}/token\"\n",
        u = idp.url
    );
    let a = admin_with(&config, &[]);
    let (status, sign_in) = a.call(None, "GET", "/v1/oidc/config", "");
    assert_eq!(status, 200);
    assert_eq!(sign_in["enabled"], true);
    assert_eq!(sign_in["client_id"], "warden-dashboard");
    let idp_addr: std::net::SocketAddr = idp.url.trim_start_matches("http://").parse().unwrap();
    let redirect = "http://127.0.0.1:1/dashboard";
    let code_for = |verifier: &str| {
        let challenge =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
        let reply = support::block_on(support::serving::send_with(
            idp_addr,
            "GET",
            &format!(
                "/authorize?response_type=code&client_id=warden-dashboard&redirect_uri={redirect}&state=s&code_challenge={challenge}&code_challenge_method=S256"
            ),
            "",
            &[],
        ));
        let location = reply.headers["location"].to_str().unwrap().to_string();
        let code = location
            .split("code=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        code.to_string()
    };
    let exchange = |code: &str, verifier: &str| {
        a.call(
            None,
            "POST",
            "/v1/oidc/token",
            &json!({ "code": code, "code_verifier": verifier, "redirect_uri": redirect })
                .to_string(),
        )
    };
    let code = code_for("the-right-verifier-with-enough-characters-43");
    let (status, out) = exchange(&code, "someone-elses-verifier-with-enough-chars-43");
    assert_eq!(status, 401, "{out}");
    assert_eq!(out["error"], "missing, unknown or invalid bearer token");
    assert_eq!(
        idp.seen.lock().unwrap().refused,
        ["code_verifier does not match the challenge"]
    );

    let verifier = "the-right-verifier-with-enough-characters-43";
    let code = code_for(verifier);
    let (status, out) = exchange(&code, verifier);
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["name"], "rita@example.com");
    assert_eq!(out["role"], "reviewer");
    let token = out["id_token"].as_str().unwrap();
    assert_eq!(a.call_with(Some(token), "GET", "/v1/reviews", "").0, 200);
    // One client cannot spend everyone's sign-ins: past the limit, 429.
    let statuses: Vec<u16> = (0..12).map(|_| exchange("junk", "junk").0).collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert!(statuses.iter().take(8).all(|s| *s == 401), "{statuses:?}");

    // Without sign-in configured, the dashboard is told so.
    let plain = admin_with("", &[]);
    let (status, sign_in) = plain.call(None, "GET", "/v1/oidc/config", "");
    assert_eq!((status, sign_in["enabled"].clone()), (200, json!(false)));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.toml");
    std::fs::write(
        &path,
        "[admin.oidc]\nissuer = \"https://idp.test\"\naudience = \"warden\"\njwks_url = \"https://idp.test/jwks\"\nclient_id = \"warden-dashboard\"\n",
    )
    .unwrap();
    let err = warden_runtime::config::PlatformConfig::load(&path).expect_err("partial");
    assert_eq!(err.field(), Some("admin.oidc.client_id"), "{err}");
}

/// With `team_claim`, a sign-in carries its team (a string, or a list of
/// one) to publish policies; a claim naming several teams signs in no one
/// rather than have Warden pick one.
#[test]
fn the_team_claim_gives_a_sign_in_its_team_and_several_teams_are_refused() {
    let k1 = key("k1");
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({ "keys": [k1.jwk] }).to_string()).unwrap();
    let mut with_team = settings(&jwks, "email");
    with_team.team_claim = Some("department".into());
    let oidc = Oidc::new(with_team);
    let team_of = |department: Value| {
        let mut c = claims("ada@example.com", json!("creator"));
        if !department.is_null() {
            c["department"] = department;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(oidc.verify(&sign(&k1, "k1", c)))
            .map(|p| p.team)
    };
    assert_eq!(team_of(json!("payroll")), Ok(Some("payroll".into())));
    assert_eq!(team_of(json!(["payroll"])), Ok(Some("payroll".into())));
    assert_eq!(team_of(Value::Null), Ok(None));
    let several = team_of(json!(["payroll", "it"])).unwrap_err();
    assert!(
        several.contains("`department`") && several.contains("not one team"),
        "{several}"
    );
    let spaced = team_of(json!("pay roll")).unwrap_err();
    assert!(spaced.contains("no spaces"), "{spaced}");
    // Without team_claim the same JWT carries no team.
    let plain = Oidc::new(settings(&jwks, "email"));
    let mut c = claims("ada@example.com", json!("creator"));
    c["department"] = json!("payroll");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(
        rt.block_on(plain.verify(&sign(&k1, "k1", c)))
            .map(|p| p.team),
        Ok(None)
    );
}
