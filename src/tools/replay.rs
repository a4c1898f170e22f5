//! `seatsync replay`: post fixture events, freshly signed, in file-name order.
use crate::webhook::signature;
use anyhow::{Context, bail};
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

/// One event to post: where it came from, and the exact bytes to sign.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub source: PathBuf,
    pub id: String,
    pub event: String,
    pub body: Vec<u8>,
}

/// Reads PATHs (files or folders; a folder's `*.json` files in name order, its
/// `expected.json` skipped). A file holds one event or an array of events.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Vec<Delivery>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("could not read folder {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.extension().is_some_and(|x| x == "json") && p.file_name().is_some_and(|n| n != "expected.json")
                })
                .collect();
            inside.sort();
            files.extend(inside);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            bail!("{}: no such file or folder", path.display());
        }
    }
    let mut deliveries = Vec::new();
    for file in files {
        deliveries.extend(load_file(&file)?);
    }
    Ok(deliveries)
}

fn load_file(file: &Path) -> anyhow::Result<Vec<Delivery>> {
    let bytes = std::fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).with_context(|| format!("{}: not valid JSON", file.display()))?;
    let describe = |v: &serde_json::Value, index: Option<usize>| -> anyhow::Result<(String, String)> {
        let at = index.map(|i| format!(" (item {i})")).unwrap_or_default();
        let field = |name: &str| {
            v.get(name)
                .and_then(|x| x.as_str())
                .map(str::to_owned)
                .with_context(|| format!("{}{at}: an event needs a string `{name}`", file.display()))
        };
        Ok((field("id")?, field("event")?))
    };
    match &value {
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let (id, event) = describe(item, Some(i))?;
                Ok(Delivery { source: file.to_owned(), id, event, body: serde_json::to_vec(item)? })
            })
            .collect(),
        _ => {
            let (id, event) = describe(&value, None)?;
            // A single event is sent as the file's exact bytes.
            Ok(vec![Delivery { source: file.to_owned(), id, event, body: bytes }])
        }
    }
}

pub struct ReplayOptions {
    pub url: String,
    pub secret: String,
    pub admin_token: Option<String>,
    pub wait: bool,
    pub concurrency: usize,
    pub wait_timeout: Duration,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub sent: usize,
    pub accepted: usize,
    pub duplicate: usize,
    pub refused: usize,
    /// Events whose final status is `failed` (they cannot be applied as they are).
    pub failed: usize,
    /// Final statuses, in delivery order, when waiting.
    pub statuses: Vec<(String, String)>,
}

/// The webhook URL for `url`, given as the server's base URL or as the webhook
/// URL itself (as registered in WorkOS).
pub fn webhook_endpoint(url: &str) -> String {
    let base = url.trim_end_matches('/');
    if base.ends_with("/webhooks/workos") { base.to_owned() } else { format!("{base}/webhooks/workos") }
}

/// `GET /admin/events/{id}` with the id as one path segment, encoded: an id
/// like `a/../../healthz?x=` must not send the admin token to another route.
pub fn event_url(base: &str, id: &str) -> anyhow::Result<reqwest::Url> {
    let mut url = reqwest::Url::parse(base).with_context(|| format!("not a URL: {base}"))?;
    url.path_segments_mut()
        .map_err(|_| anyhow::anyhow!("not a base URL: {base}"))?
        .pop_if_empty()
        .extend(["admin", "events", id]);
    Ok(url)
}

/// Posts every delivery; returns a summary. Lines go to `out`.
pub async fn replay(
    deliveries: &[Delivery],
    options: &ReplayOptions,
    out: &mut (impl Write + Send),
) -> anyhow::Result<Summary> {
    let client = crate::http_client::client_builder().timeout(Duration::from_secs(30)).build()?;
    let endpoint = webhook_endpoint(&options.url);
    // The admin API (for --wait) lives beside the webhook.
    let base = endpoint.trim_end_matches("/webhooks/workos").to_owned();
    // --wait sends ADMIN_TOKEN: never in clear across a network. Checked
    // before anything is posted.
    if options.wait && crate::config::check_api_base(&base).is_err() {
        bail!("--wait sends ADMIN_TOKEN: the URL must be https://, or http:// to this machine (got {base})");
    }
    let mut summary = Summary::default();
    for chunk in deliveries.chunks(options.concurrency.max(1)) {
        let posts = chunk.iter().map(|d| post(&client, &endpoint, &options.secret, d));
        let results = futures_util::future::join_all(posts).await;
        for (delivery, result) in chunk.iter().zip(results) {
            summary.sent += 1;
            let (code, status) = result.with_context(|| format!("could not reach {endpoint}"))?;
            match status.as_str() {
                "accepted" => summary.accepted += 1,
                "duplicate" => summary.duplicate += 1,
                _ => summary.refused += 1,
            }
            writeln!(out, "{}\t{}\t{}\t{}", delivery.id, delivery.event, code, status)?;
        }
    }
    if options.wait {
        let token = options.admin_token.as_deref().context("--wait needs ADMIN_TOKEN to read event statuses")?;
        for delivery in deliveries {
            let status = wait_for(&client, &base, token, &delivery.id, options.wait_timeout).await?;
            writeln!(out, "{}\tfinal\t{}", delivery.id, status)?;
            if status == "failed" {
                summary.failed += 1;
            }
            summary.statuses.push((delivery.id.clone(), status));
        }
    }
    writeln!(
        out,
        "sent {}, accepted {}, duplicate {}, refused {}, failed {}",
        summary.sent, summary.accepted, summary.duplicate, summary.refused, summary.failed
    )?;
    Ok(summary)
}

async fn post(client: &reqwest::Client, endpoint: &str, secret: &str, d: &Delivery) -> anyhow::Result<(u16, String)> {
    let t = chrono::Utc::now().timestamp_millis();
    let response = client
        .post(endpoint)
        .header("content-type", "application/json")
        .header("WorkOS-Signature", signature::header_value(secret.as_bytes(), t, &d.body))
        .body(d.body.clone())
        .send()
        .await?;
    let code = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let status =
        body.get("status").or_else(|| body.get("error")).and_then(|v| v.as_str()).unwrap_or("unknown").to_owned();
    Ok((code, status))
}

async fn wait_for(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
    timeout: Duration,
) -> anyhow::Result<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let response = client.get(event_url(base, id)?).bearer_auth(token).send().await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            bail!("the server refused ADMIN_TOKEN");
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let status = body.get("status").and_then(|s| s.as_str()).unwrap_or("unknown").to_owned();
        if status != "pending" || tokio::time::Instant::now() >= deadline {
            return Ok(status);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::webhook_endpoint;

    #[test]
    fn the_url_may_be_the_base_or_the_webhook_url_itself() {
        for url in [
            "http://localhost:8080",
            "http://localhost:8080/",
            "http://localhost:8080/webhooks/workos",
            "http://localhost:8080/webhooks/workos/",
        ] {
            assert_eq!(webhook_endpoint(url), "http://localhost:8080/webhooks/workos", "{url}");
        }
        assert_eq!(webhook_endpoint("https://x.example/seatsync"), "https://x.example/seatsync/webhooks/workos");
    }

    #[tokio::test]
    async fn waiting_never_sends_the_admin_token_in_clear_across_a_network() {
        let options = |url: &str| super::ReplayOptions {
            url: url.to_owned(),
            secret: "whsec_x".into(),
            admin_token: Some("token-that-must-not-travel".into()),
            wait: true,
            concurrency: 1,
            wait_timeout: std::time::Duration::from_secs(1),
        };
        let mut out = Vec::new();
        // Refused before anything is posted: the address is never contacted.
        let refused = super::replay(&[], &options("http://203.0.113.9:8080"), &mut out).await.unwrap_err();
        assert!(refused.to_string().contains("must be https://"), "{refused}");
        assert!(super::replay(&[], &options("http://127.0.0.1:9"), &mut out).await.is_ok(), "loopback is fine");
    }

    #[test]
    fn an_event_id_is_one_encoded_path_segment() {
        let url = super::event_url("http://localhost:8080", "a/../../healthz?x=").unwrap();
        assert_eq!(url.as_str(), "http://localhost:8080/admin/events/a%2F..%2F..%2Fhealthz%3Fx=");
        let plain = super::event_url("http://localhost:8080/", "event_01").unwrap();
        assert_eq!(plain.as_str(), "http://localhost:8080/admin/events/event_01");
    }
}
