//! How an HTTP-triggered handler answers besides its body.
//!
//! By default a handler's `Ok(body)` is answered `200` as
//! `application/octet-stream`, and its `Err(message)` `500` with a generic
//! body (the message goes to the trace, not to the caller). Use
//! [`content_type`] and [`status`] to answer otherwise, and [`refuse`] for
//! a failure the caller should read, such as bad input:
//!
//! ```ignore
//! fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
//!     let Ok(Json(order)) = Json::<Order>::parse(&input) else {
//!         return Err(warden_sdk::reply::refuse(400, "send {\"dish\": \"…\"}"));
//!     };
//!     warden_sdk::reply::content_type("application/json");
//!     Json(receipt(order)).to_output()
//! }
//! ```
//!
//! Outside an HTTP trigger (`warden run`, a schedule) these change nothing.

use crate::bindings::warden::host::reply;

/// Answers with `status` (200-599). Errors: a status outside that range.
pub fn status(status: u16) -> Result<(), String> {
    reply::set_status(status)
}

/// Answers with this `content-type`, e.g. `"application/json"`. Errors: a
/// value that is not a valid header value, or longer than 256 bytes.
pub fn content_type(value: &str) -> Result<(), String> {
    reply::set_content_type(value)
}

/// A failure the caller reads: sets `status` (400-599) and returns
/// `message`, to return as the handler's `Err` — the answer is `status`
/// with `message` as its `text/plain` body. A status below 400 becomes
/// 500, still with `message` as the body.
pub fn refuse(status: u16, message: &str) -> String {
    let _ = reply::set_status(if status >= 400 { status } else { 500 });
    message.to_string()
}
