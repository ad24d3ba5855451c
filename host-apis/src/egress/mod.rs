//! Outbound HTTP from guests: `wasi:http` requests and connector calls.
//!
//! Threat model: a guest that can reach the network can exfiltrate data,
//! leak whatever it has read, and attack internal services (cloud metadata,
//! admin panels on private addresses). Every outbound request goes through
//! [`governed::EgressState`]: it leaves only to a granted connector
//! (scopes enforced, credential injected by the host) or to an approved
//! `egress.allowed_hosts` entry, within quota, to an address that is not
//! blocked; everything else is refused before any connection, with the
//! refusal recorded (scheme and authority, never the query).
//!
//! | app grant                         | outbound request                        |
//! |-----------------------------------|-----------------------------------------|
//! | none (the default)                | refused, `egress-denied` recorded       |
//! | connector, path in a scope        | sent with the connector's credential    |
//! | connector, path outside scopes    | refused, `scope-denied`                 |
//! | `allowed_hosts` entry             | sent as is                              |

pub mod address;
pub mod client;
pub mod config;
pub mod governed;
pub mod hosts;
pub mod policy;

use crate::denial::Denial;
use bytes::Bytes;
use governed::{CallError, CallRequest, EgressState, Target};
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

type IoFuture = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type ResponseFuture = Box<
    dyn Future<Output = wasmtime_wasi_http::Result<(http::Response<WasiBody>, IoFuture)>> + Send,
>;

fn to_wasi_error(error: CallError) -> wasmtime_wasi_http::Error {
    use wasmtime_wasi_http::Error as E;
    match error {
        CallError::Denied {
            kind: Denial::AddressBlocked,
            ..
        } => E::DestinationIpProhibited,
        CallError::Denied { .. } | CallError::Quota(_) | CallError::OverBudget(_) => {
            E::HttpRequestDenied
        }
        CallError::Timeout(_) => E::HttpResponseTimeout,
        CallError::Upstream(message) => E::InternalError(Some(message)),
    }
}

async fn governed_send(
    egress: EgressState,
    request: http::Request<WasiBody>,
    max_body: u64,
) -> wasmtime_wasi_http::Result<http::Response<WasiBody>> {
    let (parts, mut body) = request.into_parts();
    let scheme = parts
        .uri
        .scheme_str()
        .unwrap_or("https")
        .to_ascii_lowercase();
    let host = parts.uri.host().unwrap_or_default().to_string();
    let port = parts
        .uri
        .port_u16()
        .unwrap_or(if scheme == "http" { 80 } else { 443 });
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut collected = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        if let Some(data) = frame.data_ref() {
            if (collected.len() + data.len()) as u64 > max_body {
                return Err(wasmtime_wasi_http::Error::HttpRequestBodySize(Some(
                    max_body,
                )));
            }
            collected.extend_from_slice(data);
        }
    }
    let call = CallRequest {
        method: parts.method,
        target: Target::Url { scheme, host, port },
        path_and_query,
        headers: parts.headers,
        body: Bytes::from(collected),
    };
    let inbound = egress.perform(call).await.map_err(to_wasi_error)?;
    let mut response = http::Response::builder().status(inbound.status);
    if let Some(headers) = response.headers_mut() {
        *headers = inbound.headers;
        headers.remove(http::header::TRANSFER_ENCODING);
        headers.remove(http::header::CONNECTION);
    }
    let body = Full::new(inbound.body)
        .map_err(|never| match never {})
        .boxed_unsync();
    response
        .body(body)
        .map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
}

impl WasiHttpHooks for EgressState {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: IoFuture,
    ) -> ResponseFuture {
        let egress = self.clone();
        let max_body = egress.max_request_bytes();
        Box::new(async move {
            let response = governed_send(egress, request, max_body).await?;
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}
