//! Plans: one per WorkOS organization.
use super::{col, enum_col, typed_col};
use crate::{
    db::stmt,
    domain::{HoldKind, Micros, OrganizationId, PlanId, PlanMode},
};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult, Value};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    /// None until "Configure SCIM" creates the WorkOS organization: nothing is
    /// applied to the plan before that.
    pub organization_id: Option<OrganizationId>,
    pub mode: PlanMode,
    pub test_mode_max_users: u32,
    pub enforced_at: Option<Micros>,
    pub created_at: Micros,
    /// The release guard's limit: None for the default, Some(0) for off.
    pub release_limit: Option<u32>,
    /// Since when the release guard holds this plan's events.
    pub hold_since: Option<Micros>,
    /// The guard counts audit rows after this `seat_audit.seq` only.
    pub release_floor: i64,
    /// The Stripe subscription item whose quantity follows the paid seats.
    pub stripe_subscription_item: Option<String>,
    /// The product's own id for the customer (CONTRACT 3.3).
    pub external_id: Option<String>,
    /// The grant guard's limit (CONTRACT 4.1): None is off, the default.
    pub grant_limit: Option<u32>,
    /// Which guard holds the plan, while `hold_since` is set.
    pub hold_kind: Option<HoldKind>,
}

impl Plan {
    /// A new plan in test mode, with the guard's defaults.
    pub fn new(id: PlanId, name: String, organization_id: Option<OrganizationId>, test_mode_max_users: u32) -> Self {
        Self {
            id,
            name,
            organization_id,
            mode: PlanMode::Test,
            test_mode_max_users,
            enforced_at: None,
            created_at: Micros::now(),
            release_limit: None,
            hold_since: None,
            release_floor: 0,
            stripe_subscription_item: None,
            external_id: None,
            grant_limit: None,
            hold_kind: None,
        }
    }
}

const COLUMNS: &str = "id, name, organization_id, mode, test_mode_max_users, enforced_at, created_at, \
                       release_limit, hold_since, release_floor, stripe_subscription_item, external_id, \
                       grant_limit, hold_kind";

fn from_row(row: &QueryResult) -> Result<Plan, DbErr> {
    let max: i32 = col(row, "test_mode_max_users")?;
    Ok(Plan {
        id: typed_col(row, "id", PlanId::parse)?,
        name: col(row, "name")?,
        organization_id: col::<Option<String>>(row, "organization_id")?
            .map(|org| OrganizationId::parse(&org))
            .transpose()
            .map_err(|e| DbErr::Custom(format!("unexpected organization_id value in the database: {e}")))?,
        mode: enum_col(row, "mode", PlanMode::parse)?,
        test_mode_max_users: u32::try_from(max).unwrap_or(0),
        enforced_at: col::<Option<i64>>(row, "enforced_at")?.map(Micros),
        created_at: Micros(col(row, "created_at")?),
        release_limit: col::<Option<i32>>(row, "release_limit")?.map(|n| u32::try_from(n).unwrap_or(0)),
        hold_since: col::<Option<i64>>(row, "hold_since")?.map(Micros),
        release_floor: col(row, "release_floor")?,
        stripe_subscription_item: col(row, "stripe_subscription_item")?,
        external_id: col(row, "external_id")?,
        grant_limit: col::<Option<i32>>(row, "grant_limit")?.map(|n| u32::try_from(n).unwrap_or(0)),
        hold_kind: col::<Option<String>>(row, "hold_kind")?.as_deref().and_then(HoldKind::parse),
    })
}

pub async fn insert(c: &impl ConnectionTrait, plan: &Plan) -> Result<(), DbErr> {
    let sql =
        format!("INSERT INTO plans ({COLUMNS}, lock_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)");
    c.execute_raw(stmt(
        c.get_database_backend(),
        &sql,
        [
            plan.id.as_str().into(),
            plan.name.as_str().into(),
            plan.organization_id.as_ref().map(|org| org.to_string()).into(),
            plan.mode.as_str().into(),
            (plan.test_mode_max_users as i32).into(),
            plan.enforced_at.map(|t| t.0).into(),
            plan.created_at.0.into(),
            plan.release_limit.map(|n| n as i32).into(),
            plan.hold_since.map(|t| t.0).into(),
            plan.release_floor.into(),
            plan.stripe_subscription_item.clone().into(),
            plan.external_id.clone().into(),
            plan.grant_limit.map(|n| n as i32).into(),
            plan.hold_kind.map(HoldKind::as_str).into(),
        ],
    ))
    .await
    .map(|_| ())
}

/// Takes the plan's write lock for the rest of the transaction: a row lock on
/// PostgreSQL, the database write lock on SQLite. Every change to a plan's seats
/// goes through here, so two reconcilers never race on a plan.
pub async fn lock_by_org(c: &impl ConnectionTrait, org: &OrganizationId) -> Result<Option<Plan>, DbErr> {
    lock(c, "organization_id", org.as_str()).await
}

/// `lock_by_org` for several organizations in one statement; on PostgreSQL
/// the rows are locked in id order, so two batches never wait on each other in
/// a circle. Organizations without a plan are simply absent.
pub async fn lock_by_orgs(c: &impl ConnectionTrait, orgs: &[&OrganizationId]) -> Result<Vec<Plan>, DbErr> {
    if orgs.is_empty() {
        return Ok(Vec::new());
    }
    let backend = c.get_database_backend();
    let marks = vec!["?"; orgs.len()].join(", ");
    let rows = match backend {
        DbBackend::Postgres => format!(
            "UPDATE plans SET lock_version = lock_version + 1 WHERE id IN \
             (SELECT id FROM plans WHERE organization_id IN ({marks}) ORDER BY id FOR UPDATE) RETURNING {COLUMNS}"
        ),
        _ => format!(
            "UPDATE plans SET lock_version = lock_version + 1 WHERE organization_id IN ({marks}) RETURNING {COLUMNS}"
        ),
    };
    let values: Vec<Value> = orgs.iter().map(|o| Value::from(o.as_str())).collect();
    c.query_all_raw(stmt(backend, &rows, values)).await?.iter().map(from_row).collect()
}

pub async fn lock_by_id(c: &impl ConnectionTrait, id: &PlanId) -> Result<Option<Plan>, DbErr> {
    lock(c, "id", id.as_str()).await
}

async fn lock(c: &impl ConnectionTrait, key: &str, value: &str) -> Result<Option<Plan>, DbErr> {
    let sql = format!("UPDATE plans SET lock_version = lock_version + 1 WHERE {key} = ? RETURNING {COLUMNS}");
    c.query_one_raw(stmt(c.get_database_backend(), &sql, [value.into()])).await?.as_ref().map(from_row).transpose()
}

pub async fn find(c: &impl ConnectionTrait, id: &PlanId) -> Result<Option<Plan>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE id = ?");
    c.query_one_raw(stmt(c.get_database_backend(), &sql, [id.as_str().into()]))
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn find_by_org(c: &impl ConnectionTrait, org: &OrganizationId) -> Result<Option<Plan>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE organization_id = ?");
    c.query_one_raw(stmt(c.get_database_backend(), &sql, [org.as_str().into()]))
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn find_by_external_id(c: &impl ConnectionTrait, external_id: &str) -> Result<Option<Plan>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE external_id = ?");
    c.query_one_raw(stmt(c.get_database_backend(), &sql, [external_id.into()]))
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn find_by_stripe_item(c: &impl ConnectionTrait, item: &str) -> Result<Option<Plan>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM plans WHERE stripe_subscription_item = ?");
    c.query_one_raw(stmt(c.get_database_backend(), &sql, [item.into()])).await?.as_ref().map(from_row).transpose()
}

/// Filters of `GET /admin/plans` the database applies (CONTRACT 3.3).
#[derive(Debug, Clone, Default)]
pub struct PlanFilter {
    /// Lower-case text the name or the organization id contains.
    pub contains: Option<String>,
    pub mode: Option<PlanMode>,
    /// `Some(true)`: only plans on hold; `Some(false)`: only plans not on hold.
    pub hold: Option<bool>,
    pub external_id: Option<String>,
    /// After this plan, in (name, id) order.
    pub after: Option<PlanId>,
}

/// `%`, `_` and the escape itself taken literally in a `LIKE` pattern.
fn like_pattern(text: &str) -> String {
    let escaped: String =
        text.chars().flat_map(|c| if matches!(c, '%' | '_' | '\\') { vec!['\\', c] } else { vec![c] }).collect();
    format!("%{escaped}%")
}

/// Up to `limit` plans in (name, id) order after the filter's cursor: the
/// `(name, id)` index, so a page costs what it holds, not the number of plans.
pub async fn page(c: &impl ConnectionTrait, filter: &PlanFilter, limit: u64) -> Result<Vec<Plan>, DbErr> {
    // Bytewise on both stores (SQLite's default; PostgreSQL's "C").
    let name = match c.get_database_backend() {
        DbBackend::Postgres => "name COLLATE \"C\"",
        _ => "name",
    };
    let mut sql = format!("SELECT {COLUMNS} FROM plans WHERE 1 = 1");
    let mut values: Vec<Value> = Vec::new();
    if let Some(text) = &filter.contains {
        sql.push_str(
            " AND (LOWER(name) LIKE ? ESCAPE '\\' OR LOWER(COALESCE(organization_id, '')) LIKE ? ESCAPE '\\')",
        );
        let pattern = like_pattern(text);
        values.extend([pattern.clone().into(), pattern.into()]);
    }
    if let Some(mode) = filter.mode {
        sql.push_str(" AND mode = ?");
        values.push(mode.as_str().into());
    }
    match filter.hold {
        Some(true) => sql.push_str(" AND hold_since IS NOT NULL"),
        Some(false) => sql.push_str(" AND hold_since IS NULL"),
        None => {}
    }
    if let Some(external_id) = &filter.external_id {
        sql.push_str(" AND external_id = ?");
        values.push(external_id.as_str().into());
    }
    if let Some(after) = &filter.after {
        sql.push_str(&format!(
            " AND ({name} > (SELECT name FROM plans WHERE id = ?) \
             OR ({name} = (SELECT name FROM plans WHERE id = ?) AND id > ?))"
        ));
        values.extend([after.as_str().into(), after.as_str().into(), after.as_str().into()]);
    }
    sql.push_str(&format!(" ORDER BY {name}, id LIMIT ?"));
    values.push((limit.min(i64::MAX as u64) as i64).into());
    c.query_all_raw(stmt(c.get_database_backend(), &sql, values)).await?.iter().map(from_row).collect()
}

/// Counts for the given plans only, in two grouped queries.
pub async fn counts_for(c: &impl ConnectionTrait, plans: &[Plan]) -> Result<HashMap<PlanId, Counts>, DbErr> {
    let mut out: HashMap<PlanId, Counts> = HashMap::new();
    if plans.is_empty() {
        return Ok(out);
    }
    let backend = c.get_database_backend();
    let marks = vec!["?"; plans.len()].join(", ");
    let ids: Vec<Value> = plans.iter().map(|p| Value::from(p.id.as_str())).collect();
    let seats = c
        .query_all_raw(stmt(
            backend,
            &format!(
                "SELECT plan_id, tier, COUNT(*) AS n FROM members WHERE plan_id IN ({marks}) GROUP BY plan_id, tier"
            ),
            ids.clone(),
        ))
        .await?;
    for row in &seats {
        let n = col::<i64>(row, "n")?.max(0) as u64;
        let counts = out.entry(typed_col(row, "plan_id", PlanId::parse)?).or_default();
        match col::<String>(row, "tier")?.as_str() {
            "paid" => counts.paid_seats = n,
            _ => counts.free_seats += n,
        }
    }
    let orgs: Vec<(&PlanId, String)> =
        plans.iter().filter_map(|p| p.organization_id.as_ref().map(|o| (&p.id, o.to_string()))).collect();
    if !orgs.is_empty() {
        let marks = vec!["?"; orgs.len()].join(", ");
        let values: Vec<Value> =
            std::iter::once(Value::from(true)).chain(orgs.iter().map(|(_, o)| Value::from(o.as_str()))).collect();
        let active = c
            .query_all_raw(stmt(
                backend,
                &format!(
                    "SELECT organization_id, COUNT(DISTINCT email) AS n FROM directory_users \
                     WHERE active = ? AND organization_id IN ({marks}) GROUP BY organization_id"
                ),
                values,
            ))
            .await?;
        for row in &active {
            let org: String = col(row, "organization_id")?;
            if let Some((plan, _)) = orgs.iter().find(|(_, o)| *o == org) {
                out.entry((*plan).clone()).or_default().active_directory_users = col::<i64>(row, "n")?.max(0) as u64;
            }
        }
    }
    Ok(out)
}

pub async fn list(c: &impl ConnectionTrait) -> Result<Vec<Plan>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM plans ORDER BY created_at, id");
    c.query_all_raw(stmt(c.get_database_backend(), &sql, [])).await?.iter().map(from_row).collect()
}

pub async fn set_mode(
    c: &impl ConnectionTrait,
    id: &PlanId,
    mode: PlanMode,
    enforced_at: Option<Micros>,
) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE plans SET mode = ?, enforced_at = ? WHERE id = ?",
        [mode.as_str().into(), enforced_at.map(|t| t.0).into(), id.as_str().into()],
    ))
    .await
    .map(|_| ())
}

/// The end of the enforcement switch: the plan is enforced from `now`.
pub async fn mark_enforced(c: &impl ConnectionTrait, id: &PlanId, now: Micros) -> Result<(), DbErr> {
    set_mode(c, id, PlanMode::Enforced, Some(now)).await
}

/// A guard stopped an event: the plan is on hold from `now`, by `kind` (or
/// from when, and by the guard that, it already was). True when the hold
/// starts now: its notice is due (CONTRACT 7.1).
pub async fn set_hold(c: &impl ConnectionTrait, id: &PlanId, kind: HoldKind, now: Micros) -> Result<bool, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            "UPDATE plans SET hold_since = ?, hold_kind = ? WHERE id = ? AND hold_since IS NULL",
            [now.0.into(), kind.as_str().into(), id.as_str().into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An operator approved the hold (the held events themselves are marked, see
/// `queue::release_held_through`); a later event the guard stops holds again.
pub async fn approve_hold(c: &impl ConnectionTrait, id: &PlanId) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE plans SET hold_since = NULL, hold_kind = NULL WHERE id = ?",
        [id.as_str().into()],
    ))
    .await
    .map(|_| ())
}

/// An approved event was applied: the guard counts from the audit as it
/// stands now.
pub async fn restart_release_count(c: &impl ConnectionTrait, id: &PlanId) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE plans SET release_floor = (SELECT COALESCE(MAX(seq), 0) FROM seat_audit WHERE plan_id = ?) WHERE id = ?",
        [id.as_str().into(), id.as_str().into()],
    ))
    .await
    .map(|_| ())
}

/// Changes made by `PATCH /admin/plans/{id}`.
pub async fn update_settings(c: &impl ConnectionTrait, plan: &Plan) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "UPDATE plans SET name = ?, test_mode_max_users = ?, release_limit = ?, stripe_subscription_item = ?, \
         external_id = ?, grant_limit = ? WHERE id = ?",
        [
            plan.name.as_str().into(),
            (plan.test_mode_max_users as i32).into(),
            plan.release_limit.map(|n| n as i32).into(),
            plan.stripe_subscription_item.clone().into(),
            plan.external_id.clone().into(),
            plan.grant_limit.map(|n| n as i32).into(),
            plan.id.as_str().into(),
        ],
    ))
    .await
    .map(|_| ())
}

/// When the oldest hold began, if any plan is on hold.
pub async fn oldest_hold(c: &impl ConnectionTrait) -> Result<Option<Micros>, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT MIN(hold_since) AS since FROM plans WHERE hold_since IS NOT NULL",
            [],
        ))
        .await?;
    Ok(row.map(|r| col::<Option<i64>>(&r, "since")).transpose()?.flatten().map(Micros))
}

pub async fn on_hold(c: &impl ConnectionTrait) -> Result<u64, DbErr> {
    super::count(c, "SELECT COUNT(*) AS n FROM plans WHERE hold_since IS NOT NULL", []).await
}

/// Seat counts shown with a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub active_directory_users: u64,
    pub paid_seats: u64,
    pub free_seats: u64,
}

/// Totals over all plans, for `/metrics`: plans by mode and seats by tier.
pub async fn totals(c: &impl ConnectionTrait) -> Result<(Vec<(String, u64)>, Vec<(String, u64)>), DbErr> {
    let backend = c.get_database_backend();
    let grouped = |sql: &'static str| async move {
        c.query_all_raw(stmt(backend, sql, []))
            .await?
            .iter()
            .map(|r| Ok((col::<String>(r, "k")?, col::<i64>(r, "n")?.max(0) as u64)))
            .collect::<Result<Vec<_>, DbErr>>()
    };
    let modes = grouped("SELECT mode AS k, COUNT(*) AS n FROM plans GROUP BY mode ORDER BY mode").await?;
    let tiers = grouped("SELECT tier AS k, COUNT(*) AS n FROM members GROUP BY tier ORDER BY tier").await?;
    Ok((modes, tiers))
}

pub async fn counts(c: &impl ConnectionTrait, plan: &Plan) -> Result<Counts, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT \
               (SELECT COUNT(DISTINCT email) FROM directory_users WHERE organization_id = ? AND active = ?) AS active_users, \
               (SELECT COUNT(*) FROM members WHERE plan_id = ? AND tier = 'paid') AS paid, \
               (SELECT COUNT(*) FROM members WHERE plan_id = ? AND tier = 'free') AS free",
            [
                plan.organization_id.as_ref().map(|org| org.to_string()).into(),
                true.into(),
                plan.id.as_str().into(),
                plan.id.as_str().into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("count query returned no row".into()))?;
    let n = |name| col::<i64>(&row, name).map(|v| v.max(0) as u64);
    Ok(Counts { active_directory_users: n("active_users")?, paid_seats: n("paid")?, free_seats: n("free")? })
}

/// Gives a plan its organization, once: false when it already had one (another
/// caller set it first). A unique-key violation means another plan holds `org`.
pub async fn set_organization(c: &impl ConnectionTrait, id: &PlanId, org: &OrganizationId) -> Result<bool, DbErr> {
    let done = c
        .execute_raw(stmt(
            c.get_database_backend(),
            "UPDATE plans SET organization_id = ?, lock_version = lock_version + 1 \
             WHERE id = ? AND organization_id IS NULL",
            [org.as_str().into(), id.as_str().into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}
