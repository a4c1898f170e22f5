//! The service's own probes: `/healthz`, `/readyz` and the Prometheus scrape
//! (`/metrics`, with the figures it serves refreshed in the background).
pub mod health;
pub mod scrape;
