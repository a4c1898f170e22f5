//! `seatsync bench`: figures for the webhook intake and for enforcement on a large
//! plan, and the reconciler on a backlog (`reconcile`). Printed, never asserted:
//! machines are shared and noisy.
mod prune;
mod reconcile;

pub use prune::prune;

use crate::{
    config::{DatabaseUrl, Settings},
    db,
    domain::{EventId, Micros, OrganizationId, PlanId},
    reconcile::enforcement,
    seats::plans::{self, Plan},
    startup::Application,
    webhook::signature,
};
use anyhow::Context;
pub use reconcile::reconcile;
use sea_orm::{ConnectionTrait, TransactionTrait};
use std::time::{Duration, Instant};

pub struct WebhookBench {
    pub url: Option<String>,
    pub secret: String,
    pub requests: usize,
    pub concurrency: usize,
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
            let database_url = match &bench.database_url {
                Some(url) => url.clone(),
                None => {
                    let dir = tempfile_dir()?;
                    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
                    _temp = Some(TempDir(dir));
                    url
                }
            };
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
            let new_plan = crate::plans::NewPlan {
                name: "bench".into(),
                organization_id: Some(org.clone()),
                test_mode_max_users: None,
            };
            crate::plans::create(&app.db(), new_plan, 10).await?;
            local_db = Some(app.db());
            let base = format!("http://127.0.0.1:{}", app.port());
            let handle = app.server_handle();
            server = Some((handle, tokio::spawn(app.run_until_stopped())));
            base
        }
    };
    let client = crate::outbound::client_builder().pool_max_idle_per_host(bench.concurrency).build()?;
    let endpoint = format!("{base}/webhooks/workos");
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..bench.concurrency.max(1) {
        let (client, endpoint, next, secret, run_id, org) =
            (client.clone(), endpoint.clone(), next.clone(), bench.secret.clone(), run_id.clone(), org.clone());
        let total = bench.requests;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut accepted = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body = serde_json::json!({
                    "id": format!("event_bench_{run_id}_{i}"),
                    "event": "dsync.user.created",
                    "data": {"id": format!("directory_user_bench_{i}"), "directory_id": "directory_bench",
                             "organization_id": org, "email": format!("bench{i}@example.com"),
                             "state": "active", "updated_at": "2026-01-01T00:00:00Z"},
                })
                .to_string();
                let header =
                    signature::header_value(secret.as_bytes(), chrono::Utc::now().timestamp_millis(), body.as_bytes());
                let t = Instant::now();
                let response = client.post(&endpoint).header("WorkOS-Signature", header).body(body).send().await;
                latencies.push(t.elapsed());
                if response.is_ok_and(|r| r.status() == 200) {
                    accepted += 1;
                }
            }
            (accepted, latencies)
        }));
    }
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for worker in workers {
        let (a, l) = worker.await?;
        accepted += a;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct =
        |p: f64| latencies.get(((latencies.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default();
    println!(
        "webhooks: {} requests, concurrency {}, {} accepted in {:.2}s = {:.0} accepted/s; latency p50 {:.1}ms p90 {:.1}ms p99 {:.1}ms max {:.1}ms",
        bench.requests,
        bench.concurrency,
        accepted,
        elapsed.as_secs_f64(),
        accepted as f64 / elapsed.as_secs_f64(),
        ms(pct(0.5)),
        ms(pct(0.9)),
        ms(pct(0.99)),
        ms(latencies.last().copied().unwrap_or_default()),
    );
    if let Some(db) = &local_db {
        // The reconciler started with the first delivery; time until it is done.
        while crate::inbox::status::backlog(db).await?.1.is_some() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let total = started.elapsed();
        println!(
            "reconciler: all {} applied {:.2}s after the first delivery = {:.0} events/s; {:.2}s after the last 200",
            accepted,
            total.as_secs_f64(),
            accepted as f64 / total.as_secs_f64(),
            (total - elapsed).as_secs_f64(),
        );
    }
    if let Some((handle, task)) = server {
        handle.stop(true).await;
        let _ = task.await;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Enforcement on a plan of `members` manual paid members with `directory`
/// active directory users: the time of the one transaction that switches it.
pub async fn enforcement(members: u64, directory: u64, database_url: Option<String>) -> anyhow::Result<()> {
    let mut _temp = None;
    let url = match database_url {
        Some(url) => url,
        None => {
            let dir = tempfile_dir()?;
            let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
            _temp = Some(TempDir(dir));
            url
        }
    };
    let conn = db::connect(&DatabaseUrl::parse(&url).map_err(anyhow::Error::msg)?).await?;
    db::migrate(&conn).await?;
    let org = OrganizationId::parse(&format!("org_bench_{}", ulid::Ulid::new()))?;
    let plan = Plan::new(PlanId::generate(), "bench".into(), Some(org.clone()), 10);
    plans::insert(&conn, &plan).await?;
    let fill = Instant::now();
    let backend = conn.get_database_backend();
    let txn = conn.begin().await?;
    for start in (0..members).step_by(500) {
        let end = (start + 500).min(members);
        let mut sql =
            String::from("INSERT INTO members (plan_id, email, tier, source, directory_user_id, updated_at) VALUES ");
        let mut values = Vec::new();
        for i in start..end {
            sql.push_str(if i == start {
                "(?, ?, 'paid', 'manual', NULL, 0)"
            } else {
                ", (?, ?, 'paid', 'manual', NULL, 0)"
            });
            values.push(plan.id.as_str().into());
            values.push(format!("member{i}@example.com").into());
        }
        txn.execute_raw(db::stmt(backend, &sql, values)).await?;
    }
    for i in 0..directory {
        txn.execute_raw(db::stmt(
            backend,
            "INSERT INTO directory_users (id, directory_id, organization_id, email, state, updated_at, deleted, active) \
             VALUES (?, 'directory_bench', ?, ?, 'active', 0, ?, ?)",
            [format!("directory_user_{org}_{i}").into(), org.as_str().into(), format!("member{i}@example.com").into(), false.into(), true.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    let filled = fill.elapsed();

    let started = Instant::now();
    let txn = conn.begin().await?;
    let locked = plans::lock_by_id(&txn, &plan.id).await?.context("plan vanished")?;
    enforcement::start(&txn, &locked, Some(&EventId::parse("event_bench")?), Micros::now()).await?;
    txn.commit().await?;
    let took = started.elapsed();
    let counts = plans::counts(&conn, &plans::find(&conn, &plan.id).await?.context("plan vanished")?).await?;
    println!(
        "enforcement: {} members, {} active directory users on {}: filled in {:.2}s; switch took {:.3}s; now {} paid, {} free",
        members,
        directory,
        url.split(':').next().unwrap_or("?"),
        filled.as_secs_f64(),
        took.as_secs_f64(),
        counts.paid_seats,
        counts.free_seats
    );
    Ok(())
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("seatsync-bench-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
