//! `seatsync-bench scrape`: what a `/metrics` scrape and the background
//! refresh of its database figures cost with few and with many stored events
//! (issue 26: a scrape must not grow with the settled history). For each size,
//! a fresh database holds that many settled events and a small backlog; a
//! server on it is scraped one request at a time, and the refresh's queries
//! are timed on a connection of their own.
use crate::prune::insert_events;
use crate::reconcile::FreshDatabase;
use seatsync::{config::Settings, db, db::DatabaseUrl, domain::Micros, metrics::Metrics, startup::Application};
use std::time::{Duration, Instant};

/// A backlog of each status the scrape counts.
const BACKLOG: u64 = 100;
const SCRAPES: usize = 300;
const REFRESHES: usize = 30;

pub async fn scrape(sizes: Vec<u64>, database_url: Option<String>) -> anyhow::Result<()> {
    println!("{:>8} {:>10} {:>13} {:>13} {:>15}", "store", "events", "scrape p50", "scrape p99", "refresh p50");
    let mut rows = Vec::new();
    for events in sizes {
        let fresh = FreshDatabase::create(database_url.clone()).await?;
        let conn = db::connect(&DatabaseUrl::parse(&fresh.url).map_err(anyhow::Error::msg)?).await?;
        db::migrate(&conn).await?;
        let at = Micros::now().0;
        insert_events(&conn, "event_settled_", at, events, "applied").await?;
        for status in ["pending", "parked", "held", "failed"] {
            insert_events(&conn, &format!("event_{status}_"), at, BACKLOG, status).await?;
        }

        let secret = "whsec_bench_secret";
        let env =
            [("DATABASE_URL", fresh.url.as_str()), ("LISTEN_ADDR", "127.0.0.1:0"), ("WORKOS_WEBHOOK_SECRET", secret)];
        let settings = Settings::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))?;
        let app = Application::build(&settings, false).await?;
        let url = format!("http://127.0.0.1:{}/metrics", app.port());
        let handle = app.server_handle();
        let server = tokio::spawn(app.run_until_stopped());
        let client = seatsync::http_client::client();
        let mut scrapes = Vec::with_capacity(SCRAPES);
        for _ in 0..SCRAPES {
            let started = Instant::now();
            let response = client.get(&url).send().await?;
            anyhow::ensure!(response.status() == 200, "a scrape answered {}", response.status());
            response.bytes().await?;
            scrapes.push(started.elapsed());
        }
        let metrics = Metrics::default();
        let mut refreshes = Vec::with_capacity(REFRESHES);
        for _ in 0..REFRESHES {
            let started = Instant::now();
            seatsync::probes::scrape::refresh(&conn, &metrics).await;
            refreshes.push(started.elapsed());
        }
        handle.stop(true).await;
        let _ = server.await;
        let (scrape_p50, scrape_p99, refresh_p50) =
            (percentile(&mut scrapes, 0.5), percentile(&mut scrapes, 0.99), percentile(&mut refreshes, 0.5));
        println!(
            "{:>8} {:>10} {:>10.2} ms {:>10.2} ms {:>12.2} ms",
            fresh.kind(),
            events,
            ms(scrape_p50),
            ms(scrape_p99),
            ms(refresh_p50)
        );
        rows.push((scrape_p50, refresh_p50));
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        println!(
            "largest / smallest: scrape p50 {:.2}x, refresh p50 {:.2}x",
            ms(last.0) / ms(first.0).max(1e-6),
            ms(last.1) / ms(first.1).max(1e-6)
        );
    }
    Ok(())
}

fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values.get(((values.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
