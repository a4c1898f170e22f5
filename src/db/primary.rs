//! Writing only through a writable PostgreSQL node, and following it when a
//! highly available cluster fails over (CONTRACT 2).
//!
//! The failover itself is the cluster's (pg_auto_failover, Patroni): this
//! only finds where it put the primary. Every new pooled connection is asked
//! whether its node takes writes and is refused when not (a standby, or a
//! primary being demoted), for one host as for several. With several hosts a
//! watcher asks the current node twice a second, with a commit of its own;
//! when it stops answering, turns read-only or stops returning commits (cut
//! off from its synchronous standby), the hosts are tried in order the same
//! way, the pool is pointed at the first that commits, and every connection opened before that is dropped when
//! it is next taken from the pool instead of being used.
use sea_orm::{
    DbErr,
    sqlx::{
        self, ConnectOptions as _, Connection,
        postgres::{PgConnectOptions, PgConnection, PgPool},
    },
};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// How often the watcher asks the current node.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// How long one question (connect, or the query) may take before the node
/// counts as gone.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The hosts of one database URL and which of them is written through.
pub struct Primary {
    hosts: Vec<PgConnectOptions>,
    names: Vec<String>,
    current: AtomicUsize,
    born: Instant,
    /// When the pool last changed node, as milliseconds after `born` (0: never).
    switched_ms: AtomicU64,
}

impl Primary {
    pub fn new(urls: &[String]) -> Result<Arc<Self>, DbErr> {
        let hosts = urls
            .iter()
            .map(|url| url.parse::<PgConnectOptions>().map(|o| o.disable_statement_logging()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| DbErr::Custom(format!("DATABASE_URL: {e}")))?;
        let names = hosts.iter().map(|o| format!("{}:{}", o.get_host(), o.get_port())).collect();
        Ok(Arc::new(Self {
            hosts,
            names,
            current: AtomicUsize::new(0),
            born: Instant::now(),
            switched_ms: AtomicU64::new(0),
        }))
    }

    pub fn several(&self) -> bool {
        self.hosts.len() > 1
    }

    /// The index of the first writable host, trying them in order.
    pub async fn find(&self) -> Option<usize> {
        for (i, options) in self.hosts.iter().enumerate() {
            match probe(options).await {
                Ok(true) => return Some(i),
                Ok(false) => tracing::debug!(host = %self.names[i], "the node is read-only (a standby)"),
                Err(err) => tracing::debug!(host = %self.names[i], error = %err, "the node does not answer"),
            }
        }
        None
    }

    /// At start: the first writable host, or the first host when none answers
    /// yet (the pool then fails as a single server that is down does).
    pub async fn choose(&self) -> usize {
        let chosen = if self.several() { self.find().await.unwrap_or(0) } else { 0 };
        self.current.store(chosen, Ordering::SeqCst);
        chosen
    }

    /// A pooled connection of this `age` was opened before the pool last
    /// changed node: it is dropped, never used.
    pub fn is_stale(&self, age: Duration) -> bool {
        let switched = self.switched_ms.load(Ordering::SeqCst);
        let opened = self.born.elapsed().saturating_sub(age);
        switched > 0 && opened.as_millis() <= u128::from(switched)
    }

    /// Watches the current node for as long as the pool is open.
    pub fn follow(self: Arc<Self>, pool: PgPool) {
        tokio::spawn(async move { self.watch(pool).await });
    }

    async fn watch(&self, pool: PgPool) {
        let mut watching: Option<PgConnection> = None;
        let mut lost_since: Option<Instant> = None;
        let mut warned_at: Option<Instant> = None;
        loop {
            tokio::time::sleep(WATCH_EVERY).await;
            if pool.is_closed() {
                return;
            }
            let current = self.current.load(Ordering::SeqCst);
            if watching.is_none() {
                watching = tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(&self.hosts[current]))
                    .await
                    .ok()
                    .and_then(Result::ok);
            }
            let healthy = match watching.as_mut() {
                Some(conn) => matches!(tokio::time::timeout(PROBE_TIMEOUT, commits(conn)).await, Ok(Ok(true))),
                None => false,
            };
            if healthy {
                continue;
            }
            watching = None;
            let since = *lost_since.get_or_insert_with(Instant::now);
            match self.find().await {
                // The same node after all (slow for a moment, or the watcher's
                // own connection lost): nothing to move, no connection dropped.
                Some(found) if found == current => (lost_since, warned_at) = (None, None),
                Some(found) => {
                    self.current.store(found, Ordering::SeqCst);
                    pool.set_connect_options(self.hosts[found].clone());
                    let ms = u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX).max(1);
                    self.switched_ms.store(ms, Ordering::SeqCst);
                    (lost_since, warned_at) = (None, None);
                    tracing::warn!(
                        primary = %self.names[found],
                        previous = %self.names[current],
                        after_ms = since.elapsed().as_millis() as u64,
                        "the database's writable node is {}; connections opened before are dropped",
                        self.names[found]
                    );
                }
                // Said at once, then every five seconds while it lasts.
                None if warned_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) => {
                    warned_at = Some(Instant::now());
                    tracing::warn!(
                        hosts = %self.names.join(","),
                        for_ms = since.elapsed().as_millis() as u64,
                        "no database host takes writes; asking again twice a second"
                    );
                }
                None => {}
            }
        }
    }
}

/// Connects to one host and asks whether it takes writes.
async fn probe(options: &PgConnectOptions) -> Result<bool, sqlx::Error> {
    let connect = tokio::time::timeout(PROBE_TIMEOUT, PgConnection::connect_with(options));
    let mut conn = connect.await.map_err(|_| sqlx::Error::PoolTimedOut)??;
    let writable = tokio::time::timeout(PROBE_TIMEOUT, commits(&mut conn)).await;
    let _ = conn.close().await;
    writable.map_err(|_| sqlx::Error::PoolTimedOut)?
}

/// Neither in recovery (a standby) nor read-only by setting (a primary being
/// demoted, or kept read-only by its failover tool).
pub async fn is_writable(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let (recovering, read_only): (bool, String) =
        sqlx::query_as("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')")
            .fetch_one(&mut *conn)
            .await?;
    Ok(!recovering && read_only == "off")
}

/// Writable, and a commit returns: a transaction with an id commits as
/// deliveries do, so it waits for the synchronous standby. A primary cut off
/// from its standby after the standby was promoted (its keeper hung, say)
/// still answers reads and says it is writable, but no commit of it returns:
/// the caller's time-out tells.
async fn commits(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    if !is_writable(conn).await? {
        return Ok(false);
    }
    let mut txn = conn.begin().await?;
    sqlx::query("SELECT txid_current()").execute(&mut *txn).await?;
    txn.commit().await?;
    Ok(true)
}

/// The pool's check on every new connection: a node that does not take
/// writes is refused, so nothing is ever written through a standby.
pub fn refuse_read_only(conn: &mut PgConnection) -> futures_util::future::BoxFuture<'_, Result<(), sqlx::Error>> {
    Box::pin(async move {
        if is_writable(conn).await? {
            Ok(())
        } else {
            tracing::warn!("a database connection reached a node that does not take writes (a standby); not used");
            Err(sqlx::Error::Configuration("the database node is read-only (a standby)".into()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_before_a_switch_are_stale_and_later_ones_are_not() {
        let primary = Primary::new(&["postgres://u@a/x".into(), "postgres://u@b/x".into()]).unwrap();
        assert!(primary.several());
        assert!(!primary.is_stale(Duration::from_secs(3600)), "no switch yet: nothing is stale");
        std::thread::sleep(Duration::from_millis(30));
        primary.switched_ms.store(20, Ordering::SeqCst);
        // Opened at ~0 ms (age = everything since birth): before the switch.
        assert!(primary.is_stale(primary.born.elapsed()));
        // Opened just now: after it.
        assert!(!primary.is_stale(Duration::ZERO));
    }
}
