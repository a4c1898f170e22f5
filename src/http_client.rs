//! Every HTTP client this program builds (the WorkOS API, `replay`, benches)
//! starts here: one TLS crypto provider for the whole binary (ring, which the
//! database driver already uses) and no redirects followed, so a bearer key is
//! only ever sent to the host it was meant for.
use std::sync::Once;

/// Installs the process's TLS provider once; reqwest refuses to build a
/// client before there is one.
pub fn install_tls_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err: another part of the process installed one first; it is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A client builder with the provider installed, redirects off, and the
/// environment's proxies for every host but this machine.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_tls_provider();
    with_proxies(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()), |name| {
        std::env::var(name).ok()
    })
}

/// `HTTPS_PROXY`, `HTTP_PROXY` and `ALL_PROXY` (either case) as reqwest reads
/// them, with `NO_PROXY`, plus loopback always direct: a loopback API base is
/// plain `http://` (allowed only there), and through a proxy its bearer key
/// would cross a network in clear.
fn with_proxies(builder: reqwest::ClientBuilder, env: impl Fn(&str) -> Option<String>) -> reqwest::ClientBuilder {
    let var = |names: [&str; 2]| names.into_iter().find_map(|n| env(n).filter(|v| !v.trim().is_empty()));
    let extra = var(["NO_PROXY", "no_proxy"]).unwrap_or_default();
    let direct = format!("localhost,127.0.0.0/8,::1,{extra}");
    let no_proxy = || reqwest::NoProxy::from_string(&direct);
    // Off first: no proxy but the ones added below.
    let mut builder = builder.no_proxy();
    let proxies = [
        var(["HTTPS_PROXY", "https_proxy"]).and_then(|u| reqwest::Proxy::https(u.as_str()).ok()),
        var(["HTTP_PROXY", "http_proxy"]).and_then(|u| reqwest::Proxy::http(u.as_str()).ok()),
        var(["ALL_PROXY", "all_proxy"]).and_then(|u| reqwest::Proxy::all(u.as_str()).ok()),
    ];
    for proxy in proxies.into_iter().flatten() {
        builder = builder.proxy(proxy.no_proxy(no_proxy()));
    }
    builder
}

/// A client with the defaults above (tests and tools).
pub fn client() -> reqwest::Client {
    client_builder().build().expect("an HTTP client with default settings builds")
}

/// Reads a response body, refusing one larger than `limit` bytes before
/// holding more than that in memory.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, CappedReadError> {
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(CappedReadError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(CappedReadError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(CappedReadError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Debug, thiserror::Error)]
pub enum CappedReadError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the answer could not be read")]
    Transport(#[source] reqwest::Error),
}
