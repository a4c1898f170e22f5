//! `seatsync-bench reconcile`: the reconciler on a backlog. A fresh database's
//! inbox is filled with `dsync.user.created`/`updated` events across several
//! organizations that each have a plan, then the reconciler applies them all.
//! Prints events/s overall and for the first and the last 10% of the backlog,
//! which shows whether a claim slows down with the backlog.
use crate::scratch::{TempDir, temp_sqlite};
use sea_orm::{ConnectionTrait, TransactionTrait};
use seatsync::{
    db,
    db::DatabaseUrl,
    domain::{EventId, order_key},
    inbox::{NewEvent, writer::insert_events},
    metrics::Metrics,
    operator::{self, NewPlan},
    reconcile::{failure, worker::BatchLimits},
};
use std::time::{Duration, Instant};

pub async fn reconcile(
    events: usize,
    organizations: usize,
    database_url: Option<String>,
    billing: bool,
) -> anyhow::Result<()> {
    let organizations = organizations.max(1);
    let fresh = FreshDatabase::create(database_url).await?;
    let conn = db::connect(&DatabaseUrl::parse(&fresh.url).map_err(anyhow::Error::msg)?).await?;
    db::migrate(&conn).await?;
    // With --billing, the webhook is a target: every batch writes its messages.
    let targets = seatsync::billing::Targets { webhook: billing, stripe: false };
    seatsync::operator::billing_targets::register(&conn, targets, seatsync::domain::Micros::now()).await?;
    let run = ulid::Ulid::new().to_string().to_lowercase();
    let orgs: Vec<String> = (0..organizations).map(|o| format!("org_bench{run}{o}")).collect();
    for org in &orgs {
        let plan = NewPlan {
            name: "bench".into(),
            organization_id: Some(org.clone()),
            test_mode_max_users: None,
            external_id: None,
        };
        let plan = operator::create(&conn, plan, 10).await?;
        // Every fifth event is a deactivation: past the release guard's default.
        // The guard would hold them (as it should); this measures applying.
        let no_guard = operator::PlanChanges { release_limit: Some(Some(0)), ..Default::default() };
        operator::update(&conn, &plan.id, no_guard).await?;
    }

    // Round-robin over organizations, as deliveries from several companies
    // interleave; every fifth event updates an earlier user of the same
    // organization (a deactivation), the rest create users.
    let fill = Instant::now();
    let mut batch = Vec::new();
    for i in 0..events {
        let o = i % organizations;
        let n = i / organizations;
        let (kind, user, state) = if n % 5 == 4 { ("updated", n - 2, "inactive") } else { ("created", n, "active") };
        let org = &orgs[o];
        let body = serde_json::json!({
            "object": "event",
            "id": format!("event_bench_{i}"),
            "event": format!("dsync.user.{kind}"),
            "data": {
                "id": format!("directory_user_{o}_{user}"), "directory_id": format!("directory_bench_{o}"),
                "organization_id": org, "email": format!("user{user}@org{o}.example.com"),
                "first_name": "Bench", "last_name": "User", "state": state,
                "created_at": "2026-01-01T00:00:00.000Z",
                "updated_at": format!("2026-01-01T00:00:{:02}.{:06}Z", (n / 1_000_000) % 60, n % 1_000_000),
                "custom_attributes": {}, "role": {"slug": "member"},
            },
            "created_at": "2026-01-01T00:00:00.000Z",
        })
        .to_string()
        .into_bytes();
        batch.push(NewEvent {
            event_id: EventId::parse(&format!("event_bench_{i}"))?,
            event_type: format!("dsync.user.{kind}"),
            body,
            status: seatsync::domain::EventStatus::Pending,
            order_key: Some(order_key::of_organization(&seatsync::domain::OrganizationId::parse(org)?)),
            traceparent: None,
        });
        if batch.len() == 2_000 || i + 1 == events {
            let txn = conn.begin().await?;
            insert_events(&txn, &batch.iter().collect::<Vec<_>>()).await?;
            txn.commit().await?;
            batch.clear();
        }
    }
    let filled = fill.elapsed();

    let metrics = Metrics::default();
    let limits = BatchLimits::for_backend(conn.get_database_backend());
    // With --billing, a local receiver and the delivery worker run alongside.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let receiver = if billing { Some(crate::billing_receiver::Receiver::start()?) } else { None };
    let delivery = match &receiver {
        Some(receiver) => {
            let secret = seatsync::billing::signature::SigningSecret::parse(crate::billing_receiver::BILLING_SECRET)?;
            let timeout = Duration::from_secs(15);
            let webhook = seatsync::billing::webhook::WebhookSender::new(receiver.url(), vec![secret], timeout)?;
            let schedule = seatsync::billing::schedule::Schedule::default();
            let metrics = std::sync::Arc::new(Metrics::default());
            let deliverer = seatsync::billing::delivery::Deliverer::for_webhook(
                conn.clone(),
                Some(webhook),
                schedule,
                timeout,
                metrics,
            );
            Some(tokio::spawn(deliverer.deliver_until(stopped)))
        }
        None => None,
    };
    let tenth = (events / 10).max(1);
    let started = Instant::now();
    let mut done = 0usize;
    let mut first_tenth: Option<Duration> = None;
    let mut last_tenth_from: Option<(Duration, usize)> = None;
    let mut batches = 0usize;
    loop {
        let report = failure::step(&conn, &metrics, limits).await?;
        batches += 1;
        done += report.decided;
        if first_tenth.is_none() && done >= tenth {
            first_tenth = Some(started.elapsed());
        }
        if last_tenth_from.is_none() && done >= events.saturating_sub(tenth) {
            last_tenth_from = Some((started.elapsed(), done));
        }
        if report.decided == 0 && !report.retry_now && !report.locked_elsewhere {
            break;
        }
    }
    let total = started.elapsed();
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(1e-9);
    let first_rate = first_tenth.map(|d| rate(tenth, d)).unwrap_or(0.0);
    let last_rate = last_tenth_from.map(|(t, n)| rate(done - n + 1, total - t)).unwrap_or(0.0);
    let applied = count(&conn, "SELECT COUNT(*) AS n FROM inbox_events WHERE status = 'applied'").await?;
    let seats = count(&conn, "SELECT COUNT(*) AS n FROM members").await?;
    println!(
        "reconcile: {events} events, {organizations} organizations on {}: filled in {:.1}s; applied {applied} in {:.2}s \
         = {:.0} events/s ({batches} batches); first 10% {:.0}/s, last 10% {:.0}/s, ratio {:.2}; {seats} members",
        fresh.kind(),
        filled.as_secs_f64(),
        total.as_secs_f64(),
        rate(done, total),
        first_rate,
        last_rate,
        if first_rate > 0.0 { last_rate / first_rate } else { 0.0 },
    );
    if let Some(receiver) = &receiver {
        // Every plan's paid seats, as the receiver's newest message must say.
        let written = count(&conn, "SELECT CAST(COALESCE(SUM(billing_sequence), 0) AS BIGINT) AS n FROM plans").await?;
        let wanted: std::collections::HashMap<String, i64> = {
            let sql = "SELECT p.id, (SELECT COUNT(*) FROM members m WHERE m.plan_id = p.id AND m.tier = 'paid') AS paid \
                       FROM plans p";
            let rows = conn.query_all_raw(db::stmt(conn.get_database_backend(), sql, [])).await?;
            rows.iter()
                .map(|r| Ok((r.try_get::<String>("", "id")?, r.try_get::<i64>("", "paid")?)))
                .collect::<Result<_, sea_orm::DbErr>>()?
        };
        let waited = Instant::now();
        while !receiver.has_seen(&wanted) && waited.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let caught_up = waited.elapsed();
        println!(
            "billing: {written} messages written, {} deliveries received; every plan's newest reached the receiver \
             {:.2}s after the last apply{}",
            receiver.deliveries(),
            caught_up.as_secs_f64(),
            if receiver.has_seen(&wanted) { "" } else { " (NOT ALL: gave up after 120 s)" },
        );
    }
    let _ = stop.send(true);
    if let Some(delivery) = delivery {
        let _ = delivery.await;
    }
    conn.close().await?;
    fresh.drop_it().await;
    Ok(())
}

async fn count(c: &impl ConnectionTrait, sql: &str) -> anyhow::Result<i64> {
    let row = c.query_one_raw(db::stmt(c.get_database_backend(), sql, [])).await?;
    Ok(row.map(|r| r.try_get::<i64>("", "n")).transpose()?.unwrap_or(0))
}

/// A temporary SQLite file, or a new database on the PostgreSQL server of the
/// given URL (created now, so never analyzed; dropped afterwards).
pub(super) struct FreshDatabase {
    pub(super) url: String,
    _dir: Option<TempDir>,
    pg: Option<(String, String)>,
}

impl FreshDatabase {
    pub(super) async fn create(server_url: Option<String>) -> anyhow::Result<Self> {
        match server_url {
            Some(url) if url.starts_with("postgres") => {
                let name = format!("seatsync_bench_{}", ulid::Ulid::new().to_string().to_lowercase());
                // Through db::connect: a libpq host list (a highly available
                // cluster) works here as in `serve`.
                let admin = db::connect(&DatabaseUrl::parse(&url).map_err(anyhow::Error::msg)?).await?;
                admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await?;
                admin.close().await?;
                // The database's name replaced, the query (hosts' settings) kept.
                let (path, query) = url.split_once('?').map_or((url.as_str(), None), |(p, q)| (p, Some(q)));
                let base = path.rsplit_once('/').map_or(path, |(b, _)| b);
                let query = query.map(|q| format!("?{q}")).unwrap_or_default();
                Ok(Self { url: format!("{base}/{name}{query}"), _dir: None, pg: Some((url, name)) })
            }
            Some(url) => Ok(Self { url, _dir: None, pg: None }),
            None => {
                let (url, dir) = temp_sqlite()?;
                Ok(Self { url, _dir: Some(dir), pg: None })
            }
        }
    }

    pub(super) fn kind(&self) -> &str {
        self.url.split(':').next().unwrap_or("?")
    }

    pub(super) async fn drop_it(self) {
        if let Some((admin_url, name)) = &self.pg
            && let Ok(url) = DatabaseUrl::parse(admin_url)
            && let Ok(admin) = db::connect(&url).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
            let _ = admin.close().await;
        }
    }
}
