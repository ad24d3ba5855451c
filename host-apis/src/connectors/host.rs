use crate::bindings::warden::host::connectors::{Error, Host, Request, Response};
use crate::denial::Denial;
use crate::egress::governed::{CallError, CallRequest, EgressState, Target};

/// A call's failure as the guest receives it: every refusal by the
/// platform is a denial with its kind, never an upstream failure.
fn to_wit(error: CallError) -> Error {
    match error {
        CallError::Denied { kind, reason } => Error::Denied(kind.to_wit(reason)),
        CallError::Quota(q) => Error::QuotaExceeded(q.to_string()),
        CallError::OverBudget(m) => Error::QuotaExceeded(m),
        CallError::Timeout(m) => Error::Timeout(m),
        CallError::Upstream(m) => Error::Upstream(m),
    }
}

impl Host for EgressState {
    async fn call(
        &mut self,
        connector: String,
        request: Request,
    ) -> wasmtime::Result<Result<Response, Error>> {
        let Ok(method) = http::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
        else {
            return Ok(Err(Error::Denied(
                Denial::ScopeDenied.to_wit(format!("`{}` is not an HTTP method", request.method)),
            )));
        };
        let mut headers = http::HeaderMap::new();
        for (name, value) in &request.headers {
            match (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(value),
            ) {
                (Ok(n), Ok(v)) => {
                    headers.append(n, v);
                }
                _ => {
                    return Ok(Err(Error::Upstream(format!(
                        "header `{name}` is not valid"
                    ))));
                }
            }
        }
        let path = if request.path.starts_with('/') {
            request.path
        } else {
            format!("/{}", request.path)
        };
        let call = CallRequest {
            method,
            target: Target::Connector(connector),
            path_and_query: path,
            headers,
            body: request.body.into(),
        };
        Ok(match self.perform(call).await {
            Ok(inbound) => Ok(Response {
                status: inbound.status,
                headers: inbound
                    .headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: inbound.body.to_vec(),
            }),
            Err(e) => Err(to_wit(e)),
        })
    }
}
