//! `warden:host/reply`: the status and content type an HTTP-triggered
//! `warden:host/app` handler answers with (see the WIT for the rules).

use crate::bindings::warden::host::reply::Host;
use wasmtime::component::{HasSelf, Linker};

/// Longest `content-type` accepted, in bytes.
const MAX_CONTENT_TYPE: usize = 256;

/// What the handler asked for; read after the call.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplyState {
    pub status: Option<u16>,
    pub content_type: Option<http::HeaderValue>,
}

impl Host for ReplyState {
    fn set_status(&mut self, status: u16) -> wasmtime::Result<Result<(), String>> {
        if !(200..=599).contains(&status) {
            return Ok(Err(format!(
                "status {status} is not one a handler may answer with (200-599)"
            )));
        }
        self.status = Some(status);
        Ok(Ok(()))
    }

    fn set_content_type(&mut self, value: String) -> wasmtime::Result<Result<(), String>> {
        if value.len() > MAX_CONTENT_TYPE {
            return Ok(Err(format!(
                "a content type has at most {MAX_CONTENT_TYPE} bytes"
            )));
        }
        match http::HeaderValue::from_str(&value) {
            Ok(v) => {
                self.content_type = Some(v);
                Ok(Ok(()))
            }
            Err(_) => Ok(Err(format!("`{value}` is not a valid header value"))),
        }
    }
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut ReplyState,
) -> wasmtime::Result<()> {
    crate::bindings::warden::host::reply::add_to_linker::<T, HasSelf<ReplyState>>(linker, get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_content_types_are_checked() {
        let mut reply = ReplyState::default();
        assert!(matches!(reply.set_status(99), Ok(Err(_))));
        assert!(matches!(reply.set_status(600), Ok(Err(_))));
        assert!(matches!(reply.set_status(400), Ok(Ok(()))));
        assert!(matches!(reply.set_content_type("a\\nb".into()), Ok(Ok(()))));
        assert!(matches!(
            reply.set_content_type("bad\nvalue".into()),
            Ok(Err(_))
        ));
        assert!(matches!(
            reply.set_content_type("x".repeat(300)),
            Ok(Err(_))
        ));
        assert!(matches!(
            reply.set_content_type("application/json".into()),
            Ok(Ok(()))
        ));
        assert_eq!(reply.status, Some(400));
    }
}
