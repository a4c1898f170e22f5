//! Every setting the binary reads is where an integrator looks for it
//! (issue 36, item 7): `.env.example`, the settings table of
//! `docs/operating.md`, `docs/CONTRACT.md` section 2, and `check-config`'s
//! output. The settings are found by reading `src/config/`'s source, so a new
//! one that is missing anywhere fails here, and each must be an entry of the
//! settings table (`config::VARIABLES`), which the parser and the docs use.
use crate::processes::seatsync;
use std::{collections::BTreeSet, path::Path};

/// Quoted upper-case names in `src/config/`: the variables it reads.
fn settings_read() -> BTreeSet<String> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/config");
    let mut source = String::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        source.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let mut found = BTreeSet::new();
    for piece in source.split('"').skip(1).step_by(2) {
        let is_name = piece.len() >= 4
            && piece.starts_with(|c: char| c.is_ascii_uppercase())
            && piece.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && piece.contains('_')
            && !piece.ends_with('_');
        if is_name && piece != "CARGO_MANIFEST_DIR" {
            found.insert(piece.to_owned());
        }
    }
    found
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn every_setting_is_in_the_example_the_docs_the_contract_and_check_config() {
    let settings = settings_read();
    assert!(settings.len() >= 30 && settings.contains("BILLING_RETRY_SCHEDULE_SECS"), "{settings:?}");
    let example = read(".env.example");
    let operating = read("docs/operating.md");
    let contract = read("docs/CONTRACT.md");
    let section_2 = contract.split("## 2.").nth(1).unwrap().split("## 3.").next().unwrap();
    let output = seatsync(&[("WORKOS_WEBHOOK_SECRET".into(), "whsec_settings_test_secret".into())])
        .arg("check-config")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut missing = Vec::new();
    for name in &settings {
        if !seatsync::config::VARIABLES.iter().any(|v| v.name == name) {
            missing.push(format!("{name} is read but not in config::VARIABLES"));
        }
        let in_example = example.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{name}="))
        });
        let row = format!("| `{name}` |");
        for (place, found) in [
            (".env.example", in_example),
            ("docs/operating.md", operating.contains(&row)),
            ("CONTRACT section 2", section_2.contains(&row)),
            ("check-config", printed.lines().any(|l| l.starts_with(&format!("{name}=")))),
        ] {
            if !found {
                missing.push(format!("{name} is not in {place}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}\ncheck-config printed:\n{printed}");
}
