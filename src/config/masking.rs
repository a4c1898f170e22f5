//! How secrets and URLs holding them are printed (`check-config`, logs): the
//! kind of a key stays visible, its secret never.
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
