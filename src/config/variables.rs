//! Every setting, once: its name, its default, what it means, how a value is
//! read into `Settings` and how `check-config` prints it. The parser
//! (`Settings::from_lookup`), `check-config`'s listing and the table in
//! `docs/operating.md` (checked by a test) all come from `VARIABLES`, so adding
//! a setting is one entry here and one field on `Settings`.
use super::{Settings, check_api_base, masking};
use crate::{
    billing::{schedule::Schedule, signature::SigningSecret},
    db::DatabaseUrl,
    domain::Secret,
    telemetry::LogFormat,
};
use std::{net::SocketAddr, time::Duration};

/// One environment variable.
pub struct Variable {
    pub name: &'static str,
    pub default: Default,
    /// The docs' "meaning" column.
    pub meaning: &'static str,
    /// Set but empty: refused (fail closed) rather than read as unset.
    pub empty_refused: bool,
    /// Reads a value (the default's too) into the settings; the problem, if
    /// any, says what is wrong without the variable's name or its value.
    pub read: fn(&str, &mut Settings) -> Result<(), String>,
    /// The value as `check-config` prints it, secrets masked.
    pub show: fn(&Settings) -> String,
}

/// What holds when a variable is unset.
pub enum Default {
    /// This value, read as if it were given (so the default is checked and
    /// documented by the same words).
    Value(&'static str),
    /// Nothing: the setting is off or absent, as the text says.
    Unset(&'static str),
}

impl Variable {
    /// The row of the docs' table: `| name | default | meaning |`.
    pub fn doc_row(&self) -> String {
        let default = match self.default {
            Default::Value(value) => format!("`{value}`"),
            Default::Unset(text) => text.to_owned(),
        };
        format!("| `{}` | {default} | {} |", self.name, self.meaning)
    }
}

/// The docs' table, as `docs/operating.md` shows it.
pub fn doc_table() -> String {
    let mut table = String::from("| variable | default | meaning |\n| --- | --- | --- |\n");
    for variable in VARIABLES {
        table.push_str(&variable.doc_row());
        table.push('\n');
    }
    table
}

/// Where `name` stands in the table (problems are listed in this order).
pub fn position(name: &str) -> usize {
    VARIABLES.iter().position(|v| v.name == name).unwrap_or(VARIABLES.len())
}

const UNSET: &str = "(unset)";

/// Stores a value read (the entries stay one expression each).
fn set<T>(field: &mut T, value: T) -> Result<(), String> {
    *field = value;
    Ok(())
}

fn secret(value: &Option<Secret>) -> String {
    value.as_ref().map_or(UNSET.to_owned(), |s| masking::mask(s.expose()))
}

fn or_unset(value: Option<String>) -> String {
    value.unwrap_or_else(|| UNSET.to_owned())
}

fn ranges(r: &[ipnet::IpNet]) -> String {
    r.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",")
}

fn whole<T: std::str::FromStr>(raw: &str) -> Result<T, String> {
    raw.trim().parse().map_err(|_| format!("must be a whole number, got {:?}", raw.trim()))
}

/// A whole number within `min..=max`, or the range's own words.
fn whole_within(raw: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = whole::<u64>(raw)?;
    if n < min || n > max {
        return Err(match (min, max) {
            (1, u64::MAX) => "must be at least 1".to_owned(),
            (0, max) => format!("must be at most {max}"),
            (min, max) => format!("must be between {min} and {max}"),
        });
    }
    Ok(n)
}

/// Whole seconds, at least 1 (the optional schedules).
fn every(raw: &str) -> Result<Duration, String> {
    match raw.trim().parse::<u64>() {
        Ok(0) | Err(_) => Err("must be a whole number of seconds, at least 1".to_owned()),
        Ok(secs) => Ok(Duration::from_secs(secs)),
    }
}

fn address(raw: &str, example: &str) -> Result<SocketAddr, String> {
    raw.trim().parse().map_err(|_| format!("must be an address like {example}"))
}

fn address_ranges(raw: &str) -> Result<Vec<ipnet::IpNet>, String> {
    let ranges = crate::http::client_address::parse_ranges(raw)
        .map_err(|p| format!("must be addresses or CIDR ranges, comma-separated: {p}"))?;
    if ranges.is_empty() { Err("lists no address".to_owned()) } else { Ok(ranges) }
}

/// An API base or a push target: https, or http to this machine; no trailing slash.
fn service_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/').to_owned();
    check_api_base(&url)?;
    Ok(url)
}

fn secs_f64(d: Duration) -> String {
    d.as_secs_f64().to_string()
}

pub const VARIABLES: &[Variable] = &[
    Variable {
        name: "DATABASE_URL",
        default: Default::Value("sqlite://seatsync.db?mode=rwc"),
        meaning: "SQLite file (created on first run) or `postgres://…`",
        empty_refused: false,
        read: |raw, s| set(&mut s.database_url, DatabaseUrl::parse(raw)?),
        show: |s| masking::mask_database_url(s.database_url.expose()),
    },
    Variable {
        name: "LISTEN_ADDR",
        default: Default::Value("127.0.0.1:8080"),
        meaning: "HTTP address; port 0 picks a free port (logged)",
        empty_refused: false,
        read: |raw, s| set(&mut s.listen_addr, address(raw, "127.0.0.1:8080")?),
        show: |s| s.listen_addr.to_string(),
    },
    Variable {
        name: "WORKOS_WEBHOOK_SECRET",
        default: Default::Unset("none: `serve` refuses to start"),
        meaning: "the endpoint secret, raw UTF-8 (`whsec_` prefix included)",
        // Set but empty is a mistake worth stopping for: never "skip the check".
        empty_refused: true,
        read: |raw, s| set(&mut s.webhook_secret, Some(Secret::new(raw.to_owned()))),
        show: |s| secret(&s.webhook_secret),
    },
    Variable {
        name: "WORKOS_WEBHOOK_SECRET_PREVIOUS",
        default: Default::Unset("unset"),
        meaning: "a second accepted secret while rotating",
        empty_refused: false,
        read: |raw, s| set(&mut s.webhook_secret_previous, Some(Secret::new(raw.to_owned()))),
        show: |s| secret(&s.webhook_secret_previous),
    },
    Variable {
        name: "WEBHOOK_TOLERANCE_SECS",
        default: Default::Value("180"),
        meaning: "accepted clock difference, both directions (at least 1)",
        empty_refused: false,
        read: |raw, s| set(&mut s.webhook_tolerance, Duration::from_secs(whole_within(raw, 1, u64::MAX)?)),
        show: |s| s.webhook_tolerance.as_secs().to_string(),
    },
    Variable {
        name: "WEBHOOK_MAX_BODY_BYTES",
        default: Default::Value("1048576"),
        meaning: "larger bodies get 413",
        empty_refused: false,
        read: |raw, s| set(&mut s.webhook_max_body_bytes, whole_within(raw, 1, usize::MAX as u64)? as usize),
        show: |s| s.webhook_max_body_bytes.to_string(),
    },
    Variable {
        name: "WEBHOOK_MAX_INFLIGHT",
        default: Default::Value("256"),
        meaning: "webhook bodies read at once; more get 503 `unavailable` at once",
        empty_refused: false,
        read: |raw, s| set(&mut s.webhook_max_inflight, whole_within(raw, 1, 1_000_000)? as usize),
        show: |s| s.webhook_max_inflight.to_string(),
    },
    Variable {
        name: "WEBHOOK_MAX_INFLIGHT_PER_CLIENT",
        default: Default::Value("16"),
        meaning: "of those, from one client address",
        empty_refused: false,
        read: |raw, s| set(&mut s.webhook_max_inflight_per_client, whole_within(raw, 1, 1_000_000)? as usize),
        show: |s| s.webhook_max_inflight_per_client.to_string(),
    },
    Variable {
        name: "WEBHOOK_ALLOWED_IPS",
        default: Default::Unset("unset (any)"),
        meaning: "comma-separated addresses or CIDR ranges allowed to post webhooks; WorkOS documents a fixed set of \
                  sender addresses, which `.env.example` lists, commented out (defence in depth: the signature is the \
                  check); others get 403 `forbidden` before anything is read",
        empty_refused: false,
        read: |raw, s| set(&mut s.webhook_allowed_ips, Some(address_ranges(raw)?)),
        show: |s| or_unset(s.webhook_allowed_ips.as_deref().map(ranges)),
    },
    Variable {
        name: "TRUSTED_PROXIES",
        default: Default::Unset("unset (none)"),
        meaning: "reverse proxies whose `X-Forwarded-For` names the client (read from the right); otherwise the \
                  client is the TCP peer",
        empty_refused: false,
        read: |raw, s| set(&mut s.trusted_proxies, address_ranges(raw)?),
        show: |s| or_unset((!s.trusted_proxies.is_empty()).then(|| ranges(&s.trusted_proxies))),
    },
    Variable {
        name: "METRICS_ADDR",
        default: Default::Unset("unset"),
        meaning: "when set, `/metrics` is served only on this second address (e.g. `127.0.0.1:9090`)",
        empty_refused: false,
        read: |raw, s| set(&mut s.metrics_addr, Some(address(raw, "127.0.0.1:9090")?)),
        show: |s| or_unset(s.metrics_addr.map(|a| a.to_string())),
    },
    Variable {
        name: "ADMIN_TOKEN",
        default: Default::Unset("none: `/admin` answers 503 `admin_disabled`"),
        meaning: "bearer token for `/admin`, at least 16 characters (`openssl rand -hex 32`); `.env.example`'s value \
                  is refused unless `LISTEN_ADDR` is loopback, and answers 403 `example_token` to requests through an \
                  HTTP proxy or tunnel. While any `.env.example` value is in use, `serve` warns at start-up and every \
                  hour, `/readyz` names the settings (`example_values_in_use`), `check-config` says so, and the admin \
                  page shows a banner: a local reverse proxy (nginx's default `proxy_pass` adds no forwarding header) \
                  would otherwise publish them unseen",
        empty_refused: false,
        read: |raw, s| {
            if raw.trim().chars().count() < super::ADMIN_TOKEN_MIN_CHARS {
                return Err(format!(
                    "must be at least {} characters (e.g. openssl rand -hex 32)",
                    super::ADMIN_TOKEN_MIN_CHARS
                ));
            }
            set(&mut s.admin_token, Some(Secret::new(raw.to_owned())))
        },
        show: |s| secret(&s.admin_token),
    },
    Variable {
        name: "TEST_MODE_MAX_USERS",
        default: Default::Value("10"),
        meaning: "default threshold for new plans",
        empty_refused: false,
        read: |raw, s| {
            let n = whole::<u32>(raw)?;
            if n > i32::MAX as u32 {
                return Err("is too large".to_owned());
            }
            set(&mut s.test_mode_max_users, n)
        },
        show: |s| s.test_mode_max_users.to_string(),
    },
    Variable {
        name: "WORKOS_API_KEY",
        default: Default::Unset("unset"),
        meaning: "`sk_…`: needed by \"Configure SCIM\" (the admin page's button, `POST /admin/plans/{id}/scim-setup`, \
                  `seatsync plans scim-setup`), `backfill`, `resync` and the Events API poller; without it \"Configure \
                  SCIM\" answers 409 `workos_not_configured`",
        empty_refused: false,
        read: |raw, s| set(&mut s.workos_api_key, Some(Secret::new(raw.to_owned()))),
        show: |s| secret(&s.workos_api_key),
    },
    Variable {
        name: "WORKOS_API_BASE",
        default: Default::Value("https://api.workos.com"),
        meaning: "pointed at a local fake in tests; `http://` only for a loopback host",
        empty_refused: false,
        read: |raw, s| set(&mut s.workos_api_base, service_url(raw)?),
        show: |s| masking::mask_service_url(&s.workos_api_base),
    },
    Variable {
        name: "PUBLIC_URL",
        default: Default::Unset("unset"),
        meaning: "where people reach this service; WorkOS's Admin Portal \"back\" button returns to \
                  `PUBLIC_URL/admin/`",
        empty_refused: false,
        read: |raw, s| {
            let raw = raw.trim().trim_end_matches('/').to_owned();
            match reqwest::Url::parse(&raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                    set(&mut s.public_url, Some(raw))
                }
                _ => Err("must be an http:// or https:// URL".to_owned()),
            }
        },
        show: |s| or_unset(s.public_url.clone()),
    },
    Variable {
        name: "LOGIN_REDIRECT_URL",
        default: Default::Unset("unset: `/sso/login_redirect` answers 404"),
        meaning: "the product's login page, where the identity provider's app tile sends people: absolute \
                  `https://` (or `http://` for a loopback host), else start-up stops",
        empty_refused: false,
        read: |raw, s| {
            // Absolute and https (plain http only to this machine): a relative
            // or odd value would send people somewhere nobody meant.
            let url = raw.trim().to_owned();
            check_api_base(&url)?;
            // Sent exactly as given (CONTRACT 3.5: `Location: $LOGIN_REDIRECT_URL`),
            // so it must be printable ASCII already: no whitespace or control
            // character can reach the header, and nothing is rewritten.
            if !url.bytes().all(|b| b.is_ascii_graphic()) {
                return Err("must be written in ASCII without spaces (percent-encode the rest)".to_owned());
            }
            set(&mut s.login_redirect_url, Some(url))
        },
        show: |s| or_unset(s.login_redirect_url.clone()),
    },
    Variable {
        name: "WORKOS_EVENTS_POLL_SECS",
        default: Default::Unset("unset (off)"),
        meaning: "`serve` also pulls the Events API this often",
        empty_refused: false,
        read: |raw, s| set(&mut s.events_poll_every, Some(every(raw)?)),
        show: |s| or_unset(s.events_poll_every.map(|d| d.as_secs().to_string())),
    },
    Variable {
        name: "WORKOS_RESYNC_EVERY_SECS",
        default: Default::Unset("unset (off)"),
        meaning: "`serve` runs a full resync of every plan this often",
        empty_refused: false,
        read: |raw, s| set(&mut s.resync_every, Some(every(raw)?)),
        show: |s| or_unset(s.resync_every.map(|d| d.as_secs().to_string())),
    },
    Variable {
        name: "LOG_FORMAT",
        default: Default::Value("pretty"),
        meaning: "`pretty` or `json`; `RUST_LOG` filters",
        empty_refused: false,
        read: |raw, s| {
            s.log_format = match raw.trim() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => return Err("must be pretty or json".to_owned()),
            };
            Ok(())
        },
        show: |s| format!("{:?}", s.log_format).to_lowercase(),
    },
    Variable {
        name: "RELEASE_LIMIT_MIN",
        default: Default::Value("10"),
        meaning: "release guard: a plan may always lose this many paid seats to its directory per window",
        empty_refused: false,
        read: |raw, s| set(&mut s.release_guard.min, whole(raw)?),
        show: |s| s.release_guard.min.to_string(),
    },
    Variable {
        name: "RELEASE_LIMIT_PERCENT",
        default: Default::Value("20"),
        meaning: "… or this share of the paid seats the plan had when the window began, that is its paid seats now \
                  plus those the directory released in the window, whichever is larger (a plan's `release_limit` \
                  overrides both; `0` turns it off)",
        empty_refused: false,
        read: |raw, s| match whole::<u64>(raw)? {
            percent @ 0..=100 => set(&mut s.release_guard.percent, percent),
            _ => Err("must be between 0 and 100".to_owned()),
        },
        show: |s| s.release_guard.percent.to_string(),
    },
    Variable {
        name: "RELEASE_WINDOW_SECS",
        default: Default::Value("3600"),
        meaning: "the release guard's rolling window",
        empty_refused: false,
        read: |raw, s| set(&mut s.release_guard.window, Duration::from_secs(whole_within(raw, 1, u64::MAX)?)),
        show: |s| s.release_guard.window.as_secs().to_string(),
    },
    Variable {
        name: "INBOX_RETENTION_DAYS",
        default: Default::Value("35"),
        meaning: "settled and parked events and dead letters older than this are pruned (`0`: settled events go at \
                  once; parked ones are then never pruned)",
        empty_refused: false,
        read: |raw, s| set(&mut s.inbox_retention, Duration::from_secs(whole_within(raw, 0, 36_500)? * 86_400)),
        show: |s| (s.inbox_retention.as_secs() / 86_400).to_string(),
    },
    Variable {
        name: "INBOX_PRUNE_EVERY_SECS",
        default: Default::Value("3600"),
        meaning: "how often `serve` prunes (one replica at a time)",
        empty_refused: false,
        read: |raw, s| set(&mut s.prune_every, every(raw)?),
        show: |s| s.prune_every.as_secs().to_string(),
    },
    Variable {
        name: "BILLING_WEBHOOK_URL",
        default: Default::Unset("unset (off)"),
        meaning: "where seat changes are pushed (CONTRACT 7.1, \"Seat changes pushed to billing\" below): \
                  `https://`, or `http://` for a loopback host",
        empty_refused: false,
        read: |raw, s| {
            let url = raw.trim().to_owned();
            check_api_base(&url)?;
            set(&mut s.billing_webhook_url, Some(url))
        },
        show: |s| or_unset(s.billing_webhook_url.as_deref().map(masking::mask_service_url)),
    },
    Variable {
        name: "BILLING_WEBHOOK_SECRET",
        default: Default::Unset("required with the URL"),
        meaning: "`whsec_` + base64 of 24 to 64 random bytes (Standard Webhooks); two, space-separated, while \
                  rotating (each message then carries both signatures); never printed",
        empty_refused: false,
        read: |raw, s| {
            // Two secrets sign each message while a receiver moves from one to
            // the other (Standard Webhooks rotation).
            let secrets = raw
                .split_whitespace()
                .map(SigningSecret::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            if secrets.len() > 2 {
                return Err("takes one secret, or two while rotating".to_owned());
            }
            set(&mut s.billing_webhook_secrets, secrets)
        },
        show: |s| match s.billing_webhook_secrets.len() {
            0 => UNSET.to_owned(),
            n => vec!["whsec_****"; n].join(" "),
        },
    },
    Variable {
        name: "BILLING_RETRY_SCHEDULE_SECS",
        default: Default::Value("5,300,1800,7200,18000,36000,36000"),
        meaning: "the waits after each failed attempt (±20% jitter); the message is `dead` after the last. For \
                  drills and tests; keep the default in production",
        empty_refused: false,
        read: |raw, s| {
            let waits = raw
                .split(',')
                .map(|w| w.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0))
                .map(|w| w.map(Duration::from_secs_f64))
                .collect::<Option<Vec<_>>>()
                .filter(|waits| !waits.is_empty())
                .ok_or("must be seconds separated by commas")?;
            set(&mut s.billing_retry_schedule, Schedule::new(waits))
        },
        show: |s| s.billing_retry_schedule.waits().iter().map(|w| secs_f64(*w)).collect::<Vec<_>>().join(","),
    },
    Variable {
        name: "BILLING_WEBHOOK_TIMEOUT_SECS",
        default: Default::Value("15"),
        meaning: "one attempt's time-out (a lease lasts this plus 5 s); Stripe's calls too",
        empty_refused: false,
        read: |raw, s| {
            let secs = raw
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 60.0)
                .ok_or("must be seconds, more than 0 and at most 60")?;
            set(&mut s.billing_webhook_timeout, Duration::from_secs_f64(secs))
        },
        show: |s| secs_f64(s.billing_webhook_timeout),
    },
    Variable {
        name: "STRIPE_API_KEY",
        default: Default::Unset("unset (off)"),
        meaning: "`sk_…` or `rk_…` (a restricted key needs write access to subscriptions): a plan with \
                  `stripe_subscription_item` keeps that item's quantity equal to its paid seats; never logged",
        empty_refused: false,
        read: |raw, s| {
            if !(raw.starts_with("sk_") || raw.starts_with("rk_")) {
                return Err("must be a secret (sk_...) or restricted (rk_...) key".to_owned());
            }
            set(&mut s.stripe_api_key, Some(Secret::new(raw.to_owned())))
        },
        show: |s| secret(&s.stripe_api_key),
    },
    Variable {
        name: "STRIPE_API_BASE",
        default: Default::Value("https://api.stripe.com"),
        meaning: "a local fake in tests; `http://` only for a loopback host",
        empty_refused: false,
        read: |raw, s| set(&mut s.stripe_api_base, service_url(raw)?),
        show: |s| masking::mask_service_url(&s.stripe_api_base),
    },
    Variable {
        name: "STRIPE_PRORATION_BEHAVIOR",
        default: Default::Value("create_prorations"),
        meaning: "`create_prorations`, `always_invoice` or `none`, sent with each quantity change",
        empty_refused: false,
        read: |raw, s| match raw.trim() {
            v @ ("create_prorations" | "always_invoice" | "none") => set(&mut s.stripe_proration, v.to_owned()),
            _ => Err("must be create_prorations, always_invoice or none".to_owned()),
        },
        show: |s| s.stripe_proration.clone(),
    },
];
