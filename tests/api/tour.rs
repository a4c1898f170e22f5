//! The tour in `docs/operating.md` ("Try it") holds when followed literally
//! (issue 36, item 6): its lines run as written, in a fresh folder with
//! `.env.example` copied to `.env`, beside a running `serve`, and end with the
//! members its scenario's `expected.json` names.
use crate::processes::{signal, wait_exit};
use serde_json::Value;
use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The tour's lines, between its markers, as a shell reads them.
fn tour_script() -> String {
    let doc = std::fs::read_to_string(repo().join("docs/operating.md")).unwrap();
    let block = doc.split("<!-- tour:start -->").nth(1).unwrap().split("<!-- tour:end -->").next().unwrap();
    block.lines().map(|l| l.strip_prefix("    ").unwrap_or(l)).collect::<Vec<_>>().join("\n")
}

/// The last pretty-printed JSON document in `text`.
fn last_json(text: &str) -> Value {
    let start = text.rfind("\n{\n").map(|i| i + 1).unwrap_or(0);
    serde_json::from_str(&text[start..]).unwrap_or_else(|e| panic!("{e}: {}", &text[start..]))
}

/// (email, tier, source) of each member listed.
fn seats(list: &Value) -> Vec<(String, String, String)> {
    let text = |m: &Value, k: &str| m[k].as_str().unwrap().to_owned();
    list.as_array().unwrap().iter().map(|m| (text(m, "email"), text(m, "tier"), text(m, "source"))).collect()
}

#[test]
fn the_tour_runs_as_written_and_ends_as_its_scenario_expects() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let example = std::fs::read_to_string(repo().join(".env.example")).unwrap();
    // The one change a second copy on this machine needs: its own port.
    let env = example.replace("LISTEN_ADDR=127.0.0.1:8080", &format!("LISTEN_ADDR=127.0.0.1:{port}"));
    assert_ne!(env, example, ".env.example sets LISTEN_ADDR=127.0.0.1:8080");
    std::fs::write(dir.path().join(".env"), env).unwrap();
    // As `cp` leaves it under a usual umask; one writable by others is not read.
    std::fs::set_permissions(dir.path().join(".env"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(repo().join("fixtures"), dir.path().join("fixtures")).unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_seatsync"));
    let path = format!("{}:{}", binary.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());

    let mut serve = Command::new(binary)
        .arg("serve")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", &path)
        .env("LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("serve exited before listening").unwrap();
        if line.contains("seatsync listening") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});

    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &tour_script()])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", &path)
        .output()
        .unwrap();
    signal(&serve, "TERM");
    wait_exit(&mut serve, Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the tour failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));

    let scenario = repo().join("fixtures/scenarios/enforcement-eleventh-user/expected.json");
    let expected: Value = serde_json::from_slice(&std::fs::read(scenario).unwrap()).unwrap();
    let members = last_json(&stdout);
    let shown = seats(&members["data"]);
    let wanted = seats(&expected["expected"]["members"]);
    assert_eq!(shown, wanted);
    assert_eq!(wanted.len(), 14);
    assert!(stdout.contains(&format!("\"mode\": \"{}\"", expected["expected"]["mode"].as_str().unwrap())), "{stdout}");
}
