//! `seatsync check-config` (CONTRACT 5): the configuration as `serve` reads it
//! (environment, then `.env`), printed with every secret masked, and every
//! problem listed, not only the first. Exit 0, or 78 (`EX_CONFIG`) when `serve`
//! would refuse to start.
use crate::config::{ConfigError, Settings, add_problems};
pub use crate::config::{mask, mask_database_url, mask_service_url};

/// `EX_CONFIG` from sysexits.h.
pub const EX_CONFIG: u8 = 78;

/// Every problem, by variable, in the settings table's order: each variable
/// is read on its own, so one bad value does not hide the next. Returns the
/// settings when there is no problem.
pub fn problems(lookup: impl Fn(&str) -> Option<String>) -> (Option<Settings>, Vec<ConfigError>) {
    let (settings, mut found) = Settings::read_each(lookup);
    // What `serve` alone refuses at start is its problem too, and so is a
    // missing webhook secret (other commands do not need one).
    let serve_refuses = crate::config::SERVE_RULES.iter().filter_map(|rule| rule(&settings).err());
    add_problems(&mut found, serve_refuses.chain(settings.webhook_secrets().err()));
    if found.is_empty() { (Some(settings), found) } else { (None, found) }
}

/// The effective configuration, one `NAME=value` a line, secrets masked.
pub fn describe(s: &Settings) -> Vec<(&'static str, String)> {
    crate::config::VARIABLES.iter().map(|v| (v.name, (v.show)(s))).collect()
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

    /// The problems found, as `(variable, problem)`, in the settings table's order.
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
        assert_eq!(named, ["LISTEN_ADDR", "LOG_FORMAT", "STRIPE_API_KEY"], "in the settings table's order");
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
                ("LOG_FORMAT", "must be pretty or json".to_owned()),
                ("RELEASE_LIMIT_PERCENT", "must be between 0 and 100".to_owned()),
                ("BILLING_WEBHOOK_SECRET", "is required with BILLING_WEBHOOK_URL".to_owned()),
            ]
        );
    }

    #[test]
    fn pulling_from_workos_without_an_api_key_is_refused_as_serve_refuses_it() {
        let found = listed(&[SECRET, ("WORKOS_EVENTS_POLL_SECS", "60"), ("LOG_FORMAT", "xml")]);
        assert_eq!(
            found,
            [
                ("WORKOS_API_KEY", "must be set when WORKOS_EVENTS_POLL_SECS is".to_owned()),
                ("LOG_FORMAT", "must be pretty or json".to_owned()),
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
    fn every_example_value_in_use_off_loopback_is_named() {
        let found = listed(&[
            ("LISTEN_ADDR", "0.0.0.0:8080"),
            ("WORKOS_WEBHOOK_SECRET", SHIPPED_SECRETS[0].1),
            ("ADMIN_TOKEN", SHIPPED_SECRETS[1].1),
        ]);
        let named: Vec<&str> = found.iter().map(|(variable, _)| *variable).collect();
        assert_eq!(named, ["WORKOS_WEBHOOK_SECRET", "ADMIN_TOKEN"]);
    }

    #[test]
    fn only_serve_needs_the_key_for_pulls_and_listeners_apart() {
        let pulls = lookup(&[SECRET, ("WORKOS_EVENTS_POLL_SECS", "60")]);
        assert!(Settings::from_lookup(&pulls).is_ok(), "migrate, backup, plans … still run");
        let clash = lookup(&[SECRET, ("METRICS_ADDR", "127.0.0.1:8080")]);
        assert!(Settings::from_lookup(&clash).is_ok());
        assert_eq!(listed(&[SECRET, ("METRICS_ADDR", "127.0.0.1:8080")])[0].0, "METRICS_ADDR");
    }

    #[test]
    fn a_percentage_that_is_no_number_says_so() {
        let found = listed(&[SECRET, ("RELEASE_LIMIT_PERCENT", "twenty")]);
        assert_eq!(found, [("RELEASE_LIMIT_PERCENT", "must be a whole number, got \"twenty\"".to_owned())]);
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
        assert_eq!(named, ["WORKOS_WEBHOOK_SECRET", "ADMIN_TOKEN", "BILLING_WEBHOOK_SECRET", "STRIPE_API_KEY"]);
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
