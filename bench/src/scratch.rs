//! Scratch databases for a run: a temporary SQLite file removed afterwards.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh SQLite file in its own temporary folder, removed with the guard.
pub(crate) fn temp_sqlite() -> anyhow::Result<(String, TempDir)> {
    let dir = std::env::temp_dir().join(format!("seatsync-bench-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir)?;
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    Ok((url, TempDir(dir)))
}

/// `given`, else a temporary SQLite file (and the guard that removes it).
pub(crate) fn database_or_temp(given: Option<String>) -> anyhow::Result<(String, Option<TempDir>)> {
    match given {
        Some(url) => Ok((url, None)),
        None => temp_sqlite().map(|(url, dir)| (url, Some(dir))),
    }
}
