//! Configuration from the environment (and `.env`), typed and checked once at start-up.
pub use crate::telemetry::LogFormat;
use crate::{db::DatabaseUrl, domain::Secret};
use std::{net::SocketAddr, time::Duration};

#[derive(Debug, Clone)]
pub struct Settings {
    /// The `.env` file read, if any (said at start-up).
    pub env_file: Option<std::path::PathBuf>,
    pub database_url: DatabaseUrl,
    pub listen_addr: SocketAddr,
    pub webhook_secret: Option<Secret>,
    pub webhook_secret_previous: Option<Secret>,
    pub webhook_tolerance: Duration,
    pub webhook_max_body_bytes: usize,
    /// `WEBHOOK_MAX_INFLIGHT`: webhook bodies read at once.
    pub webhook_max_inflight: usize,
    /// `WEBHOOK_MAX_INFLIGHT_PER_CLIENT`: of those, from one client address.
    pub webhook_max_inflight_per_client: usize,
    /// `WEBHOOK_ALLOWED_IPS`: when set, only these may post webhooks.
    pub webhook_allowed_ips: Option<Vec<ipnet::IpNet>>,
    /// `TRUSTED_PROXIES`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub admin_token: Option<Secret>,
    pub test_mode_max_users: u32,
    pub workos_api_key: Option<Secret>,
    /// `STRIPE_API_KEY` (CONTRACT 7.2): keeps subscription item quantities.
    pub stripe_api_key: Option<Secret>,
    /// `STRIPE_API_BASE`, without a trailing slash.
    pub stripe_api_base: String,
    /// `STRIPE_PRORATION_BEHAVIOR`, sent with each quantity change.
    pub stripe_proration: String,
    pub workos_api_base: String,
    /// `PUBLIC_URL` without a trailing slash: where people reach this service.
    pub public_url: Option<String>,
    /// `METRICS_ADDR`: when set, `/metrics` is served on this address only.
    pub metrics_addr: Option<SocketAddr>,
    /// `LOGIN_REDIRECT_URL` (CONTRACT 3.5): where the identity provider's app
    /// tile sends people; unset, `/sso/login_redirect` answers 404.
    pub login_redirect_url: Option<String>,
    pub events_poll_every: Option<Duration>,
    pub resync_every: Option<Duration>,
    pub log_format: LogFormat,
    pub release_guard: crate::seats::guard::GuardSettings,
    /// `INBOX_RETENTION_DAYS`: settled events and dead letters older than this go.
    pub inbox_retention: Duration,
    /// How often `serve` prunes (`INBOX_PRUNE_EVERY_SECS`, default an hour).
    pub prune_every: Duration,
    /// `BILLING_WEBHOOK_URL` (CONTRACT 7.1): where seat changes are pushed.
    pub billing_webhook_url: Option<String>,
    /// `BILLING_WEBHOOK_SECRET`: signs them; required with the URL (two while
    /// rotating).
    pub billing_webhook_secrets: Vec<crate::billing::signature::SigningSecret>,
    /// `BILLING_RETRY_SCHEDULE_SECS`: the waits between attempts (CONTRACT 7.1's
    /// by default; shorter ones for tests and drills).
    pub billing_retry_schedule: crate::billing::schedule::Schedule,
    /// `BILLING_WEBHOOK_TIMEOUT_SECS`: one attempt's time-out (15 s by default).
    pub billing_webhook_timeout: Duration,
    /// Faults to inject (only with the `test-faults` feature).
    pub faults: crate::faults::Faults,
}

/// The secrets `.env.example` ships, as `(variable, value)`: fine on a laptop,
/// never in production, so `serve` warns when one is still in use.
pub const SHIPPED_SECRETS: [(&str, &str); 2] = [
    ("WORKOS_WEBHOOK_SECRET", "whsec_development_only_not_a_real_secret"),
    ("ADMIN_TOKEN", "dev-admin-token-local-only"),
];

/// Whether `value` is what `.env.example` ships for `variable`
/// (`WORKOS_WEBHOOK_SECRET_PREVIOUS` is held to the webhook secret's value).
pub fn is_shipped(variable: &str, value: &[u8]) -> bool {
    let variable = variable.trim_end_matches("_PREVIOUS");
    SHIPPED_SECRETS.iter().any(|(name, shipped)| *name == variable && value == shipped.as_bytes())
}

/// The shortest admin token accepted (CONTRACT 2).
pub const ADMIN_TOKEN_MIN_CHARS: usize = 16;

impl Settings {
    /// Where seat changes are pushed (CONTRACT 7).
    pub fn billing_targets(&self) -> crate::billing::Targets {
        crate::billing::Targets { webhook: self.billing_webhook_url.is_some(), stripe: self.stripe_api_key.is_some() }
    }

    /// The variables still set to a value shipped in `.env.example` (any of
    /// them: the example secret moved to "previous" while rotating is still
    /// the example).
    pub fn shipped_secrets_in_use(&self) -> Vec<&'static str> {
        shipped_in_use(&self.webhook_secret, &self.webhook_secret_previous, &self.admin_token)
    }
}

fn shipped_in_use(secret: &Option<Secret>, previous: &Option<Secret>, token: &Option<Secret>) -> Vec<&'static str> {
    [("WORKOS_WEBHOOK_SECRET", secret), ("WORKOS_WEBHOOK_SECRET_PREVIOUS", previous), ("ADMIN_TOKEN", token)]
        .into_iter()
        .filter(|(_, value)| {
            value.as_ref().is_some_and(|v| SHIPPED_SECRETS.iter().any(|(_, shipped)| v.expose() == *shipped))
        })
        .map(|(name, _)| name)
        .collect()
}

/// `https://` anywhere; plain `http://` only to this machine (a local fake or a
/// tunnel's near end), so the API key never crosses a network in clear.
pub(crate) fn check_api_base(raw: &str) -> Result<(), &'static str> {
    let url = reqwest::Url::parse(raw).map_err(|_| "must be an https:// URL (or http:// for a loopback host)")?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if loopback { Ok(()) } else { Err("may use http:// only for a loopback host; use https://") }
        }
        _ => Err("must start with https:// (or http:// for a loopback host)"),
    }
}

/// Loads `.env` when there is one (a missing file is normal; a broken one is
/// worth refusing). The error names the line by number only: the line itself
/// may hold a secret.
/// A `.env` that someone other than this process's user (or root) could
/// have written is not read: in a service's writable state directory, a
/// stray one would fill every unset variable, where the WorkOS key is sent
/// included. Refused with a line saying why, never silently used.
fn check_env_file_owner(path: &std::path::Path) -> Result<(), ConfigError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
        // World-writable is refused; group-writable is what a usual umask of
        // 002 (one group per user) leaves after `cp .env.example .env`.
        if meta.permissions().mode() & 0o002 != 0 {
            return Err(problem(".env", "is writable by anyone: not read (chmod o-w .env)"));
        }
        // This process's user, as Linux shows it (/proc/self is owned by it).
        if let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid())
            && meta.uid() != me
            && meta.uid() != 0
        {
            return Err(problem(".env", "belongs to another user: not read (chown it, or remove it)"));
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

fn load_env_file(path: &std::path::Path) -> Result<(), ConfigError> {
    if path.exists() {
        check_env_file_owner(path)?;
    }
    match dotenvy::from_path(path) {
        Ok(()) => Ok(()),
        Err(err) if err.not_found() => Ok(()),
        Err(dotenvy::Error::LineParse(line, _)) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            // A quoted value may span lines: the error then starts with the first.
            let number = text.lines().position(|l| !l.trim().is_empty() && line.trim().starts_with(l.trim()));
            Err(problem(
                ".env",
                match number {
                    Some(n) => format!("line {} could not be parsed", n + 1),
                    None => "has a line that could not be parsed".to_owned(),
                },
            ))
        }
        Err(dotenvy::Error::Io(err)) => Err(problem(".env", format!("could not be read: {}", err.kind()))),
        Err(_) => Err(problem(".env", "could not be read")),
    }
}

/// One line naming the variable and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {variable} {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

pub(crate) fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable, problem: problem.into() }
}

impl Settings {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(true)
    }

    /// `from_env`, with `.env` read or not (`--no-env-file`: the shipped
    /// deployment files read none). Says which file was read.
    pub fn from_env_with(read_env_file: bool) -> Result<Self, ConfigError> {
        let env_file = if read_env_file { Self::load_dotenv()? } else { None };
        Ok(Self { env_file, ..Self::from_lookup(|name| std::env::var(name).ok())? })
    }

    /// Loads `.env` into the environment, as `from_env` does first (a variable
    /// already set wins). Returns the file read, if there was one.
    pub fn load_dotenv() -> Result<Option<std::path::PathBuf>, ConfigError> {
        let path = std::path::Path::new(".env");
        load_env_file(path)?;
        Ok(path.exists().then(|| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())))
    }

    /// Builds settings from any lookup: tests pass a map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let faults = crate::faults::Faults::from_lookup(&lookup);
        // An empty value counts as unset, except for secrets where it is an error.
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let database_url = match get("DATABASE_URL") {
            Some(raw) => DatabaseUrl::parse(&raw).map_err(|p| problem("DATABASE_URL", p))?,
            None => DatabaseUrl::default_sqlite(),
        };
        let listen_addr = get("LISTEN_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned())
            .trim()
            .parse()
            .map_err(|_| problem("LISTEN_ADDR", "must be an address like 127.0.0.1:8080"))?;
        // The webhook secret set but empty is a mistake worth stopping for (fail
        // closed); the optional secrets left empty, as in .env.example, are unset.
        let webhook_secret = match lookup("WORKOS_WEBHOOK_SECRET") {
            None => None,
            Some(v) if v.trim().is_empty() => {
                return Err(problem("WORKOS_WEBHOOK_SECRET", "is set but empty"));
            }
            Some(v) => Some(Secret::new(v)),
        };
        let optional_secret = |name: &str| lookup(name).filter(|v| !v.trim().is_empty()).map(Secret::new);
        let webhook_secret_previous = optional_secret("WORKOS_WEBHOOK_SECRET_PREVIOUS");
        let admin_token = optional_secret("ADMIN_TOKEN");
        if let Some(token) = &admin_token
            && token.expose().trim().chars().count() < ADMIN_TOKEN_MIN_CHARS
        {
            return Err(problem(
                "ADMIN_TOKEN",
                format!("must be at least {ADMIN_TOKEN_MIN_CHARS} characters (e.g. openssl rand -hex 32)"),
            ));
        }
        // The example values are published: fine on this machine only.
        let loopback = match listen_addr {
            SocketAddr::V4(a) => a.ip().is_loopback(),
            SocketAddr::V6(a) => a.ip().is_loopback(),
        };
        if !loopback && let Some(name) = shipped_in_use(&webhook_secret, &webhook_secret_previous, &admin_token).first()
        {
            return Err(problem(
                name,
                format!(
                    "is the example value from .env.example, refused while LISTEN_ADDR ({listen_addr}) is not a \
                     loopback address: set a real one"
                ),
            ));
        }
        let workos_api_key = optional_secret("WORKOS_API_KEY");
        let stripe_api_key = optional_secret("STRIPE_API_KEY");
        if let Some(key) = &stripe_api_key
            && !(key.expose().starts_with("sk_") || key.expose().starts_with("rk_"))
        {
            return Err(problem("STRIPE_API_KEY", "must be a secret (sk_...) or restricted (rk_...) key"));
        }
        let stripe_api_base = get("STRIPE_API_BASE")
            .map(|v| v.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| "https://api.stripe.com".to_owned());
        check_api_base(&stripe_api_base).map_err(|p| problem("STRIPE_API_BASE", p))?;
        let stripe_proration = match get("STRIPE_PRORATION_BEHAVIOR").as_deref().map(str::trim) {
            None => "create_prorations".to_owned(),
            Some(v @ ("create_prorations" | "always_invoice" | "none")) => v.to_owned(),
            Some(_) => {
                return Err(problem("STRIPE_PRORATION_BEHAVIOR", "must be create_prorations, always_invoice or none"));
            }
        };

        let tolerance = parse_number::<u64>(&get, "WEBHOOK_TOLERANCE_SECS", 180)?;
        if tolerance == 0 {
            return Err(problem("WEBHOOK_TOLERANCE_SECS", "must be at least 1"));
        }
        let max_body = parse_number::<usize>(&get, "WEBHOOK_MAX_BODY_BYTES", 1_048_576)?;
        if max_body == 0 {
            return Err(problem("WEBHOOK_MAX_BODY_BYTES", "must be at least 1"));
        }
        let max_inflight = parse_number::<usize>(&get, "WEBHOOK_MAX_INFLIGHT", 256)?;
        if max_inflight == 0 || max_inflight > 1_000_000 {
            return Err(problem("WEBHOOK_MAX_INFLIGHT", "must be between 1 and 1000000"));
        }
        let max_inflight_per_client = parse_number::<usize>(&get, "WEBHOOK_MAX_INFLIGHT_PER_CLIENT", 16)?;
        if max_inflight_per_client == 0 || max_inflight_per_client > 1_000_000 {
            return Err(problem("WEBHOOK_MAX_INFLIGHT_PER_CLIENT", "must be between 1 and 1000000"));
        }
        let ranges = |name: &'static str| -> Result<Option<Vec<ipnet::IpNet>>, ConfigError> {
            match get(name) {
                None => Ok(None),
                Some(raw) => crate::http::client_address::parse_ranges(&raw)
                    .map_err(|p| problem(name, format!("must be addresses or CIDR ranges, comma-separated: {p}")))
                    .and_then(|r| if r.is_empty() { Err(problem(name, "lists no address")) } else { Ok(Some(r)) }),
            }
        };
        let webhook_allowed_ips = ranges("WEBHOOK_ALLOWED_IPS")?;
        let trusted_proxies = ranges("TRUSTED_PROXIES")?.unwrap_or_default();
        let test_mode_max_users = parse_number::<u32>(&get, "TEST_MODE_MAX_USERS", 10)?;
        if test_mode_max_users > i32::MAX as u32 {
            return Err(problem("TEST_MODE_MAX_USERS", "is too large"));
        }
        let workos_api_base = get("WORKOS_API_BASE")
            .unwrap_or_else(|| "https://api.workos.com".to_owned())
            .trim()
            .trim_end_matches('/')
            .to_owned();
        check_api_base(&workos_api_base).map_err(|p| problem("WORKOS_API_BASE", p))?;
        let public_url = match get("PUBLIC_URL") {
            None => None,
            Some(raw) => {
                let raw = raw.trim().trim_end_matches('/').to_owned();
                match reqwest::Url::parse(&raw) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => Some(raw),
                    _ => return Err(problem("PUBLIC_URL", "must be an http:// or https:// URL")),
                }
            }
        };
        let metrics_addr = match get("METRICS_ADDR") {
            None => None,
            Some(raw) => Some(
                raw.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| problem("METRICS_ADDR", "must be an address like 127.0.0.1:9090"))?,
            ),
        };
        // Absolute and https (plain http only to this machine): a relative or
        // odd value would send people somewhere nobody meant.
        let login_redirect_url = match get("LOGIN_REDIRECT_URL") {
            None => None,
            Some(raw) => {
                let url = raw.trim().to_owned();
                check_api_base(&url).map_err(|p| problem("LOGIN_REDIRECT_URL", p))?;
                reqwest::Url::parse(&url).map_err(|_| problem("LOGIN_REDIRECT_URL", "must be a URL"))?;
                // Sent exactly as given (CONTRACT 3.5: `Location: $LOGIN_REDIRECT_URL`),
                // so it must be printable ASCII already: no whitespace or control
                // character can reach the header, and nothing is rewritten.
                if !url.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(problem(
                        "LOGIN_REDIRECT_URL",
                        "must be written in ASCII without spaces (percent-encode the rest)",
                    ));
                }
                Some(url)
            }
        };
        let billing_webhook_url = match get("BILLING_WEBHOOK_URL") {
            None => None,
            Some(raw) => {
                let url = raw.trim().to_owned();
                check_api_base(&url).map_err(|p| problem("BILLING_WEBHOOK_URL", p))?;
                Some(url)
            }
        };
        // Two secrets, space-separated, sign each message while a receiver
        // moves from one to the other (Standard Webhooks rotation).
        let billing_webhook_secrets = match get("BILLING_WEBHOOK_SECRET") {
            None => Vec::new(),
            Some(raw) => raw
                .split_whitespace()
                .map(crate::billing::signature::SigningSecret::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| problem("BILLING_WEBHOOK_SECRET", e.to_string()))?,
        };
        if billing_webhook_secrets.len() > 2 {
            return Err(problem("BILLING_WEBHOOK_SECRET", "takes one secret, or two while rotating"));
        }
        if billing_webhook_url.is_some() && billing_webhook_secrets.is_empty() {
            return Err(problem("BILLING_WEBHOOK_SECRET", "is required with BILLING_WEBHOOK_URL"));
        }
        let billing_retry_schedule = match get("BILLING_RETRY_SCHEDULE_SECS") {
            None => crate::billing::schedule::Schedule::default(),
            Some(raw) => crate::billing::schedule::Schedule::new(
                raw.split(',')
                    .map(|w| w.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0))
                    .map(|w| w.map(Duration::from_secs_f64))
                    .collect::<Option<Vec<_>>>()
                    .filter(|waits| !waits.is_empty())
                    .ok_or_else(|| problem("BILLING_RETRY_SCHEDULE_SECS", "must be seconds separated by commas"))?,
            ),
        };
        let billing_webhook_timeout = match get("BILLING_WEBHOOK_TIMEOUT_SECS") {
            None => Duration::from_secs(15),
            Some(raw) => raw
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0 && *s <= 60.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| {
                    problem("BILLING_WEBHOOK_TIMEOUT_SECS", "must be seconds, more than 0 and at most 60")
                })?,
        };
        let optional_secs = |name: &'static str| -> Result<Option<Duration>, ConfigError> {
            match get(name) {
                None => Ok(None),
                Some(raw) => match raw.trim().parse::<u64>() {
                    Ok(0) | Err(_) => Err(problem(name, "must be a whole number of seconds, at least 1")),
                    Ok(secs) => Ok(Some(Duration::from_secs(secs))),
                },
            }
        };
        let events_poll_every = optional_secs("WORKOS_EVENTS_POLL_SECS")?;
        let resync_every = optional_secs("WORKOS_RESYNC_EVERY_SECS")?;
        // The defaults are the guard's own (`GuardSettings::default`).
        let guard = crate::seats::guard::GuardSettings::default();
        let release_guard = crate::seats::guard::GuardSettings {
            min: parse_number::<u64>(&get, "RELEASE_LIMIT_MIN", guard.min)?,
            percent: match parse_number::<u64>(&get, "RELEASE_LIMIT_PERCENT", guard.percent)? {
                p if p <= 100 => p,
                _ => return Err(problem("RELEASE_LIMIT_PERCENT", "must be between 0 and 100")),
            },
            window: match parse_number::<u64>(&get, "RELEASE_WINDOW_SECS", guard.window.as_secs())? {
                0 => return Err(problem("RELEASE_WINDOW_SECS", "must be at least 1")),
                secs => Duration::from_secs(secs),
            },
        };
        let retention_days = parse_number::<u64>(&get, "INBOX_RETENTION_DAYS", 35)?;
        if retention_days > 36_500 {
            return Err(problem("INBOX_RETENTION_DAYS", "must be at most 36500"));
        }
        let prune_every = optional_secs("INBOX_PRUNE_EVERY_SECS")?.unwrap_or(Duration::from_secs(3600));
        let log_format = match get("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("pretty") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(_) => return Err(problem("LOG_FORMAT", "must be pretty or json")),
        };

        Ok(Self {
            env_file: None,
            database_url,
            listen_addr,
            webhook_secret,
            webhook_secret_previous,
            webhook_tolerance: Duration::from_secs(tolerance),
            webhook_max_body_bytes: max_body,
            webhook_max_inflight: max_inflight,
            webhook_max_inflight_per_client: max_inflight_per_client,
            webhook_allowed_ips,
            trusted_proxies,
            admin_token,
            test_mode_max_users,
            workos_api_key,
            stripe_api_key,
            stripe_api_base,
            stripe_proration,
            workos_api_base,
            public_url,
            metrics_addr,
            login_redirect_url,
            events_poll_every,
            resync_every,
            log_format,
            release_guard,
            inbox_retention: Duration::from_secs(retention_days * 86_400),
            prune_every,
            billing_webhook_url,
            billing_webhook_secrets,
            billing_retry_schedule,
            billing_webhook_timeout,
            faults,
        })
    }

    /// The secrets a webhook may be signed with, newest first. `serve` refuses to
    /// start without one: an unset secret must never mean "skip the check".
    pub fn webhook_secrets(&self) -> Result<Vec<Secret>, ConfigError> {
        let current = self.webhook_secret.clone().ok_or_else(|| {
            problem("WORKOS_WEBHOOK_SECRET", "must be set (the endpoint secret from the WorkOS dashboard)")
        })?;
        Ok(std::iter::once(current).chain(self.webhook_secret_previous.clone()).collect())
    }
}

fn parse_number<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(raw) => {
            raw.trim().parse().map_err(|_| problem(name, format!("must be a whole number, got {:?}", raw.trim())))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_shipped_secrets_are_the_ones_in_env_example() {
        let example = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.env.example")).unwrap();
        for (name, value) in SHIPPED_SECRETS {
            assert!(example.lines().any(|l| l == format!("{name}={value}")), "{name} in .env.example");
        }
        let settings =
            Settings::from_lookup(|name| SHIPPED_SECRETS.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
                .unwrap();
        assert_eq!(settings.shipped_secrets_in_use(), vec!["WORKOS_WEBHOOK_SECRET", "ADMIN_TOKEN"]);
    }

    #[test]
    fn example_secrets_are_refused_on_a_public_address() {
        let shipped_secret = SHIPPED_SECRETS[0].1;
        let shipped_token = SHIPPED_SECRETS[1].1;
        for (name, value) in [
            ("WORKOS_WEBHOOK_SECRET", shipped_secret),
            ("WORKOS_WEBHOOK_SECRET_PREVIOUS", shipped_secret),
            ("ADMIN_TOKEN", shipped_token),
        ] {
            let mut pairs = vec![("LISTEN_ADDR", "0.0.0.0:8080"), ("WORKOS_WEBHOOK_SECRET", "whsec_a_real_one")];
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
            let err = settings(&pairs).unwrap_err();
            assert_eq!(err.variable, name);
            assert!(!err.to_string().contains(value), "the value is never printed: {err}");
            pairs[0] = ("LISTEN_ADDR", "127.0.0.1:8080");
            assert!(settings(&pairs).is_ok(), "{name} is fine on loopback");
        }
    }

    #[test]
    fn a_short_admin_token_is_refused() {
        assert_eq!(settings(&[("ADMIN_TOKEN", "a")]).unwrap_err().variable, "ADMIN_TOKEN");
        assert_eq!(settings(&[("ADMIN_TOKEN", "fifteen-chars-x")]).unwrap_err().variable, "ADMIN_TOKEN");
        assert!(settings(&[("ADMIN_TOKEN", "sixteen-chars-xy")]).is_ok());
    }

    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn a_billing_webhook_needs_a_secure_url_and_a_standard_webhooks_secret() {
        let secret = ("BILLING_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let ok = settings(&[("BILLING_WEBHOOK_URL", "https://billing.example.com/seats"), secret]).unwrap();
        assert_eq!(ok.billing_webhook_url.as_deref(), Some("https://billing.example.com/seats"));
        assert!(settings(&[("BILLING_WEBHOOK_URL", "http://127.0.0.1:9000/hook"), secret]).is_ok());
        let plain = settings(&[("BILLING_WEBHOOK_URL", "http://billing.example.com/seats"), secret]).unwrap_err();
        assert_eq!(plain.variable, "BILLING_WEBHOOK_URL");
        let alone = settings(&[("BILLING_WEBHOOK_URL", "https://billing.example.com/seats")]).unwrap_err();
        assert_eq!(alone.variable, "BILLING_WEBHOOK_SECRET");
        let bad = settings(&[("BILLING_WEBHOOK_SECRET", "whsec_c2hvcnQ=")]).unwrap_err();
        assert_eq!(bad.variable, "BILLING_WEBHOOK_SECRET");
        assert!(!bad.to_string().contains("c2hvcnQ"), "{bad}");
        assert!(settings(&[]).unwrap().billing_webhook_url.is_none());
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database_url.expose(), "sqlite://seatsync.db?mode=rwc");
        assert_eq!(s.listen_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.webhook_tolerance, Duration::from_secs(180));
        assert_eq!(s.webhook_max_body_bytes, 1_048_576);
        assert_eq!(s.test_mode_max_users, 10);
        assert_eq!(s.workos_api_base, "https://api.workos.com");
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert!(s.admin_token.is_none() && s.events_poll_every.is_none());
    }

    #[test]
    fn serve_needs_a_webhook_secret() {
        let err = settings(&[]).unwrap().webhook_secrets().unwrap_err();
        assert_eq!(err.variable, "WORKOS_WEBHOOK_SECRET");
        let err = settings(&[("WORKOS_WEBHOOK_SECRET", "")]).unwrap_err();
        assert_eq!(err.variable, "WORKOS_WEBHOOK_SECRET");
    }

    #[test]
    fn empty_optional_secrets_are_unset() {
        let s =
            settings(&[("WORKOS_WEBHOOK_SECRET_PREVIOUS", ""), ("ADMIN_TOKEN", ""), ("WORKOS_API_KEY", "")]).unwrap();
        assert!(s.webhook_secret_previous.is_none() && s.admin_token.is_none() && s.workos_api_key.is_none());
    }

    #[test]
    fn the_previous_secret_is_accepted_after_the_current_one() {
        let s = settings(&[("WORKOS_WEBHOOK_SECRET", "new"), ("WORKOS_WEBHOOK_SECRET_PREVIOUS", "old")]).unwrap();
        let secrets: Vec<_> = s.webhook_secrets().unwrap().iter().map(|s| s.expose().to_owned()).collect();
        assert_eq!(secrets, ["new", "old"]);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("WEBHOOK_TOLERANCE_SECS", "0"),
            ("WEBHOOK_TOLERANCE_SECS", "soon"),
            ("WEBHOOK_MAX_BODY_BYTES", "-1"),
            ("LISTEN_ADDR", "localhost"),
            ("DATABASE_URL", "mysql://x"),
            ("TEST_MODE_MAX_USERS", "ten"),
            ("LOG_FORMAT", "xml"),
            ("WORKOS_EVENTS_POLL_SECS", "0"),
            ("WORKOS_API_BASE", "api.workos.com"),
            ("WORKOS_API_BASE", "http://api.workos.com"),
            ("WORKOS_API_BASE", "http://10.0.0.8:9000"),
            ("WORKOS_API_BASE", "ftp://127.0.0.1"),
            ("WEBHOOK_MAX_INFLIGHT", "0"),
            ("WEBHOOK_MAX_INFLIGHT_PER_CLIENT", "0"),
            ("WEBHOOK_ALLOWED_IPS", "workos.com"),
            ("TRUSTED_PROXIES", "10.0.0.0/40"),
            ("PUBLIC_URL", "billing.example.com"),
            ("LOGIN_REDIRECT_URL", "/login"),
            ("LOGIN_REDIRECT_URL", "http://app.example.com/login"),
            ("LOGIN_REDIRECT_URL", "javascript:alert(1)"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.variable, name, "{value}");
            assert!(err.to_string().starts_with(&format!("configuration error: {name} ")));
        }
    }

    #[test]
    fn plain_http_is_for_loopback_only() {
        for base in ["http://127.0.0.1:9000", "http://localhost:1", "http://[::1]:8", "https://api.workos.com"] {
            assert_eq!(settings(&[("WORKOS_API_BASE", base)]).unwrap().workos_api_base, base);
        }
    }

    #[test]
    fn the_login_redirect_is_kept_as_given() {
        for url in ["https://app.example.com/login?next=%2F", "http://127.0.0.1:3000/login", "https://app.example.com"]
        {
            assert_eq!(settings(&[("LOGIN_REDIRECT_URL", url)]).unwrap().login_redirect_url.as_deref(), Some(url));
        }
        assert_eq!(settings(&[]).unwrap().login_redirect_url, None);
        for url in ["https://app.example.com/log in", "https://app.example.com/\u{e9}", "https://app.example.com/\tx"] {
            let err = settings(&[("LOGIN_REDIRECT_URL", url)]).unwrap_err();
            assert_eq!(err.variable, "LOGIN_REDIRECT_URL", "{url}");
        }
    }

    #[test]
    fn a_malformed_env_line_is_named_by_number_not_shown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "A=1\n# comment\nWORKOS_WEBHOOK_SECRET=whsec_live 'oops\nB=2\n").unwrap();
        let err = load_env_file(&path).unwrap_err();
        assert_eq!(err.variable, ".env");
        assert_eq!(err.problem, "line 3 could not be parsed");
        assert!(!err.to_string().contains("whsec_live"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = settings(&[
            ("WORKOS_WEBHOOK_SECRET", "whsec_topsecret"),
            ("ADMIN_TOKEN", "admintoken-long-enough"),
            ("WORKOS_API_KEY", "sk_live_key"),
            ("DATABASE_URL", "postgres://user:hunter2@db/seatsync"),
        ])
        .unwrap();
        let debug = format!("{s:?}");
        for secret in ["topsecret", "admintoken-long-enough", "sk_live_key", "hunter2"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert!(debug.contains("postgres://***@db/seatsync"));
    }
}
