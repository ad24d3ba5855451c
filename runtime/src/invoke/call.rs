//! Instantiating and calling each world's entry point. One function per
//! world; each returns how the guest ended and what it produced.

use super::classify::CallEnd;
use crate::app::Entry;
use crate::capability::Part;
use crate::host_state::HostState;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry::Context;
use opentelemetry::trace::{TraceContextExt, Tracer};
use opentelemetry_sdk::trace::SdkTracer;
use warden_host_apis::reply::ReplyState;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

/// What one guest call produced.
pub(crate) struct CallResult {
    pub end: CallEnd,
    pub output: Vec<u8>,
    pub http_status: Option<u16>,
    pub http_headers: http::HeaderMap,
    /// The handler's return value or response body was over the cap.
    pub output_over_cap: bool,
}

impl CallResult {
    fn failed(error: wasmtime::Error) -> Self {
        CallResult {
            end: CallEnd::Failed(error),
            output: Vec::new(),
            http_status: None,
            http_headers: http::HeaderMap::new(),
            output_over_cap: false,
        }
    }
}

/// What the call needs besides the store.
pub(crate) struct CallInput<'a> {
    pub input: &'a [u8],
    pub route: &'a str,
    pub max_output: usize,
    pub tracer: &'a SdkTracer,
    pub parent: &'a Context,
    /// Method, path and headers of an HTTP-triggered call.
    pub http: Option<&'a super::HttpParts>,
}

fn phase(call: &CallInput<'_>, name: &'static str) -> Context {
    let span = call.tracer.start_with_context(name, call.parent);
    call.parent.with_span(span)
}

pub(crate) async fn run(
    entry: &Entry,
    store: &mut Store<HostState>,
    call: CallInput<'_>,
) -> CallResult {
    match entry {
        Entry::App(pre) => {
            let span = phase(&call, "instantiate");
            let instance = pre.instantiate_async(&mut *store).await;
            span.span().end();
            let app = match instance {
                Ok(app) => app,
                Err(e) => return CallResult::failed(e),
            };
            let span = phase(&call, "call");
            let result = app
                .warden_host_handler()
                .call_handle(&mut *store, call.input)
                .await;
            span.span().end();
            let reply: ReplyState = std::mem::take(store.data_mut().part());
            let http = call.http.is_some();
            match result {
                Ok(Ok(output)) => {
                    let (http_status, http_headers) = if http {
                        answer(
                            reply.status.unwrap_or(200),
                            reply.content_type,
                            "application/octet-stream",
                        )
                    } else {
                        (None, http::HeaderMap::new())
                    };
                    CallResult {
                        output_over_cap: output.len() > call.max_output,
                        end: CallEnd::Returned(Ok(())),
                        output,
                        http_status,
                        http_headers,
                    }
                }
                Ok(Err(message)) => {
                    // Only a 4xx or 5xx the handler chose shows its message.
                    let (http_status, http_headers) = match reply.status {
                        Some(status) if http && status >= 400 => {
                            answer(status, None, "text/plain; charset=utf-8")
                        }
                        _ => (None, http::HeaderMap::new()),
                    };
                    CallResult {
                        end: CallEnd::Returned(Err(message)),
                        output: Vec::new(),
                        http_status,
                        http_headers,
                        output_over_cap: false,
                    }
                }
                Err(e) => CallResult::failed(e),
            }
        }
        Entry::Command(pre) => {
            let span = phase(&call, "instantiate");
            let instance = pre.instantiate_async(&mut *store).await;
            span.span().end();
            let command = match instance {
                Ok(command) => command,
                Err(e) => return CallResult::failed(e),
            };
            let span = phase(&call, "call");
            let result = command.wasi_cli_run().call_run(&mut *store).await;
            span.span().end();
            let end = match result {
                Ok(Ok(())) => CallEnd::Returned(Ok(())),
                Ok(Err(())) => CallEnd::Returned(Err("main returned an error".into())),
                Err(e) => CallEnd::Failed(e),
            };
            CallResult {
                end,
                output: Vec::new(),
                http_status: None,
                http_headers: http::HeaderMap::new(),
                output_over_cap: false,
            }
        }
        Entry::HttpProxy(pre) => run_proxy(pre, store, call).await,
    }
}

/// The status and headers of a handler's answer over HTTP.
fn answer(
    status: u16,
    content_type: Option<http::HeaderValue>,
    default: &'static str,
) -> (Option<u16>, http::HeaderMap) {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        content_type.unwrap_or(http::HeaderValue::from_static(default)),
    );
    (Some(status), headers)
}

/// Sends one request to a `wasi:http/proxy` component: `GET route`, or
/// `POST route` with the input as body when there is input.
async fn run_proxy(
    pre: &wasmtime_wasi_http::p2::bindings::ProxyPre<HostState>,
    store: &mut Store<HostState>,
    call: CallInput<'_>,
) -> CallResult {
    let body = Full::new(Bytes::copy_from_slice(call.input))
        .map_err::<_, wasmtime_wasi_http::Error>(|never| match never {});
    let mut builder = hyper::Request::builder();
    match call.http {
        Some(parts) => {
            builder = builder
                .method(parts.method.clone())
                .uri(format!("http://localhost{}", parts.path_and_query));
            if let Some(headers) = builder.headers_mut() {
                *headers = parts.headers.clone();
            }
        }
        None => {
            let method = if call.input.is_empty() { "GET" } else { "POST" };
            builder = builder
                .method(method)
                .uri(format!("http://localhost{}", call.route));
        }
    }
    let request = match builder.body(body) {
        Ok(r) => r,
        Err(e) => return CallResult::failed(wasmtime::Error::msg(e.to_string())),
    };
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let span = phase(&call, "instantiate");
    let prepared = async {
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let proxy = pre.instantiate_async(&mut *store).await?;
        wasmtime::Result::Ok((proxy, req, out))
    }
    .await;
    span.span().end();
    let (proxy, req, out) = match prepared {
        Ok(p) => p,
        Err(e) => return CallResult::failed(e),
    };
    let span = phase(&call, "call");
    let max = call.max_output;
    let handle = proxy
        .wasi_http_incoming_handler()
        .call_handle(&mut *store, req, out);
    let read = async move {
        let response = match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(code)) => return Err(format!("the component answered with error {code:?}")),
            Err(_) => return Err("the component did not send a response".to_string()),
        };
        let status = response.status().as_u16();
        let (parts, mut body) = response.into_parts();
        let headers = parts.headers;
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) => {
                    if let Some(data) = frame.data_ref() {
                        if bytes.len() + data.len() > max {
                            return Ok((status, headers, bytes, true));
                        }
                        bytes.extend_from_slice(data);
                    }
                }
                Err(e) => return Err(format!("the response body failed: {e:?}")),
            }
        }
        Ok((status, headers, bytes, false))
    };
    let (handled, read) = handle_then_read(handle, read).await;
    span.span().end();
    if let Err(e) = handled {
        return CallResult::failed(e);
    }
    match read {
        Ok((status, ..)) if !answerable(status) => CallResult {
            end: CallEnd::Returned(Err(format!(
                "the component answered with status {status}; a response must have a final status from 200 to 599"
            ))),
            output: Vec::new(),
            http_status: None,
            http_headers: http::HeaderMap::new(),
            output_over_cap: false,
        },
        Ok((status, headers, output, over)) => CallResult {
            end: CallEnd::Returned(Ok(())),
            output,
            http_status: Some(status),
            http_headers: headers,
            output_over_cap: over,
        },
        Err(message) => CallResult {
            end: CallEnd::Returned(Err(message)),
            output: Vec::new(),
            http_status: None,
            http_headers: http::HeaderMap::new(),
            output_over_cap: false,
        },
    }
}

/// Whether a guest's status can be sent as the final answer. 1xx are
/// interim responses (101 would switch the client's connection to a
/// protocol the host does not speak) and HTTP has no status above 599
/// (RFC 9110, section 15), so those are the app's fault, not an answer.
fn answerable(status: u16) -> bool {
    (200..=599).contains(&status)
}

/// Runs the handler and the response reader together. A handler that
/// fails (a trap, a kill, fuel) ends the call at once: the response
/// outparam it never set is still in the store, so waiting for it would
/// last until the deadline.
async fn handle_then_read<H, R, T>(handle: H, read: R) -> (wasmtime::Result<()>, R::Output)
where
    H: std::future::Future<Output = wasmtime::Result<()>>,
    R: std::future::Future<Output = Result<T, String>>,
{
    tokio::pin!(handle, read);
    let mut handled = None;
    loop {
        tokio::select! {
            result = &mut handle, if handled.is_none() => match result {
                Err(e) => return (Err(e), Err("the handler failed before answering".into())),
                Ok(()) => handled = Some(Ok(())),
            },
            response = &mut read => {
                let handled = match handled {
                    Some(done) => done,
                    None => handle.await,
                };
                return (handled, response);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_final_statuses_from_200_to_599_are_answers() {
        for ok in [200, 204, 301, 404, 500, 599] {
            assert!(answerable(ok), "{ok}");
        }
        for bad in [100, 101, 103, 199, 600, 999] {
            assert!(!answerable(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_handler_that_fails_ends_the_call_without_waiting_for_its_response() {
        let never = std::future::pending::<Result<(), String>>();
        let failing = async { Err(wasmtime::Error::msg("trap")) };
        let (handled, read) = handle_then_read(failing, never).await;
        assert!(handled.is_err());
        assert!(read.is_err());
    }
}
