//! Plan-wide seat changes, as set-based SQL: no per-member round trips, so a plan
//! of 100,000 members switches in one transaction of a handful of statements.
use super::rule;
use crate::{
    db::{bytewise, stmt},
    domain::{DirectoryId, EventId, Micros, PlanMode},
    seats::{col, directory, plans::Plan},
};
use sea_orm::{ConnectionTrait, DbErr, Value};

/// Emails that are active directory users of the plan's organization.
// `IN` rather than a correlated `EXISTS`: PostgreSQL hashes the list whatever its
// row estimates, where a fresh plan's stale statistics led it to a nested loop.
const ACTIVE: &str = "SELECT u.email FROM directory_users u WHERE u.organization_id = ? AND u.active = ?";

/// Starts enforcement when active directory users exceed the plan's threshold.
pub async fn start_if_due(
    c: &impl ConnectionTrait,
    plan: &Plan,
    event: Option<&EventId>,
    now: Micros,
) -> Result<bool, DbErr> {
    if plan.mode != PlanMode::Test {
        return Ok(false);
    }
    let Some(org) = &plan.organization_id else { return Ok(false) };
    let active = directory::active_count(c, org, u64::from(plan.test_mode_max_users) + 1).await?;
    if !rule::starts_enforcement(plan.mode, plan.test_mode_max_users, active) {
        return Ok(false);
    }
    start(c, plan, event, now).await?;
    Ok(true)
}

/// Every active directory user paid (source directory), every other member free
/// (source manual), one audit row per tier change, then the plan is enforced.
pub async fn start(c: &impl ConnectionTrait, plan: &Plan, event: Option<&EventId>, now: Micros) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let plan_id: Value = plan.id.as_str().into();
    let org = organization_value(plan);
    let event: Value = event.map(|e| e.as_str().to_owned()).into();
    let now: Value = now.0.into();
    let yes: Value = true.into();

    // Audit first: the rows describe the seats as they were.
    c.execute_raw(stmt(
        backend,
        "INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at) \
         SELECT ?, a.email, m.tier, 'paid', 'enforcement_started', ?, ? \
         FROM (SELECT DISTINCT email FROM directory_users WHERE organization_id = ? AND active = ?) a \
         LEFT JOIN members m ON m.plan_id = ? AND m.email = a.email \
         WHERE m.tier IS NULL OR m.tier <> 'paid' ORDER BY a.email",
        [plan_id.clone(), event.clone(), now.clone(), org.clone(), yes.clone(), plan_id.clone()],
    ))
    .await?;
    c.execute_raw(stmt(
        backend,
        &format!(
            "INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at) \
             SELECT m.plan_id, m.email, 'paid', 'free', 'enforcement_started', ?, ? FROM members m \
             WHERE m.plan_id = ? AND m.tier = 'paid' AND m.email NOT IN ({ACTIVE}) ORDER BY m.email"
        ),
        [event, now.clone(), plan_id.clone(), org.clone(), yes.clone()],
    ))
    .await?;
    c.execute_raw(stmt(
        backend,
        &format!(
            "UPDATE members SET tier = 'free', source = 'manual', updated_at = ? \
             WHERE plan_id = ? AND (tier <> 'free' OR source <> 'manual') AND email NOT IN ({ACTIVE})"
        ),
        [now.clone(), plan_id.clone(), org.clone(), yes.clone()],
    ))
    .await?;
    c.execute_raw(stmt(
        backend,
        &format!(
            "UPDATE members SET tier = 'paid', source = 'directory', updated_at = ?, \
               directory_user_id = (SELECT MIN({min_id}) FROM directory_users u \
                 WHERE u.organization_id = ? AND u.active = ? AND u.email = members.email) \
             WHERE plan_id = ? AND (tier <> 'paid' OR source <> 'directory') AND email IN ({ACTIVE})",
            min_id = bytewise(backend, "u.id")
        ),
        [now.clone(), org.clone(), yes.clone(), plan_id.clone(), org.clone(), yes.clone()],
    ))
    .await?;
    c.execute_raw(stmt(
        backend,
        &format!(
            "INSERT INTO members (plan_id, email, tier, source, directory_user_id, updated_at) \
             SELECT ?, u.email, 'paid', 'directory', MIN({min_id}), ? FROM directory_users u \
             WHERE u.organization_id = ? AND u.active = ? \
               AND NOT EXISTS (SELECT 1 FROM members m WHERE m.plan_id = ? AND m.email = u.email) \
             GROUP BY u.email",
            min_id = bytewise(backend, "u.id")
        ),
        [plan_id.clone(), now.clone(), org, yes, plan_id.clone()],
    ))
    .await?;
    c.execute_raw(stmt(backend, "UPDATE plans SET mode = 'enforced', enforced_at = ? WHERE id = ?", [now, plan_id]))
        .await?;
    Ok(())
}

/// `dsync.deleted`: the directory's users stop counting. A member it stood
/// behind keeps the seat, turned to `manual` and audited `from = to`, unless the
/// same person is active in another live directory of the organization: that
/// one still stands behind the seat, which stays the directory's.
pub async fn release_directory(
    c: &impl ConnectionTrait,
    plan: &Plan,
    dir: &DirectoryId,
    event: Option<&EventId>,
    now: Micros,
) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let plan_id: Value = plan.id.as_str().into();
    let org = organization_value(plan);
    let dir_id: Value = dir.as_str().into();
    let (no, yes): (Value, Value) = (false.into(), true.into());
    let linked =
        "EXISTS (SELECT 1 FROM directory_users u WHERE u.directory_id = ? AND u.deleted = ? AND u.email = m.email)";
    let elsewhere = "EXISTS (SELECT 1 FROM directory_users v WHERE v.organization_id = ? AND v.directory_id <> ? \
                     AND v.active = ? AND v.email = m.email)";
    c.execute_raw(stmt(
        backend,
        &format!(
            "INSERT INTO seat_audit (plan_id, email, from_tier, to_tier, reason, event_id, at) \
             SELECT m.plan_id, m.email, m.tier, m.tier, 'directory_deleted', ?, ? FROM members m \
             WHERE m.plan_id = ? AND {linked} AND NOT {elsewhere} ORDER BY m.email"
        ),
        [
            event.map(|e| e.as_str().to_owned()).into(),
            now.0.into(),
            plan_id.clone(),
            dir_id.clone(),
            no.clone(),
            org.clone(),
            dir_id.clone(),
            yes.clone(),
        ],
    ))
    .await?;
    let on_members = |sql: &str| sql.replace("m.email", "members.email");
    c.execute_raw(stmt(
        backend,
        &format!(
            "UPDATE members SET source = 'manual', directory_user_id = NULL, updated_at = ? \
             WHERE plan_id = ? AND {} AND NOT {}",
            on_members(linked),
            on_members(elsewhere)
        ),
        [now.0.into(), plan_id.clone(), dir_id.clone(), no.clone(), org.clone(), dir_id.clone(), yes.clone()],
    ))
    .await?;
    // Seats the person keeps through another directory now point at that user.
    c.execute_raw(stmt(
        backend,
        &format!(
            "UPDATE members SET updated_at = ?, directory_user_id = (SELECT MIN({min_id}) FROM directory_users w \
               WHERE w.organization_id = ? AND w.directory_id <> ? AND w.active = ? AND w.email = members.email) \
             WHERE plan_id = ? AND directory_user_id IN (SELECT id FROM directory_users WHERE directory_id = ?) \
               AND {}",
            on_members(elsewhere),
            min_id = bytewise(backend, "w.id")
        ),
        [now.0.into(), org.clone(), dir_id.clone(), yes.clone(), plan_id, dir_id.clone(), org, dir_id, yes],
    ))
    .await?;
    directory::delete_directory(c, dir, now).await
}

/// What enforcement would do if it started now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    pub to_paid: Vec<String>,
    pub to_free: Vec<String>,
    pub unchanged_paid: u64,
    pub unchanged_free: u64,
}

pub async fn preview(c: &impl ConnectionTrait, plan: &Plan) -> Result<Preview, DbErr> {
    let backend = c.get_database_backend();
    let plan_id: Value = plan.id.as_str().into();
    let org = organization_value(plan);
    let yes: Value = true.into();
    let emails = |rows: Vec<sea_orm::QueryResult>| -> Result<Vec<String>, DbErr> {
        rows.iter().map(|r| col::<String>(r, "email")).collect()
    };
    let to_paid = emails(
        c.query_all_raw(stmt(
            backend,
            "SELECT a.email AS email FROM (SELECT DISTINCT email FROM directory_users \
               WHERE organization_id = ? AND active = ?) a \
             LEFT JOIN members m ON m.plan_id = ? AND m.email = a.email \
             WHERE m.tier IS NULL OR m.tier <> 'paid' ORDER BY a.email",
            [org.clone(), yes.clone(), plan_id.clone()],
        ))
        .await?,
    )?;
    let to_free = emails(
        c.query_all_raw(stmt(
            backend,
            &format!(
                "SELECT m.email AS email FROM members m WHERE m.plan_id = ? AND m.tier = 'paid' \
                 AND m.email NOT IN ({ACTIVE}) ORDER BY m.email"
            ),
            [plan_id.clone(), org.clone(), yes.clone()],
        ))
        .await?,
    )?;
    let counts = c
        .query_one_raw(stmt(
            backend,
            &format!(
                "SELECT \
                   (SELECT COUNT(*) FROM members m WHERE m.plan_id = ? AND m.tier = 'paid' AND m.email IN ({ACTIVE})) AS paid, \
                   (SELECT COUNT(*) FROM members m WHERE m.plan_id = ? AND m.tier = 'free' AND m.email NOT IN ({ACTIVE})) AS free"
            ),
            [plan_id.clone(), org.clone(), yes.clone(), plan_id, org, yes],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("preview count returned no row".into()))?;
    Ok(Preview {
        to_paid,
        to_free,
        unchanged_paid: col::<i64>(&counts, "paid")?.max(0) as u64,
        unchanged_free: col::<i64>(&counts, "free")?.max(0) as u64,
    })
}

/// The plan's organization as a bound value: NULL for a plan not configured
/// yet, which matches no directory user (as a plan without users should).
fn organization_value(plan: &Plan) -> Value {
    plan.organization_id.as_ref().map(|org| org.to_string()).into()
}
