//! Who is asking: the TCP peer, or, behind a trusted reverse proxy, the
//! address that proxy says it forwarded for (`X-Forwarded-For`). The header
//! is ignored from anyone else: a client could otherwise name any address and
//! dodge its per-client cap or the webhook allowlist.
use ipnet::IpNet;
use std::net::IpAddr;

/// Addresses or CIDR ranges (`10.0.0.0/8`, `::1`), comma-separated.
pub fn parse_ranges(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{part:?} is not an address or a CIDR range"))
        })
        .collect()
}

pub fn contains(ranges: &[IpNet], addr: IpAddr) -> bool {
    let addr = canonical(addr);
    ranges.iter().any(|range| range.contains(&addr))
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) is that
/// IPv4 address.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(addr),
        v4 => v4,
    }
}

/// The key a client's share is counted under: its address, except that IPv6
/// counts by /64 (one host is usually given a whole /64, so counting single
/// addresses would let it take as many shares as it likes).
pub fn share_of(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

/// The client of a request: with `peer` a trusted proxy, the right-most
/// address of `X-Forwarded-For` that is not itself a trusted proxy (each proxy
/// appends the address it received from; only the trusted end of the list can
/// be believed); otherwise `peer`.
pub fn client_of(trusted: &[IpNet], peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
    let peer = canonical(peer);
    if !contains(trusted, peer) {
        return peer;
    }
    let Some(header) = forwarded_for else { return peer };
    let mut client = peer;
    for hop in header.rsplit(',').map(str::trim) {
        let Ok(addr) = hop.parse::<IpAddr>() else { break };
        client = canonical(addr);
        if !contains(trusted, client) {
            break;
        }
    }
    client
}

/// The client of an actix request, by the rule above.
pub fn of_request(trusted: &[IpNet], req: &actix_web::HttpRequest) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let header = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    client_of(trusted, peer, header)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_by_their_64_and_mapped_ipv4_by_address() {
        let share = |s: &str| share_of(s.parse().unwrap()).to_string();
        assert_eq!(share("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::");
        assert_eq!(share("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::");
        assert_ne!(share("2001:db8:1:3::1"), share("2001:db8:1:2::1"));
        assert_eq!(share("::ffff:192.0.2.7"), "192.0.2.7");
        assert_eq!(share("192.0.2.7"), "192.0.2.7");
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_take_addresses_and_cidrs() {
        let ranges = parse_ranges("10.0.0.0/8, 192.0.2.7,::1").unwrap();
        assert!(contains(&ranges, ip("10.1.2.3")));
        assert!(contains(&ranges, ip("192.0.2.7")));
        assert!(!contains(&ranges, ip("192.0.2.8")));
        assert!(contains(&ranges, ip("::1")));
        assert!(contains(&ranges, ip("::ffff:10.0.0.1")), "a mapped IPv4 address is that address");
        assert!(parse_ranges("10.0.0.0/33").is_err());
        assert!(parse_ranges("example.com").is_err());
    }

    #[test]
    fn the_header_is_believed_only_from_a_trusted_proxy() {
        let trusted = parse_ranges("127.0.0.1, 10.0.0.0/8").unwrap();
        let xff = Some("203.0.113.7");
        assert_eq!(client_of(&trusted, ip("127.0.0.1"), xff), ip("203.0.113.7"));
        assert_eq!(client_of(&trusted, ip("198.51.100.9"), xff), ip("198.51.100.9"));
        assert_eq!(client_of(&[], ip("127.0.0.1"), xff), ip("127.0.0.1"));
        assert_eq!(client_of(&trusted, ip("127.0.0.1"), None), ip("127.0.0.1"));
    }

    #[test]
    fn a_client_cannot_prepend_an_address_of_its_choice() {
        let trusted = parse_ranges("127.0.0.1, 10.0.0.0/8").unwrap();
        // The client sent "X-Forwarded-For: 1.2.3.4"; two proxies appended.
        let header = Some("1.2.3.4, 198.51.100.9, 10.0.0.5");
        assert_eq!(client_of(&trusted, ip("127.0.0.1"), header), ip("198.51.100.9"));
        // Garbage stops the walk at the last address that could be read.
        assert_eq!(client_of(&trusted, ip("127.0.0.1"), Some("junk, 10.0.0.5")), ip("10.0.0.5"));
    }
}
