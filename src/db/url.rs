//! Where the database is: SQLite or PostgreSQL, credentials kept out of `Debug`.
use std::fmt;

/// A database URL whose `Debug` hides credentials. A PostgreSQL URL may name
/// several hosts (libpq's form, `hosts.rs`); each is kept as a URL of its own.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    hosts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if kind_of(raw)? == DatabaseKind::Postgres {
            let hosts = super::hosts::split(raw)?.iter().map(|h| verified_tls(h)).collect::<Result<Vec<_>, _>>()?;
            let url = if hosts.len() == 1 { hosts[0].clone() } else { raw.to_owned() };
            return Ok(Self { url, hosts });
        }
        Ok(Self { url: raw.to_owned(), hosts: Vec::new() })
    }

    pub fn kind(&self) -> Result<DatabaseKind, String> {
        kind_of(&self.url)
    }

    /// The URL as given (one host: with its TLS mode settled).
    pub fn expose(&self) -> &str {
        &self.url
    }

    /// PostgreSQL: one URL per host, in the order to try them.
    pub fn postgres_hosts(&self) -> &[String] {
        &self.hosts
    }

    /// `serve`'s default: a file beside the working directory, created if missing.
    pub fn default_sqlite() -> Self {
        Self { url: "sqlite://seatsync.db?mode=rwc".to_owned(), hosts: Vec::new() }
    }
}

fn kind_of(url: &str) -> Result<DatabaseKind, String> {
    if url.starts_with("sqlite:") {
        Ok(DatabaseKind::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(DatabaseKind::Postgres)
    } else {
        Err("must start with sqlite: or postgres://".to_owned())
    }
}

/// PostgreSQL over TLS always verifies the server (CONTRACT 2, issue 26):
/// `require`, `prefer`, `allow` and `verify-ca` become `verify-full` (the
/// server's name checked against Mozilla's roots, or `sslrootcert`), so a
/// server without TLS, or with a certificate nobody signed, is refused instead
/// of used in clear or unverified. Without `sslmode`: `disable` for a loopback
/// host (TLS to this machine protects nothing), `verify-full` for any other.
fn verified_tls(raw: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(raw).map_err(|_| "is not a valid postgres:// URL".to_owned())?;
    let host = url.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_owned();
    // No host: a Unix socket (`?host=/run/postgresql`), local by nature.
    let local = host.is_empty()
        || host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    let mode = url.query_pairs().find(|(k, _)| k == "sslmode").map(|(_, v)| v.into_owned());
    let wanted = match mode.as_deref() {
        Some("disable") => return Ok(raw.to_owned()),
        None if local => "disable",
        None | Some("allow" | "prefer" | "require" | "verify-ca" | "verify-full") => "verify-full",
        Some(other) => return Err(format!("has an unknown sslmode={other}")),
    };
    if mode.as_deref() == Some(wanted) {
        return Ok(raw.to_owned());
    }
    let mut url = url;
    let pairs: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != "sslmode").map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    url.query_pairs_mut().clear().extend_pairs(pairs).append_pair("sslmode", wanted);
    Ok(url.to_string())
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = &self.url;
        let (base, query) = url.split_once('?').map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
        match base.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((_, host)) => write!(f, "{scheme}://***@{host}")?,
                None => write!(f, "{scheme}://{rest}")?,
            },
            None => f.write_str(base)?,
        }
        // A password may be given as a parameter too (`?password=`).
        if let Some(query) = query {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") || k.eq_ignore_ascii_case("sslpassword") => {
                        format!("{k}=***")
                    }
                    _ => p.to_owned(),
                })
                .collect();
            write!(f, "?{}", params.join("&"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_is_never_shown_in_the_userinfo_or_the_query() {
        let url =
            DatabaseUrl::parse("postgres://app:hunter2@db:5432/x?sslmode=verify-full&password=swordfish").unwrap();
        let shown = format!("{url:?}");
        assert_eq!(shown, "postgres://***@db:5432/x?sslmode=verify-full&password=***");
        assert_eq!(format!("{:?}", DatabaseUrl::default_sqlite()), "sqlite://seatsync.db?mode=rwc");
        let several = DatabaseUrl::parse("postgres://app:hunter2@db1,db2/x?target_session_attrs=read-write").unwrap();
        assert_eq!(format!("{several:?}"), "postgres://***@db1,db2/x?target_session_attrs=read-write");
    }

    #[test]
    fn every_host_of_a_list_gets_its_own_tls_mode() {
        let url = DatabaseUrl::parse("postgres://u@127.0.0.1:5433,db.example.com:5432/x").unwrap();
        assert_eq!(
            url.postgres_hosts(),
            ["postgres://u@127.0.0.1:5433/x?sslmode=disable", "postgres://u@db.example.com:5432/x?sslmode=verify-full"]
        );
        assert_eq!(url.expose(), "postgres://u@127.0.0.1:5433,db.example.com:5432/x");
    }

    #[test]
    fn postgres_tls_always_verifies_the_server() {
        let url = |raw: &str| DatabaseUrl::parse(raw).unwrap().expose().to_owned();
        assert_eq!(
            url("postgres://u@db.example.com/x?sslmode=require"),
            "postgres://u@db.example.com/x?sslmode=verify-full"
        );
        assert_eq!(
            url("postgres://u@db.example.com/x?sslmode=prefer&application_name=s"),
            "postgres://u@db.example.com/x?application_name=s&sslmode=verify-full"
        );
        assert_eq!(url("postgres://u@db.example.com/x"), "postgres://u@db.example.com/x?sslmode=verify-full");
        assert_eq!(
            url("postgres://u@db.example.com/x?sslmode=disable"),
            "postgres://u@db.example.com/x?sslmode=disable"
        );
        assert_eq!(url("postgres://u@127.0.0.1:5432/x"), "postgres://u@127.0.0.1:5432/x?sslmode=disable");
        assert_eq!(url("postgres://u@localhost/x?sslmode=verify-full"), "postgres://u@localhost/x?sslmode=verify-full");
        assert!(DatabaseUrl::parse("postgres://u@db/x?sslmode=maybe").is_err());
        assert!(url("sqlite://seatsync.db?mode=rwc").starts_with("sqlite://seatsync.db"));
    }
}
