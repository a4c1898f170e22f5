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

/// The client of an actix request, by the rule above. Every `X-Forwarded-For`
/// line counts, in order, as one list (RFC 9110 5.3): a proxy that appends a
/// line of its own (HAProxy's `option forwardfor`) must not leave the client's
/// own line as the one believed. A line that is not text ends the list there,
/// so nothing before it is believed.
/// `TRUSTED_PROXIES`, as app data of its own for code that must not reach
/// the whole application state (the request span).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

pub fn of_request(trusted: &[IpNet], req: &actix_web::HttpRequest) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
    // From anyone but a trusted proxy the header is not even read.
    if !contains(trusted, peer) {
        return canonical(peer);
    }
    let mut lines: Vec<&str> = Vec::new();
    for value in req.headers().get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(line) => lines.push(line),
            Err(_) => lines.clear(),
        }
    }
    let joined = lines.join(",");
    client_of(trusted, peer, (!lines.is_empty()).then_some(joined.as_str()))
}

/// Whether a request came through a proxy or tunnel (ngrok, cloudflared and
/// their kind add forwarding headers, and keep the public host name) rather
/// than from a browser or curl on this machine.
pub fn arrived_from_elsewhere(headers: &actix_web::http::header::HeaderMap) -> bool {
    let forwarded = ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip", "cf-connecting-ip"]
        .iter()
        .any(|name| headers.contains_key(*name));
    // An unreadable Host is not this machine's.
    let local = match headers.get(actix_web::http::header::HOST).map(|v| v.to_str()) {
        None => true,
        Some(Ok(host)) => is_local_host(host),
        Some(Err(_)) => false,
    };
    forwarded || !local
}

/// `localhost`, `127.0.0.1:8080`, `[::1]:8080` and the like; an absent Host
/// (HTTP/1.0) is local too.
fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    host.is_empty()
        || name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{self, HeaderValue};

    #[test]
    fn only_requests_from_this_machine_come_without_forwarding_and_with_a_local_host() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = header::HeaderMap::new();
            for (name, value) in pairs {
                map.insert(header::HeaderName::from_static(name), HeaderValue::from_static(value));
            }
            map
        };
        for local in ["127.0.0.1:8080", "localhost:8080", "LOCALHOST", "[::1]:8080", "127.0.0.2", ""] {
            assert!(!arrived_from_elsewhere(&headers(&[("host", local)])), "{local}");
        }
        assert!(!arrived_from_elsewhere(&headers(&[])));
        let mut unreadable = header::HeaderMap::new();
        unreadable.insert(header::HOST, HeaderValue::from_bytes(b"caf\xe9.example").unwrap());
        assert!(arrived_from_elsewhere(&unreadable));
        for public in ["abc.ngrok-free.app", "seats.example.com:443", "192.168.1.5:8080", "[2001:db8::1]:80"] {
            assert!(arrived_from_elsewhere(&headers(&[("host", public)])), "{public}");
        }
        assert!(arrived_from_elsewhere(&headers(&[("host", "localhost:8080"), ("x-forwarded-for", "203.0.113.7")])));
        assert!(arrived_from_elsewhere(&headers(&[("host", "127.0.0.1"), ("cf-connecting-ip", "203.0.113.7")])));
    }

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
