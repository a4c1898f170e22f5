//! `seatsync check-config` (CONTRACT 5): the configuration as `serve` reads it
//! (environment, then `.env`), printed with every secret masked, and every
//! problem listed, not only the first. Exit 0, or 78 (`EX_CONFIG`) when `serve`
//! would refuse to start.
use crate::{
    config::{ConfigError, Settings},
    domain::Secret,
};
use std::collections::HashSet;

/// `EX_CONFIG` from sysexits.h.
pub const EX_CONFIG: u8 = 78;

/// A secret as `prefix_****` (`whsec_****`, `sk_****`), or `****`.
pub fn mask(value: &str) -> String {
    match value.split_once('_') {
        Some((prefix, _))
            if !prefix.is_empty() && prefix.len() <= 8 && prefix.bytes().all(|b| b.is_ascii_alphanumeric()) =>
        {
            format!("{prefix}_****")
        }
        _ => "****".to_owned(),
    }
}

/// Every problem, by variable: the settings are read again without each
/// refused variable (as if unset) until they are accepted, so one bad value
/// does not hide the next. Returns the settings when there is no problem.
pub fn problems(lookup: impl Fn(&str) -> Option<String>) -> (Option<Settings>, Vec<ConfigError>) {
    let mut dropped: HashSet<&'static str> = HashSet::new();
    let mut found: Vec<ConfigError> = Vec::new();
    loop {
        let read = Settings::from_lookup(|name| if dropped.contains(name) { None } else { lookup(name) });
        let err = match read.and_then(|s| s.webhook_secrets().map(|_| s)) {
            Ok(settings) if found.is_empty() => return (Some(settings), found),
            Ok(_) => return (None, found),
            Err(err) => err,
        };
        // Unset now and still refused (a required one): nothing more to learn.
        if !dropped.insert(err.variable) {
            if !found.iter().any(|f| f.variable == err.variable) {
                found.push(err);
            }
            return (None, found);
        }
        if !found.iter().any(|f| f.variable == err.variable) {
            found.push(err);
        }
    }
}

fn ranges(r: &[ipnet::IpNet]) -> String {
    r.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")
}

/// The effective configuration, one `NAME=value` a line, secrets masked.
pub fn describe(s: &Settings) -> Vec<(&'static str, String)> {
    let secret = |v: &Option<Secret>| v.as_ref().map_or("(unset)".to_owned(), |s| mask(s.expose()));
    let or_unset = |v: Option<String>| v.unwrap_or_else(|| "(unset)".to_owned());
    let secs = |d: Option<std::time::Duration>| or_unset(d.map(|d| d.as_secs().to_string()));
    vec![
        ("DATABASE_URL", format!("{:?}", s.database_url)),
        ("LISTEN_ADDR", s.listen_addr.to_string()),
        ("WORKOS_WEBHOOK_SECRET", secret(&s.webhook_secret)),
        ("WORKOS_WEBHOOK_SECRET_PREVIOUS", secret(&s.webhook_secret_previous)),
        ("WEBHOOK_TOLERANCE_SECS", s.webhook_tolerance.as_secs().to_string()),
        ("WEBHOOK_MAX_BODY_BYTES", s.webhook_max_body_bytes.to_string()),
        ("WEBHOOK_MAX_INFLIGHT", s.webhook_max_inflight.to_string()),
        ("WEBHOOK_MAX_INFLIGHT_PER_CLIENT", s.webhook_max_inflight_per_client.to_string()),
        ("WEBHOOK_ALLOWED_IPS", or_unset(s.webhook_allowed_ips.as_ref().map(|r| ranges(r)))),
        (
            "TRUSTED_PROXIES",
            if s.trusted_proxies.is_empty() { "(unset)".to_owned() } else { ranges(&s.trusted_proxies) },
        ),
        ("ADMIN_TOKEN", secret(&s.admin_token)),
        ("TEST_MODE_MAX_USERS", s.test_mode_max_users.to_string()),
        ("WORKOS_API_KEY", secret(&s.workos_api_key)),
        ("WORKOS_API_BASE", s.workos_api_base.clone()),
        ("PUBLIC_URL", or_unset(s.public_url.clone())),
        ("LOGIN_REDIRECT_URL", or_unset(s.login_redirect_url.clone())),
        ("METRICS_ADDR", or_unset(s.metrics_addr.map(|a| a.to_string()))),
        ("WORKOS_EVENTS_POLL_SECS", secs(s.events_poll_every)),
        ("WORKOS_RESYNC_EVERY_SECS", secs(s.resync_every)),
        ("LOG_FORMAT", format!("{:?}", s.log_format).to_lowercase()),
        ("RELEASE_LIMIT_MIN", s.release_guard.min.to_string()),
        ("RELEASE_LIMIT_PERCENT", s.release_guard.percent.to_string()),
        ("RELEASE_WINDOW_SECS", s.release_guard.window.as_secs().to_string()),
        ("INBOX_RETENTION_DAYS", (s.inbox_retention.as_secs() / 86_400).to_string()),
        ("INBOX_PRUNE_EVERY_SECS", s.prune_every.as_secs().to_string()),
        ("BILLING_WEBHOOK_URL", or_unset(s.billing_webhook_url.clone())),
        (
            "BILLING_WEBHOOK_SECRET",
            if s.billing_webhook_secrets.is_empty() {
                "(unset)".to_owned()
            } else {
                vec!["whsec_****"; s.billing_webhook_secrets.len()].join(" ")
            },
        ),
        ("BILLING_WEBHOOK_TIMEOUT_SECS", format!("{}", s.billing_webhook_timeout.as_secs_f64())),
        ("STRIPE_API_KEY", secret(&s.stripe_api_key)),
        ("STRIPE_API_BASE", s.stripe_api_base.clone()),
        ("STRIPE_PRORATION_BEHAVIOR", s.stripe_proration.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn secrets_are_masked_to_their_prefix() {
        assert_eq!(mask("whsec_abc123"), "whsec_****");
        assert_eq!(mask("sk_live_abc"), "sk_****");
        assert_eq!(mask("hunter2"), "****");
    }

    #[test]
    fn every_bad_variable_is_listed_not_only_the_first() {
        let (settings, found) = problems(lookup(&[
            ("WORKOS_WEBHOOK_SECRET", "whsec_x"),
            ("LISTEN_ADDR", "nowhere"),
            ("LOG_FORMAT", "xml"),
            ("STRIPE_API_KEY", "pk_live_oops"),
        ]));
        assert!(settings.is_none());
        let mut named: Vec<&str> = found.iter().map(|f| f.variable).collect();
        named.sort();
        assert_eq!(named, ["LISTEN_ADDR", "LOG_FORMAT", "STRIPE_API_KEY"]);
    }

    #[test]
    fn a_missing_required_secret_is_a_problem() {
        let (settings, found) = problems(lookup(&[]));
        assert!(settings.is_none());
        assert_eq!(found.iter().map(|f| f.variable).collect::<Vec<_>>(), ["WORKOS_WEBHOOK_SECRET"]);
    }

    #[test]
    fn a_good_configuration_has_no_problem_and_prints_no_secret() {
        let (settings, found) = problems(lookup(&[
            ("WORKOS_WEBHOOK_SECRET", "whsec_topsecretvalue"),
            ("ADMIN_TOKEN", "admin-topsecret-long"),
            ("STRIPE_API_KEY", "sk_test_topsecret"),
        ]));
        assert!(found.is_empty());
        let text: String = describe(&settings.unwrap()).iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        assert!(!text.contains("topsecret"), "{text}");
        assert!(text.contains("WORKOS_WEBHOOK_SECRET=whsec_****") && text.contains("STRIPE_API_KEY=sk_****"), "{text}");
    }
}
