//! Prometheus counters kept in memory, plus gauges read from the database at
//! scrape time (seats, backlog, lag). Text exposition format 0.0.4.
use std::{collections::BTreeMap, fmt::Write, sync::Mutex};

/// A counter's name and its label pairs.
type CounterKey = (&'static str, Vec<(&'static str, String)>);

#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<CounterKey, u64>>,
}

impl Metrics {
    fn add(&self, name: &'static str, labels: Vec<(&'static str, String)>) {
        self.add_n(name, labels, 1);
    }

    fn add_n(&self, name: &'static str, labels: Vec<(&'static str, String)>, n: u64) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *counters.entry((name, labels)).or_default() += n;
    }

    /// Rows pruned by retention, by status (`dead_letter` for dead letters).
    pub fn pruned(&self, status: &'static str, n: u64) {
        self.add_n("seatsync_pruned_events_total", vec![("status", status.to_owned())], n);
    }

    pub fn request(&self, route: &str, status: u16) {
        self.add("seatsync_http_requests_total", vec![("route", route.to_owned()), ("status", status.to_string())]);
    }

    /// A webhook delivery's outcome: `accepted`, `duplicate` or an error code.
    pub fn delivery(&self, outcome: &str) {
        self.add("seatsync_webhook_deliveries_total", vec![("outcome", outcome.to_owned())]);
    }

    pub fn event_received(&self, event_type: &str) {
        self.add("seatsync_events_received_total", vec![("event", event_label(event_type).to_owned())]);
    }

    /// What the reconciler made of an event, by event type and outcome.
    pub fn reconciled(&self, event_type: &str, status: &str) {
        self.add(
            "seatsync_events_reconciled_total",
            vec![("event", event_label(event_type).to_owned()), ("status", status.to_owned())],
        );
    }

    pub fn render_counters(&self, out: &mut String) {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = "";
        for ((name, labels), value) in counters.iter() {
            if *name != last {
                let _ = writeln!(out, "# TYPE {name} counter");
                last = name;
            }
            let _ = writeln!(out, "{name}{{{}}} {value}", render_labels(labels));
        }
    }
}

/// An event type as a label value: one of a fixed set, so a delivery can never
/// mint a new time series (any signed sender could otherwise send a million
/// different types).
pub fn event_label(event_type: &str) -> &'static str {
    const KNOWN: &[&str] = &[
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
    KNOWN.iter().find(|k| **k == event_type).copied().unwrap_or("other")
}

pub fn render_labels(labels: &[(&str, String)]) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_prometheus_text() {
        let m = Metrics::default();
        m.request("/healthz", 200);
        m.request("/healthz", 200);
        m.delivery("signature_mismatch");
        let mut out = String::new();
        m.render_counters(&mut out);
        assert!(out.contains("# TYPE seatsync_http_requests_total counter\n"));
        assert!(out.contains("seatsync_http_requests_total{route=\"/healthz\",status=\"200\"} 2\n"));
        assert!(out.contains("seatsync_webhook_deliveries_total{outcome=\"signature_mismatch\"} 1\n"));
    }

    #[test]
    fn event_types_outside_the_known_set_share_one_label() {
        let m = Metrics::default();
        m.event_received("dsync.user.created");
        m.event_received("connection.activated");
        m.event_received("made.up.by.a.sender");
        let mut out = String::new();
        m.render_counters(&mut out);
        assert!(out.contains("seatsync_events_received_total{event=\"dsync.user.created\"} 1\n"), "{out}");
        assert!(out.contains("seatsync_events_received_total{event=\"other\"} 2\n"), "{out}");
        assert!(!out.contains("made.up"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(render_labels(&[("a", "x\"y\\z".into())]), "a=\"x\\\"y\\\\z\"");
    }
}
