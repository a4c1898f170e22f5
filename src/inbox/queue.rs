//! The reconciler's queue over `inbox_events`: claim, settle, fail, retry, park
//! and unpark. No other module changes an event's status.
//!
//! Order: every event belongs to a group (`order_key`: its organization, else its
//! directory). A group's unsettled events (`pending`, and `parked` ones waiting
//! for a plan) are applied strictly in arrival order (`seq`): a parked event
//! blocks the rest of its group until it applies. A claim takes whole groups: on
//! PostgreSQL an advisory lock per group, taken with a try-lock so replicas share
//! the queue without waiting; on SQLite the database write lock, taken at the
//! claim's first statement to the batch's commit.
//!
//! Cost: a claim reads a bounded window of two partial indexes (pending rows by
//! arrival; a group's unsettled rows by arrival), so it does not grow with the
//! backlog or the settled history and needs no planner statistics.
use crate::{
    db::stmt,
    domain::{DirectoryId, EventStatus, Micros, OrganizationId, order_key},
    store::{col, enum_col},
};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Value};
use std::time::Duration;

/// How much one claim may take.
#[derive(Debug, Clone, Copy)]
pub struct ClaimLimits {
    /// Groups locked at most.
    pub groups: usize,
    /// Events read at most, over all groups.
    pub events: usize,
}

/// One stored event, as the reconciler sees it.
#[derive(Debug, Clone)]
pub struct QueuedEvent {
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub body: Vec<u8>,
    pub attempts: i32,
    /// Parked earlier: it is applied again first, and if it still waits, the
    /// rest of its group waits with it.
    pub parked: bool,
    /// False while a retry back-off runs: the group waits for it.
    pub due: bool,
    /// Stopped by the release guard: the group waits until an operator approves.
    pub held: bool,
    /// Held when an operator approved: applied without the guard's limit.
    pub approved: bool,
    /// The span that received it (W3C), when traces were exported.
    pub traceparent: Option<String>,
}

/// A claimed group: its oldest unsettled events, in arrival order.
#[derive(Debug, Clone)]
pub struct Group {
    /// `None` for an event that has no group (it cannot be ordered with anything).
    pub key: Option<String>,
    pub events: Vec<QueuedEvent>,
}

/// What a claim found.
#[derive(Debug, Default)]
pub struct Claim {
    pub groups: Vec<Group>,
    /// Due events exist whose groups another reconciler has locked right now.
    pub locked_elsewhere: bool,
}

/// How many pending rows a claim looks at to find groups, per group wanted.
/// Small: each row read is a round trip to SQLite's worker thread.
const CANDIDATES_PER_GROUP: usize = 4;
/// PostgreSQL advisory locks in the two-key space: class 1 is "a reconciler
/// applies this group", class 2 "a storer of this group has not committed".
const GROUP_LOCK_CLASS: i32 = 1;
const STORING_LOCK_CLASS: i32 = 2;

/// Claims up to `limits` worth of work. Call it as the first statement of the
/// batch's transaction: the locks last until that transaction ends.
pub async fn claim(c: &impl ConnectionTrait, now: Micros, limits: ClaimLimits) -> Result<Claim, DbErr> {
    let backend = c.get_database_backend();
    // SQLite's write lock for the whole batch, so two processes on one file
    // never apply at the same time.
    crate::db::write_first(c).await?;
    // Groups whose back-off has run out first, then the oldest with none. A
    // group in back-off has every pending row stamped (see `retry_later`), so
    // neither index walks its backlog and it cannot crowd out the others.
    let window = ((limits.groups * CANDIDATES_PER_GROUP) as i64).into();
    let mut rows = c
        .query_all_raw(stmt(
            backend,
            "SELECT seq, order_key FROM inbox_events WHERE status = 'pending' \
             AND next_attempt_at IS NOT NULL AND next_attempt_at <= ? ORDER BY next_attempt_at LIMIT ?",
            [now.0.into(), Value::clone(&window)],
        ))
        .await?;
    rows.extend(
        c.query_all_raw(stmt(
            backend,
            "SELECT seq, order_key FROM inbox_events WHERE status = 'pending' AND next_attempt_at IS NULL \
             ORDER BY seq LIMIT ?",
            [window],
        ))
        .await?,
    );
    let mut keys: Vec<Option<String>> = Vec::new();
    let mut loners: Vec<i64> = Vec::new();
    for row in &rows {
        let key: Option<String> = col(row, "order_key")?;
        match key {
            Some(key) if !keys.iter().any(|k| k.as_deref() == Some(key.as_str())) => keys.push(Some(key)),
            Some(_) => {}
            None => loners.push(col(row, "seq")?),
        }
        if keys.len() + loners.len() >= limits.groups {
            break;
        }
    }
    let wanted = keys.len();
    let keys: Vec<String> = keys.into_iter().flatten().collect();
    let mut locked = lock_groups(c, GROUP_LOCK_CLASS, &keys).await?;
    // An event without a group is locked on its own, so two replicas never both
    // settle it.
    let loner_keys: Vec<String> = loners.iter().map(|seq| format!("seq:{seq}")).collect();
    let locked_loners = lock_groups(c, GROUP_LOCK_CLASS, &loner_keys).await?;
    loners.retain(|seq| locked_loners.contains(&format!("seq:{seq}")));
    let mut read_under_storing_locks = false;
    if backend == DbBackend::Postgres && !locked.is_empty() {
        // No storer of a group may be mid-transaction while its rows are read:
        // an event whose `seq` was taken earlier could still commit below the
        // rows read. Storers hold the storing lock shared; it is taken
        // exclusively here, in a savepoint rolled back right after the read, so
        // storers wait for this read only, never for the batch.
        locked = lock_for_reading(c, &locked).await?;
        read_under_storing_locks = true;
    }
    let mut claim = Claim { locked_elsewhere: locked.len() < wanted, groups: Vec::new() };
    if locked.is_empty() && loners.is_empty() {
        if read_under_storing_locks {
            end_read(c).await?;
        }
        return Ok(claim);
    }
    let per_group = (limits.events / (locked.len() + loners.len()).max(1)).max(8);
    let mut sql = String::new();
    let mut values: Vec<Value> = Vec::new();
    let columns =
        "seq, order_key, event_id, event_type, body, attempts, status, next_attempt_at, approved, traceparent";
    for (i, key) in locked.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        // The `status IN (…)` term is the partial index's predicate, word for
        // word: SQLite uses a partial index only then.
        sql.push_str(&format!(
            "SELECT * FROM (SELECT {columns} FROM inbox_events WHERE order_key = ? \
             AND status IN ('pending', 'parked', 'held') ORDER BY seq LIMIT ?) g{i}"
        ));
        values.push(key.clone().into());
        values.push((per_group as i64).into());
    }
    for seq in &loners {
        if !sql.is_empty() {
            sql.push_str(" UNION ALL ");
        }
        sql.push_str(&format!("SELECT {columns} FROM inbox_events WHERE seq = ? AND status = 'pending'"));
        values.push((*seq).into());
    }
    let rows = c.query_all_raw(stmt(backend, &sql, values)).await?;
    if read_under_storing_locks {
        end_read(c).await?;
    }
    let mut by_key: Vec<Group> = locked.into_iter().map(|k| Group { key: Some(k), events: Vec::new() }).collect();
    for row in &rows {
        let key: Option<String> = col(row, "order_key")?;
        let next_attempt_at: Option<i64> = col(row, "next_attempt_at")?;
        let event = QueuedEvent {
            seq: col(row, "seq")?,
            event_id: col(row, "event_id")?,
            event_type: col(row, "event_type")?,
            body: col(row, "body")?,
            attempts: col(row, "attempts")?,
            parked: enum_col(row, "status", EventStatus::parse)? == EventStatus::Parked,
            held: enum_col(row, "status", EventStatus::parse)? == EventStatus::Held,
            due: next_attempt_at.is_none_or(|t| t <= now.0),
            approved: col(row, "approved")?,
            traceparent: col(row, "traceparent")?,
        };
        match key.and_then(|k| by_key.iter_mut().find(|g| g.key.as_deref() == Some(k.as_str()))) {
            Some(group) => group.events.push(event),
            None => claim.groups.push(Group { key: None, events: vec![event] }),
        }
    }
    for mut group in by_key {
        group.events.sort_by_key(|e| e.seq);
        if !group.events.is_empty() {
            claim.groups.push(group);
        }
    }
    claim.groups.sort_by_key(|g| g.events.first().map(|e| e.seq));
    Ok(claim)
}

/// Opens the claim's read savepoint and takes the storing locks of `keys`
/// there: waiting a moment for storers of them to commit (new storers queue
/// behind, so a steady stream of deliveries cannot starve the claim), and if
/// that times out, taking those that are free. Returns the keys taken.
async fn lock_for_reading(c: &impl ConnectionTrait, keys: &[String]) -> Result<Vec<String>, DbErr> {
    const WAIT: &str = "SET LOCAL lock_timeout = '50ms'";
    c.execute_unprepared("SAVEPOINT claim_read").await?;
    c.execute_unprepared(WAIT).await?;
    match wait_for_all(c, "pg_advisory_xact_lock", keys).await {
        Ok(()) => Ok(keys.to_vec()),
        Err(err) if crate::db::is_lock_timeout(&err) => {
            // A storer is slow to commit: start the savepoint again (the
            // time-out aborted it) and take what is free now.
            c.execute_unprepared("ROLLBACK TO SAVEPOINT claim_read").await?;
            lock_groups(c, STORING_LOCK_CLASS, keys).await
        }
        Err(err) => Err(err),
    }
}

/// Gives the storing locks back (see `claim`): the savepoint's rollback
/// releases the locks taken in it, and nothing else was done in it.
async fn end_read(c: &impl ConnectionTrait) -> Result<(), DbErr> {
    c.execute_unprepared("ROLLBACK TO SAVEPOINT claim_read").await?;
    c.execute_unprepared("RELEASE SAVEPOINT claim_read").await.map(|_| ())
}

/// Takes the groups' locks of `class` that are free; returns the keys taken, in order.
async fn lock_groups(c: &impl ConnectionTrait, class: i32, keys: &[String]) -> Result<Vec<String>, DbErr> {
    let backend = c.get_database_backend();
    if backend != DbBackend::Postgres || keys.is_empty() {
        return Ok(keys.to_vec());
    }
    let placeholders = vec!["(?, ?)"; keys.len()].join(", ");
    let mut values: Vec<Value> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        values.push(key.clone().into());
        values.push((i as i32).into());
    }
    let sql = format!(
        "SELECT k FROM (VALUES {placeholders}) AS t(k, n) \
         WHERE pg_try_advisory_xact_lock({class}, hashtext(k)) ORDER BY n"
    );
    c.query_all_raw(stmt(backend, &sql, values)).await?.iter().map(|r| col::<String>(r, "k")).collect()
}

/// Every storer takes its groups' storing locks, shared, before it inserts
/// (PostgreSQL; SQLite has one writer at a time, so a row's `seq` order is its
/// commit order). Storers do not wait for each other, nor for a batch being
/// applied; a claim's try-lock (exclusive, for the moment of its read) skips a
/// group while any storer of it has not committed, so an event whose `seq` was
/// taken before another's is never overtaken by it. In key order, one statement.
pub async fn lock_for_storing(c: &impl ConnectionTrait, keys: &[String]) -> Result<(), DbErr> {
    if c.get_database_backend() != DbBackend::Postgres || keys.is_empty() {
        return Ok(());
    }
    wait_for_all(c, "pg_advisory_xact_lock_shared", keys).await
}

/// Takes the storing lock of every key with `function` (exclusive or shared,
/// waiting), in key order, in one statement, so two callers never wait on each
/// other in a circle.
async fn wait_for_all(c: &impl ConnectionTrait, function: &str, keys: &[String]) -> Result<(), DbErr> {
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    let placeholders = vec!["(?, ?)"; keys.len()].join(", ");
    let mut values: Vec<Value> = Vec::with_capacity(keys.len() * 2);
    for (i, key) in keys.iter().enumerate() {
        values.push((*key).into());
        values.push((i as i32).into());
    }
    let sql = format!(
        "SELECT COUNT({function}({STORING_LOCK_CLASS}, hashtext(k))) AS n \
         FROM (SELECT k FROM (VALUES {placeholders}) AS t(k, n) ORDER BY n) s"
    );
    c.execute_raw(stmt(DbBackend::Postgres, &sql, values)).await.map(|_| ())
}

/// Waits until no storer of `key`'s group is mid-transaction, and keeps new
/// ones out until this transaction ends (PostgreSQL). Before a directory
/// becomes known: a legacy event being stored under the directory's own key
/// then commits first, and is adopted into its organization's group with the
/// others, in order.
pub async fn wait_for_storers(c: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    wait_for_storers_of(c, &[key.to_owned()]).await
}

/// `wait_for_storers` for several groups, in key order, in one statement.
pub async fn wait_for_storers_of(c: &impl ConnectionTrait, keys: &[String]) -> Result<(), DbErr> {
    if c.get_database_backend() != DbBackend::Postgres || keys.is_empty() {
        return Ok(());
    }
    wait_for_all(c, "pg_advisory_xact_lock", keys).await
}

/// Takes a group's lock if it is free (PostgreSQL; SQLite's write lock already
/// serialises): whether this transaction now holds it.
pub async fn try_lock_group(c: &impl ConnectionTrait, key: &str) -> Result<bool, DbErr> {
    Ok(!lock_groups(c, GROUP_LOCK_CLASS, &[key.to_owned()]).await?.is_empty())
}

/// Waits for a group's lock (PostgreSQL; SQLite's write lock already serialises).
/// For changes that must not interleave with a batch applying that group, such
/// as creating the plan its parked events wait for.
pub async fn lock_group(c: &impl ConnectionTrait, key: &str) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    if backend == DbBackend::Postgres {
        c.execute_raw(stmt(
            backend,
            &format!("SELECT pg_advisory_xact_lock({GROUP_LOCK_CLASS}, hashtext(?))"),
            [key.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Records final outcomes (`applied`, `ignored`, `stale`), one statement per status.
pub async fn settle(c: &impl ConnectionTrait, settled: &[(i64, &'static str)], now: Micros) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let mut statuses: Vec<&'static str> = settled.iter().map(|(_, s)| *s).collect();
    statuses.sort_unstable();
    statuses.dedup();
    for status in statuses {
        let seqs: Vec<Value> = settled.iter().filter(|(_, s)| *s == status).map(|(seq, _)| (*seq).into()).collect();
        // 300 eight-byte numbers: under the PostgreSQL message budget of `db::chunks`.
        for chunk in seqs.chunks(300) {
            let sql = format!(
                "UPDATE inbox_events SET status = ?, applied_at = ?, error = NULL, next_attempt_at = NULL \
                 WHERE seq IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let mut values: Vec<Value> = vec![status.into(), now.0.into()];
            values.extend(chunk.iter().cloned());
            c.execute_raw(stmt(backend, &sql, values)).await?;
        }
    }
    Ok(())
}

/// The event at `seq` waits for a plan, and so does the rest of its group.
pub async fn park_from(c: &impl ConnectionTrait, key: Option<&str>, seq: i64) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    match key {
        Some(key) => c.execute_raw(stmt(
            backend,
            "UPDATE inbox_events SET status = 'parked', error = NULL, next_attempt_at = NULL \
             WHERE order_key = ? AND status IN ('pending', 'parked', 'held') AND status = 'pending' AND seq >= ?",
            [key.into(), seq.into()],
        )),
        None => c.execute_raw(stmt(
            backend,
            "UPDATE inbox_events SET status = 'parked', error = NULL, next_attempt_at = NULL \
             WHERE seq = ? AND status = 'pending'",
            [seq.into()],
        )),
    }
    .await
    .map(|_| ())
}

/// The release guard stopped the event at `seq`: it and the rest of its group
/// are `held` until an operator approves.
pub async fn hold_from(c: &impl ConnectionTrait, key: Option<&str>, seq: i64) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    match key {
        Some(key) => c.execute_raw(stmt(
            backend,
            "UPDATE inbox_events SET status = 'held', next_attempt_at = NULL \
             WHERE order_key = ? AND status IN ('pending', 'parked', 'held') AND status <> 'held' AND seq >= ?",
            [key.into(), seq.into()],
        )),
        None => c.execute_raw(stmt(
            backend,
            "UPDATE inbox_events SET status = 'held', next_attempt_at = NULL WHERE seq = ? AND status = 'pending'",
            [seq.into()],
        )),
    }
    .await
    .map(|_| ())
}

/// An organization's held events, and those of its directories' legacy groups
/// (binds: the organization's key, the organization).
const HELD_OF_ORGANIZATION: &str = "status = 'held' AND (order_key = ? \
     OR order_key IN (SELECT 'dir:' || id FROM directories WHERE organization_id = ?))";

/// The stored position (`seq`) of `event_id` if it is one of the
/// organization's held events (or of its directories' legacy groups).
pub async fn held_seq(c: &impl ConnectionTrait, org: &OrganizationId, event_id: &str) -> Result<Option<i64>, DbErr> {
    c.query_one_raw(stmt(
        c.get_database_backend(),
        &format!("SELECT seq FROM inbox_events WHERE event_id = ? AND {HELD_OF_ORGANIZATION}"),
        [event_id.into(), order_key::of_organization(org).into(), org.as_str().into()],
    ))
    .await?
    .map(|r| col(&r, "seq"))
    .transpose()
}

/// How an approval through one event released the organization's held events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Released {
    /// Held events stored up to and including `through`: approved, applied
    /// without the guard's limit.
    pub approved: u64,
    /// Held events stored after it: judged again by the guard.
    pub rejudged: u64,
}

/// An operator approved through the held event at `through` (its `seq`):
/// every held event of the organization (and of its directories' legacy
/// groups) goes back to the queue, in its order; those stored up to and
/// including `through` are marked approved, the later ones are not (the guard
/// judges them again, and may hold them again).
pub async fn release_held_through(
    c: &impl ConnectionTrait,
    org: &OrganizationId,
    through: i64,
) -> Result<Released, DbErr> {
    let backend = c.get_database_backend();
    let binds = |first: Vec<Value>| {
        let mut values = first;
        values.extend([order_key::of_organization(org).into(), org.as_str().into()]);
        values
    };
    let approved = c
        .execute_raw(stmt(
            backend,
            &format!(
                "UPDATE inbox_events SET status = 'pending', approved = ? WHERE seq <= ? AND {HELD_OF_ORGANIZATION}"
            ),
            binds(vec![true.into(), through.into()]),
        ))
        .await?
        .rows_affected();
    let rejudged = c
        .execute_raw(stmt(
            backend,
            &format!(
                "UPDATE inbox_events SET status = 'pending', approved = ? WHERE seq > ? AND {HELD_OF_ORGANIZATION}"
            ),
            binds(vec![false.into(), through.into()]),
        ))
        .await?
        .rows_affected();
    Ok(Released { approved, rejudged })
}

/// Whether any approved event of the organization stored up to `through` is
/// still waiting to be applied (`pending`).
pub async fn approved_pending(c: &impl ConnectionTrait, org: &OrganizationId, through: i64) -> Result<bool, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT seq FROM inbox_events WHERE status = 'pending' AND approved = ? AND seq <= ? \
             AND (order_key = ? OR order_key IN (SELECT 'dir:' || id FROM directories WHERE organization_id = ?)) \
             LIMIT 1",
            [true.into(), through.into(), order_key::of_organization(org).into(), org.as_str().into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// The organization's held events (and those of its directories' legacy
/// groups), oldest first: `(event id, body)`. Exactly what `release_held_through` releases.
pub async fn held_events(c: &impl ConnectionTrait, org: &OrganizationId) -> Result<Vec<(String, Vec<u8>)>, DbErr> {
    c.query_all_raw(stmt(
        c.get_database_backend(),
        &format!("SELECT event_id, body FROM inbox_events WHERE {HELD_OF_ORGANIZATION} ORDER BY seq"),
        [order_key::of_organization(org).into(), org.as_str().into()],
    ))
    .await?
    .iter()
    .map(|r| Ok((col(r, "event_id")?, col(r, "body")?)))
    .collect()
}

/// The event cannot be applied as it is; its group goes on without it.
/// Only an unsettled event is changed: another reconciler may have settled it.
pub async fn fail(c: &impl ConnectionTrait, seq: i64, reason: &str, now: Micros) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE inbox_events SET status = 'failed', applied_at = ?, error = ?, next_attempt_at = NULL \
         WHERE seq = ? AND status IN ('pending', 'parked')",
        [now.0.into(), reason.into(), seq.into()],
    ))
    .await
    .map(|_| ())
}

/// Holds the event (and so its group) back for `delay`, counting an attempt
/// when the fault came from its own data.
/// Only an unsettled event is changed: another reconciler may have applied it.
pub async fn retry_later(
    c: &impl ConnectionTrait,
    seq: i64,
    error: &str,
    delay: Duration,
    now: Micros,
    count_attempt: bool,
) -> Result<(), DbErr> {
    let at = now.plus(delay).0;
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE inbox_events SET attempts = attempts + ?, next_attempt_at = ?, error = ? \
         WHERE seq = ? AND status IN ('pending', 'parked')",
        [i32::from(count_attempt).into(), at.into(), error.into(), seq.into()],
    ))
    .await?;
    // The rest of its group waits as long: stamped, so claims skip it cheaply.
    // (Earlier events of the group, rolled back with it, stay due.)
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE inbox_events SET next_attempt_at = ? WHERE status = 'pending' AND next_attempt_at IS NULL \
         AND seq > ? AND order_key = (SELECT order_key FROM inbox_events WHERE seq = ?)",
        [at.into(), seq.into(), seq.into()],
    ))
    .await
    .map(|_| ())
}

/// A directory became known: its legacy events (no organization in their
/// payload) that were stored before and are not settled join its
/// organization's group, in their original order; parked ones become
/// claimable. Returns how many moved.
pub async fn adopt_directory(c: &impl ConnectionTrait, dir: &DirectoryId, org: &OrganizationId) -> Result<u64, DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE inbox_events SET order_key = ?, status = CASE WHEN status = 'parked' THEN 'pending' ELSE status END \
         WHERE order_key = ? AND status IN ('pending', 'parked', 'held')",
        [order_key::of_organization(org).into(), order_key::of_directory(dir).into()],
    ))
    .await
    .map(|r| r.rows_affected())
}

/// A group's parked events become claimable again, in their original order.
pub async fn unpark_group(c: &impl ConnectionTrait, key: &str) -> Result<u64, DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE inbox_events SET status = 'pending' \
         WHERE order_key = ? AND status IN ('pending', 'parked', 'held') AND status = 'parked'",
        [key.into()],
    ))
    .await
    .map(|r| r.rows_affected())
}

/// A plan now exists for `org`: its events, and those of its directories that
/// carry no organization (legacy payloads), become claimable at once. Waits for
/// the group's lock, so no batch can park one of them after this commits.
pub async fn unpark_organization(c: &impl ConnectionTrait, org: &OrganizationId) -> Result<u64, DbErr> {
    let key = order_key::of_organization(org);
    lock_group(c, &key).await?;
    let mut n = unpark_group(c, &key).await?;
    n += c
        .execute_raw(stmt(
            c.get_database_backend(),
            "UPDATE inbox_events SET status = 'pending' WHERE status = 'parked' \
             AND order_key IN (SELECT 'dir:' || id FROM directories WHERE organization_id = ?)",
            [org.as_str().into()],
        ))
        .await?
        .rows_affected();
    Ok(n)
}

/// Safety net for races the targeted unparks cannot see (a legacy event parked
/// by one replica while another learnt its directory): parked events whose plan
/// or directory exists now go back to the queue. Reads first, so an idle SQLite
/// database is not write-locked.
pub async fn unpark_ready(c: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let ready = "status = 'parked' AND (order_key IN (SELECT 'org:' || organization_id FROM plans) \
                 OR order_key IN (SELECT 'dir:' || id FROM directories))";
    let backend = c.get_database_backend();
    let any =
        c.query_one_raw(stmt(backend, &format!("SELECT seq FROM inbox_events WHERE {ready} LIMIT 1"), [])).await?;
    if any.is_none() {
        return Ok(0);
    }
    // A known directory's legacy events join its organization's group first,
    // after any storer still writing one of them has committed (a storer that
    // starts now finds the directory known and stores under the organization).
    let moving = c
        .query_all_raw(stmt(
            backend,
            "SELECT DISTINCT order_key FROM inbox_events \
             WHERE status = 'parked' AND order_key IN (SELECT 'dir:' || id FROM directories)",
            [],
        ))
        .await?
        .iter()
        .map(|r| col::<String>(r, "order_key"))
        .collect::<Result<Vec<_>, _>>()?;
    wait_for_storers_of(c, &moving).await?;
    c.execute_raw(stmt(
        backend,
        "UPDATE inbox_events SET order_key = (SELECT 'org:' || d.organization_id FROM directories d \
               WHERE 'dir:' || d.id = inbox_events.order_key) \
             WHERE status = 'parked' AND order_key IN (SELECT 'dir:' || id FROM directories)",
        [],
    ))
    .await?;
    c.execute_raw(stmt(backend, &format!("UPDATE inbox_events SET status = 'pending' WHERE {ready}"), []))
        .await
        .map(|r| r.rows_affected())
}

/// Whether any event is ready to be claimed now (pending, with no back-off or
/// one that has run out). Each probe uses its own partial index.
pub async fn ready_exists(c: &impl ConnectionTrait, now: Micros) -> Result<bool, DbErr> {
    let backend = c.get_database_backend();
    let fresh = c
        .query_one_raw(stmt(
            backend,
            "SELECT seq FROM inbox_events WHERE status = 'pending' AND next_attempt_at IS NULL LIMIT 1",
            [],
        ))
        .await?;
    if fresh.is_some() {
        return Ok(true);
    }
    let due = c
        .query_one_raw(stmt(
            backend,
            "SELECT seq FROM inbox_events WHERE status = 'pending' AND next_attempt_at IS NOT NULL \
             AND next_attempt_at <= ? LIMIT 1",
            [now.0.into()],
        ))
        .await?;
    Ok(due.is_some())
}
