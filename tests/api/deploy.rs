//! Issue 27: the operator's kit. The container recipe is parsed (images cannot
//! be built here), and the dashboard and alerts may only name metrics that a
//! running server exposes.
use crate::both_stores;
use crate::helpers::*;
use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

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
    assert!(health.ends_with(r#"CMD ["/usr/local/bin/seatsync", "healthcheck"]"#), "{health}");
    assert!(!health.contains("--url"), "healthcheck follows LISTEN_ADDR, not a fixed port: {health}");
    assert!(runtime.iter().any(|(k, v)| k == "VOLUME" && v.contains("/data")));
    assert!(runtime.iter().any(|(k, v)| k == "ENV" && v.contains("LISTEN_ADDR=0.0.0.0:8080")));
    assert!(runtime.iter().any(|(k, v)| k == "ENV" && v.contains("sqlite:///data/")));
    let entry = runtime.iter().find(|(k, _)| k == "ENTRYPOINT").map(|(_, v)| v.clone()).unwrap();
    assert!(entry.contains("/usr/local/bin/seatsync"), "{entry}");
    let cmd = runtime.iter().rfind(|(k, _)| k == "CMD").map(|(_, v)| v.clone()).unwrap();
    assert_eq!(
        cmd, r#"["serve", "--refuse-example-values", "--no-env-file"]"#,
        "the container refuses .env.example's values and reads no .env"
    );

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

    // cargo loads the whole workspace: every member's manifest is copied.
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let members = manifest.split("members = [").nth(1).unwrap().split(']').next().unwrap();
    for member in members.split(',').map(|m| m.trim().trim_matches('"')).filter(|m| !m.is_empty() && *m != ".") {
        let wanted = format!("{member}/Cargo.toml {member}/Cargo.toml");
        assert!(
            all.iter().any(|(k, v)| k == "COPY" && v == &wanted),
            "the Dockerfile does not COPY {member}/Cargo.toml"
        );
    }
}

/// A scrape as Prometheus reads it: each family's type from its `# TYPE`
/// line, and each series name's label names with the values seen.
struct Scrape {
    types: BTreeMap<String, String>,
    series: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
}

/// Labels Prometheus adds from the scrape target: never in the scrape itself.
const TARGET_LABELS: [&str; 2] = ["instance", "job"];

impl Scrape {
    fn parse(text: &str) -> Self {
        let mut scrape = Self { types: BTreeMap::new(), series: BTreeMap::new() };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                scrape.types.insert(name.to_owned(), kind.to_owned());
            } else if !line.starts_with('#') && !line.is_empty() {
                let end = line.find(['{', ' ']).unwrap();
                let labels = scrape.series.entry(line[..end].to_owned()).or_default();
                if line[end..].starts_with('{') {
                    for (label, _, value) in matchers(&line[end + 1..]).0 {
                        labels.entry(label).or_default().insert(value);
                    }
                }
            }
        }
        scrape
    }

    /// The family `name` selects, as exposed: a counter or gauge by the name
    /// its `# TYPE` line gives (a counter's `_total` included), a histogram
    /// only through its `_bucket`, `_sum` or `_count` series.
    fn family(&self, name: &str) -> Result<&str, String> {
        if let Some((family, kind)) = self.types.get_key_value(name) {
            return match kind.as_str() {
                "histogram" => Err(format!("{name} is a histogram: select its _bucket, _sum or _count")),
                _ => Ok(family),
            };
        }
        for suffix in ["_bucket", "_sum", "_count"] {
            if let Some((family, kind)) = name.strip_suffix(suffix).and_then(|base| self.types.get_key_value(base)) {
                return match kind.as_str() {
                    "histogram" => Ok(family),
                    other => Err(format!("{name}: {family} is a {other}; {suffix} exists on histograms only")),
                };
            }
        }
        match self.types.get(&format!("{name}_total")) {
            Some(_) => Err(format!("{name} is not exposed: the counter is {name}_total")),
            None => Err(format!("{name} is not exposed")),
        }
    }
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

/// A label matcher: label, operator (`=`, `!=`, `=~`, `!~`), value.
type Matcher = (String, String, String);

/// The matchers from just after a `{` to its `}`, and what follows.
fn matchers(text: &str) -> (Vec<Matcher>, &str) {
    let mut found = Vec::new();
    let mut rest = text.trim_start();
    while !rest.starts_with('}') {
        let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap();
        let (label, after) = rest.split_at(name_end);
        let op_end = after.find('"').unwrap();
        let (op, quoted) = (after[..op_end].trim(), &after[op_end + 1..]);
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        let close = loop {
            match chars.next().unwrap() {
                (_, '\\') => value.push(chars.next().unwrap().1),
                (at, '"') => break at,
                (_, c) => value.push(c),
            }
        };
        found.push((label.trim().to_owned(), op.to_owned(), value));
        rest = quoted[close + 1..].trim_start().trim_start_matches(',').trim_start();
    }
    (found, &rest[1..])
}

/// Every `seatsync_…` name in `text`, with its matchers when it has some.
fn selectors(text: &str) -> Vec<(String, Vec<Matcher>)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("seatsync_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        let (name, after) = tail.split_at(end);
        let (matched, after) = match after.strip_prefix('{') {
            Some(inner) => matchers(inner),
            None => (Vec::new(), after),
        };
        found.push((name.to_owned(), matched));
        rest = after;
    }
    found
}

/// `by (labels) (expression)` groupings: the labels, and the expression.
fn groupings(expr: &str) -> Vec<(Vec<String>, String)> {
    let mut found = Vec::new();
    for (at, _) in expr.match_indices("by (") {
        let inside = &expr[at + 4..];
        let close = inside.find(')').unwrap();
        let labels = inside[..close].split(',').map(|l| l.trim().to_owned()).collect();
        let body = inside[close + 1..].trim_start();
        assert!(body.starts_with('('), "only `by (...) (expression)` is understood here: {expr}");
        let mut depth = 0;
        let end = body.find(|c| {
            depth += match c {
                '(' => 1,
                ')' => -1,
                _ => 0,
            };
            depth == 0
        });
        found.push((labels, body[..=end.unwrap()].to_owned()));
    }
    found
}

/// The PromQL expressions of the dashboard's panels and variables.
fn dashboard_exprs(value: &serde_json::Value, into: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                match value.as_str() {
                    Some(expr) if matches!(key.as_str(), "expr" | "query" | "definition") => into.push(expr.to_owned()),
                    _ => dashboard_exprs(value, into),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| dashboard_exprs(item, into)),
        _ => {}
    }
}

/// Each rule's `expr`, a block (`|`) read to the end of its indentation.
fn alert_exprs(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else { continue };
        if value.trim() != "|" {
            found.push(value.trim().to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut block = String::new();
        while let Some(next) = lines.next_if(|l| l.len() - l.trim_start().len() > indent || l.trim().is_empty()) {
            block.push_str(next.trim());
            block.push(' ');
        }
        found.push(block);
    }
    found
}

/// What is wrong with `expr` against `scrape`: a name that is not exposed as
/// written, a label the series does not carry, a value it never takes.
fn mismatches(expr: &str, scrape: &Scrape) -> Vec<String> {
    let mut wrong = Vec::new();
    let has_label = |name: &str, label: &str| {
        TARGET_LABELS.contains(&label) || scrape.series.get(name).is_some_and(|labels| labels.contains_key(label))
    };
    for (name, matched) in selectors(expr) {
        if let Err(why) = scrape.family(&name) {
            wrong.push(why);
            continue;
        }
        for (label, op, value) in matched {
            if !has_label(&name, &label) {
                wrong.push(format!("{name} has no label {label}"));
                continue;
            }
            // A value is checked where it is a plain word or words (a|b);
            // patterns and dashboard variables ($instance) are not values.
            let words: Vec<&str> = value.split('|').collect();
            if TARGET_LABELS.contains(&label.as_str())
                || !words
                    .iter()
                    .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric() || "_/.".contains(c)))
            {
                continue;
            }
            let seen = &scrape.series[&name][&label];
            for word in words.into_iter().filter(|w| !seen.contains(*w)) {
                wrong.push(format!(
                    "{name}{{{label}{op}\"{value}\"}}: {label}={word:?} is never exposed (seen: {seen:?})"
                ));
            }
        }
    }
    for (labels, body) in groupings(expr) {
        for (name, _) in selectors(&body) {
            for label in labels.iter().filter(|l| !has_label(&name, l)) {
                wrong.push(format!("by ({label}) over {name}, which has no label {label}"));
            }
        }
    }
    wrong
}

/// The dashboard and the alerts select only what a running server exposes,
/// exactly as it exposes it: names, label names and label values. The label
/// values they match on (a failed event, a failed then dead billing message, a
/// duplicate delivery, the webhook route) only appear once that has happened,
/// so the server is made to do each of them first.
async fn the_dashboard_and_alerts_name_only_metrics_the_server_exposes(store: Store) {
    let receiver = crate::fake_billing::FakeBilling::start();
    // The first billing attempt fails, the retry is told 410: dead.
    receiver.then([crate::fake_billing::Reply::Status(500), crate::fake_billing::Reply::Status(410)]);
    let env = receiver.env();
    let mut overrides: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Pruning runs too, so its counters have samples.
    overrides.extend([("INBOX_RETENTION_DAYS", "0"), ("INBOX_PRUNE_EVERY_SECS", "1")]);
    let app = spawn_app_with(store, &overrides).await;
    app.create_plan(ORG, None).await;
    let ada = UserEvent {
        id: "event_1",
        user: "directory_user_1",
        email: "ada@example.com",
        at: &at(1),
        ..Default::default()
    };
    app.user(ada).await;
    app.user(ada).await;
    // An email hiding a zero-width space: the event fails.
    app.user(UserEvent {
        id: "event_2",
        user: "directory_user_2",
        email: "gr\u{200B}ace@example.com",
        at: &at(2),
        ..Default::default()
    })
    .await;
    app.settle().await;
    let happened = [
        "seatsync_pruned_events_total{",
        r#"seatsync_outbound_deliveries_total{target="webhook",outcome="dead"}"#,
        r#"seatsync_events_reconciled_total{event="dsync.user.created",status="failed"}"#,
        r#"seatsync_webhook_deliveries_total{outcome="duplicate"}"#,
    ];
    let scraped = eventually(std::time::Duration::from_secs(20), "every activity counted", || async {
        let scraped = app.metrics_text().await;
        if happened.iter().all(|h| scraped.contains(h)) { Ok(scraped) } else { Err(scraped) }
    })
    .await;
    names_in_deploy_are_exposed(&scraped);
}

/// Every metric name the dashboard and the alerts use, and every label value
/// their expressions select, is in `scraped`.
fn names_in_deploy_are_exposed(scraped: &str) {
    let scrape = Scrape::parse(scraped);
    // The premise: every series exposed is found from its family's TYPE line.
    for name in scrape.series.keys() {
        assert!(scrape.family(name).is_ok(), "{name}: {:?}", scrape.family(name));
    }

    let dashboard_text = std::fs::read_to_string(Path::new(ROOT).join("deploy/grafana/seatsync.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&dashboard_text).unwrap();
    assert!(dashboard["panels"].as_array().unwrap().len() >= 10);
    let mut panel_exprs = Vec::new();
    dashboard_exprs(&dashboard, &mut panel_exprs);
    let alerts_text = std::fs::read_to_string(Path::new(ROOT).join("deploy/prometheus/alerts.yml")).unwrap();
    let rules = alerts_text.lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    let rule_exprs = alert_exprs(&alerts_text);
    assert_eq!(rule_exprs.len(), rules, "one expression a rule: {rule_exprs:?}");
    for (file, text, exprs) in
        [("seatsync.json", &dashboard_text, panel_exprs), ("alerts.yml", &alerts_text, rule_exprs)]
    {
        // Names in prose (descriptions) too; labels and values in expressions.
        let names = names_in(text);
        assert!(names.len() >= 7, "{file} names {names:?}");
        let mut wrong: Vec<String> = names.iter().filter_map(|name| scrape.family(name).err()).collect();
        wrong.extend(exprs.iter().flat_map(|expr| mismatches(expr, &scrape)));
        wrong.sort();
        wrong.dedup();
        assert!(wrong.is_empty(), "{file} selects what the server does not expose:\n{}\n\n{scraped}", wrong.join("\n"));
    }
}

/// A dashboard and alerts can trust the first scrape: a server that has done
/// nothing yet exposes every name and label value they use (at 0), so an
/// alert's series exists before the first event it counts.
async fn a_fresh_server_exposes_every_metric_the_dashboard_and_alerts_use(store: Store) {
    let app = spawn_app(store).await;
    // The very first scrape, as Prometheus makes it (no refresh forced first).
    let scraped = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    names_in_deploy_are_exposed(&scraped);
}

both_stores!(
    the_dashboard_and_alerts_name_only_metrics_the_server_exposes,
    a_fresh_server_exposes_every_metric_the_dashboard_and_alerts_use
);

/// The checker itself: each kind of drift it must catch.
#[test]
fn the_metric_check_catches_each_kind_of_drift() {
    let scrape = Scrape::parse(concat!(
        "# TYPE seatsync_events_reconciled_total counter\n",
        "seatsync_events_reconciled_total{event=\"dsync.user.created\",status=\"applied\"} 1\n",
        "# TYPE seatsync_request_seconds histogram\n",
        "seatsync_request_seconds_bucket{route=\"/x\",le=\"0.5\"} 1\n",
        "seatsync_request_seconds_sum{route=\"/x\"} 0.1\n",
        "seatsync_request_seconds_count{route=\"/x\"} 1\n",
    ));
    let wrong = |expr: &str| mismatches(expr, &scrape);
    assert_eq!(
        wrong(r#"sum by (status) (rate(seatsync_events_reconciled_total{instance=~"$instance"}[5m]))"#),
        Vec::<String>::new()
    );
    assert_eq!(wrong(r#"sum by (le) (rate(seatsync_request_seconds_bucket{route="/x"}[5m]))"#), Vec::<String>::new());
    assert_eq!(
        wrong("rate(seatsync_events_reconciled[5m])"),
        ["seatsync_events_reconciled is not exposed: the counter is seatsync_events_reconciled_total"]
    );
    assert_eq!(
        wrong("seatsync_request_seconds"),
        ["seatsync_request_seconds is a histogram: select its _bucket, _sum or _count"]
    );
    assert_eq!(
        wrong("seatsync_events_reconciled_total_count"),
        [
            "seatsync_events_reconciled_total_count: seatsync_events_reconciled_total is a counter; _count exists on histograms only"
        ]
    );
    assert_eq!(
        wrong(r#"seatsync_events_reconciled_total{state="applied"}"#),
        ["seatsync_events_reconciled_total has no label state"]
    );
    assert_eq!(
        wrong(r#"seatsync_events_reconciled_total{status="aplied"}"#),
        [r#"seatsync_events_reconciled_total{status="aplied"}: status="aplied" is never exposed (seen: {"applied"})"#]
    );
    assert_eq!(
        wrong("sum by (tier) (seatsync_events_reconciled_total)"),
        ["by (tier) over seatsync_events_reconciled_total, which has no label tier"]
    );
}

/// The shipped deployment files refuse `.env.example`'s values on any
/// address (issue 37, item 3): the unit and the container start `serve` with
/// `--refuse-example-values`, and `serve` so started with the example token,
/// on loopback, stops at once with 78 and says which value.
#[test]
fn the_deployment_files_refuse_the_example_values_on_any_address() {
    let unit = std::fs::read_to_string(Path::new(ROOT).join("deploy/systemd/seatsync.service")).unwrap();
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert_eq!(exec, "ExecStart=/usr/local/bin/seatsync serve --refuse-example-values --no-env-file");
    let example = seatsync::config::SHIPPED_SECRETS.iter().find(|(name, _)| *name == "ADMIN_TOKEN").unwrap().1;
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_seatsync"))
        .args(["serve", "--refuse-example-values"])
        .current_dir(dir.path())
        .env_clear()
        .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", dir.path().join("db.sqlite").display()))
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("WORKOS_WEBHOOK_SECRET", "whsec_a_real_enough_secret_for_this")
        .env("ADMIN_TOKEN", example)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("ADMIN_TOKEN") && !said.contains(example), "{said}");
}
