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

/// A client builder with the provider installed and redirects off.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_tls_provider();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none())
}

/// A client with the defaults above (tests and tools).
pub fn client() -> reqwest::Client {
    client_builder().build().expect("an HTTP client with default settings builds")
}

/// Reads a response body, refusing one larger than `limit` bytes before
/// holding more than that in memory.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the answer could not be read")]
    Transport(#[source] reqwest::Error),
}
