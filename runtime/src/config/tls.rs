//! `[serve.tls]` in `warden.toml` (the acceptor is built in `crate::serve::tls`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[serve.tls]` in `warden.toml`: the certificate chain (leaf first) and
/// the private key, both PEM files.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}
