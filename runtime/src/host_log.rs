//! The host's own log of governance events, through `tracing`: deploys,
//! approvals, rejections, deletes, kills and unkills, and route changes,
//! one line each as they happen, with their facts as fields — so an
//! operator tailing `warden serve` sees what changed, by whom, without
//! reading the audit log. (The audit log stays the record; this is the
//! running commentary.)
//!
//! `warden serve` writes it to stderr; `WARDEN_LOG` filters it with
//! `tracing-subscriber`'s `EnvFilter` syntax (default `info`; e.g.
//! `WARDEN_LOG=warn` for less).

/// Installs the stderr writer for `tracing` events, once per process.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
