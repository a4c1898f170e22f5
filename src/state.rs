//! What every request handler shares, built once by `startup` and handed to
//! the routes (which never import `startup` itself).
use crate::{domain::Secret, inbox::Inbox, metrics::Metrics, reconcile::Reconciler};
use sea_orm::DatabaseConnection;
use std::{sync::Arc, time::Duration};

pub struct WebhookSettings {
    pub secrets: Vec<Secret>,
    pub tolerance: Duration,
    pub max_body_bytes: usize,
    /// The allowlist and the caps on bodies read at once.
    pub admission: Arc<crate::http::admission::Admission>,
}

/// Shared by every request handler.
pub struct AppState {
    pub db: DatabaseConnection,
    pub inbox: Inbox,
    pub reconciler: Reconciler,
    pub metrics: Arc<Metrics>,
    pub webhook: WebhookSettings,
    pub admin_token: Option<Secret>,
    /// Refused admin tokens by client address (429 after ten a minute).
    pub refused_tokens: crate::http::refusals::RefusedTokens,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub test_mode_max_users: u32,
    /// Set when `WORKOS_API_KEY` is: "Configure SCIM" calls WorkOS with it.
    pub workos: Option<crate::workos::WorkosClient>,
    pub public_url: Option<String>,
    /// The `METRICS_ADDR` listener's address: `/metrics` is served there only.
    pub metrics_listener: Option<std::net::SocketAddr>,
    /// `LOGIN_REDIRECT_URL`: where the app tile sends people (CONTRACT 3.5).
    pub login_redirect_url: Option<String>,
    /// Sends them; `None` when no target is configured.
    pub deliverer: Option<crate::billing::delivery::Deliverer>,
    /// Settings still at their `.env.example` values: `/readyz` and the admin
    /// page say so (CONTRACT 2).
    pub example_values: Vec<&'static str>,
    /// `RELEASE_*`: an approval applies its events with the reconciler's settings.
    pub release_guard: crate::seats::guard::GuardSettings,
}
impl AppState {
    /// The limits the background reconciler's batches run with, for a route
    /// that applies events itself (an approval).
    pub fn batch_limits(&self) -> crate::reconcile::worker::BatchLimits {
        crate::reconcile::worker::BatchLimits {
            guard: self.release_guard,
            faults: self.reconciler.faults(),
            ..crate::reconcile::worker::BatchLimits::for_backend(self.db.get_database_backend())
        }
    }
}
