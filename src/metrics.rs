//! Prometheus metrics, kept with `prometheus-client` (exposition and label
//! escaping are its job) in one registry per running app, so in-process tests
//! never share counters. Gauges read from the database are set at scrape time.
//!
//! The database's figures (backlog, lag, plans, seats, outbound) are read by
//! a background task at most every `FIGURES_EVERY` and kept here: a scrape
//! never touches the database, so it costs the same whatever is stored and
//! however many scrapers there are (CONTRACT 3.2).
//!
//! Every label value comes from a fixed set: routes are patterns, statuses and
//! outcomes are ours, event types outside the known list are `other`.
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetOutcome {
    target: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventType {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventOutcome {
    event: &'static str,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Status {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Mode {
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AnswerLabel {
    answer: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TierLabel {
    tier: &'static str,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// What `/metrics` reads from the database at scrape time.
#[derive(Debug, Default, Clone)]
pub struct DatabaseFigures {
    pub events_by_status: Vec<(String, i64)>,
    pub lag_seconds: f64,
    pub plans_by_mode: [i64; 2],
    pub seats_by_tier: [i64; 2],
    pub plans_on_hold: i64,
    /// How long the oldest hold has waited for an approval (0: none).
    pub oldest_hold_seconds: f64,
    /// Outbound messages still to send, by target (`webhook`, `stripe`).
    pub outbound_pending: [i64; 2],
}

/// What `/metrics` reads from the process itself at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcessFigures {
    /// Webhook bodies being read now (out of `WEBHOOK_MAX_INFLIGHT`).
    pub webhook_bodies_in_flight: i64,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RouteStatus, Counter>,
    request_seconds: HistogramFamily<Route>,
    deliveries: Family<OutcomeLabel, Counter>,
    received: Family<EventType, Counter>,
    reconciled: Family<EventOutcome, Counter>,
    pruned: Family<Status, Counter>,
    outbound: Family<TargetOutcome, Counter>,
    login_redirects: Counter,
    admin_refusals: Family<AnswerLabel, Counter>,
    /// The last figures read from the database; `None` when the last read
    /// failed (they are left out then, not shown stale).
    figures: std::sync::RwLock<Option<DatabaseFigures>>,
}

/// How often the database's figures are read again.
pub const FIGURES_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let m = Self {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            deliveries: Family::default(),
            received: Family::default(),
            reconciled: Family::default(),
            pruned: Family::default(),
            outbound: Family::default(),
            login_redirects: Counter::default(),
            admin_refusals: Family::default(),
            figures: std::sync::RwLock::new(None),
            registry: Registry::default(),
        };
        registry.register("seatsync_http_requests", "HTTP requests by route and status", m.requests.clone());
        registry.register(
            "seatsync_http_request_duration_seconds",
            "HTTP request latency by route",
            m.request_seconds.clone(),
        );
        registry.register("seatsync_webhook_deliveries", "Webhook deliveries by outcome", m.deliveries.clone());
        registry.register("seatsync_events_received", "Stored events by type", m.received.clone());
        registry.register("seatsync_events_reconciled", "Events settled by type and outcome", m.reconciled.clone());
        registry.register("seatsync_pruned_events", "Rows deleted by retention, by status", m.pruned.clone());
        registry.register(
            "seatsync_outbound_deliveries",
            "Billing delivery attempts by target and outcome (delivered, failed, dead)",
            m.outbound.clone(),
        );
        registry.register(
            "seatsync_login_redirects",
            "People sent on to LOGIN_REDIRECT_URL by the identity provider's app tile",
            m.login_redirects.clone(),
        );
        registry.register(
            "seatsync_admin_token_refusals",
            "Admin requests refused for their token (unauthorized) or braked (too_many_attempts)",
            m.admin_refusals.clone(),
        );
        m.start_at_zero();
        Self { registry, ..m }
    }
}

/// Every outcome a webhook delivery can have (`WebhookError::code`, and the
/// two successes).
pub const DELIVERY_OUTCOMES: &[&str] = &[
    "accepted",
    "duplicate",
    "missing_signature",
    "malformed_signature",
    "timestamp_out_of_tolerance",
    "signature_mismatch",
    "payload_too_large",
    "bad_request",
    "request_timeout",
    "invalid_event",
    "forbidden",
    "example_secret",
    "unavailable",
];
/// What the reconciler makes of an event.
const RECONCILED: &[&str] = &["applied", "ignored", "stale", "parked", "held", "failed"];
/// What retention deletes.
const PRUNED: &[&str] = &["applied", "ignored", "stale", "failed", "parked", "dead_letter", "delivered_message"];
/// The webhook route, always there: its latency and its answers.
const WEBHOOK_ROUTE: &str = "/webhooks/workos";

impl Metrics {
    /// Every labelled counter a dashboard or alert uses, at 0 for its known
    /// label values from the first scrape (Prometheus's instrumentation
    /// guidance): `rate()` and `increase()` then see the first event, and an
    /// alert on a series that does not exist yet is not silently never true.
    fn start_at_zero(&self) {
        for outcome in DELIVERY_OUTCOMES {
            let _ = self.deliveries.get_or_create(&OutcomeLabel { outcome: (*outcome).to_owned() });
        }
        for event in KNOWN_EVENTS.iter().chain(std::iter::once(&"other")) {
            let _ = self.received.get_or_create(&EventType { event });
            for status in RECONCILED {
                let _ = self.reconciled.get_or_create(&EventOutcome { event, status: (*status).to_owned() });
            }
        }
        for status in PRUNED {
            let _ = self.pruned.get_or_create(&Status { status: (*status).to_owned() });
        }
        for target in ["webhook", "stripe"] {
            for outcome in ["delivered", "failed", "dead"] {
                let _ = self.outbound.get_or_create(&TargetOutcome { target, outcome });
            }
        }
        for status in ["200", "401", "503"] {
            let _ = self
                .requests
                .get_or_create(&RouteStatus { route: WEBHOOK_ROUTE.to_owned(), status: status.to_owned() });
        }
        let _ = self.request_seconds.get_or_create(&Route { route: WEBHOOK_ROUTE.to_owned() });
        for answer in ["unauthorized", "too_many_attempts"] {
            let _ = self.admin_refusals.get_or_create(&AnswerLabel { answer });
        }
    }
}

impl Metrics {
    /// Rows pruned by retention, by status (`dead_letter` for dead letters).
    pub fn pruned(&self, status: &'static str, n: u64) {
        self.pruned.get_or_create(&Status { status: status.to_owned() }).inc_by(n);
    }

    /// `route` is the matched pattern (or `unmatched`), never the raw path.
    /// One billing delivery attempt ended; `target` and `outcome` come from
    /// fixed sets (never from a receiver's answer).
    pub fn outbound_delivery(&self, target: &'static str, outcome: &'static str) {
        self.outbound.get_or_create(&TargetOutcome { target, outcome }).inc();
    }

    /// An admin request refused for its token: `unauthorized` (wrong or
    /// missing) or `too_many_attempts` (braked).
    pub fn admin_refusal(&self, answer: &'static str) {
        self.admin_refusals.get_or_create(&AnswerLabel { answer }).inc();
    }

    /// Someone clicked the app tile and was sent on (no label: nothing from
    /// the request is worth a series).
    pub fn login_redirect(&self) {
        self.login_redirects.inc();
    }

    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.requests.get_or_create(&RouteStatus { route: route.to_owned(), status: status.to_string() }).inc();
        self.request_seconds.get_or_create(&Route { route: route.to_owned() }).observe(seconds);
    }

    /// A webhook delivery's outcome: `accepted`, `duplicate` or an error code.
    pub fn delivery(&self, outcome: &'static str) {
        self.deliveries.get_or_create(&OutcomeLabel { outcome: outcome.to_owned() }).inc();
    }

    pub fn event_received(&self, event_type: &str) {
        self.received.get_or_create(&EventType { event: event_label(event_type) }).inc();
    }

    /// What the reconciler made of an event, by event type and outcome.
    pub fn reconciled(&self, event_type: &str, status: &str) {
        self.reconciled
            .get_or_create(&EventOutcome { event: event_label(event_type), status: status.to_owned() })
            .inc();
    }

    /// Keeps the figures just read (`None`: the database did not answer).
    pub fn set_figures(&self, figures: Option<DatabaseFigures>) {
        *self.figures.write().unwrap_or_else(|e| e.into_inner()) = figures;
    }

    /// The Prometheus text exposition (0.0.4), with the last database figures
    /// (left out when the last read failed). They are put in a registry of
    /// their own per scrape, so concurrent scrapes never mix.
    pub fn render(&self, process: ProcessFigures) -> String {
        let figures = self.figures.read().unwrap_or_else(|e| e.into_inner()).clone();
        let figures = figures.as_ref();
        let mut scrape = Registry::default();
        let in_flight: Gauge = Gauge::default();
        in_flight.set(process.webhook_bodies_in_flight);
        scrape.register("seatsync_webhook_bodies_in_flight", "Webhook bodies being read now", in_flight);
        let database_up: Gauge = Gauge::default();
        scrape.register("seatsync_database_up", "1 when the last read of the figures succeeded", database_up.clone());
        if let Some(f) = figures {
            database_up.set(1);
            let events: Family<Status, Gauge> = Family::default();
            for (status, n) in &f.events_by_status {
                events.get_or_create(&Status { status: status.clone() }).set(*n);
            }
            scrape.register("seatsync_events", "Unsettled events by status (pending, parked, held, failed)", events);
            let lag: Gauge<f64, AtomicU64> = Gauge::default();
            lag.set(f.lag_seconds);
            scrape.register("seatsync_reconciler_lag_seconds", "Age of the oldest pending event", lag);
            let plans: Family<Mode, Gauge> = Family::default();
            for (mode, n) in ["test", "enforced"].into_iter().zip(f.plans_by_mode) {
                plans.get_or_create(&Mode { mode }).set(n);
            }
            scrape.register("seatsync_plans", "Plans by mode", plans);
            let on_hold: Gauge = Gauge::default();
            on_hold.set(f.plans_on_hold);
            scrape.register("seatsync_plans_on_hold", "Plans held by the release or grant guard", on_hold);
            let oldest: Gauge<f64, AtomicU64> = Gauge::default();
            oldest.set(f.oldest_hold_seconds);
            scrape.register(
                "seatsync_oldest_hold_age_seconds",
                "How long the oldest hold has waited for an approval (0: none)",
                oldest,
            );
            let seats: Family<TierLabel, Gauge> = Family::default();
            for (tier, n) in ["paid", "free"].into_iter().zip(f.seats_by_tier) {
                seats.get_or_create(&TierLabel { tier }).set(n);
            }
            scrape.register("seatsync_seats", "Seats by tier, all plans", seats);
            let pending: Family<TargetLabel, Gauge> = Family::default();
            for (target, n) in ["webhook", "stripe"].into_iter().zip(f.outbound_pending) {
                pending.get_or_create(&TargetLabel { target }).set(n);
            }
            scrape.register("seatsync_outbound_pending", "Billing messages still to send, by target", pending);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &scrape);
        out
    }
}

/// The content type of `render`'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// An event type as a label value: one of a fixed set, so a delivery can never
/// mint a new time series (any signed sender could otherwise send a million
/// different types).
pub fn event_label(event_type: &str) -> &'static str {
    KNOWN_EVENTS.iter().find(|k| **k == event_type).copied().unwrap_or("other")
}

/// The event types counted by name; any other is `other`.
const KNOWN_EVENTS: &[&str] = &[
    "dsync.activated",
    "dsync.deleted",
    "dsync.user.created",
    "dsync.user.updated",
    "dsync.user.deleted",
    "dsync.group.created",
    "dsync.group.updated",
    "dsync.group.deleted",
    "dsync.group.user_added",
    "dsync.group.user_removed",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_latency_render_in_prometheus_text() {
        let m = Metrics::default();
        m.request("/healthz", 200, 0.001);
        m.request("/healthz", 200, 0.003);
        m.delivery("signature_mismatch");
        let out = m.render(ProcessFigures::default());
        assert!(out.contains("# TYPE seatsync_http_requests_total counter\n"), "{out}");
        assert!(out.contains("seatsync_http_requests_total{route=\"/healthz\",status=\"200\"} 2\n"), "{out}");
        assert!(out.contains("seatsync_http_request_duration_seconds_count{route=\"/healthz\"} 2\n"), "{out}");
        assert!(
            out.contains("seatsync_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.002\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("seatsync_webhook_deliveries_total{outcome=\"signature_mismatch\"} 1\n"), "{out}");
        assert!(out.contains("seatsync_database_up 0\n"), "{out}");
    }

    #[test]
    fn event_types_outside_the_known_set_share_one_label() {
        let m = Metrics::default();
        m.event_received("dsync.user.created");
        m.event_received("connection.activated");
        m.event_received("made.up.by.a.sender");
        let out = m.render(ProcessFigures::default());
        assert!(out.contains("seatsync_events_received_total{event=\"dsync.user.created\"} 1\n"), "{out}");
        assert!(out.contains("seatsync_events_received_total{event=\"other\"} 2\n"), "{out}");
        assert!(!out.contains("made.up"), "{out}");
    }
}
