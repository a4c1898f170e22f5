//! The `seatsync` binary as a child process: started with exactly the given
//! environment, stopped by signal, waited for. Shared by every test that runs
//! real processes.
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

/// The binary, in an empty working directory (no developer's `.env` is read),
/// with `env` and `PATH` only.
pub fn seatsync(env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_seatsync"));
    // An empty working directory: no developer's .env is read.
    let dir = std::env::temp_dir();
    cmd.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `env` with `key` set to `value` (or removed).
pub fn with(mut env: Vec<(String, String)>, key: &str, value: Option<&str>) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != key);
    if let Some(v) = value {
        env.push((key.to_owned(), v.to_owned()));
    }
    env
}

/// `serve` with JSON logs; returns it once it listens, with its port.
pub fn start_server(env: &[(String, String)]) -> (Child, u16) {
    let (child, port, lines) = start_server_logged(env);
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, port)
}

/// `serve` with JSON logs, once it listens: its port and every later log line
/// (parsed), read on a thread of its own so the server never blocks on the pipe.
pub fn start_server_logged(env: &[(String, String)]) -> (Child, u16, std::sync::mpsc::Receiver<serde_json::Value>) {
    let mut child = seatsync(&with(env.to_vec(), "LOG_FORMAT", Some("json")))
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines.next().expect("server exited before listening").unwrap();
        let value: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if value["message"] == "seatsync listening" {
            let listen = value["listen"].as_str().unwrap();
            break listen.rsplit(':').next().unwrap().parse().unwrap();
        }
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(serde_json::from_str(&line).unwrap_or_default());
        }
    });
    (child, port, rx)
}

/// Its exit status, if it exits within `within`.
pub fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// Sends `sig` (`TERM`, `KILL`, …).
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}
