//! Issue 27: the operator's kit. The container recipe is parsed (images cannot
//! be built here), and the dashboard and alerts may only name metrics that a
//! running server exposes.
use crate::both_stores;
use crate::helpers::*;
use std::{collections::BTreeSet, path::Path};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let (keyword, rest) = current.split_once(' ').unwrap_or((&current, ""));
                out.push((keyword.to_uppercase(), rest.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

#[test]
fn the_dockerfile_runs_as_a_user_checks_health_and_copies_only_what_exists() {
    let text = std::fs::read_to_string(Path::new(ROOT).join("deploy/Dockerfile")).unwrap();
    let all = instructions(&text);
    let stages = all.iter().filter(|(k, _)| k == "FROM").count();
    assert!(stages >= 2, "a builder stage and a runtime stage");
    let last_from = all.iter().rposition(|(k, _)| k == "FROM").unwrap();
    let runtime = &all[last_from..];
    assert!(runtime[0].1.contains("slim"), "a slim runtime image: {}", runtime[0].1);

    let user = runtime.iter().rfind(|(k, _)| k == "USER").map(|(_, v)| v.clone()).expect("a USER in the runtime stage");
    let name = user.split(':').next().unwrap();
    assert!(!matches!(name, "root" | "0"), "runs as {user}");
    let health = runtime.iter().find(|(k, _)| k == "HEALTHCHECK").map(|(_, v)| v.clone()).expect("a HEALTHCHECK");
    assert!(health.contains("seatsync") && health.contains("healthcheck"), "{health}");
    assert!(runtime.iter().any(|(k, v)| k == "VOLUME" && v.contains("/data")));
    assert!(runtime.iter().any(|(k, v)| k == "ENV" && v.contains("LISTEN_ADDR=0.0.0.0:8080")));
    assert!(runtime.iter().any(|(k, v)| k == "ENV" && v.contains("sqlite:///data/")));
    let entry = runtime.iter().find(|(k, _)| k == "ENTRYPOINT").map(|(_, v)| v.clone()).unwrap();
    assert!(entry.contains("/usr/local/bin/seatsync"), "{entry}");

    // Every COPY from the build context names something in this repository.
    let mut copied = 0;
    for (keyword, args) in &all {
        if keyword != "COPY" || args.contains("--from=") {
            continue;
        }
        let parts: Vec<&str> = args.split_whitespace().filter(|p| !p.starts_with("--")).collect();
        for source in &parts[..parts.len() - 1] {
            assert!(Path::new(ROOT).join(source).exists(), "COPY {source}: no such file in the repository");
            copied += 1;
        }
    }
    assert!(copied >= 5, "{copied} sources copied");
}

/// Every `seatsync_…` name in `text`.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("seatsync_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

async fn the_dashboard_and_alerts_name_only_metrics_the_server_exposes(store: Store) {
    let receiver = crate::fake_billing::FakeBilling::start();
    let env = receiver.env();
    let mut overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Pruning runs too, so its counters have samples.
    overrides.extend([("INBOX_RETENTION_DAYS", "0"), ("INBOX_PRUNE_EVERY_SECS", "1")]);
    let app = spawn_app_with(store, &overrides).await;
    let plan = app.create_plan(ORG, None).await;
    app.user(UserEvent {
        id: "event_1",
        user: "directory_user_1",
        email: "ada@example.com",
        at: &at(1),
        ..Default::default()
    })
    .await;
    app.settle().await;
    receiver.wait_for("the plan's message", |got| got.iter().any(|d| d.plan() == plan)).await;
    let scraped = eventually(std::time::Duration::from_secs(10), "a prune counted", || async {
        let scraped = app.metrics_text().await;
        if scraped.contains("seatsync_pruned_events_total{") { Ok(scraped) } else { Err(scraped) }
    })
    .await;
    let exposed: BTreeSet<String> = scraped
        .lines()
        .filter_map(|line| match line.strip_prefix("# TYPE ") {
            Some(rest) => rest.split_whitespace().next(),
            None if !line.starts_with('#') => line.split(['{', ' ']).next(),
            None => None,
        })
        .map(str::to_owned)
        .collect();
    let known = |name: &str| {
        let base = ["_bucket", "_count", "_sum", "_total"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name);
        exposed.contains(name) || exposed.contains(base) || exposed.contains(&format!("{base}_total"))
    };
    for file in ["deploy/grafana/seatsync.json", "deploy/prometheus/alerts.yml"] {
        let text = std::fs::read_to_string(Path::new(ROOT).join(file)).unwrap();
        let used = names_in(&text);
        assert!(used.len() >= 7, "{file} names {used:?}");
        let missing: Vec<&String> = used.iter().filter(|n| !known(n)).collect();
        assert!(missing.is_empty(), "{file} names metrics the server does not expose: {missing:?}\n{scraped}");
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(ROOT).join("deploy/grafana/seatsync.json")).unwrap())
            .unwrap();
    assert!(dashboard["panels"].as_array().unwrap().len() >= 10);
}

both_stores!(the_dashboard_and_alerts_name_only_metrics_the_server_exposes);
