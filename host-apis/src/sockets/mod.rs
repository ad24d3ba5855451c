//! `wasi:sockets` for apps with no network grant.
//!
//! Threat model: a guest with sockets can reach anything the host can —
//! internal services, cloud metadata (169.254.169.254), the host's own
//! loopback — and can listen for connections. No app has a socket grant
//! yet, so every use that moves data or accepts connections is refused.
//!
//! | use                                   | decision |
//! |---------------------------------------|----------|
//! | implicit bind to `0.0.0.0:0` / `[::]:0` (TCP or UDP) | allowed: reserves an ephemeral port, moves no data |
//! | any other bind                        | denied   |
//! | TCP connect, listen, accept           | denied   |
//! | UDP send, receive                     | denied   |
//!
//! The implicit bind is allowed only so that the guest's `connect` reaches
//! the check that names its real target (`tcp connect 10.0.0.1:5432`);
//! wasmtime checks listen, accept, send and receive separately, so a bound
//! socket can do nothing. Every denial is recorded with its use and address.

use crate::denial::{Denial, DenialLog};
use std::net::SocketAddr;
use wasmtime_wasi::sockets::SocketAddrUse;

/// The pure decision: may `addr` be used for `use_`?
pub fn permits(addr: SocketAddr, use_: SocketAddrUse) -> bool {
    let ephemeral_any = addr.ip().is_unspecified() && addr.port() == 0;
    matches!(use_, SocketAddrUse::TcpBind | SocketAddrUse::UdpBind) && ephemeral_any
}

fn use_name(use_: SocketAddrUse) -> &'static str {
    match use_ {
        SocketAddrUse::TcpBind => "tcp bind",
        SocketAddrUse::TcpListen => "tcp listen",
        SocketAddrUse::TcpAccept => "tcp accept",
        SocketAddrUse::TcpConnect => "tcp connect",
        SocketAddrUse::UdpBind => "udp bind",
        SocketAddrUse::UdpSend => "udp send",
        SocketAddrUse::UdpReceive => "udp receive",
    }
}

/// Decides and, on denial, records `"<use> <addr>"`.
pub fn check(denials: &DenialLog, addr: SocketAddr, use_: SocketAddrUse) -> bool {
    let allowed = permits(addr, use_);
    if !allowed {
        denials.record(Denial::Socket, format!("{} {addr}", use_name(use_)));
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 1)))
    }

    #[test]
    fn connections_to_any_address_are_denied() {
        for target in [
            "127.0.0.1:9",
            "[::1]:9",
            "169.254.169.254:80",
            "10.0.0.1:5432",
            "93.184.216.34:443",
        ] {
            assert!(
                !permits(addr(target), SocketAddrUse::TcpConnect),
                "{target}"
            );
            assert!(!permits(addr(target), SocketAddrUse::UdpSend), "{target}");
        }
    }

    #[test]
    fn listening_and_accepting_are_denied_even_on_the_ephemeral_bind() {
        assert!(!permits(addr("0.0.0.0:0"), SocketAddrUse::TcpListen));
        assert!(!permits(addr("0.0.0.0:0"), SocketAddrUse::TcpAccept));
        assert!(!permits(addr("0.0.0.0:0"), SocketAddrUse::UdpReceive));
    }

    #[test]
    fn only_the_implicit_ephemeral_bind_is_allowed() {
        assert!(permits(addr("0.0.0.0:0"), SocketAddrUse::TcpBind));
        assert!(permits(addr("[::]:0"), SocketAddrUse::UdpBind));
        assert!(!permits(addr("0.0.0.0:8080"), SocketAddrUse::TcpBind));
        assert!(!permits(addr("127.0.0.1:0"), SocketAddrUse::TcpBind));
    }

    #[test]
    fn denials_name_the_use_and_the_target() {
        let log = DenialLog::default();
        assert!(!check(&log, addr("127.0.0.1:9"), SocketAddrUse::TcpConnect));
        assert!(check(&log, addr("0.0.0.0:0"), SocketAddrUse::TcpBind));
        let records = log.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].target, "tcp connect 127.0.0.1:9");
    }
}
