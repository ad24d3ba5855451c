//! What the sandbox refused, recorded per invocation.
//!
//! Denials are returned to the guest as ordinary errors (a socket that cannot
//! connect, an HTTP request that is refused), so the guest can carry on; the
//! host additionally keeps a record so the operator sees *why* in the trace
//! and the usage report. Records hold the kind and the target the guest
//! asked for — never payloads, never credentials.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A refused effect. `as_str` is the stable name used in traces and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Denial {
    /// A socket bind or connect: no network grant exists for this app.
    Socket,
    /// An outbound `wasi:http` request: no egress grant matches.
    HttpEgress,
    /// A connector the app has no grant for.
    NotGranted,
    /// A connector request outside every granted scope.
    ScopeDenied,
    /// A destination address in a blocked range (private, metadata, ...).
    AddressBlocked,
    /// Data of a class the destination is not cleared for.
    ClassViolation,
    /// Sensitive values (DLP patterns) the destination may not receive.
    DlpBlocked,
    /// The app was killed: nothing leaves, no credential is used.
    Killed,
}

impl Denial {
    pub fn as_str(self) -> &'static str {
        match self {
            Denial::Socket => "socket-denied",
            Denial::HttpEgress => "egress-denied",
            Denial::NotGranted => "not-granted",
            Denial::ScopeDenied => "scope-denied",
            Denial::AddressBlocked => "address-blocked",
            Denial::ClassViolation => "class-violation",
            Denial::DlpBlocked => "dlp-blocked",
            Denial::Killed => "killed",
        }
    }

    /// The denial as a guest receives it (`warden:host/types.denial`): the
    /// one mapping from Warden's kinds to the WIT's, for every interface.
    pub fn to_wit(self, message: String) -> crate::bindings::warden::host::types::Denial {
        use crate::bindings::warden::host::types::DenialKind as Kind;
        let kind = match self {
            Denial::Socket | Denial::NotGranted => Kind::NotGranted,
            Denial::HttpEgress => Kind::EgressDenied,
            Denial::ScopeDenied => Kind::ScopeDenied,
            Denial::AddressBlocked => Kind::AddressBlocked,
            Denial::ClassViolation => Kind::ClassViolation,
            Denial::DlpBlocked => Kind::DlpBlocked,
            Denial::Killed => Kind::Killed,
        };
        crate::bindings::warden::host::types::Denial { kind, message }
    }

    /// The kind a guest received, back as Warden's (for traces). Socket
    /// refusals never reach a guest as a WIT denial, so
    /// `not-granted` is read as such.
    pub fn from_wit(kind: crate::bindings::warden::host::types::DenialKind) -> Denial {
        use crate::bindings::warden::host::types::DenialKind as Kind;
        match kind {
            Kind::NotGranted => Denial::NotGranted,
            Kind::EgressDenied => Denial::HttpEgress,
            Kind::ScopeDenied => Denial::ScopeDenied,
            Kind::AddressBlocked => Denial::AddressBlocked,
            Kind::ClassViolation => Denial::ClassViolation,
            Kind::DlpBlocked => Denial::DlpBlocked,
            Kind::Killed => Denial::Killed,
        }
    }

    /// Why it was refused and what to do, for the person reading `warden
    /// run`'s output: each kind says its own reason.
    pub fn explain(self) -> &'static str {
        match self {
            Denial::Socket => {
                "apps get no sockets; reach the network through [egress] allowed_hosts or a connector"
            }
            Denial::HttpEgress => {
                "the destination is not in the app's [egress] allowed_hosts; add it there (a reviewer may need to approve it)"
            }
            Denial::NotGranted => {
                "the app has no grant for it; ask for it in app.toml (a reviewer may need to approve it)"
            }
            Denial::ScopeDenied => {
                "the request is outside every scope the app was granted (or its path is unsafe, e.g. `..`); ask for the scope that covers it in app.toml"
            }
            Denial::AddressBlocked => {
                "the destination resolves to an address the platform blocks (private, loopback, cloud metadata); the platform team decides [egress] allow_cidrs"
            }
            Denial::ClassViolation => {
                "the invocation holds data of a class this destination is not cleared for; keep that data away from it"
            }
            Denial::DlpBlocked => {
                "the data carried sensitive values the platform's DLP rules block for this destination"
            }
            Denial::Killed => "an operator stopped the app (warden unkill lets it run again)",
        }
    }
}

/// One refused effect and what it was aimed at (`10.0.0.1:80`, `https://x.y`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialRecord {
    pub kind: Denial,
    pub target: String,
}

/// Shared, append-only list of this invocation's denials. Cloned into the
/// closures WASI calls back (socket checks), so it is behind a mutex; it is
/// touched only on the denial path.
#[derive(Debug, Clone, Default)]
pub struct DenialLog {
    records: Arc<Mutex<Vec<DenialRecord>>>,
    /// Whether the guest asked for its preopened directories (and got
    /// none). Not a denial: every Python and JavaScript runtime asks as it
    /// starts, and the answer refuses nothing; a file the guest then tries
    /// to open fails inside the guest, without reaching the host. Reported
    /// in the invocation's usage (`looked_for_files`).
    file_lookup: Arc<AtomicBool>,
}

/// At most this many denials are kept per invocation; a guest retrying in a
/// loop must not grow host memory. Later ones are not kept.
const MAX_KEPT: usize = 64;

impl DenialLog {
    /// Notes that the guest looked for host directories.
    pub fn note_file_lookup(&self) {
        self.file_lookup.store(true, Ordering::Relaxed);
    }

    /// Whether the guest looked for host directories.
    pub fn looked_for_files(&self) -> bool {
        self.file_lookup.load(Ordering::Relaxed)
    }

    pub fn record(&self, kind: Denial, target: impl Into<String>) {
        if let Ok(mut records) = self.records.lock()
            && records.len() < MAX_KEPT
        {
            records.push(DenialRecord {
                kind,
                target: target.into(),
            });
        }
    }

    pub fn records(&self) -> Vec<DenialRecord> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.records.lock().map(|r| r.is_empty()).unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_kept_in_order_and_capped() {
        let log = DenialLog::default();
        for i in 0..100 {
            log.record(Denial::Socket, format!("10.0.0.{i}:80"));
        }
        let records = log.records();
        assert_eq!(records.len(), MAX_KEPT);
        assert_eq!(records[0].target, "10.0.0.0:80");
        assert_eq!(records[0].kind.as_str(), "socket-denied");
    }
}

#[cfg(test)]
mod wit_tests {
    use super::*;

    #[test]
    fn every_kind_a_guest_can_receive_maps_back_to_itself() {
        for kind in [
            Denial::NotGranted,
            Denial::HttpEgress,
            Denial::ScopeDenied,
            Denial::AddressBlocked,
            Denial::ClassViolation,
            Denial::DlpBlocked,
            Denial::Killed,
        ] {
            let wit = kind.to_wit("why".into());
            assert_eq!(Denial::from_wit(wit.kind), kind, "{}", kind.as_str());
            assert_eq!(wit.message, "why");
        }
        // Sockets and files are refused by WASI itself; as a WIT kind they
        // read as not granted.
        assert_eq!(
            Denial::from_wit(Denial::Socket.to_wit(String::new()).kind),
            Denial::NotGranted
        );
    }
}
