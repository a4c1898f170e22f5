//! `seatsync-bench plans`: the operator's view at scale (issue 40). For each
//! number of plans, a fresh database with a billing target and one delivered
//! message per plan; then a page of 100 plans (the first, one in the middle,
//! and a search) timed through the same use case the admin route runs, and a
//! plan's history at a million audit rows.
use crate::reconcile::FreshDatabase;
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait, Value};
use seatsync::{
    db::{self, DatabaseUrl, stmt},
    domain::Micros,
    operator::{self, PlansQuery},
};
use std::time::{Duration, Instant};

const RUNS: usize = 30;

pub async fn plans(sizes: Vec<u64>, audit_rows: u64, database_url: Option<String>) -> anyhow::Result<()> {
    println!("{:>8} {:>8} {:>14} {:>14} {:>14}", "store", "plans", "first page", "middle page", "search");
    for plans in sizes {
        let fresh = FreshDatabase::create(database_url.clone()).await?;
        let conn = db::connect(&DatabaseUrl::parse(&fresh.url).map_err(anyhow::Error::msg)?).await?;
        db::migrate(&conn).await?;
        fill_plans(&conn, plans).await?;
        let page = |query: PlansQuery| {
            let conn = conn.clone();
            async move {
                let mut times = Vec::with_capacity(RUNS);
                for _ in 0..RUNS {
                    let started = Instant::now();
                    let answer = operator::list_page(&conn, &query).await?;
                    anyhow::ensure!(!answer.data.is_empty(), "an empty page");
                    times.push(started.elapsed());
                }
                anyhow::Ok(median(&mut times))
            }
        };
        let first = page(PlansQuery::default()).await?;
        let middle =
            page(PlansQuery { after: Some(format!("plan_bench{:06}", plans / 2)), ..Default::default() }).await?;
        let search = page(PlansQuery { q: Some("customer 1".into()), ..Default::default() }).await?;
        println!(
            "{:>8} {:>8} {:>11.2} ms {:>11.2} ms {:>11.2} ms",
            fresh.kind(),
            plans,
            ms(first),
            ms(middle),
            ms(search)
        );
        conn.close().await?;
        fresh.drop_it().await;
    }
    if audit_rows > 0 {
        let fresh = FreshDatabase::create(database_url.clone()).await?;
        let conn = db::connect(&DatabaseUrl::parse(&fresh.url).map_err(anyhow::Error::msg)?).await?;
        db::migrate(&conn).await?;
        fill_plans(&conn, 1).await?;
        fill_audit(&conn, "plan_bench000000", audit_rows).await?;
        for points in ["200", "1000"] {
            let mut times = Vec::with_capacity(RUNS);
            for _ in 0..RUNS {
                let started = Instant::now();
                let history = operator::history(&conn, "plan_bench000000", Some(points)).await?;
                anyhow::ensure!(!history.points.is_empty(), "no points");
                times.push(started.elapsed());
            }
            println!(
                "{:>8} history, {audit_rows} audit rows, {points} points: {:.2} ms (median of {RUNS})",
                fresh.kind(),
                ms(median(&mut times))
            );
        }
        conn.close().await?;
        fresh.drop_it().await;
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// `n` plans, named "Customer i", each with an organization, two paid members
/// and one delivered webhook message; the webhook target registered.
async fn fill_plans(conn: &DatabaseConnection, n: u64) -> anyhow::Result<()> {
    let backend = conn.get_database_backend();
    let now = Micros::now().0;
    let txn = conn.begin().await?;
    txn.execute_raw(stmt(
        backend,
        "INSERT INTO billing_targets (target, configured_at, backfilled_at) VALUES ('webhook', ?, ?)",
        [now.into(), now.into()],
    ))
    .await?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let mut plans = Vec::new();
        let mut members = Vec::new();
        let mut messages = Vec::new();
        let mut plan_values: Vec<Value> = Vec::new();
        let mut member_values: Vec<Value> = Vec::new();
        let mut message_values: Vec<Value> = Vec::new();
        for i in chunk {
            let id = format!("plan_bench{i:06}");
            plans.push("(?, ?, ?, 'enforced', 10, ?, 0)");
            plan_values.extend([
                id.clone().into(),
                format!("Customer {i}").into(),
                format!("org_bench{i:06}").into(),
                now.into(),
            ]);
            for m in 0..2 {
                members.push("(?, ?, 'paid', 'manual', ?)");
                member_values.extend([id.clone().into(), format!("m{m}@c{i}.example").into(), now.into()]);
            }
            messages.push("(?, ?, 'webhook', 1, 1, ?, 'enforced', 2, 0, 0, 0, 'delivered', 1, 0, ?, ?)");
            message_values.extend([
                format!("msg_bench{i:06}").into(),
                id.into(),
                format!("org_bench{i:06}").into(),
                now.into(),
                now.into(),
            ]);
        }
        txn.execute_raw(stmt(
            backend,
            &format!(
                "INSERT INTO plans (id, name, organization_id, mode, test_mode_max_users, created_at, lock_version) \
                 VALUES {}",
                plans.join(", ")
            ),
            plan_values,
        ))
        .await?;
        txn.execute_raw(stmt(
            backend,
            &format!("INSERT INTO members (plan_id, email, tier, source, updated_at) VALUES {}", members.join(", ")),
            member_values,
        ))
        .await?;
        txn.execute_raw(stmt(
            backend,
            &format!(
                "INSERT INTO outbound_messages (id, plan_id, target, position, sequence, organization_id, mode, \
                 paid_seats, free_seats, audit_after, audit_through, state, attempts, next_attempt_at, created_at, \
                 delivered_at) VALUES {}",
                messages.join(", ")
            ),
            message_values,
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// `rows` audit rows for `plan` a second apart, one transaction's mark every
/// hundred rows (as a reconciler's batches leave them).
async fn fill_audit(conn: &DatabaseConnection, plan: &str, rows: u64) -> anyhow::Result<()> {
    let backend = conn.get_database_backend();
    let start = Micros::now().0 - i64::try_from(rows).unwrap_or(0) * 1_000_000;
    let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) \
               INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at, paid_after) \
               SELECT ?, 'u' || CAST(i AS TEXT) || '@example.com', NULL, 'paid', 'directory_user_active', NULL, \
                 ? + CAST(i AS BIGINT) * 1000000, CASE WHEN i % 100 = 0 THEN CAST(i AS BIGINT) ELSE NULL END FROM n";
    conn.execute_raw(stmt(backend, sql, [i64::try_from(rows)?.into(), plan.into(), start.into()])).await?;
    Ok(())
}
