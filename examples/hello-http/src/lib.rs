//! Hello over HTTP: a plain `wasi:http/proxy` component.
//!
//! Shows: a standard WASI HTTP handler — built with the `wasip2` crate, no
//! Warden SDK — running unchanged under Warden's governance. It greets the
//! caller by the path below its route (`/hello/ada` → "hello, ada").
//!
//! Run it:
//! ```sh
//! warden run examples/hello-http/app.toml
//! ```

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Hello;

impl Guest for Hello {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let name = path
            .trim_start_matches('/')
            .strip_prefix("hello")
            .unwrap_or("")
            .trim_start_matches('/')
            .split(['?', '/'])
            .next()
            .filter(|n| !n.is_empty())
            .unwrap_or("world");
        let body_text = format!("hello, {name}\n");

        let headers = Fields::new();
        let _ = headers.set("content-type", &[b"text/plain; charset=utf-8".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(200);
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(stream) = body.write() {
            let _ = stream.blocking_write_and_flush(body_text.as_bytes());
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

wasip2::http::proxy::export!(Hello);
