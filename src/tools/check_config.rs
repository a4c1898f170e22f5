//! `seatsync check-config` (CONTRACT 5): the configuration as `serve` reads it
//! (environment, then `.env`), printed with every secret masked, and every
//! problem listed, not only the first. Exit 0, or 78 (`EX_CONFIG`) when `serve`
//! would refuse to start.
use crate::{
    config::{ConfigError, Settings},
    domain::Secret,
    workos::WorkosClient,
};
use std::{cell::RefCell, collections::HashSet, net::IpAddr};

/// `EX_CONFIG` from sysexits.h.
pub const EX_CONFIG: u8 = 78;

/// The prefixes that name a kind of key rather than being part of its secret:
/// Standard Webhooks and WorkOS endpoint secrets, Stripe and WorkOS keys.
const KEY_PREFIXES: [&str; 3] = ["whsec_", "sk_", "rk_"];

/// A secret as its known prefix and `****` (`whsec_****`, `sk_****`), or
/// `****`: any other prefix may be part of the secret itself.
pub fn mask(value: &str) -> String {
    match KEY_PREFIXES.iter().find(|prefix| value.starts_with(**prefix)) {
        Some(prefix) => format!("{prefix}****"),
        None => "****".to_owned(),
    }
}

/// `DATABASE_URL` with its password masked wherever it is given: in the
/// userinfo (`user:pw@host`) or as a query parameter (`?password=pw`, which
/// the PostgreSQL driver also reads).
pub fn mask_database_url(raw: &str) -> String {
    // libpq's host list (`h1:5432,h2:5432`) is no URL's authority: it stands
    // aside while the rest is masked, then comes back as written.
    if let Some((scheme, rest)) = raw.split_once("://") {
        let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
        let hosts = authority.rsplit_once('@').map_or(authority, |(_, hosts)| hosts);
        if hosts.contains(',') {
            let single = format!("{scheme}://{}", rest.replacen(hosts, "several.invalid", 1));
            return mask_database_url(&single).replacen("several.invalid", hosts, 1);
        }
    }
    // Unparsable, nothing in it can be told apart from a password.
    let Ok(mut url) = reqwest::Url::parse(raw) else { return "****".to_owned() };
    if url.password().is_some() {
        let _ = url.set_password(Some("****"));
    }
    let is_password = |key: &str| key.to_ascii_lowercase().ends_with("password");
    if url.query_pairs().any(|(key, _)| is_password(&key)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_password(&key) { "****".to_owned() } else { value.into_owned() };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// A service URL as check-config prints it: a password in it and every query
/// value (a token travels there as often as not) masked; the scheme, host,
/// port, path and the query's names stay, so a wrong one can still be seen.
pub fn mask_service_url(raw: &str) -> String {
    let Ok(mut url) = reqwest::Url::parse(raw) else { return "****".to_owned() };
    if url.password().is_none() && url.query().is_none() {
        // Nothing to hide: as it was written.
        return raw.to_owned();
    }
    if url.password().is_some() {
        let _ = url.set_password(Some("****"));
    }
    if url.query().is_some() {
        let names: Vec<String> = url.query_pairs().map(|(key, _)| key.into_owned()).collect();
        url.query_pairs_mut().clear().extend_pairs(names.iter().map(|k| (k.as_str(), "****")));
    }
    url.to_string()
}

/// Every problem, by variable: the settings are read again with each refused
/// variable unset until `serve` would accept them, so one bad value does not
/// hide the next. Returns the settings when there is no problem.
pub fn problems(lookup: impl Fn(&str) -> Option<String>) -> (Option<Settings>, Vec<ConfigError>) {
    let mut unset: HashSet<String> = HashSet::new();
    let mut found: Vec<ConfigError> = Vec::new();
    loop {
        let err = match serve_reads(&|name| visible(&lookup, &unset, name)) {
            Ok(settings) => return (found.is_empty().then_some(settings), found),
            Err(err) => err,
        };
        let variable = err.variable;
        if !found.iter().any(|f| f.variable == variable) {
            found.push(err);
        }
        if unset.insert(variable.to_owned()) {
            continue;
        }
        // Refused even unset: another setting needs it (BILLING_WEBHOOK_URL
        // needs BILLING_WEBHOOK_SECRET). That one is read as unset too, so the
        // settings read after it are still checked.
        match needed_by(&lookup, &unset, variable) {
            Some(other) => unset.insert(other),
            None => return (None, found),
        };
    }
}

/// `lookup`, with the variables in `unset` read as unset.
fn visible(lookup: &impl Fn(&str) -> Option<String>, unset: &HashSet<String>, name: &str) -> Option<String> {
    if unset.contains(name) { None } else { lookup(name) }
}

/// The settings as `serve` reads them, with every refusal it makes at start
/// from the configuration alone, in `Application::build`'s terms.
fn serve_reads(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    let settings = Settings::from_lookup(lookup)?;
    WorkosClient::for_pulls(&settings)?;
    listeners_apart(&settings)?;
    // Last: nothing else needs it, so once it is the only problem left the
    // rest has been checked.
    settings.webhook_secrets()?;
    Ok(settings)
}

/// The set variable whose absence clears `variable`'s refusal: the one that
/// needs it.
fn needed_by(lookup: &impl Fn(&str) -> Option<String>, unset: &HashSet<String>, variable: &str) -> Option<String> {
    let set = RefCell::new(Vec::new());
    let _ = serve_reads(&|name| {
        let value = visible(lookup, unset, name);
        if value.is_some() && name != variable {
            set.borrow_mut().push(name.to_owned());
        }
        value
    });
    set.into_inner().into_iter().find(|candidate| {
        let mut trial = unset.clone();
        trial.insert(candidate.clone());
        serve_reads(&|name| visible(lookup, &trial, name)).err().is_none_or(|err| err.variable != variable)
    })
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
    Err(ConfigError {
        variable: "METRICS_ADDR",
        problem: format!("shares its port with LISTEN_ADDR ({listen}): serve could not listen on both"),
    })
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
        ("DATABASE_URL", mask_database_url(s.database_url.expose())),
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
        ("WORKOS_API_BASE", mask_service_url(&s.workos_api_base)),
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
        ("BILLING_WEBHOOK_URL", or_unset(s.billing_webhook_url.as_deref().map(mask_service_url))),
        (
            "BILLING_WEBHOOK_SECRET",
            if s.billing_webhook_secrets.is_empty() {
                "(unset)".to_owned()
            } else {
                vec!["whsec_****"; s.billing_webhook_secrets.len()].join(" ")
            },
        ),
        ("BILLING_WEBHOOK_TIMEOUT_SECS", format!("{}", s.billing_webhook_timeout.as_secs_f64())),
        (
            "BILLING_RETRY_SCHEDULE_SECS",
            s.billing_retry_schedule.waits().iter().map(|w| w.as_secs_f64().to_string()).collect::<Vec<_>>().join(","),
        ),
        ("STRIPE_API_KEY", secret(&s.stripe_api_key)),
        ("STRIPE_API_BASE", mask_service_url(&s.stripe_api_base)),
        ("STRIPE_PRORATION_BEHAVIOR", s.stripe_proration.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SHIPPED_SECRETS;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    /// The problems found, as `(variable, problem)`, in the order found.
    fn listed(pairs: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        let (settings, found) = problems(lookup(pairs));
        assert_eq!(settings.is_some(), found.is_empty(), "settings come back only when nothing is wrong");
        found.into_iter().map(|f| (f.variable, f.problem)).collect()
    }

    const SECRET: (&str, &str) = ("WORKOS_WEBHOOK_SECRET", "whsec_a_real_one");

    #[test]
    fn secrets_are_masked_to_a_known_key_prefix_only() {
        assert_eq!(mask("whsec_abc123"), "whsec_****");
        assert_eq!(mask("sk_live_abc"), "sk_****");
        assert_eq!(mask("rk_test_abc"), "rk_****");
        assert_eq!(mask("Ab3dE_secretpart"), "****", "an unknown prefix may be part of the secret");
        assert_eq!(mask("pk_live_abc"), "****");
        assert_eq!(mask("hunter2"), "****");
    }

    #[test]
    fn a_database_password_is_masked_in_the_userinfo_and_in_the_query() {
        assert_eq!(
            mask_database_url("postgres://seatsync:hunter2@db.example.com/seatsync?sslmode=verify-full"),
            "postgres://seatsync:****@db.example.com/seatsync?sslmode=verify-full"
        );
        assert_eq!(
            mask_database_url("postgres://seatsync@db.example.com/seatsync?password=hunter2&sslmode=verify-full"),
            "postgres://seatsync@db.example.com/seatsync?password=****&sslmode=verify-full"
        );
        assert_eq!(
            mask_database_url("postgres://seatsync@127.0.0.1/seatsync?sslmode=disable&password=hunter2"),
            "postgres://seatsync@127.0.0.1/seatsync?sslmode=disable&password=****"
        );
        assert_eq!(mask_database_url("sqlite://seatsync.db?mode=rwc"), "sqlite://seatsync.db?mode=rwc");
        assert_eq!(
            mask_database_url("postgres://app:hunter2@db1:5432,db2:5432/x?target_session_attrs=read-write"),
            "postgres://app:****@db1:5432,db2:5432/x?target_session_attrs=read-write"
        );
    }

    #[test]
    fn the_printed_database_url_holds_no_password() {
        let url = "postgres://seatsync:hunter2@db.example.com/seatsync?sslmode=verify-full&password=hunter3";
        let (settings, found) = problems(lookup(&[SECRET, ("DATABASE_URL", url)]));
        assert!(found.is_empty(), "{found:?}");
        let printed = describe(&settings.unwrap()).into_iter().find(|(name, _)| *name == "DATABASE_URL").unwrap().1;
        assert_eq!(printed, "postgres://seatsync:****@db.example.com/seatsync?sslmode=verify-full&password=****");
    }

    #[test]
    fn every_bad_variable_is_listed_not_only_the_first() {
        let named: Vec<&str> = listed(&[
            ("WORKOS_WEBHOOK_SECRET", "whsec_x"),
            ("LISTEN_ADDR", "nowhere"),
            ("LOG_FORMAT", "xml"),
            ("STRIPE_API_KEY", "pk_live_oops"),
        ])
        .into_iter()
        .map(|(variable, _)| variable)
        .collect();
        assert_eq!(named, ["LISTEN_ADDR", "STRIPE_API_KEY", "LOG_FORMAT"]);
    }

    #[test]
    fn a_billing_url_without_its_secret_does_not_hide_the_settings_read_after_it() {
        let found = listed(&[
            SECRET,
            ("BILLING_WEBHOOK_URL", "https://billing.example.com/seats"),
            ("RELEASE_LIMIT_PERCENT", "101"),
            ("LOG_FORMAT", "xml"),
        ]);
        assert_eq!(
            found,
            [
                ("BILLING_WEBHOOK_SECRET", "is required with BILLING_WEBHOOK_URL".to_owned()),
                ("RELEASE_LIMIT_PERCENT", "must be between 0 and 100".to_owned()),
                ("LOG_FORMAT", "must be pretty or json".to_owned()),
            ]
        );
    }

    #[test]
    fn pulling_from_workos_without_an_api_key_is_refused_as_serve_refuses_it() {
        let found = listed(&[SECRET, ("WORKOS_EVENTS_POLL_SECS", "60"), ("LOG_FORMAT", "xml")]);
        assert_eq!(
            found,
            [
                ("LOG_FORMAT", "must be pretty or json".to_owned()),
                ("WORKOS_API_KEY", "must be set when WORKOS_EVENTS_POLL_SECS is".to_owned()),
            ]
        );
        let both = listed(&[SECRET, ("WORKOS_EVENTS_POLL_SECS", "60"), ("WORKOS_RESYNC_EVERY_SECS", "3600")]);
        assert_eq!(both, [("WORKOS_API_KEY", "must be set when WORKOS_EVENTS_POLL_SECS is".to_owned())]);
        assert!(listed(&[SECRET, ("WORKOS_EVENTS_POLL_SECS", "60"), ("WORKOS_API_KEY", "sk_test_x")]).is_empty());
    }

    #[test]
    fn metrics_on_the_port_serve_listens_on_is_refused() {
        let clash = |listen: &str, metrics: &str| -> Vec<&str> {
            let found = listed(&[SECRET, ("LISTEN_ADDR", listen), ("METRICS_ADDR", metrics)]);
            found.into_iter().map(|(variable, _)| variable).collect()
        };
        let refused: Vec<&str> = vec!["METRICS_ADDR"];
        assert_eq!(clash("127.0.0.1:8080", "127.0.0.1:8080"), refused);
        assert_eq!(clash("0.0.0.0:8080", "127.0.0.1:8080"), refused);
        assert_eq!(clash("127.0.0.1:8080", "[::]:8080"), refused);
        assert_eq!(clash("127.0.0.1:8080", "127.0.0.1:9090"), Vec::<&str>::new());
        assert_eq!(clash("0.0.0.0:8080", "[::1]:8080"), Vec::<&str>::new());
        assert_eq!(clash("127.0.0.1:0", "127.0.0.1:0"), Vec::<&str>::new(), "port 0 picks two free ports");
    }

    type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

    #[test]
    fn each_kind_of_bad_value_is_named_with_what_is_wrong() {
        let example_token = SHIPPED_SECRETS[1].1;
        // The settings given, the variable named, what is said about it.
        let cases: &[Case] = &[
            // A number out of range.
            (&[("RELEASE_LIMIT_PERCENT", "101")], "RELEASE_LIMIT_PERCENT", "must be between 0 and 100"),
            (&[("WEBHOOK_MAX_INFLIGHT", "0")], "WEBHOOK_MAX_INFLIGHT", "must be between 1 and 1000000"),
            (&[("INBOX_RETENTION_DAYS", "36501")], "INBOX_RETENTION_DAYS", "must be at most 36500"),
            // A bad URL scheme.
            (
                &[("WORKOS_API_BASE", "ftp://127.0.0.1")],
                "WORKOS_API_BASE",
                "must start with https:// (or http:// for a loopback host)",
            ),
            (
                &[("STRIPE_API_BASE", "http://api.stripe.com")],
                "STRIPE_API_BASE",
                "may use http:// only for a loopback host; use https://",
            ),
            // A bad DATABASE_URL.
            (&[("DATABASE_URL", "mysql://db/seatsync")], "DATABASE_URL", "must start with sqlite: or postgres://"),
            (
                &[("DATABASE_URL", "postgres://u@db/seatsync?sslmode=maybe")],
                "DATABASE_URL",
                "has an unknown sslmode=maybe",
            ),
            // An empty secret, an example one off loopback, a short token.
            (&[("WORKOS_WEBHOOK_SECRET", " ")], "WORKOS_WEBHOOK_SECRET", "is set but empty"),
            (
                &[("LISTEN_ADDR", "0.0.0.0:8080"), ("ADMIN_TOKEN", example_token)],
                "ADMIN_TOKEN",
                "is the example value from .env.example, refused while LISTEN_ADDR (0.0.0.0:8080) is not a loopback \
                 address: set a real one",
            ),
            (
                &[("ADMIN_TOKEN", "fifteen-chars-x")],
                "ADMIN_TOKEN",
                "must be at least 16 characters (e.g. openssl rand -hex 32)",
            ),
            // A bad address list.
            (
                &[("WEBHOOK_ALLOWED_IPS", "10.0.0.0/8,workos.com")],
                "WEBHOOK_ALLOWED_IPS",
                "must be addresses or CIDR ranges, comma-separated: \"workos.com\" is not an address or a CIDR range",
            ),
            (
                &[("TRUSTED_PROXIES", "10.0.0.0/40")],
                "TRUSTED_PROXIES",
                "must be addresses or CIDR ranges, comma-separated: \"10.0.0.0/40\" is not an address or a CIDR range",
            ),
            // A setting that needs another.
            (
                &[("BILLING_WEBHOOK_URL", "https://billing.example.com/seats")],
                "BILLING_WEBHOOK_SECRET",
                "is required with BILLING_WEBHOOK_URL",
            ),
            (&[("WORKOS_RESYNC_EVERY_SECS", "3600")], "WORKOS_API_KEY", "must be set when WORKOS_RESYNC_EVERY_SECS is"),
        ];
        for (pairs, variable, problem) in cases {
            let mut all = vec![SECRET];
            all.retain(|(name, _)| pairs.iter().all(|(n, _)| n != name));
            all.extend_from_slice(pairs);
            assert_eq!(listed(&all), [(*variable, problem.to_string())], "{pairs:?}");
        }
    }

    #[test]
    fn no_problem_line_shows_a_secret_value() {
        let example_secret = SHIPPED_SECRETS[0].1;
        let found = listed(&[
            ("LISTEN_ADDR", "0.0.0.0:8080"),
            ("WORKOS_WEBHOOK_SECRET", example_secret),
            ("ADMIN_TOKEN", "short-keepquiet"),
            ("BILLING_WEBHOOK_SECRET", "whsec_keepquiet"),
            ("STRIPE_API_KEY", "pk_keepquiet"),
        ]);
        let named: Vec<&str> = found.iter().map(|(variable, _)| *variable).collect();
        assert_eq!(named, ["ADMIN_TOKEN", "WORKOS_WEBHOOK_SECRET", "STRIPE_API_KEY", "BILLING_WEBHOOK_SECRET"]);
        for (variable, problem) in &found {
            assert!(!problem.contains("keepquiet") && !problem.contains(example_secret), "{variable} {problem}");
        }
    }

    #[test]
    fn a_missing_required_secret_is_a_problem() {
        let found = listed(&[]);
        assert_eq!(
            found,
            [("WORKOS_WEBHOOK_SECRET", "must be set (the endpoint secret from the WorkOS dashboard)".to_owned())]
        );
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
        assert!(text.contains("ADMIN_TOKEN=****\n"), "{text}");
    }

    #[test]
    fn service_urls_are_printed_without_their_password_or_query_values() {
        assert_eq!(
            mask_service_url("https://user:hunter2@billing.example.com/hook?token=abc&x=1"),
            "https://user:****@billing.example.com/hook?token=****&x=****"
        );
        assert_eq!(mask_service_url("https://api.workos.com"), "https://api.workos.com");
        assert_eq!(mask_service_url("not a url"), "****");
    }
}
