//! A highly available PostgreSQL (pg_auto_failover: a monitor, a primary and a
//! synchronous standby; `tests/failover/cluster.sh`) under two `serve`
//! replicas, with deliveries, Events API polling and billing running, and the
//! primary's machine lost (`kill -9` of its keeper and postmaster). Nothing
//! acknowledged is lost, nothing is applied or sent twice, and the service
//! accepts again within 30 s (issue 41).
use crate::fake_billing::{Delivery, FakeBilling};
use crate::fake_workos::{API_KEY, FakeWorkos};
use crate::helpers::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::{
    collections::{BTreeMap, BTreeSet},
    process::{Child, Command},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU32, Ordering},
    },
    time::{Duration, Instant},
};

const ORGS: [&str; 3] = ["org_01HAONE", "org_01HATWO", "org_01HATHREE"];
const USERS_PER_ORG: u32 = 40;
/// The load deactivates and reactivates users round after round: the release
/// guard would hold each plan, at a point that depends on the interleaving.
const GUARD_OFF: (&str, &str) = ("RELEASE_LIMIT_MIN", "1000000");
/// The monitor's port; the nodes take the next two.
const PORT: u16 = 55432;

/// The cluster, taken down (and its folder removed) however the test ends.
struct Cluster {
    dir: std::path::PathBuf,
}

impl Cluster {
    fn script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/failover/cluster.sh")
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new(Self::script()).arg(args[0]).arg(&self.dir).args(&args[1..]).output().unwrap();
        assert!(out.status.success(), "cluster.sh {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Up, with the URL seatsync is given: the one the monitor hands out,
    /// with a user and without TLS (the nodes listen on loopback only).
    fn up() -> (Self, String) {
        let dir = std::env::temp_dir().join(format!("seatsync-ha-{}", std::process::id()));
        let cluster = Self { dir };
        let uri = cluster.run(&["up", &PORT.to_string()]);
        let uri = uri.lines().last().unwrap().trim();
        assert!(uri.contains(",127.0.0.1:"), "a multi-host URL: {uri}");
        let url = uri.replacen("postgres://", "postgres://postgres@", 1).replace("sslmode=prefer", "sslmode=disable");
        (cluster, url)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // A developer may keep it for a look after a failure.
        if std::env::var_os("SEATSYNC_KEEP_CLUSTER").is_some() {
            eprintln!("kept: {}", self.dir.display());
            return;
        }
        let _ = Command::new(Self::script()).arg("down").arg(&self.dir).status();
    }
}

/// pg_auto_failover is installed (`.ci/run` installs it); without it the
/// test is skipped, except under `CI=true` where it fails.
fn failover_tools_present() -> bool {
    let found = Command::new("sh").args(["-c", "command -v pg_autoctl"]).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true needs pg_autoctl (pg-auto-failover-cli)");
        eprintln!("skipped: pg_autoctl is not installed (apt-get install postgresql-15-auto-failover)");
    }
    found
}

/// Webhook event `n` of the load: organizations in turn, each user touched
/// again and again with a later time; every seventh visit deactivates.
fn load_event(n: u32) -> Value {
    let org = (n % 3) as usize;
    let user = (n / 3) % USERS_PER_ORG;
    let round = n / 3 / USERS_PER_ORG;
    let state = if (round + user) % 7 == 6 { "inactive" } else { "active" };
    user_event(&format!("event_ha_{n}"), org, user, state, n, if round == 0 { "created" } else { "updated" })
}

/// Event `k` that only the Events API has: users of their own.
fn api_event(k: u32) -> Value {
    let org = (k % 3) as usize;
    let user = USERS_PER_ORG + (k / 3) % 10;
    let state = if k % 5 == 4 { "inactive" } else { "active" };
    user_event(&format!("event_api_{k}"), org, user, state, 1_000_000 + k, "updated")
}

fn user_event(id: &str, org: usize, user: u32, state: &str, at_second: u32, kind: &str) -> Value {
    let (user, email, dir) = (
        format!("directory_user_ha_{org}_{user}"),
        format!("u{user}@{}.example.com", ORGS[org].to_lowercase()),
        format!("directory_01HA{org}"),
    );
    UserEvent { id, kind, org: ORGS[org], dir: &dir, user: &user, email: &email, state, at: &at(at_second) }.json()
}

#[derive(Default)]
struct Load {
    /// Events in the order they were acknowledged (200).
    acknowledged: Vec<Value>,
    /// Every answer: when it came, and its status (0: no answer).
    answers: Vec<(Instant, u16)>,
}

/// One worker: takes the next event and sends it, to the replicas in turn,
/// until it is acknowledged (as WorkOS retries), until told to stop.
async fn send_until_stopped(bases: Vec<String>, next: Arc<AtomicU32>, stop: Arc<AtomicBool>, load: Arc<Mutex<Load>>) {
    let client = seatsync::http_client::client();
    let mut turn = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let event = load_event(next.fetch_add(1, Ordering::SeqCst));
        let body = event.to_string();
        loop {
            turn += 1;
            let header = seatsync::webhook::signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes());
            let sent = client
                .post(format!("{}/webhooks/workos", bases[turn % bases.len()]))
                .header("WorkOS-Signature", header)
                .timeout(Duration::from_secs(10))
                .body(body.clone())
                .send()
                .await;
            let status = sent.map(|r| r.status().as_u16()).unwrap_or(0);
            {
                let mut load = load.lock().unwrap();
                load.answers.push((Instant::now(), status));
                if status == 200 {
                    load.acknowledged.push(event);
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn count(conn: &DatabaseConnection, sql: String) -> i64 {
    let row = conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql)).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn new_plan(base: &str, org: &str) -> String {
    let response = seatsync::http_client::client()
        .post(format!("{base}/admin/plans"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": org, "organization_id": org}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// Waits until every stored event is settled and every plan's newest
/// billing message says its current paid seats.
async fn settled(conn: &DatabaseConnection, receiver: &FakeBilling, plans: &[String]) {
    eventually(Duration::from_secs(60), "the backlog to drain", || async {
        match seatsync::inbox::status::backlog(conn).await {
            Ok((_, None)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    for plan in plans {
        let paid =
            count(conn, format!("SELECT COUNT(*) FROM members WHERE plan_id = '{plan}' AND tier = 'paid'")).await;
        eventually(Duration::from_secs(30), "each plan's current count at the receiver", || async {
            let newest = receiver.of_plan(plan).into_iter().max_by_key(|d| d.sequence());
            match newest.as_ref().and_then(|d| d.json["data"]["paid_seats"].as_i64()) {
                Some(sent) if sent == paid => Ok(()),
                sent => {
                    let rows = conn
                        .query_all_raw(Statement::from_string(
                            conn.get_database_backend(),
                            format!(
                                "SELECT state || ' ' || sequence || ' ' || attempts || ' ' || COALESCE(last_error, '') \
                                 FROM outbound_messages WHERE plan_id = '{plan}' AND state <> 'delivered'"
                            ),
                        ))
                        .await
                        .unwrap();
                    let waiting: Vec<String> = rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect();
                    Err(format!("plan {plan}: {paid} paid, receiver has {sent:?}; waiting: {waiting:?}"))
                }
            }
        })
        .await;
    }
}

/// Each message id has one body; per plan the sequence runs 1, 2, 3… with no
/// gap, first received in that order. Returns how many deliveries repeated an
/// id already received (a send whose outcome died with the primary).
fn check_billing(got: &[Delivery]) -> usize {
    let mut bodies: BTreeMap<&str, &str> = BTreeMap::new();
    let mut repeats = 0;
    let mut firsts: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for d in got {
        match bodies.insert(&d.id, &d.body) {
            Some(before) => {
                assert_eq!(before, d.body, "message {} sent with two bodies", d.id);
                repeats += 1;
            }
            None => firsts.entry(d.plan()).or_default().push(d.sequence()),
        }
    }
    for (plan, sequences) in firsts {
        let expected: Vec<i64> = (1..=sequences.len() as i64).collect();
        assert_eq!(sequences, expected, "plan {plan}: each message once, in sequence order, no gap");
    }
    repeats
}

/// A `serve` process, killed however the test ends (a replica left running
/// would keep working on the next run's cluster, which has the same ports).
struct Replica(Child);

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(test_postgres_off, ignore = "TEST_POSTGRES_URL is not set")]
async fn killing_the_primary_under_load_loses_nothing_acknowledged() {
    if !failover_tools_present() {
        return;
    }
    let (cluster, url) = tokio::task::spawn_blocking(Cluster::up).await.unwrap();
    let receiver = FakeBilling::start();
    let workos = FakeWorkos::start();
    let mut env: Vec<(String, String)> = base_env(&url).into_iter().collect();
    env.extend(receiver.env().into_iter().map(|(k, v)| (k.to_owned(), v)));
    env.extend([
        ("WORKOS_API_BASE".to_owned(), workos.base.clone()),
        ("WORKOS_API_KEY".to_owned(), API_KEY.to_owned()),
        ("WORKOS_EVENTS_POLL_SECS".to_owned(), "1".to_owned()),
        (GUARD_OFF.0.to_owned(), GUARD_OFF.1.to_owned()),
    ]);
    let mut replicas = Vec::new();
    let followed: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut bases = Vec::new();
    for _ in 0..2 {
        let env = env.clone();
        let (child, port, lines) =
            tokio::task::spawn_blocking(move || crate::processes::start_server_logged(&env)).await.unwrap();
        // What each replica says about the database's nodes, printed at the end.
        let (said, i) = (Arc::clone(&followed), replicas.len());
        std::thread::spawn(move || {
            for line in lines.iter().filter(|l| l["target"] == "seatsync::db::primary") {
                said.lock().unwrap().push(format!("replica {i}: {} ({}ms)", line["message"], line["after_ms"]));
            }
        });
        replicas.push(Replica(child));
        bases.push(format!("http://127.0.0.1:{port}"));
    }
    let mut plans = Vec::new();
    for org in ORGS {
        plans.push(new_plan(&bases[0], org).await);
    }

    // The load: four senders, and the Events API growing beside them.
    let (next, stop, load) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicBool::new(false)), Arc::default());
    let senders: Vec<_> = (0..4)
        .map(|_| tokio::spawn(send_until_stopped(bases.clone(), next.clone(), stop.clone(), Arc::clone(&load))))
        .collect();
    let api_events = {
        let (state, stop) = (workos.state.clone(), stop.clone());
        tokio::spawn(async move {
            let mut k = 0;
            while !stop.load(Ordering::SeqCst) {
                state.lock().unwrap().events.extend((k..k + 3).map(api_event));
                k += 3;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            k
        })
    };
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before_kill = load.lock().unwrap().acknowledged.len();
    assert!(before_kill > 20, "the load runs before the kill: {before_kill} acknowledged");

    let killed_at = Instant::now();
    cluster.run(&["kill", "node1"]);
    // Accepting again: a 200 answered after the kill, on each replica's turn.
    let back_after = eventually(Duration::from_secs(45), "a delivery accepted after the kill", || async {
        let load = load.lock().unwrap();
        let answers_after: Vec<_> = load.answers.iter().filter(|(t, _)| *t > killed_at).collect();
        let refused = answers_after.iter().any(|(_, s)| *s != 200);
        match answers_after.iter().rev().take(20).all(|(_, s)| *s == 200) && refused {
            true => Ok(answers_after.iter().rfind(|(_, s)| *s != 200).unwrap().0 - killed_at),
            false => Err(answers_after.len()),
        }
    })
    .await;
    eprintln!("failover: the service accepted deliveries again {:.1} s after the kill", back_after.as_secs_f64());
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    let api_count = api_events.await.unwrap();

    let Load { acknowledged, answers } = std::mem::take(&mut *load.lock().unwrap());
    let during: Vec<u16> = answers.iter().filter(|(t, _)| *t > killed_at).map(|(_, s)| *s).collect();
    let refused = during.iter().filter(|s| **s == 503).count();
    assert!(during.iter().all(|s| *s == 200 || *s == 503), "only 200 or 503 during the failover: {during:?}");
    assert!(refused > 0, "the failover was seen: 503s while no node took writes");
    assert!(back_after < Duration::from_secs(30), "accepting again within 30 s: {back_after:?}");
    eprintln!(
        "failover: {} deliveries acknowledged ({before_kill} before the kill), {refused} answered 503, {api_count} Events API events",
        acknowledged.len()
    );

    for line in followed.lock().unwrap().iter().filter(|l| l.contains("writable node is")) {
        eprintln!("failover: {line}");
    }

    // Everything acknowledged (and everything the Events API had) is in the
    // inbox once, and applied.
    let conn = seatsync::db::connect(&seatsync::db::DatabaseUrl::parse(&url).unwrap()).await.unwrap();
    let mut ids: Vec<String> = acknowledged.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    ids.extend((0..api_count).map(|k| format!("event_api_{k}")));
    let distinct: BTreeSet<String> = ids.iter().cloned().collect();
    let listed = distinct.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
    let stored_ids = || async {
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT event_id FROM inbox_events WHERE event_id IN ({listed})"),
            ))
            .await
            .map_err(|e| vec![format!("{e}")])?;
        Ok::<_, Vec<String>>(rows.iter().map(|r| r.try_get_by_index::<String>(0).unwrap()).collect::<Vec<_>>())
    };
    // The poller reads the Events API's last page within a second or two.
    eventually(Duration::from_secs(20), "every acknowledged event stored", || async {
        let stored = stored_ids().await?;
        match stored.len() == distinct.len() {
            true => Ok(()),
            false => Err(distinct.iter().filter(|id| !stored.contains(id)).cloned().collect::<Vec<_>>()),
        }
    })
    .await;
    let stored = stored_ids().await.unwrap();
    assert_eq!(stored.iter().collect::<BTreeSet<_>>().len(), stored.len(), "each stored once");
    settled(&conn, &receiver, &plans).await;

    // The seats are those of one server applying the same events one at a
    // time (SQLite, no failover).
    let reference = spawn_app_with(Store::Sqlite, &[GUARD_OFF]).await;
    let mut reference_plans = Vec::new();
    for org in ORGS {
        reference_plans.push(reference.create_plan(org, None).await);
    }
    let mut limits = seatsync::reconcile::worker::BatchLimits::for_backend(sea_orm::DbBackend::Sqlite);
    limits.guard.min = 1_000_000;
    for event in acknowledged.iter().cloned().chain((0..api_count).map(api_event)) {
        reference.deliver(&event).await;
        seatsync::reconcile::worker::drain_with(&reference.db, &reference.metrics, limits).await.unwrap();
    }
    let client = seatsync::http_client::client();
    let mut seats_before = Vec::new();
    for (plan, expected_plan) in plans.iter().zip(&reference_plans) {
        let seats = seats_at(&client, &bases[1], plan).await;
        assert_eq!(seats, reference.seats(expected_plan).await, "plan {plan}: the seats of one-at-a-time application");
        assert!(seats.iter().any(|(_, tier, _)| tier == "paid"));
        seats_before.push(seats);
    }

    // Billing: every message once per id, in order per plan, no gap.
    let repeats = check_billing(&receiver.received());
    eprintln!("failover: {} billing deliveries, {repeats} repeated an id", receiver.received().len());
    receiver.verify_independently();

    // The old primary comes back as a standby; nothing changes, and the
    // replicas keep accepting.
    cluster.run(&["start", "node1"]);
    cluster.run(&["wait", "secondary/secondary primary/primary", "120"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (plan, before) in plans.iter().zip(&seats_before) {
        assert_eq!(&seats_at(&client, &bases[0], plan).await, before, "nothing changed when the old primary rejoined");
    }
    // A planned switchover: the primary is demoted to a standby but stays up;
    // each replica moves to the new primary and accepts again.
    let switched_at = Instant::now();
    cluster.run(&["switchover"]);
    cluster.run(&["wait", "primary/primary secondary/secondary", "60"]);
    let mut n = next.load(Ordering::SeqCst) + 1;
    for base in &bases {
        let accepted = eventually(Duration::from_secs(30), "a delivery accepted after the switchover", || {
            n += 1;
            let body = load_event(n).to_string();
            let header = seatsync::webhook::signature::header_value(SECRET.as_bytes(), now_ms(), body.as_bytes());
            let request = client.post(format!("{base}/webhooks/workos")).header("WorkOS-Signature", header).body(body);
            async move {
                match request.send().await.map(|r| r.status().as_u16()) {
                    Ok(200) => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        });
        accepted.await;
    }
    eprintln!(
        "failover: after a switchover both replicas accepted within {:.1} s",
        switched_at.elapsed().as_secs_f64()
    );

    drop(replicas);
    drop(cluster);
}
