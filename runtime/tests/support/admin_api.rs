//! The admin API on loopback next to a serving host, with one token per
//! role (named `<role>-user`), and a JSON client for it.
#![allow(dead_code)]

use super::serving::{Running, send_with, start};
use std::net::SocketAddr;
use warden_runtime::admin::AdminState;
use warden_runtime::admin::token_store::NewToken;
use warden_runtime::admin::tokens::{Role, TokenStore};

pub struct Admin {
    pub addr: SocketAddr,
    pub tokens: Vec<(Role, String)>,
    pub running: Running,
    _thread: std::thread::JoinHandle<()>,
    /// Dropping it stops the admin API.
    _stop: tokio::sync::watch::Sender<bool>,
}

/// A host serving `apps` under `config`, with its admin API.
pub fn admin_with(config: &str, apps: &[(&str, std::path::PathBuf, &str)]) -> Admin {
    let running = start(config, apps);
    let runtime = running.server.runtime();
    let tokens: Vec<(Role, String)> = [Role::Creator, Role::Reviewer, Role::Admin, Role::Auditor]
        .into_iter()
        .map(|role| {
            (
                role,
                runtime_token(runtime, &format!("{}-user", role.as_str()), role, None),
            )
        })
        .collect();
    let state = AdminState::new(running.server.clone());
    // The admin API as `warden serve` runs it: its own thread and runtime.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("admin address");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let thread = warden_runtime::admin::listener::spawn(state, listener, None, stopped)
        .expect("admin API thread");
    Admin {
        addr,
        tokens,
        running,
        _thread: thread,
        _stop: stop,
    }
}

impl Admin {
    /// Creates another token (for a second creator or reviewer); a name
    /// that held another role gets this one instead.
    pub fn token(&self, name: &str, role: Role) -> String {
        runtime_token(self.running.server.runtime(), name, role, None)
    }

    /// The token made for `role`.
    pub fn token_of(&self, role: Role) -> String {
        self.tokens
            .iter()
            .find(|(x, _)| *x == role)
            .expect("token")
            .1
            .clone()
    }

    /// Calls the API as `role`'s token (or with none).
    pub fn call(
        &self,
        role: Option<Role>,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let token = role.map(|r| self.token_of(r));
        self.call_with(token.as_deref(), method, path, body)
    }

    /// Calls the API with `token`.
    pub fn call_with(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: &str,
    ) -> (u16, serde_json::Value) {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(auth) = &auth {
            headers.push(("authorization", auth.as_str()));
        }
        let reply = super::block_on(send_with(self.addr, method, path, body, &headers));
        (
            reply.status,
            serde_json::from_str(&reply.body).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// A token for `name` as `role` in `dir` (revoking the name's tokens of
/// another role), valid for a day.
pub fn create_token(dir: &std::path::Path, name: &str, role: Role) -> String {
    create_team_token(dir, name, role, None)
}

/// [`create_token`] for a holder of `team`.
pub fn create_team_token(
    dir: &std::path::Path,
    name: &str,
    role: Role,
    team: Option<&str>,
) -> String {
    issue(&TokenStore::new(dir), name, role, team)
}

/// A token from the store `runtime` uses (its data directory's, or the
/// database its nodes share), valid for a day.
pub fn runtime_token(
    runtime: &warden_runtime::Runtime,
    name: &str,
    role: Role,
    team: Option<&str>,
) -> String {
    issue(&TokenStore::of(runtime), name, role, team)
}

fn issue(store: &TokenStore, name: &str, role: Role, team: Option<&str>) -> String {
    store
        .create(NewToken {
            name,
            role,
            team,
            ttl: None,
            max_ttl: std::time::Duration::from_secs(86_400),
            by: "test",
            replace: true,
        })
        .expect("token")
        .token
}

/// The JSON body of a deploy: an `app.toml` for `name` (version, then
/// `extra` lines in `[app]` and after) and the component at `component`.
/// The `[app]` lines the default publish policy requires (team, cost
/// center, runbook contact) that `extra` does not set itself. The owner is
/// not among them: a creator's deploy is owned by the creator; an admin's
/// names its owner in `extra`.
pub fn accountable(extra: &str) -> String {
    let mut lines = String::new();
    for (key, line) in [
        ("team", "team = \"tools\"\n"),
        ("cost_center", "cost_center = \"cc-1\"\n"),
        (
            "runbook",
            "runbook = { contact = \"oncall@example.com\" }\n",
        ),
    ] {
        if !extra.contains(&format!("{key} =")) {
            lines.push_str(line);
        }
    }
    lines
}

pub fn deploy_body(name: &str, version: &str, component: &std::path::Path, extra: &str) -> String {
    use base64::Engine as _;
    let bytes = std::fs::read(component).expect("component");
    let manifest = format!(
        "[app]\nname = \"{name}\"\nversion = \"{version}\"\ncomponent = \"app.wasm\"\n{}{extra}\n",
        accountable(extra)
    );
    serde_json::json!({
        "manifest": manifest,
        "component": base64::engine::general_purpose::STANDARD.encode(bytes),
    })
    .to_string()
}

/// Calls the admin API at `addr` with `token` (JSON body): the status and
/// the body's text.
pub fn call_as(
    addr: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    super::block_on(send_as(addr, token, method, path, body))
}

/// [`call_as`] from async code.
pub async fn send_as(
    addr: std::net::SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let reply = super::serving::send_with(
        addr,
        method,
        path,
        body,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
        ],
    )
    .await;
    (reply.status, reply.body)
}
