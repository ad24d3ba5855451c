//! A small OpenID provider on loopback for sign-in tests: `/authorize`
//! signs in one fixed person at once and sends the browser back with a
//! code; `/token` gives the ID token for that code only with the PKCE
//! verifier that matches the challenge (S256, RFC 7636), the same client
//! and redirect URI; `/jwks.json` publishes its Ed25519 key.
#![allow(dead_code)]

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What the provider saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Code exchanges that passed every check.
    pub exchanged: u32,
    /// Code exchanges refused, with why.
    pub refused: Vec<String>,
}

struct Pending {
    challenge: String,
    client_id: String,
    redirect_uri: String,
}

pub struct Idp {
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
    _thread: std::thread::JoinHandle<()>,
}

const KID: &str = "idp-key-1";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Idp {
    /// Starts a provider that signs in `claims` (merged into iss, aud, exp).
    pub fn start(client_id: &str, claims: Value) -> Idp {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .expect("key")
            .as_ref()
            .to_vec();
        let public = Ed25519KeyPair::from_pkcs8(&pkcs8)
            .expect("key")
            .public_key()
            .as_ref()
            .to_vec();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let codes: Arc<Mutex<HashMap<String, Pending>>> = Arc::default();
        let (issuer, client, seen_ref) = (url.clone(), client_id.to_string(), seen.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            rt.block_on(async move {
                let jwk = json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "kid": KID, "use": "sig", "x": b64(&public) }] });
                let authorize_codes = codes.clone();
                let app = axum::Router::new()
                    .route("/jwks.json", axum::routing::get(move || {
                        let jwk = jwk.clone();
                        async move { axum::Json(jwk) }
                    }))
                    .route("/authorize", axum::routing::get(
                        move |axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| {
                            let codes = authorize_codes.clone();
                            async move {
                                let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
                                let code = b64(&rand_bytes());
                                codes.lock().unwrap().insert(code.clone(), Pending {
                                    challenge: q.get("code_challenge").cloned().unwrap_or_default(),
                                    client_id: q.get("client_id").cloned().unwrap_or_default(),
                                    redirect_uri: redirect.clone(),
                                });
                                let state = q.get("state").cloned().unwrap_or_default();
                                let method_ok = q.get("code_challenge_method").map(String::as_str) == Some("S256");
                                let target = if method_ok {
                                    format!("{redirect}?code={code}&state={state}")
                                } else {
                                    format!("{redirect}?error=invalid_request&state={state}")
                                };
                                (axum::http::StatusCode::FOUND, [(axum::http::header::LOCATION, target)])
                            }
                        },
                    ))
                    .route("/token", axum::routing::post(move |body: axum::body::Bytes| {
                        let (codes, seen) = (codes.clone(), seen_ref.clone());
                        let (issuer, client, claims, pkcs8) = (issuer.clone(), client.clone(), claims.clone(), pkcs8.clone());
                        async move {
                            let form: HashMap<String, String> =
                                url::form_urlencoded::parse(&body).into_owned().collect();
                            let field = |k: &str| form.get(k).cloned().unwrap_or_default();
                            let pending = codes.lock().unwrap().remove(&field("code"));
                            let verified = pending.as_ref().map(|p| {
                                let challenge = b64(&Sha256::digest(field("code_verifier").as_bytes()));
                                if field("grant_type") != "authorization_code" {
                                    Err("grant_type")
                                } else if challenge != p.challenge {
                                    Err("code_verifier does not match the challenge")
                                } else if field("client_id") != p.client_id || p.client_id != client {
                                    Err("client_id")
                                } else if field("redirect_uri") != p.redirect_uri {
                                    Err("redirect_uri")
                                } else {
                                    Ok(())
                                }
                            });
                            match verified {
                                Some(Ok(())) => {
                                    seen.lock().unwrap().exchanged += 1;
                                    let mut all = json!({
                                        "iss": issuer,
                                        "aud": client,
                                        "exp": now() + 300,
                                        "iat": now(),
                                    });
                                    for (k, v) in claims.as_object().cloned().unwrap_or_default() {
                                        all[k] = v;
                                    }
                                    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
                                    header.kid = Some(KID.into());
                                    let token = jsonwebtoken::encode(
                                        &header,
                                        &all,
                                        &jsonwebtoken::EncodingKey::from_ed_der(&pkcs8),
                                    )
                                    .expect("sign");
                                    axum::Json(json!({ "id_token": token, "token_type": "Bearer", "expires_in": 300 }))
                                        .into_response_parts()
                                }
                                other => {
                                    let why = match other {
                                        Some(Err(why)) => why.to_string(),
                                        _ => "unknown code".to_string(),
                                    };
                                    seen.lock().unwrap().refused.push(why);
                                    (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({ "error": "invalid_grant" })))
                                        .into_response_parts()
                                }
                            }
                        }
                    }));
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                axum::serve(listener, app).await.expect("serve");
            });
        });
        Idp {
            url,
            seen,
            _thread: thread,
        }
    }
}

trait IntoParts {
    fn into_response_parts(self) -> axum::response::Response;
}

impl<T: axum::response::IntoResponse> IntoParts for T {
    fn into_response_parts(self) -> axum::response::Response {
        self.into_response()
    }
}

fn rand_bytes() -> [u8; 16] {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).expect("random");
    bytes
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
}
