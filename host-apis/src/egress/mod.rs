//! Outbound `wasi:http` from guests.
//!
//! Threat model: a guest that can reach the network can exfiltrate data,
//! leak whatever it has read, and attack internal services (cloud metadata,
//! admin panels on private addresses). Until an app holds an egress grant,
//! every outbound request is refused before any DNS lookup or connection:
//! the guest receives `HTTP-request-denied`, and the host records the
//! denial with the request's scheme and authority (never its path or query,
//! which may carry data).
//!
//! | app grant          | outbound request                     |
//! |--------------------|--------------------------------------|
//! | none (the default) | refused, `egress-denied` recorded     |

pub mod address;
pub mod client;
pub mod config;
pub mod hosts;

use crate::denial::{Denial, DenialLog};
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

/// `wasi:http` hooks for an app with no egress grant: nothing leaves.
pub struct DenyAllEgress {
    denials: DenialLog,
}

impl DenyAllEgress {
    pub fn new(denials: DenialLog) -> Self {
        DenyAllEgress { denials }
    }
}

/// `scheme://authority` of a request: enough to say where it was going
/// without recording the path or query, which may carry data.
pub fn destination_of<B>(request: &http::Request<B>) -> String {
    let uri = request.uri();
    let scheme = uri.scheme_str().unwrap_or("https");
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or("<none>");
    format!("{scheme}://{authority}")
}

type ResponseFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for DenyAllEgress {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> ResponseFuture {
        self.denials
            .record(Denial::HttpEgress, destination_of(&request));
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_keeps_scheme_and_authority_but_not_path_or_query() {
        let request = http::Request::builder()
            .uri("https://api.example.com:8443/v1/users?email=a@b.c")
            .body(())
            .unwrap_or_default();
        assert_eq!(destination_of(&request), "https://api.example.com:8443");
    }
}
