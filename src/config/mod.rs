//! Configuration from the environment (and `.env`), typed and checked once at start-up.
pub use crate::telemetry::LogFormat;
mod masking;
mod variables;

pub use masking::{mask, mask_database_url, mask_service_url};
pub use variables::{VARIABLES, Variable, doc_table, position as variable_position};

use crate::{db::DatabaseUrl, domain::Secret};
use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

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
/// (`WORKOS_WEBHOOK_SECRET_PREVIOUS` is checked against the webhook secret's value).
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
        [
            ("WORKOS_WEBHOOK_SECRET", &self.webhook_secret),
            ("WORKOS_WEBHOOK_SECRET_PREVIOUS", &self.webhook_secret_previous),
            ("ADMIN_TOKEN", &self.admin_token),
        ]
        .into_iter()
        .filter(|(_, value)| {
            value.as_ref().is_some_and(|v| SHIPPED_SECRETS.iter().any(|(_, shipped)| v.expose() == *shipped))
        })
        .map(|(name, _)| name)
        .collect()
    }
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

/// Loads `.env` when there is one (a missing file is normal; a broken one is
/// worth refusing). The error names the line by number only: the line itself
/// may hold a secret.
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

    /// Builds settings from any lookup (tests pass a map); the first problem,
    /// in the table's order, as `serve` stops on it.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read_all(lookup).map_err(|mut found| found.swap_remove(0))
    }

    /// Every problem, not only the first: each variable of `VARIABLES` is
    /// read on its own (an unset one as its default), then the rules that
    /// tie variables together are checked. Problems come in the table's order.
    pub fn read_all(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let (settings, found) = Self::read_each(lookup);
        if found.is_empty() { Ok(settings) } else { Err(found) }
    }

    /// `read_all`'s work: the settings, each variable that could not be read
    /// left at its default, and every problem found, in the table's order.
    pub fn read_each(lookup: impl Fn(&str) -> Option<String>) -> (Self, Vec<ConfigError>) {
        let mut settings = Self::defaults(crate::faults::Faults::from_lookup(&lookup));
        let mut found = Vec::new();
        for variable in VARIABLES {
            let given = match lookup(variable.name) {
                Some(raw) if !raw.trim().is_empty() => raw,
                Some(_) if variable.empty_refused => {
                    found.push(problem(variable.name, "is set but empty"));
                    continue;
                }
                // An empty value counts as unset (as `.env.example` leaves them).
                _ => continue,
            };
            if let Err(p) = (variable.read)(&given, &mut settings) {
                found.push(problem(variable.name, p));
            }
        }
        add_problems(&mut found, RULES.iter().flat_map(|rule| rule(&settings)));
        (settings, found)
    }

    /// Every variable at its default (`Default::Value` read as if given).
    fn defaults(faults: crate::faults::Faults) -> Self {
        let mut settings = Self {
            env_file: None,
            database_url: DatabaseUrl::default_sqlite(),
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            webhook_secret: None,
            webhook_secret_previous: None,
            webhook_tolerance: Duration::ZERO,
            webhook_max_body_bytes: 0,
            webhook_max_inflight: 0,
            webhook_max_inflight_per_client: 0,
            webhook_allowed_ips: None,
            trusted_proxies: Vec::new(),
            admin_token: None,
            test_mode_max_users: 0,
            workos_api_key: None,
            stripe_api_key: None,
            stripe_api_base: String::new(),
            stripe_proration: String::new(),
            workos_api_base: String::new(),
            public_url: None,
            metrics_addr: None,
            login_redirect_url: None,
            events_poll_every: None,
            resync_every: None,
            log_format: LogFormat::Pretty,
            release_guard: crate::seats::guard::GuardSettings::default(),
            inbox_retention: Duration::ZERO,
            prune_every: Duration::ZERO,
            billing_webhook_url: None,
            billing_webhook_secrets: Vec::new(),
            billing_retry_schedule: crate::billing::schedule::Schedule::default(),
            billing_webhook_timeout: Duration::ZERO,
            faults,
        };
        for variable in VARIABLES {
            if let variables::Default::Value(value) = variable.default {
                // A default that does not read is a bug the table's test catches.
                let _ = (variable.read)(value, &mut settings);
            }
        }
        settings
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

/// Adds the problems of variables not named yet (a variable that could not be
/// read is not blamed again by a rule that saw its default), and keeps them in
/// the table's order.
pub fn add_problems(found: &mut Vec<ConfigError>, more: impl IntoIterator<Item = ConfigError>) {
    for err in more {
        if !found.iter().any(|f| f.variable == err.variable) {
            found.push(err);
        }
    }
    found.sort_by_key(|f| variable_position(f.variable));
}

/// Checks that tie variables together, after each was read on its own: every
/// command refuses what they find. Each gives every problem it sees.
type Rule = fn(&Settings) -> Vec<ConfigError>;

const RULES: [Rule; 2] = [example_values_on_loopback_only, billing_url_needs_its_secret];

/// A check only `serve` makes.
pub type ServeRule = fn(&Settings) -> Result<(), ConfigError>;

/// What `serve` alone refuses at start from the configuration (other commands
/// neither poll nor listen): `Application::build` checks the first, binding
/// fails on the second, and `check-config` lists both.
pub const SERVE_RULES: [ServeRule; 2] = [pulls_need_the_api_key, listeners_apart];

/// The example values are published: fine on this machine only. Every one in
/// use is named.
fn example_values_on_loopback_only(s: &Settings) -> Vec<ConfigError> {
    let listen_addr = s.listen_addr;
    if listen_addr.ip().is_loopback() {
        return Vec::new();
    }
    let refused = |name: &&'static str| {
        problem(
            name,
            format!(
                "is the example value from .env.example, refused while LISTEN_ADDR ({listen_addr}) is not a \
                 loopback address: set a real one"
            ),
        )
    };
    s.shipped_secrets_in_use().iter().map(refused).collect()
}

fn billing_url_needs_its_secret(s: &Settings) -> Vec<ConfigError> {
    if s.billing_webhook_url.is_some() && s.billing_webhook_secrets.is_empty() {
        return vec![problem("BILLING_WEBHOOK_SECRET", "is required with BILLING_WEBHOOK_URL")];
    }
    Vec::new()
}

/// Polling and the scheduled resync call WorkOS's API.
pub fn pulls_need_the_api_key(s: &Settings) -> Result<(), ConfigError> {
    let wanted = [("WORKOS_EVENTS_POLL_SECS", s.events_poll_every), ("WORKOS_RESYNC_EVERY_SECS", s.resync_every)];
    match wanted.iter().find(|(_, every)| every.is_some()) {
        Some((variable, _)) if s.workos_api_key.is_none() => {
            Err(problem("WORKOS_API_KEY", format!("must be set when {variable} is")))
        }
        _ => Ok(()),
    }
}

/// `serve` binds `METRICS_ADDR`, then `LISTEN_ADDR`: the same port on
/// overlapping addresses can never be bound twice, so it would stop there.
fn listeners_apart(s: &Settings) -> Result<(), ConfigError> {
    let (Some(metrics), listen) = (s.metrics_addr, s.listen_addr) else { return Ok(()) };
    // `[::]` also takes IPv4 (dual stack); `0.0.0.0` every IPv4 address.
    let covers = |any: IpAddr, other: IpAddr| any.is_unspecified() && (any.is_ipv6() || other.is_ipv4());
    let (a, b) = (metrics.ip(), listen.ip());
    if metrics.port() == 0 || metrics.port() != listen.port() || !(a == b || covers(a, b) || covers(b, a)) {
        return Ok(());
    }
    Err(problem("METRICS_ADDR", format!("shares its port with LISTEN_ADDR ({listen}): serve could not listen on both")))
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
    fn every_default_in_the_table_reads_without_a_problem() {
        for variable in VARIABLES {
            if let variables::Default::Value(value) = variable.default {
                let mut s = Settings::defaults(crate::faults::Faults::default());
                assert_eq!((variable.read)(value, &mut s), Ok(()), "{}'s default", variable.name);
                let shown = (variable.show)(&s);
                assert_eq!(shown, value, "{} prints its default as the table gives it", variable.name);
            }
        }
        let s = settings(&[]).unwrap();
        assert_eq!(s.release_guard, crate::seats::guard::GuardSettings::default(), "the guard's own defaults");
        assert_eq!(s.billing_retry_schedule.waits(), crate::billing::schedule::Schedule::default().waits());
    }

    #[test]
    fn the_operating_guide_shows_the_settings_table() {
        let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operating.md")).unwrap();
        let table = doc_table();
        assert!(
            guide.contains(&table),
            "docs/operating.md's table of variables differs from config/variables.rs; paste this:\n{table}"
        );
    }

    #[test]
    fn the_contract_and_the_table_name_the_same_variables() {
        let contract = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONTRACT.md")).unwrap();
        let section = &contract[contract.find("## 2.").unwrap()..];
        let section = &section[..section[1..].find("\n## ").unwrap()];
        let mut named: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `")?.split('`').next())
            .filter(|name| !name.starts_with("OTEL_"))
            .collect();
        let mut ours: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
        named.sort_unstable();
        ours.sort_unstable();
        assert_eq!(named, ours);
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
