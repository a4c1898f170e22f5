//! `seatsync-bench soak --secs N`: a long mixed load against a server in this
//! process (temporary SQLite, or `--database-url`) and a fake WorkOS API, also
//! in this process: signed webhooks, admin reads, previews and full resyncs.
//! Every minute it prints resident memory and open file descriptors, which
//! must stay flat after the first minute (figures are for the whole process,
//! load generator included).
use crate::scratch::database_or_temp;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use seatsync::{
    config::Settings,
    domain::OrganizationId,
    domain::Secret,
    startup::Application,
    webhook::signature,
    workos::{
        WorkosClient,
        resync::{ResyncOptions, resync},
    },
};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_soak_secret";
const TOKEN: &str = "soak-admin-token";
const ORG: &str = "org_01SOAKORGANIZATION";
const USERS: u32 = 300;

/// The fake Directory Sync API: one linked directory of `USERS` users.
async fn fake_workos(req: HttpRequest) -> HttpResponse {
    type Params = std::collections::HashMap<String, String>;
    let query: Params =
        web::Query::<Params>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    match req.path() {
        "/directories" => HttpResponse::Ok().json(serde_json::json!({
            "object": "list",
            "data": [{"id": "directory_soak", "organization_id": ORG, "state": "linked"}],
            "list_metadata": {"after": null}
        })),
        "/directory_users" => {
            let start: u32 = query
                .get("after")
                .and_then(|a| a.strip_prefix("directory_user_soak_")?.parse().ok())
                .map_or(0, |n: u32| n + 1);
            let end = (start + 100).min(USERS);
            let data: Vec<serde_json::Value> = (start..end).map(|i| user(i, "active", 1)).collect();
            let after = (end < USERS).then(|| format!("directory_user_soak_{}", end - 1));
            HttpResponse::Ok()
                .json(serde_json::json!({"object": "list", "data": data, "list_metadata": {"after": after}}))
        }
        _ => HttpResponse::NotFound().finish(),
    }
}

fn user(i: u32, state: &str, version: u64) -> serde_json::Value {
    serde_json::json!({
        "id": format!("directory_user_soak_{i}"), "directory_id": "directory_soak", "organization_id": ORG,
        "email": format!("soak{i}@example.com"), "state": state,
        "updated_at": chrono::DateTime::from_timestamp(1_767_225_600 + version as i64, 0).unwrap().to_rfc3339(),
    })
}

/// Resident set size (kB) and open file descriptors of this process.
fn footprint() -> (u64, usize) {
    let rss = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    (rss, fds)
}

pub async fn soak(secs: u64, database_url: Option<String>) -> anyhow::Result<()> {
    let (database_url, _temp) = database_or_temp(database_url)?;
    let fake = HttpServer::new(|| App::new().default_service(web::to(fake_workos)))
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")?;
    let fake_base = format!("http://127.0.0.1:{}", fake.addrs()[0].port());
    let fake = fake.run();
    let fake_handle = fake.handle();
    tokio::spawn(fake);

    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("WORKOS_WEBHOOK_SECRET", SECRET),
        ("ADMIN_TOKEN", TOKEN),
    ];
    let settings = Settings::from_lookup(|name| env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))?;
    let app = Application::build(&settings, false).await?;
    let db = app.db();
    let new_plan = seatsync::operator::NewPlan {
        name: "soak".into(),
        organization_id: Some(ORG.into()),
        test_mode_max_users: Some(1_000_000),
        external_id: None,
    };
    let plan = seatsync::operator::create(&db, new_plan, 10).await?.id;
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    let server = tokio::spawn(app.run_until_stopped());
    let client = seatsync::http_client::client_builder().pool_max_idle_per_host(16).build()?;
    let workos = WorkosClient::new(&fake_base, Secret::new("sk_test_soak"))?;
    let org = OrganizationId::parse(ORG)?;

    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    let (rss0, fds0) = footprint();
    println!(
        "{:>6} {:>10} {:>6} {:>10} {:>8} {:>8} {:>8}",
        "min", "rss kB", "fds", "webhooks", "reads", "previews", "resyncs"
    );
    println!("{:>6} {:>10} {:>6} {:>10} {:>8} {:>8} {:>8}", 0, rss0, fds0, 0, 0, 0, 0);
    let (mut webhooks, mut reads, mut previews, mut resyncs) = (0u64, 0u64, 0u64, 0u64);
    let mut next_report = started + Duration::from_secs(60);
    let mut next_resync = started;
    let mut n: u64 = 0;
    while Instant::now() < until {
        // 16 deliveries at once: users flip between active and inactive.
        let batch: Vec<_> = (0..16)
            .map(|_| {
                n += 1;
                let i = (n % u64::from(USERS)) as u32;
                let state = if (n / u64::from(USERS)).is_multiple_of(2) { "active" } else { "inactive" };
                let body = serde_json::json!({"id": format!("event_soak_{n}"), "event": "dsync.user.updated",
                                              "data": user(i, state, 10 + n)})
                .to_string();
                let header =
                    signature::header_value(SECRET.as_bytes(), chrono::Utc::now().timestamp_millis(), body.as_bytes());
                client.post(format!("{base}/webhooks/workos")).header("WorkOS-Signature", header).body(body).send()
            })
            .collect();
        for response in futures_util::future::join_all(batch).await {
            if response.is_ok_and(|r| r.status() == 200) {
                webhooks += 1;
            }
        }
        for path in [
            "/admin/plans".to_owned(),
            format!("/admin/plans/{plan}"),
            format!("/admin/plans/{plan}/members?limit=100"),
            format!("/admin/plans/{plan}/audit?limit=100"),
        ] {
            if client.get(format!("{base}{path}")).bearer_auth(TOKEN).send().await.is_ok_and(|r| r.status() == 200) {
                reads += 1;
            }
        }
        if client.get(format!("{base}/admin/plans/{plan}/preview")).bearer_auth(TOKEN).send().await.is_ok() {
            previews += 1;
        }
        if Instant::now() >= next_resync {
            next_resync = Instant::now() + Duration::from_secs(10);
            let options = ResyncOptions { allow_mass_release: true, ..Default::default() };
            if resync(&db, &workos, &org, options, |_| {}).await.is_ok() {
                resyncs += 1;
            }
        }
        if Instant::now() >= next_report {
            next_report += Duration::from_secs(60);
            let (rss, fds) = footprint();
            let minute = started.elapsed().as_secs() / 60;
            println!("{minute:>6} {rss:>10} {fds:>6} {webhooks:>10} {reads:>8} {previews:>8} {resyncs:>8}");
        }
    }
    let (rss, fds) = footprint();
    println!(
        "end {:>6.1} min: rss {rss} kB, fds {fds}; {webhooks} webhooks, {reads} reads, {previews} previews, {resyncs} resyncs",
        started.elapsed().as_secs_f64() / 60.0
    );
    handle.stop(true).await;
    let _ = server.await;
    fake_handle.stop(false).await;
    Ok(())
}
