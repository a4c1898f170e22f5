//! `seatsync-bench webhooks` without --wrk: signed deliveries from this process's
//! own client; accepted/s and latency percentiles.
use crate::scratch::database_or_temp;
use seatsync::{config::Settings, startup::Application, webhook::signature};
use std::time::{Duration, Instant};

pub struct WebhookBench {
    pub url: Option<String>,
    pub secret: String,
    pub requests: usize,
    /// One run per level, in order.
    pub concurrency: Vec<usize>,
    pub database_url: Option<String>,
}

/// Fires signed `dsync.user.created` deliveries; prints accepted/s and latency
/// percentiles. Without `url`, starts a server in this process on a temporary
/// SQLite file (or `database_url`).
pub async fn webhooks(bench: WebhookBench) -> anyhow::Result<()> {
    let mut _temp = None;
    let mut server = None;
    let mut local_db = None;
    let run_id = ulid::Ulid::new().to_string();
    let org = format!("org_bench{run_id}");
    let base = match bench.url.clone() {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let (database_url, temp) = database_or_temp(bench.database_url.clone())?;
            _temp = temp;
            let env = [
                ("DATABASE_URL", database_url.as_str()),
                ("LISTEN_ADDR", "127.0.0.1:0"),
                ("WORKOS_WEBHOOK_SECRET", bench.secret.as_str()),
            ];
            let settings =
                Settings::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))?;
            let app = Application::build(&settings, false).await?;
            // A plan for the events' organization, so they are applied, not parked,
            // as in an initial sync: enforcement starts at the eleventh user.
            let new_plan = seatsync::operator::NewPlan {
                name: "bench".into(),
                organization_id: Some(org.clone()),
                test_mode_max_users: None,
                external_id: None,
            };
            seatsync::operator::create(&app.db(), new_plan, 10).await?;
            local_db = Some(app.db());
            let base = format!("http://127.0.0.1:{}", app.port());
            let handle = app.server_handle();
            server = Some((handle, tokio::spawn(app.run_until_stopped())));
            base
        }
    };
    println!(
        "{:>11} {:>9} {:>8} {:>8} {:>6} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "concurrency",
        "requests",
        "200",
        "503",
        "other",
        "accepted/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "stored"
    );
    for &concurrency in &bench.concurrency {
        let level =
            Level { concurrency: concurrency.max(1), requests: bench.requests, tag: format!("{run_id}_{concurrency}") };
        let result = fire(&base, &bench.secret, &org, &level).await?;
        // Every 200 must be a stored event: count them where the database is ours.
        let stored = match &local_db {
            Some(db) => seatsync::inbox::status::count_with_prefix(db, &format!("event_bench_{}_", level.tag))
                .await?
                .to_string(),
            None => "-".to_owned(),
        };
        let pct = |p: f64| {
            let l = &result.latencies;
            ms(l.get(((l.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default())
        };
        println!(
            "{:>11} {:>9} {:>8} {:>8} {:>6} {:>11.0} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8}",
            level.concurrency,
            level.requests,
            result.accepted,
            result.busy,
            result.other,
            result.accepted as f64 / result.elapsed.as_secs_f64(),
            pct(0.5),
            pct(0.9),
            pct(0.99),
            ms(result.latencies.last().copied().unwrap_or_default()),
            stored,
        );
    }
    if let Some(db) = &local_db {
        let started = Instant::now();
        while seatsync::inbox::status::backlog(db).await?.1.is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        println!("reconciler: backlog applied {:.2}s after the last level ended", started.elapsed().as_secs_f64());
    }
    if let Some((handle, task)) = server {
        handle.stop(true).await;
        let _ = task.await;
    }
    Ok(())
}

struct Level {
    concurrency: usize,
    requests: usize,
    /// Part of every event id of this level.
    tag: String,
}

struct LevelResult {
    accepted: usize,
    busy: usize,
    other: usize,
    elapsed: Duration,
    /// Sorted.
    latencies: Vec<Duration>,
}

/// One level: `requests` signed deliveries, `concurrency` at a time.
async fn fire(base: &str, secret: &str, org: &str, level: &Level) -> anyhow::Result<LevelResult> {
    let client = seatsync::http_client::client_builder().pool_max_idle_per_host(level.concurrency).build()?;
    let endpoint = format!("{base}/webhooks/workos");
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..level.concurrency {
        let (client, endpoint, next, secret, tag, org) =
            (client.clone(), endpoint.clone(), next.clone(), secret.to_owned(), level.tag.clone(), org.to_owned());
        let total = level.requests;
        workers.push(tokio::spawn(async move {
            let (mut latencies, mut counts) = (Vec::new(), [0usize; 3]);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body = serde_json::json!({
                    "id": format!("event_bench_{tag}_{i}"),
                    "event": "dsync.user.created",
                    "data": {"id": format!("directory_user_bench_{tag}_{i}"), "directory_id": "directory_bench",
                             "organization_id": org, "email": format!("bench{tag}{i}@example.com").to_lowercase(),
                             "state": "active", "updated_at": "2026-01-01T00:00:00Z"},
                })
                .to_string();
                let header =
                    signature::header_value(secret.as_bytes(), chrono::Utc::now().timestamp_millis(), body.as_bytes());
                let t = Instant::now();
                let response = client.post(&endpoint).header("WorkOS-Signature", header).body(body).send().await;
                latencies.push(t.elapsed());
                let slot = match response.map(|r| r.status().as_u16()) {
                    Ok(200) => 0,
                    Ok(503) => 1,
                    _ => 2,
                };
                counts[slot] += 1;
            }
            (counts, latencies)
        }));
    }
    let mut result = LevelResult { accepted: 0, busy: 0, other: 0, elapsed: Duration::ZERO, latencies: Vec::new() };
    for worker in workers {
        let (counts, latencies) = worker.await?;
        result.accepted += counts[0];
        result.busy += counts[1];
        result.other += counts[2];
        result.latencies.extend(latencies);
    }
    result.elapsed = started.elapsed();
    result.latencies.sort();
    Ok(result)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
