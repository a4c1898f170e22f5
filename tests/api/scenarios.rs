//! Every folder in `fixtures/scenarios/` is replayed through the real HTTP path
//! (signed, by the same code as `seatsync replay`) and must end exactly as its
//! `expected.json` says. A new folder is picked up with no code change.
use crate::both_stores;
use crate::helpers::*;
use seatsync::tools::replay;
use serde::Deserialize;
use std::{collections::BTreeMap, path::PathBuf, time::Duration};

#[derive(Deserialize)]
struct Expected {
    plan: PlanSpec,
    #[serde(default)]
    create_plan_after_replay: bool,
    #[serde(default)]
    manual_members: Vec<ManualMember>,
    expected: Outcome,
}

#[derive(Deserialize)]
struct PlanSpec {
    name: String,
    organization_id: String,
    test_mode_max_users: u32,
}

#[derive(Deserialize)]
struct ManualMember {
    email: String,
    tier: String,
}

#[derive(Deserialize)]
struct Outcome {
    mode: String,
    members: Vec<Member>,
    #[serde(default)]
    statuses: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Member {
    email: String,
    tier: String,
    source: String,
}

fn scenario_folders() -> Vec<PathBuf> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir("fixtures/scenarios")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("expected.json").exists())
        .collect();
    folders.sort();
    folders
}

async fn create_plan(app: &TestApp, spec: &Expected) -> String {
    let body = serde_json::json!({
        "name": spec.plan.name,
        "organization_id": spec.plan.organization_id,
        "test_mode_max_users": spec.plan.test_mode_max_users,
    });
    let response = app.admin_post("/admin/plans", &body).await;
    assert_eq!(response.status(), 201);
    response.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

async fn every_scenario_ends_with_its_expected_members(store: Store) {
    let folders = scenario_folders();
    assert!(folders.len() >= 6, "scenarios missing: {folders:?}");
    for folder in folders {
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        let spec: Expected = serde_json::from_slice(&std::fs::read(folder.join("expected.json")).unwrap()).unwrap();
        let app = spawn_app(store).await;
        let mut plan = None;
        if !spec.create_plan_after_replay {
            let id = create_plan(&app, &spec).await;
            for member in &spec.manual_members {
                assert_eq!(app.set_tier(&id, &member.email, &member.tier).await.status(), 200, "{name}");
            }
            plan = Some(id);
        }
        let deliveries = replay::load(std::slice::from_ref(&folder)).unwrap();
        let options = replay::ReplayOptions {
            url: app.address.clone(),
            secret: SECRET.into(),
            admin_token: Some(ADMIN_TOKEN.into()),
            wait: false,
            concurrency: 1,
            wait_timeout: Duration::from_secs(10),
        };
        let mut log = Vec::new();
        let summary = replay::replay(&deliveries, &options, &mut log).await.unwrap();
        assert_eq!(summary.refused, 0, "{name}: {}", String::from_utf8_lossy(&log));
        app.settle().await;
        let plan = match plan {
            Some(plan) => plan,
            None => {
                for d in &deliveries {
                    assert_eq!(app.event_status(&d.id).await, "parked", "{name}: {}", d.id);
                }
                assert!(spec.manual_members.is_empty(), "{name}: a parked scenario has no manual members");
                let plan = create_plan(&app, &spec).await;
                app.settle().await;
                plan
            }
        };
        let seats = app.seats(&plan).await;
        let expected: Vec<_> = spec.expected.members.iter().map(|m| seat(&m.email, &m.tier, &m.source)).collect();
        assert_eq!(seats, expected, "{name}: members");
        assert_eq!(app.plan(&plan).await["mode"], spec.expected.mode.as_str(), "{name}: mode");
        for (id, status) in &spec.expected.statuses {
            assert_eq!(&app.event_status(id).await, status, "{name}: {id}");
        }
    }
}

both_stores!(every_scenario_ends_with_its_expected_members);

/// `seatsync replay` as an operator runs it, against a running server.
async fn the_replay_command_prints_each_event_and_its_final_status(store: Store) {
    let app = spawn_app(store).await;
    app.create_plan("org_01EZTR6WYX1A0DSE2CYMGXQ24Y", None).await;
    let url = app.address.clone();
    let run = move |args: Vec<String>| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_seatsync"))
                .arg("replay")
                .args(args)
                .args(["--url", &url])
                .env_clear()
                .env("WORKOS_WEBHOOK_SECRET", SECRET)
                .env("ADMIN_TOKEN", ADMIN_TOKEN)
                .current_dir(std::env::current_dir().unwrap())
                .output()
                .unwrap()
        })
    };
    let output = run(vec!["fixtures/scenarios/test-mode-ten-users".into(), "--wait".into()]).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "event_01HZSC00ACTIVATED000000000\tdsync.activated\t200\taccepted");
    assert_eq!(lines[11], "event_01HZSC00ACTIVATED000000000\tfinal\tapplied");
    assert_eq!(*lines.last().unwrap(), "sent 11, accepted 11, duplicate 0, refused 0, failed 0");

    // A bad file is named, with what is wrong.
    let bad = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(bad.path(), br#"{"event": "dsync.user.created"}"#).unwrap();
    let output = run(vec![bad.path().display().to_string()]).await.unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&bad.path().display().to_string()) && stderr.contains("`id`"), "{stderr}");

    // A refused delivery (wrong secret) makes the exit code non-zero.
    let output = tokio::task::spawn_blocking({
        let url = app.address.clone();
        move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_seatsync"))
                .args(["replay", "fixtures/events/dsync.user.created.json", "--url", &url, "--secret", "whsec_wrong"])
                .env_clear()
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("401\tsignature_mismatch"));

    // --url may also be the webhook URL as registered in WorkOS.
    let webhook_url = format!("{}/webhooks/workos/", app.address);
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_seatsync"))
            .args(["replay", "fixtures/events/dsync.user.created.json", "--url", &webhook_url, "--wait"])
            .env_clear()
            .env("WORKOS_WEBHOOK_SECRET", SECRET)
            .env("ADMIN_TOKEN", ADMIN_TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("\tdsync.user.created\t200\taccepted"), "{stdout}");
}

both_stores!(the_replay_command_prints_each_event_and_its_final_status);
