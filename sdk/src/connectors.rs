//! Calling approved connectors. The host adds the credential; your code
//! never holds it, and only the scopes your `app.toml` was granted work.
//!
//! ```ignore
//! let contacts = warden_sdk::connectors::get("crm", "/contacts?limit=10")?;
//! ```

use crate::bindings::warden::host::connectors::call as host_call;
pub use crate::bindings::warden::host::connectors::{Error, Request, Response};
/// A refusal by the platform (`Error::Denied`): its kind and why.
pub use crate::bindings::warden::host::types::{Denial, DenialKind};

/// Sends `request` to `connector`.
pub fn call(connector: &str, request: &Request) -> Result<Response, Error> {
    host_call(connector, request)
}

/// `GET path` on `connector`.
pub fn get(connector: &str, path: &str) -> Result<Response, Error> {
    call(
        connector,
        &Request {
            method: "GET".into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        },
    )
}

/// `POST path` with a JSON body on `connector`.
pub fn post_json(
    connector: &str,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<Response, Error> {
    let body = serde_json::to_vec(body)
        .map_err(|e| Error::Upstream(format!("cannot encode body: {e}")))?;
    call(
        connector,
        &Request {
            method: "POST".into(),
            path: path.into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        },
    )
}
