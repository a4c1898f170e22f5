//! libpq's multi-host PostgreSQL URLs, which sqlx does not read
//! (launchbadge/sqlx#2290): `postgres://u@h1:5432,h2:5432/db?…`, or the hosts
//! and ports as lists in the query (`?host=h1,h2&port=5432,5433`). Each host
//! becomes a single-host URL of its own, tried in the order given (CONTRACT 2).
//!
//! `target_session_attrs` is read and dropped: seatsync writes, so whatever the
//! URL says it only ever uses a writable node (`any`, `read-write` and
//! `primary` are accepted; asking for a standby is refused).

/// The single-host URLs a database URL names, in order. A URL with one host
/// comes back as it was (but without `target_session_attrs`).
pub fn split(raw: &str) -> Result<Vec<String>, String> {
    let (scheme, rest) = raw.split_once("://").ok_or("is not a valid postgres:// URL")?;
    // The authority ends at the path or the query; a password holding `/`,
    // `?` or `@` must be percent-encoded, as in any URL.
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostspec) = match authority.rsplit_once('@') {
        Some((user, hosts)) => (Some(user), hosts),
        None => (None, authority),
    };
    let (path, query) = match tail.split_once('?') {
        Some((path, query)) => (path, query),
        None => (tail, ""),
    };

    let mut kept = Vec::new();
    let (mut host_param, mut port_param) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "host" => host_param = Some(decode(value)?),
            "port" => port_param = Some(decode(value)?),
            "target_session_attrs" => match decode(value)?.as_str() {
                "any" | "read-write" | "primary" => {}
                other => {
                    return Err(format!(
                        "asks for target_session_attrs={other}, but seatsync writes: it uses only a writable node (read-write)"
                    ));
                }
            },
            _ => kept.push(pair),
        }
    }

    // The query's `host` list wins over the authority's, as in libpq.
    let mut hosts: Vec<(String, Option<String>)> = match &host_param {
        Some(list) => list.split(',').map(|h| (h.trim().to_owned(), None)).collect(),
        None => hostspec.split(',').map(host_and_port).collect::<Result<_, _>>()?,
    };
    if let Some(list) = &port_param {
        let ports: Vec<&str> = list.split(',').map(str::trim).collect();
        match ports.len() {
            1 => hosts.iter_mut().filter(|(_, p)| p.is_none()).for_each(|(_, p)| *p = Some(ports[0].to_owned())),
            n if n == hosts.len() => {
                for ((_, p), port) in hosts.iter_mut().zip(ports) {
                    *p = Some(port.to_owned());
                }
            }
            n => return Err(format!("names {} hosts but {n} ports", hosts.len())),
        }
    }
    if hosts.len() > 1 && kept.iter().any(|p| p.starts_with("hostaddr=")) {
        // sqlx would send every host to the one address.
        return Err("names several hosts with hostaddr: give the addresses as hosts instead".to_owned());
    }
    if hosts.len() > 1 && hosts.iter().any(|(h, _)| h.is_empty()) {
        return Err("has an empty host in its host list".to_owned());
    }

    hosts
        .into_iter()
        .map(|(host, port)| {
            if let Some(port) = &port {
                port.parse::<u16>().map_err(|_| format!("has an invalid port {port:?}"))?;
            }
            let mut params: Vec<String> = kept.iter().map(|p| (*p).to_owned()).collect();
            let user = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
            // A Unix socket directory cannot sit in the authority: it stays a
            // parameter, as libpq writes it.
            let authority = if host.starts_with('/') || host.is_empty() {
                if !host.is_empty() {
                    params.push(format!("host={}", encode(&host)));
                }
                if let Some(port) = &port {
                    params.push(format!("port={port}"));
                }
                String::new()
            } else {
                let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
                match &port {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                }
            };
            let query = if params.is_empty() { String::new() } else { format!("?{}", params.join("&")) };
            Ok(format!("{scheme}://{user}{authority}{path}{query}"))
        })
        .collect()
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn host_and_port(spec: &str) -> Result<(String, Option<String>), String> {
    let spec = spec.trim();
    if let Some(rest) = spec.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("has an unclosed [ in a host")?;
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port.to_owned()),
            None if after.is_empty() => None,
            None => return Err(format!("has an unreadable host [{host}]{after}")),
        };
        return Ok((format!("[{host}]"), port));
    }
    Ok(match spec.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), Some(port.to_owned())),
        None => (spec.to_owned(), None),
    })
}

fn decode(value: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| "has a parameter that is not UTF-8".to_owned())
}

/// A socket directory as a query value: `/` kept, as libpq writes it.
fn encode(value: &str) -> String {
    const KEPT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');
    percent_encoding::utf8_percent_encode(value, KEPT).to_string()
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn a_host_list_in_the_authority_becomes_one_url_per_host_in_order() {
        assert_eq!(
            split("postgres://app:pw@db1:5432,db2:5433/seatsync?target_session_attrs=read-write&sslmode=disable")
                .unwrap(),
            [
                "postgres://app:pw@db1:5432/seatsync?sslmode=disable",
                "postgres://app:pw@db2:5433/seatsync?sslmode=disable"
            ]
        );
    }

    #[test]
    fn hosts_and_ports_may_be_lists_in_the_query() {
        assert_eq!(
            split("postgresql://app@/seatsync?host=db1,db2&port=5432,5433&application_name=s").unwrap(),
            [
                "postgresql://app@db1:5432/seatsync?application_name=s",
                "postgresql://app@db2:5433/seatsync?application_name=s"
            ]
        );
        // One port for every host; a host without a port takes the query's.
        assert_eq!(
            split("postgres://u@a,b:6000/x?port=5433").unwrap(),
            ["postgres://u@a:5433/x", "postgres://u@b:6000/x"]
        );
        assert_eq!(split("postgres://u@/x?host=a,b").unwrap(), ["postgres://u@a/x", "postgres://u@b/x"]);
    }

    #[test]
    fn one_host_comes_back_as_it_was() {
        assert_eq!(split("postgres://u@127.0.0.1:5432/x").unwrap(), ["postgres://u@127.0.0.1:5432/x"]);
        assert_eq!(split("postgres://u@/x?host=/run/postgresql").unwrap(), ["postgres://u@/x?host=/run/postgresql"]);
        assert_eq!(split("postgres://u@[::1]:5432/x").unwrap(), ["postgres://u@[::1]:5432/x"]);
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        assert_eq!(
            split("postgres://u@[fd00::1]:5432,[fd00::2]/x").unwrap(),
            ["postgres://u@[fd00::1]:5432/x", "postgres://u@[fd00::2]/x"]
        );
    }

    #[test]
    fn a_standby_is_never_asked_for_and_lists_must_match() {
        assert!(split("postgres://u@a,b/x?target_session_attrs=standby").unwrap_err().contains("writes"));
        assert!(split("postgres://u@a,b/x?target_session_attrs=read-only").is_err());
        assert!(split("postgres://u@/x?host=a,b,c&port=1,2").unwrap_err().contains("3 hosts but 2 ports"));
        assert!(split("postgres://u@a,,b/x").is_err());
        assert!(split("postgres://u@a:http/x").is_err());
        assert!(split("postgres://u@a,b/x?hostaddr=10.0.0.1").unwrap_err().contains("hostaddr"));
        assert_eq!(split("postgres://u@a,b/x?target_session_attrs=primary").unwrap().len(), 2);
    }
}
