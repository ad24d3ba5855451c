//! Write a Warden micro app in a few lines.
//!
//! A micro app for the `warden:host/app` world is a type that implements
//! [`Handler`]: bytes (usually JSON) in, bytes out, or an error message.
//! [`export!`] wires it to the component's export. [`log`] writes structured
//! records to the host, which attaches them to the invocation's trace.
//!
//! ```ignore
//! use warden_sdk::{Handler, Json, log};
//!
//! #[derive(serde::Deserialize)]
//! struct Greet { name: String }
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     fn handle(input: Vec<u8>) -> Result<Vec<u8>, String> {
//!         let Json(greet): Json<Greet> = Json::parse(&input)?;
//!         log::info(&format!("greeting {}", greet.name));
//!         Ok(format!("hello, {}", greet.name).into_bytes())
//!     }
//! }
//!
//! warden_sdk::export!(Hello);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2` and run with
//! `warden run app.toml --input '{"name":"Ada"}'`.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../host-apis/wit",
        world: "app",
        pub_export_macro: true,
        export_macro_name: "__export_app",
        default_bindings_module: "warden_sdk::bindings",
        generate_all,
    });
}

pub mod config;
pub mod connectors;
pub mod log;
pub mod reply;
pub mod storage;

/// A micro app's entry point.
pub trait Handler {
    /// Handles one invocation. An `Err` is reported by the host as the app's
    /// own failure (exit status 1 from `warden run`), with this message.
    fn handle(input: Vec<u8>) -> Result<Vec<u8>, String>;
}

/// JSON input and output helpers.
pub struct Json<T>(pub T);

impl<T: serde::de::DeserializeOwned> Json<T> {
    /// Parses the input, with an error message that says what was expected.
    pub fn parse(input: &[u8]) -> Result<Json<T>, String> {
        serde_json::from_slice(input)
            .map(Json)
            .map_err(|e| format!("input is not the expected JSON: {e}"))
    }
}

impl<T: serde::Serialize> Json<T> {
    /// Serializes the value as the handler's output.
    pub fn to_output(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(&self.0).map_err(|e| format!("cannot encode output: {e}"))
    }
}

/// Exports a [`Handler`] as the component's `warden:host/handler`.
#[macro_export]
macro_rules! export {
    ($handler:ident) => {
        impl $crate::bindings::exports::warden::host::handler::Guest for $handler {
            fn handle(input: ::std::vec::Vec<u8>) -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                <$handler as $crate::Handler>::handle(input)
            }
        }
        $crate::bindings::__export_app!($handler with_types_in $crate::bindings);
    };
}
