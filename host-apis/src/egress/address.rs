//! Which IP addresses an app may connect to.
//!
//! Threat model: a guest (or a DNS answer it controls) steering the host to
//! internal services — cloud metadata endpoints, the host's own loopback
//! admin API, databases on private ranges. Every address that is not
//! globally routable is blocked unless `warden.toml` allows a CIDR that
//! contains it (`egress.allow_cidrs`). The check runs on the address the
//! host is about to connect to, after the single DNS resolution, so a name
//! that resolves to a private address is blocked like the literal.
//!
//! | range                                    | class          |
//! |------------------------------------------|----------------|
//! | 169.254.169.254, fd00:ec2::254           | metadata       |
//! | 127.0.0.0/8, ::1                         | loopback       |
//! | 10/8, 172.16/12, 192.168/16              | private        |
//! | 100.64.0.0/10                            | cgnat          |
//! | 169.254.0.0/16, fe80::/10                | link-local     |
//! | fc00::/7                                 | ula            |
//! | ::ffff:0:0/96, ::/96, 64:ff9b::/96, 2002::/16, 2001::/32 | ipv4-embedded |
//! | 0/8, ::, 255.255.255.255, 224/4, ff00::/8, 240/4, 192.0.0/24, 198.18/15, documentation ranges | reserved |
//! | everything else                          | public         |

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Public,
    Metadata,
    Loopback,
    Private,
    Cgnat,
    LinkLocal,
    Ula,
    Ipv4Embedded,
    Reserved,
}

impl AddressClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressClass::Public => "public",
            AddressClass::Metadata => "metadata",
            AddressClass::Loopback => "loopback",
            AddressClass::Private => "private",
            AddressClass::Cgnat => "cgnat",
            AddressClass::LinkLocal => "link-local",
            AddressClass::Ula => "ula",
            AddressClass::Ipv4Embedded => "ipv4-embedded",
            AddressClass::Reserved => "reserved",
        }
    }
}

const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip == METADATA_V4 {
        AddressClass::Metadata
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private() {
        AddressClass::Private
    } else if a == 100 && (64..128).contains(&b) {
        AddressClass::Cgnat
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if a == 0
        || ip.is_broadcast()
        || ip.is_multicast()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || ip.is_documentation()
    {
        AddressClass::Reserved
    } else {
        AddressClass::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let seg = ip.segments();
    if ip == METADATA_V6 {
        AddressClass::Metadata
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_unspecified() || ip.is_multicast() || (seg[0] == 0x2001 && seg[1] == 0x0db8) {
        AddressClass::Reserved
    } else if ip.to_ipv4_mapped().is_some()
        || (seg[0..6] == [0; 6])
        || (seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0; 4])
        || seg[0] == 0x2002
        || (seg[0] == 0x2001 && seg[1] == 0)
    {
        AddressClass::Ipv4Embedded
    } else if (seg[0] & 0xfe00) == 0xfc00 {
        AddressClass::Ula
    } else if (seg[0] & 0xffc0) == 0xfe80 {
        AddressClass::LinkLocal
    } else {
        AddressClass::Public
    }
}

/// Why a connection to an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub class: AddressClass,
}

/// The decision: public addresses pass; any other class passes only inside
/// an explicitly allowed CIDR.
pub fn permits(ip: IpAddr, allow_cidrs: &[IpNet]) -> Result<(), Blocked> {
    let class = classify(ip);
    if class == AddressClass::Public || allow_cidrs.iter().any(|net| net.contains(&ip)) {
        Ok(())
    } else {
        Err(Blocked { class })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    #[test]
    fn internal_addresses_are_blocked_by_default() {
        let cases = [
            ("169.254.169.254", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "cgnat"),
            ("100.127.255.254", "cgnat"),
            ("169.254.10.10", "link-local"),
            ("fe80::1", "link-local"),
            ("fd12:3456::1", "ula"),
            ("fc00::1", "ula"),
            ("::ffff:127.0.0.1", "ipv4-embedded"),
            ("::ffff:8.8.8.8", "ipv4-embedded"),
            ("::127.0.0.1", "ipv4-embedded"),
            ("64:ff9b::a00:1", "ipv4-embedded"),
            ("2002:a00:1::1", "ipv4-embedded"),
            ("0.0.0.0", "reserved"),
            ("::", "reserved"),
            ("255.255.255.255", "reserved"),
            ("224.0.0.1", "reserved"),
            ("198.18.0.1", "reserved"),
            ("192.0.2.1", "reserved"),
        ];
        for (addr, class) in cases {
            let result = permits(ip(addr), &[]);
            assert_eq!(result.map_err(|b| b.class.as_str()), Err(class), "{addr}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert_eq!(permits(ip(addr), &[]), Ok(()), "{addr}");
        }
    }

    #[test]
    fn an_explicit_cidr_allows_exactly_its_range() {
        let allow: Vec<IpNet> = ["127.0.0.1/32", "10.20.0.0/16"]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        assert_eq!(permits(ip("127.0.0.1"), &allow), Ok(()));
        assert!(permits(ip("127.0.0.2"), &allow).is_err());
        assert_eq!(permits(ip("10.20.3.4"), &allow), Ok(()));
        assert!(permits(ip("10.21.0.1"), &allow).is_err());
        assert!(permits(ip("169.254.169.254"), &allow).is_err());
    }
}
