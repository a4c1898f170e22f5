//! `seatsync healthcheck`: whether a running service is ready, for container
//! health checks that have no curl. Ready means `/readyz` answers 200 within
//! two seconds (the database answers).
use std::{net::SocketAddr, time::Duration};

const WITHIN: Duration = Duration::from_secs(2);

/// The service's base URL when none is given: `LISTEN_ADDR`, reached on
/// loopback when it listens on every address.
pub fn default_url(listen: SocketAddr) -> String {
    let host = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    format!("http://{host}:{}", listen.port())
}

/// `Ok(())` when ready; otherwise why not, in one line.
pub async fn check(base: &str) -> Result<(), String> {
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    let client = crate::http_client::client_builder()
        .timeout(WITHIN)
        .build()
        .map_err(|e| format!("could not build an HTTP client: {e}"))?;
    match client.get(&url).send().await {
        Ok(answer) if answer.status() == reqwest::StatusCode::OK => Ok(()),
        Ok(answer) => Err(format!("{url} answered {}", answer.status())),
        Err(err) if err.is_timeout() => Err(format!("{url} did not answer within {} s", WITHIN.as_secs())),
        Err(_) => Err(format!("{url} could not be reached")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_url_reaches_an_every_address_listener_on_loopback() {
        assert_eq!(default_url("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080");
        assert_eq!(default_url("[::]:8080".parse().unwrap()), "http://[::1]:8080");
        assert_eq!(default_url("127.0.0.1:9000".parse().unwrap()), "http://127.0.0.1:9000");
        assert_eq!(default_url("[::1]:9000".parse().unwrap()), "http://[::1]:9000");
    }
}
