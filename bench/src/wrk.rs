//! `seatsync-bench webhooks --wrk`: the intake as an outside client sees it.
//! `seatsync serve` runs as a process of its own (`server_binary`), `wrk` drives it from
//! another with pre-signed, realistic deliveries (about 700 bytes, with
//! `custom_attributes`) while the reconciler applies them, and this process
//! only prepares, waits and measures: accepted/s and p99 as wrk saw them, the
//! time until every accepted event was applied, and the server's peak RSS.
//! `--ceiling` starts the server with storage switched off (answers 200 after
//! verifying the signature; needs a build with `--features test-faults`): the
//! most this machine allows. `--paused` starts it with the reconciler paused
//! (the same build): intake alone, to set beside the run with it working.
use crate::reconcile::FreshDatabase;
use anyhow::Context;
use seatsync::{db, db::DatabaseUrl, webhook::signature};
use std::{
    io::Write,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct WrkBench {
    /// An initial sync instead of the intake runs: this many users over
    /// `SYNC_ORGANIZATIONS` organizations whose plans are created while the
    /// events arrive (they park, then apply); timed from the first delivery
    /// to every seat applied.
    pub initial_sync: Option<usize>,
    pub database_url: Option<String>,
    pub connections: Vec<usize>,
    pub duration: Duration,
    pub rounds: usize,
    pub ceiling: bool,
    /// The reconciler paused: nothing is applied, intake is measured alone.
    pub paused: bool,
    /// Seat changes pushed to a local billing receiver (the webhook target),
    /// as a production `serve` does.
    pub billing: bool,
    /// Organizations the deliveries are interleaved over (each with its own
    /// directory and plan), one workload after the other: real traffic is
    /// many customers' directories at once (issue 40), one organization is
    /// the figure the history compares with.
    pub organizations: Vec<usize>,
}

impl WrkBench {
    /// The server's test fault for this bench, if any.
    fn fault(&self) -> Option<&'static str> {
        match (self.ceiling, self.paused) {
            (true, _) => Some("storage-off"),
            (_, true) => Some("reconciler-paused"),
            _ => None,
        }
    }

    /// Whether the events are applied (so the end-to-end rate means something).
    fn applies(&self) -> bool {
        self.fault().is_none()
    }
}

const SECRET: &str = "whsec_bench_secret";
const TOKEN: &str = "bench-admin-token-local";
/// Pre-signed deliveries per run: more than the fastest run sends.
const PREPARED: usize = 150_000;

/// The part of both wrk scripts that loads this thread's share of the
/// prepared deliveries (wrk passes the file and the thread count).
const SCRIPT_LOAD: &str = r#"
local sigs, bodies, n = {}, {}, 0
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end
function init(args)
  local threads = tonumber(args[2])
  local i = 0
  for line in io.lines(args[1]) do
    if i % threads == tid then
      local tab = line:find("\t", 1, true)
      n = n + 1
      sigs[n] = line:sub(1, tab - 1)
      bodies[n] = line:sub(tab + 1)
    end
    i = i + 1
  end
end
"#;

/// For the intake runs: the deliveries in a loop for the run's duration.
const SCRIPT: &str = r#"
local counter = 0
function request()
  counter = counter % n + 1
  return wrk.format("POST", nil, {["WorkOS-Signature"] = sigs[counter], ["Content-Type"] = "application/json"}, bodies[counter])
end
"#;

/// For an initial sync: each delivery is sent once, then the thread stops;
/// after a pass with any answer but 200, the pass is sent again (the refused
/// deliveries are retried as WorkOS would, the others are duplicates).
const SCRIPT_ONCE: &str = r#"
local sent = 0
local refused, finished = false, false
local verified = false
function request()
  -- wrk calls the first thread's request() once before the run to check it,
  -- and sends nothing: that call must not use up a delivery.
  if tid == 0 and not verified then
    verified = true
    return wrk.format("POST", nil, {["WorkOS-Signature"] = sigs[1], ["Content-Type"] = "application/json"}, bodies[1])
  end
  if sent >= n and not finished then
    if refused then
      -- Another pass: whatever was refused is sent again (the rest are
      -- duplicates, answered as such).
      sent, refused = 0, false
    else
      finished = true
    end
  end
  if not finished then
    sent = sent + 1
  end
  local k = math.max(sent, 1)
  return wrk.format("POST", nil, {["WorkOS-Signature"] = sigs[k], ["Content-Type"] = "application/json"}, bodies[k])
end
function response(status, headers, body)
  if status ~= 200 then
    refused = true
    if finished then
      finished, sent = false, 0
    end
  elseif finished then
    wrk.thread:stop()
  end
end
"#;

/// One run's figures.
#[derive(Debug, Clone, Copy)]
struct Run {
    accepted_per_sec: f64,
    p99_ms: f64,
    refused: u64,
    end_to_end_per_sec: f64,
    peak_rss_mib: f64,
    /// The server's CPU time (user and system) per accepted delivery, from
    /// the first delivery until the backlog drained: steadier than the rates
    /// on a shared machine.
    cpu_ms_per_delivery: f64,
}

pub async fn run(bench: WrkBench) -> anyhow::Result<()> {
    anyhow::ensure!(
        Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok(),
        "wrk is not installed (apt-get install wrk)"
    );
    let work_dir = std::env::temp_dir().join(format!("seatsync-wrk-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&work_dir)?;
    let work = crate::scratch::TempDir(work_dir.clone());
    if let Some(users) = bench.initial_sync {
        return initial_sync(&bench, users, &work.0).await;
    }
    println!(
        "{:>8} {:>5} {:>11} {:>12} {:>9} {:>8} {:>16} {:>10} {:>13}",
        "store", "orgs", "connections", "accepted/s", "p99 ms", "refused", "applied e2e/s", "peak RSS", "CPU ms/event"
    );
    for (&organizations, &connections) in
        bench.organizations.iter().flat_map(|o| bench.connections.iter().map(move |c| (o, c)))
    {
        let mut runs = Vec::new();
        for round in 0..bench.rounds {
            let run = one_run(&bench, organizations, connections, round, &work.0).await?;
            println!(
                "{:>8} {:>5} {:>11} {:>12.0} {:>9.1} {:>8} {:>16} {:>7.1} MiB {:>13.3}",
                store_name(&bench.database_url),
                organizations,
                connections,
                run.accepted_per_sec,
                run.p99_ms,
                run.refused,
                if bench.applies() { format!("{:.0}", run.end_to_end_per_sec) } else { "-".to_owned() },
                run.peak_rss_mib,
                run.cpu_ms_per_delivery
            );
            runs.push(run);
        }
        let median = |f: fn(&Run) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        println!(
            "{:>8} {:>5} {:>11} {:>12.0} {:>9.1} {:>8} {:>16} {:>7.1} MiB {:>13.3}   <- median of {}{}",
            store_name(&bench.database_url),
            organizations,
            connections,
            median(|r| r.accepted_per_sec),
            median(|r| r.p99_ms),
            "",
            if bench.applies() { format!("{:.0}", median(|r| r.end_to_end_per_sec)) } else { "-".to_owned() },
            median(|r| r.peak_rss_mib),
            median(|r| r.cpu_ms_per_delivery),
            runs.len(),
            match (bench.ceiling, bench.paused) {
                (true, _) => ", storage off (ceiling)",
                (_, true) => ", reconciler paused",
                _ => "",
            }
        );
    }
    Ok(())
}

/// Organizations of the initial sync; their plans are created one every
/// `PLAN_EVERY` while the deliveries arrive.
const SYNC_ORGANIZATIONS: usize = 50;
const PLAN_EVERY: Duration = Duration::from_millis(100);

async fn initial_sync(bench: &WrkBench, users: usize, work: &std::path::Path) -> anyhow::Result<()> {
    println!(
        "{:>8} {:>8} {:>14} {:>14} {:>12} {:>10}",
        "store", "users", "all stored s", "all applied s", "applied/s", "peak RSS"
    );
    let mut times = Vec::new();
    for round in 0..bench.rounds {
        let fresh = FreshDatabase::create(bench.database_url.clone()).await?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = start_server(&fresh.url, port, None, None)?;
        let base = format!("http://127.0.0.1:{port}");
        let client = seatsync::http_client::client();
        wait_ready(&client, &base).await?;
        let run = ulid::Ulid::new().to_string().to_lowercase();
        let orgs: Vec<String> = (0..SYNC_ORGANIZATIONS).map(|k| format!("org_sync{run}{k:02}")).collect();
        let requests = work.join(format!("sync-{round}.tsv"));
        prepare_for(&requests, &orgs, users, &format!("sync{round}"))?;
        let started = Instant::now();
        let wrk = Command::new("wrk")
            // Each thread stops once its deliveries are in; this is a cap.
            .args(["-t", "2", "-c", "32", "-d", "300s", "--timeout", "10s"])
            .arg("-s")
            .arg(work.join("once.lua"))
            .arg(format!("{base}/webhooks/workos"))
            .arg("--")
            .arg(&requests)
            .arg("2")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not run wrk")?;
        // The customers press "Configure SCIM" while their users arrive.
        for org in &orgs {
            tokio::time::sleep(PLAN_EVERY).await;
            let created = client
                .post(format!("{base}/admin/plans"))
                .bearer_auth(TOKEN)
                .json(&serde_json::json!({"name": org, "organization_id": org}))
                .send()
                .await?;
            anyhow::ensure!(created.status() == 201, "a plan was not created: {}", created.status());
        }
        let conn = db::connect(&DatabaseUrl::parse(&fresh.url).map_err(anyhow::Error::msg)?).await?;
        let mut stored_after: Option<f64> = None;
        loop {
            // Stored: in the queue, or still in SQLite's intake spool.
            let spooled = if seatsync::inbox::spool::attached(&conn).await? {
                seatsync::inbox::spool::unmoved(&conn).await? as u64
            } else {
                0
            };
            let queued = seatsync::store::count(&conn, "SELECT COUNT(*) AS n FROM inbox_events", []).await?;
            if stored_after.is_none() && queued + spooled >= users as u64 {
                stored_after = Some(started.elapsed().as_secs_f64());
            }
            let (by_status, oldest) = seatsync::inbox::status::backlog(&conn).await?;
            let parked = by_status.iter().find(|(s, _)| s == "parked").map_or(0, |(_, n)| *n);
            let applied = seatsync::store::count(&conn, "SELECT COUNT(*) AS n FROM members", []).await?;
            if oldest.is_none() && parked == 0 && applied >= users as u64 {
                break;
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(600),
                "the initial sync did not finish in 10 minutes"
            );
            // Each look counts the tables from another process: every 100 ms
            // keeps that cost (two cores, shared with the server) small.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let took = started.elapsed().as_secs_f64();
        let rss = peak_rss_kib(server.id()).unwrap_or(0) as f64 / 1024.0;
        conn.close().await?;
        let mut wrk = wrk;
        let _ = wrk.kill();
        let _ = wrk.wait();
        let _ = server.kill();
        let _ = server.wait();
        let _ = std::fs::remove_file(&requests);
        fresh.drop_it().await;
        println!(
            "{:>8} {:>8} {:>14.2} {:>14.2} {:>12.0} {:>6.1} MiB",
            store_name(&bench.database_url),
            users,
            stored_after.unwrap_or(took),
            took,
            users as f64 / took,
            rss
        );
        times.push(took);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!("median of {}: every seat applied {:.2} s after the first delivery", times.len(), times[times.len() / 2]);
    Ok(())
}

fn store_name(url: &Option<String>) -> &'static str {
    match url {
        Some(u) if u.starts_with("postgres") => "postgres",
        _ => "sqlite",
    }
}

async fn one_run(
    bench: &WrkBench,
    organizations: usize,
    connections: usize,
    round: usize,
    work: &std::path::Path,
) -> anyhow::Result<Run> {
    let fresh = FreshDatabase::create(bench.database_url.clone()).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let run_id = ulid::Ulid::new();
    let orgs: Vec<String> = (0..organizations.max(1)).map(|k| format!("org_wrk{run_id}{k:03}")).collect();
    let receiver = if bench.billing { Some(crate::billing_receiver::Receiver::start()?) } else { None };
    let mut server = start_server(&fresh.url, port, bench.fault(), receiver.as_ref().map(|r| r.url()).as_deref())?;
    let base = format!("http://127.0.0.1:{port}");
    let client = seatsync::http_client::client();
    wait_ready(&client, &base).await?;
    for org in &orgs {
        let created = client
            .post(format!("{base}/admin/plans"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"name": org, "organization_id": org, "test_mode_max_users": 10}))
            .send()
            .await?;
        anyhow::ensure!(created.status() == 201, "a bench plan was not created: {}", created.status());
    }

    let requests = work.join(format!("requests-{organizations}-{connections}-{round}.tsv"));
    // Arrivals from many customers: round-robin over the organizations.
    prepare_for(&requests, &orgs, PREPARED, &format!("{organizations}_{connections}_{round}"))?;
    let threads = 2;
    let cpu_before = cpu_ticks(server.id()).unwrap_or(0);
    let started = Instant::now();
    let output = Command::new("wrk")
        .args(["-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{}s", bench.duration.as_secs()), "--latency", "--timeout", "10s"])
        .arg("-s")
        .arg(work.join("bench.lua"))
        .arg(format!("{base}/webhooks/workos"))
        .arg("--")
        .arg(&requests)
        .arg(threads.to_string())
        .stdin(Stdio::null())
        .output()
        .context("could not run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(output.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    let total = number_after(&text, "requests in").context("wrk printed no request count")?;
    let seconds = seconds_of(&text).unwrap_or(bench.duration.as_secs_f64());
    let refused = number_after(&text, "Non-2xx or 3xx responses:").unwrap_or(0);
    let p99 = latency_ms(&text, "99%").context("wrk printed no p99")?;
    let accepted = total.saturating_sub(refused);

    // Every accepted event applied: the backlog is empty.
    let end_to_end = if !bench.applies() {
        f64::NAN
    } else {
        let conn = db::connect(&DatabaseUrl::parse(&fresh.url).map_err(anyhow::Error::msg)?).await?;
        while seatsync::inbox::status::backlog(&conn).await?.1.is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let done = started.elapsed().as_secs_f64();
        conn.close().await?;
        accepted as f64 / done
    };
    let peak_rss_mib = peak_rss_kib(server.id()).unwrap_or(0) as f64 / 1024.0;
    let cpu_ms = cpu_ticks(server.id()).unwrap_or(0).saturating_sub(cpu_before) as f64 * 1000.0 / TICKS_PER_SECOND;
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&requests);
    fresh.drop_it().await;
    Ok(Run {
        accepted_per_sec: accepted as f64 / seconds,
        p99_ms: p99,
        refused,
        end_to_end_per_sec: end_to_end,
        peak_rss_mib,
        cpu_ms_per_delivery: cpu_ms / accepted.max(1) as f64,
    })
}

fn start_server(database_url: &str, port: u16, fault: Option<&str>, billing: Option<&str>) -> anyhow::Result<Child> {
    let mut command = Command::new(server_binary()?);
    command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("WORKOS_WEBHOOK_SECRET", SECRET)
        // The deliveries are signed before the run starts.
        .env("WEBHOOK_TOLERANCE_SECS", "3600")
        // wrk sends from one address; WorkOS from Cloudflare's many. The
        // per-client share (16) would refuse wrk's 512 connections, which is
        // its job against one slow sender, not what a WorkOS burst meets.
        .env("WEBHOOK_MAX_INFLIGHT_PER_CLIENT", "256")
        .env("ADMIN_TOKEN", TOKEN)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .stderr(Stdio::null());
    // SEATSYNC_BENCH_SERVER_LOG=FILE keeps the server's log lines (with
    // RUST_LOG=seatsync=debug, each batch's size and time) for a closer look.
    match std::env::var_os("SEATSYNC_BENCH_SERVER_LOG") {
        Some(path) => command.stdout(std::fs::File::create(path)?),
        None => command.stdout(Stdio::null()),
    };
    if let Some(fault) = fault {
        command.env("SEATSYNC_TEST_FAULT", fault);
    }
    // Traces on for the run when the bench's own environment asks for them;
    // the C library's allocator settings too, to measure their effect on RSS.
    let passed = |name: &str| name.starts_with("OTEL_") || name.starts_with("MALLOC_") || name == "GLIBC_TUNABLES";
    for (name, value) in std::env::vars().filter(|(name, _)| passed(name)) {
        command.env(name, value);
    }
    if let Some(url) = billing {
        command.env("BILLING_WEBHOOK_URL", url).env("BILLING_WEBHOOK_SECRET", crate::billing_receiver::BILLING_SECRET);
    }
    command.spawn().context("could not start seatsync serve")
}

/// The service binary the bench starts: `SEATSYNC_BIN`, else the `seatsync`
/// built beside this one (`cargo build --release` puts both in one folder).
fn server_binary() -> anyhow::Result<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("SEATSYNC_BIN") {
        return Ok(path.into());
    }
    let beside = std::env::current_exe()?.with_file_name("seatsync");
    anyhow::ensure!(
        beside.exists(),
        "no seatsync binary at {}: build it (cargo build --release -p seatsync) or set SEATSYNC_BIN",
        beside.display()
    );
    Ok(beside)
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..200 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("the server did not become ready")
}

/// `count` deliveries, round-robin over `orgs` (wrk sends them in order, and
/// again from the start once through: the repeats are duplicates).
fn prepare_for(path: &std::path::Path, orgs: &[String], count: usize, tag: &str) -> anyhow::Result<()> {
    std::fs::write(path.with_file_name("bench.lua"), format!("{SCRIPT_LOAD}{SCRIPT}"))?;
    std::fs::write(path.with_file_name("once.lua"), format!("{SCRIPT_LOAD}{SCRIPT_ONCE}"))?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let now = chrono::Utc::now();
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for i in 0..count {
        let org = &orgs[i % orgs.len()];
        // Each organization has its own directory, as in WorkOS.
        let directory = org.replacen("org_", "directory_", 1);
        let body = serde_json::json!({
            "id": format!("event_wrk_{tag}_{i:07}"),
            "event": "dsync.user.created",
            "data": {
                "object": "directory_user",
                "id": format!("directory_user_wrk_{tag}_{i:07}"),
                "directory_id": directory,
                "organization_id": org,
                "idp_id": format!("00u{i:010}"),
                "email": format!("person{i}@bench.example.com"),
                "first_name": "Ada",
                "last_name": "Lovelace",
                "state": "active",
                "emails": [{"primary": true, "type": "work", "value": format!("person{i}@bench.example.com")}],
                "role": {"slug": "member"},
                "custom_attributes": {
                    "department": "Engineering",
                    "job_title": "Software Engineer",
                    "employee_id": format!("E{i:07}"),
                    "manager_email": "grace@bench.example.com",
                    "cost_center": "R&D-42"
                },
                "raw_attributes": {},
                "created_at": stamp,
                "updated_at": stamp
            },
            "created_at": stamp
        })
        .to_string();
        let header = signature::header_value(SECRET.as_bytes(), now.timestamp_millis(), body.as_bytes());
        writeln!(out, "{header}\t{body}")?;
    }
    out.flush()?;
    Ok(())
}

fn number_after(text: &str, marker: &str) -> Option<u64> {
    let at = text.find(marker)?;
    // "48000 requests in 8.00s": the number comes before the marker.
    if marker == "requests in" {
        return text[..at].split_whitespace().last()?.parse().ok();
    }
    text[at + marker.len()..].split_whitespace().next()?.parse().ok()
}

fn seconds_of(text: &str) -> Option<f64> {
    let at = text.find("requests in")?;
    let word = text[at + "requests in".len()..].split_whitespace().next()?.trim_end_matches(',');
    parse_duration_ms(word).map(|ms| ms / 1000.0)
}

fn latency_ms(text: &str, percentile: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.trim_start().starts_with(percentile))?;
    parse_duration_ms(line.split_whitespace().nth(1)?)
}

/// wrk's "850.00us", "2.10ms", "1.20s", "1.50m".
fn parse_duration_ms(word: &str) -> Option<f64> {
    let split = word.find(|c: char| c.is_ascii_alphabetic())?;
    let (value, unit) = word.split_at(split);
    let value: f64 = value.parse().ok()?;
    Some(match unit {
        "us" => value / 1000.0,
        "ms" => value,
        "s" => value * 1000.0,
        "m" => value * 60_000.0,
        _ => return None,
    })
}

/// The kernel's clock ticks a second (`getconf CLK_TCK`; 100 on Linux's
/// common architectures).
const TICKS_PER_SECOND: f64 = 100.0;

/// The server's CPU time so far, user and system, in clock ticks
/// (`/proc/PID/stat`'s 14th and 15th fields, counted after the command's
/// parenthesis, which may hold spaces).
fn cpu_ticks(pid: u32) -> Option<u64> {
    ticks_in(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn ticks_in(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 2..];
    let mut fields = after_name.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

/// The server's peak resident memory (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 8s test @ http://127.0.0.1:1/webhooks/workos
  2 threads and 32 connections
  Latency Distribution
     50%    2.10ms
     75%    3.00ms
     90%    5.00ms
     99%  850.00us
  48000 requests in 8.00s, 5.00MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   6000.00
";

    #[test]
    fn the_cpu_time_is_read_past_a_command_name_with_spaces() {
        let stat = "4242 (seat sync) S 1 4242 4242 0 -1 4194560 900 0 0 0 1234 56 0 0 20 0 9 0 100 0";
        assert_eq!(ticks_in(stat), Some(1234 + 56));
    }

    #[test]
    fn wrk_output_is_read() {
        assert_eq!(number_after(SAMPLE, "requests in"), Some(48_000));
        assert_eq!(number_after(SAMPLE, "Non-2xx or 3xx responses:"), Some(12));
        assert_eq!(seconds_of(SAMPLE), Some(8.0));
        assert_eq!(latency_ms(SAMPLE, "99%"), Some(0.85));
        assert_eq!(parse_duration_ms("1.50s"), Some(1500.0));
    }
}
