//! `docs/CONTRACT.md` is the shared contract, word for word: the copy a
//! newcomer reads in the repository never drifts from `../shared/CONTRACT.md`,
//! which wins. CI always has `../shared` beside the clone; elsewhere a missing
//! one is said, not failed.
use std::path::Path;

#[test]
fn the_contract_in_docs_is_the_shared_contract() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/CONTRACT.md");
    let Ok(theirs) = std::fs::read_to_string(&shared) else {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs with ../shared beside the clone: {} is missing",
            shared.display()
        );
        eprintln!("../shared/CONTRACT.md is not here: not compared");
        return;
    };
    let ours = std::fs::read_to_string(root.join("docs/CONTRACT.md")).unwrap();
    assert!(ours == theirs, "docs/CONTRACT.md differs from ../shared/CONTRACT.md: cp ../shared/CONTRACT.md docs/");
}
