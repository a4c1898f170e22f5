//! Members of a plan, keyed by (plan, lower-cased email).
use super::{
    col,
    directory::{ACTIVE_ELSEWHERE, ACTIVE_EMAILS, IN_DIRECTORY},
    enum_col, organization_value, typed_col,
};
use crate::{
    db::{bytewise, chunks, stmt},
    domain::{DirectoryId, Email, Micros, OrganizationId, PlanId, Seat, Source, Tier},
};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub email: String,
    pub seat: Seat,
    pub directory_user_id: Option<String>,
    pub updated_at: Micros,
}

fn from_row(row: &QueryResult) -> Result<Member, DbErr> {
    Ok(Member {
        email: col(row, "email")?,
        seat: Seat { tier: enum_col(row, "tier", Tier::parse)?, source: enum_col(row, "source", Source::parse)? },
        directory_user_id: col(row, "directory_user_id")?,
        updated_at: Micros(col(row, "updated_at")?),
    })
}

pub async fn get(c: &impl ConnectionTrait, plan: &PlanId, email: &Email) -> Result<Option<Member>, DbErr> {
    c.query_one_raw(stmt(
        c.get_database_backend(),
        "SELECT email, tier, source, directory_user_id, updated_at FROM members WHERE plan_id = ? AND email = ?",
        [plan.as_str().into(), email.as_str().into()],
    ))
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn put(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    email: &Email,
    seat: Seat,
    directory_user_id: Option<&str>,
    now: Micros,
) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "INSERT INTO members (plan_id, email, tier, source, directory_user_id, updated_at) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT (plan_id, email) DO UPDATE SET tier = excluded.tier, source = excluded.source, \
           directory_user_id = excluded.directory_user_id, updated_at = excluded.updated_at",
        [
            plan.as_str().into(),
            email.as_str().into(),
            seat.tier.as_str().into(),
            seat.source.as_str().into(),
            directory_user_id.map(str::to_owned).into(),
            now.0.into(),
        ],
    ))
    .await
    .map(|_| ())
}

/// Which members a page holds: after an email, with optional filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberFilter {
    pub after: Option<String>,
    pub tier: Option<Tier>,
    pub source: Option<Source>,
    /// Lower-case text the email contains.
    pub contains: Option<String>,
}

/// One page sorted by email (the primary key's order, so the cursor is the
/// last email). Returns the members and whether more follow.
pub async fn page(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    filter: &MemberFilter,
    limit: u64,
) -> Result<(Vec<Member>, bool), DbErr> {
    let backend = c.get_database_backend();
    let mut sql =
        String::from("SELECT email, tier, source, directory_user_id, updated_at FROM members WHERE plan_id = ?");
    let mut values: Vec<Value> = vec![plan.as_str().into()];
    // Byte order on both stores (PostgreSQL's default collation is not), so
    // pages and cursors mean the same everywhere.
    let email = bytewise(backend, "email");
    if let Some(after) = &filter.after {
        sql.push_str(&format!(" AND {email} > ?"));
        values.push(after.as_str().into());
    }
    if let Some(tier) = filter.tier {
        sql.push_str(" AND tier = ?");
        values.push(tier.as_str().into());
    }
    if let Some(source) = filter.source {
        sql.push_str(" AND source = ?");
        values.push(source.as_str().into());
    }
    if let Some(text) = &filter.contains {
        // A plain substring test: no LIKE wildcards to escape.
        sql.push_str(match backend {
            sea_orm::DbBackend::Postgres => " AND strpos(email, ?) > 0",
            _ => " AND instr(email, ?) > 0",
        });
        values.push(text.as_str().into());
    }
    sql.push_str(&format!(" ORDER BY {email} LIMIT ?"));
    values.push((limit as i64 + 1).into());
    let rows = c.query_all_raw(stmt(backend, &sql, values)).await?;
    let more = rows.len() as u64 > limit;
    let members = rows.iter().take(limit as usize).map(from_row).collect::<Result<_, _>>()?;
    Ok((members, more))
}

/// What the rule needs to seat one email: whether it is an active directory user
/// of the organization, which (not deleted) directory user stands behind it
/// (active ones first), and the member stored now. One round trip: the reconciler
/// asks this for every event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeatInputs {
    pub active: bool,
    pub link: Option<String>,
    pub member: Option<Member>,
}

pub async fn seat_inputs(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    // None: a plan whose organization is not configured yet has no directory
    // users (NULL matches no row).
    org: Option<&OrganizationId>,
    email: &Email,
) -> Result<SeatInputs, DbErr> {
    let backend = c.get_database_backend();
    let row = c
        .query_one_raw(stmt(
            backend,
            &format!(
                "SELECT u.id AS user_id, u.active AS active, m.email AS email, m.tier AS tier, m.source AS source, \
                   m.directory_user_id AS directory_user_id, m.updated_at AS updated_at \
                 FROM (SELECT 1 AS one) x \
                 LEFT JOIN (SELECT id, active FROM directory_users WHERE organization_id = ? AND email = ? \
                   AND deleted = ? ORDER BY active DESC, {} LIMIT 1) u ON 1 = 1 \
                 LEFT JOIN members m ON m.plan_id = ? AND m.email = ?",
                bytewise(backend, "id")
            ),
            [
                org.map(|o| o.to_string()).into(),
                email.as_str().into(),
                false.into(),
                plan.as_str().into(),
                email.as_str().into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("seat query returned no row".into()))?;
    let member = match col::<Option<String>>(&row, "email")? {
        Some(_) => Some(from_row(&row)?),
        None => None,
    };
    Ok(SeatInputs {
        active: col::<Option<bool>>(&row, "active")?.unwrap_or(false),
        link: col(&row, "user_id")?,
        member,
    })
}

/// The members holding any of `emails`.
pub async fn get_many(
    c: &impl ConnectionTrait,
    plans: &[&PlanId],
    emails: &[&Email],
) -> Result<Vec<(PlanId, Member)>, DbErr> {
    let mut out = Vec::with_capacity(emails.len());
    if plans.is_empty() {
        return Ok(out);
    }
    let plan_marks = vec!["?"; plans.len()].join(", ");
    for chunk in chunks(c.get_database_backend(), emails, 500, |e| e.as_str().len()) {
        let sql = format!(
            "SELECT plan_id, email, tier, source, directory_user_id, updated_at FROM members \
             WHERE plan_id IN ({plan_marks}) AND email IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut values: Vec<Value> = plans.iter().map(|p| Value::from(p.as_str())).collect();
        values.extend(chunk.iter().map(|e| Value::from(e.as_str())));
        for row in c.query_all_raw(stmt(c.get_database_backend(), &sql, values)).await? {
            out.push((typed_col(&row, "plan_id", PlanId::parse)?, from_row(&row)?));
        }
    }
    Ok(out)
}

/// Writes several members at once (each plan and email once), in plan and
/// email order so two writers never wait on each other in a circle.
pub async fn put_many(c: &impl ConnectionTrait, members: &[(&PlanId, &Member)]) -> Result<(), DbErr> {
    let mut sorted: Vec<&(&PlanId, &Member)> = members.iter().collect();
    sorted.sort_by(|a, b| (a.0, &a.1.email).cmp(&(b.0, &b.1.email)));
    let size = |(p, m): &&(&PlanId, &Member)| {
        p.as_str().len() + m.email.len() + m.directory_user_id.as_ref().map_or(0, String::len) + 48
    };
    for chunk in chunks(c.get_database_backend(), &sorted, 200, size) {
        let mut sql =
            String::from("INSERT INTO members (plan_id, email, tier, source, directory_user_id, updated_at) VALUES ");
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 6);
        for (i, (plan, m)) in chunk.iter().enumerate() {
            sql.push_str(if i == 0 { "(?, ?, ?, ?, ?, ?)" } else { ", (?, ?, ?, ?, ?, ?)" });
            values.extend([
                plan.as_str().into(),
                m.email.as_str().into(),
                m.seat.tier.as_str().into(),
                m.seat.source.as_str().into(),
                m.directory_user_id.clone().into(),
                m.updated_at.0.into(),
            ]);
        }
        sql.push_str(
            " ON CONFLICT (plan_id, email) DO UPDATE SET tier = excluded.tier, source = excluded.source, \
             directory_user_id = excluded.directory_user_id, updated_at = excluded.updated_at",
        );
        c.execute_raw(stmt(c.get_database_backend(), &sql, values)).await?;
    }
    Ok(())
}

/// The enforcement switch's first set, as a `FROM … WHERE` clause over `a.email`
/// (binds: organization, `true`, plan): every active directory user of the
/// organization who is not a paid member yet. The audit rows and the preview
/// select it; `enforce` changes exactly these.
pub(crate) const SWITCH_TO_PAID: &str = "FROM (SELECT DISTINCT email FROM directory_users \
     WHERE organization_id = ? AND active = ?) a \
     LEFT JOIN members m ON m.plan_id = ? AND m.email = a.email \
     WHERE m.tier IS NULL OR m.tier <> 'paid'";

/// The switch's second set, over `m.email` (binds: plan, organization, `true`):
/// every paid member who is not an active directory user.
pub(crate) fn switch_to_free() -> String {
    format!("FROM members m WHERE m.plan_id = ? AND m.tier = 'paid' AND m.email NOT IN ({ACTIVE_EMAILS})")
}

/// The enforcement switch on the seats, set-based (no per-member round trips:
/// 100,000 members switch in a handful of statements): every active directory
/// user of the organization paid and the directory's, everyone else free and
/// manual. `seats::rule::target_seat` in SQL; `tests/api/rule_sql.rs` checks
/// the two agree member by member.
pub async fn enforce(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    org: Option<&OrganizationId>,
    now: Micros,
) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let (plan, org, now): (Value, Value, Value) = (plan.as_str().into(), organization_value(org), now.0.into());
    let yes: Value = true.into();
    let min_id = bytewise(backend, "u.id");
    c.execute_raw(stmt(
        backend,
        &format!(
            "UPDATE members SET tier = 'free', source = 'manual', updated_at = ? \
             WHERE plan_id = ? AND (tier <> 'free' OR source <> 'manual') AND email NOT IN ({ACTIVE_EMAILS})"
        ),
        [now.clone(), plan.clone(), org.clone(), yes.clone()],
    ))
    .await?;
    c.execute_raw(stmt(
        backend,
        &format!(
            "UPDATE members SET tier = 'paid', source = 'directory', updated_at = ?, \
               directory_user_id = (SELECT MIN({min_id}) FROM directory_users u \
                 WHERE u.organization_id = ? AND u.active = ? AND u.email = members.email) \
             WHERE plan_id = ? AND (tier <> 'paid' OR source <> 'directory') AND email IN ({ACTIVE_EMAILS})"
        ),
        [now.clone(), org.clone(), yes.clone(), plan.clone(), org.clone(), yes.clone()],
    ))
    .await?;
    c.execute_raw(stmt(
        backend,
        &format!(
            "INSERT INTO members (plan_id, email, tier, source, directory_user_id, updated_at) \
             SELECT ?, u.email, 'paid', 'directory', MIN({min_id}), ? FROM directory_users u \
             WHERE u.organization_id = ? AND u.active = ? \
               AND NOT EXISTS (SELECT 1 FROM members m WHERE m.plan_id = ? AND m.email = u.email) \
             GROUP BY u.email"
        ),
        [plan.clone(), now, org, yes, plan],
    ))
    .await
    .map(|_| ())
}

/// `dsync.deleted` on the seats: a member the directory stood behind keeps the
/// seat, turned manual, unless the same person is active in another live
/// directory of the organization, which then stands behind it.
pub async fn release_directory(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    org: Option<&OrganizationId>,
    dir: &DirectoryId,
    now: Micros,
) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    let (plan, org, dir, now): (Value, Value, Value, Value) =
        (plan.as_str().into(), organization_value(org), dir.as_str().into(), now.0.into());
    let (no, yes): (Value, Value) = (false.into(), true.into());
    let on_members = |sql: &str| sql.replace("m.email", "members.email");
    c.execute_raw(stmt(
        backend,
        &format!(
            "UPDATE members SET source = 'manual', directory_user_id = NULL, updated_at = ? \
             WHERE plan_id = ? AND {} AND NOT {}",
            on_members(IN_DIRECTORY),
            on_members(ACTIVE_ELSEWHERE)
        ),
        [now.clone(), plan.clone(), dir.clone(), no, org.clone(), dir.clone(), yes.clone()],
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
            on_members(ACTIVE_ELSEWHERE),
            min_id = bytewise(backend, "w.id")
        ),
        [now, org.clone(), dir.clone(), yes.clone(), plan, dir.clone(), org, dir, yes],
    ))
    .await
    .map(|_| ())
}

/// What the enforcement switch would do if it started now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Preview {
    pub to_paid: Vec<String>,
    pub to_free: Vec<String>,
    pub unchanged_paid: u64,
    pub unchanged_free: u64,
}

/// The switch's sets (as `enforce` and `audit::record_enforcement` select
/// them), read instead of written.
pub async fn preview(c: &impl ConnectionTrait, plan: &PlanId, org: Option<&OrganizationId>) -> Result<Preview, DbErr> {
    let backend = c.get_database_backend();
    let (plan, org, yes): (Value, Value, Value) = (plan.as_str().into(), organization_value(org), true.into());
    let emails = |rows: Vec<QueryResult>| -> Result<Vec<String>, DbErr> {
        rows.iter().map(|r| col::<String>(r, "email")).collect()
    };
    let to_paid = emails(
        c.query_all_raw(stmt(
            backend,
            &format!("SELECT a.email AS email {SWITCH_TO_PAID} ORDER BY a.email"),
            [org.clone(), yes.clone(), plan.clone()],
        ))
        .await?,
    )?;
    let to_free = emails(
        c.query_all_raw(stmt(
            backend,
            &format!("SELECT m.email AS email {} ORDER BY m.email", switch_to_free()),
            [plan.clone(), org.clone(), yes.clone()],
        ))
        .await?,
    )?;
    let counts = c
        .query_one_raw(stmt(
            backend,
            &format!(
                "SELECT \
                   (SELECT COUNT(*) FROM members m WHERE m.plan_id = ? AND m.tier = 'paid' AND m.email IN ({ACTIVE_EMAILS})) AS paid, \
                   (SELECT COUNT(*) FROM members m WHERE m.plan_id = ? AND m.tier = 'free' AND m.email NOT IN ({ACTIVE_EMAILS})) AS free"
            ),
            [plan.clone(), org.clone(), yes.clone(), plan, org, yes],
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

/// How many of the plan's members hold a paid seat.
pub async fn paid_count(c: &impl ConnectionTrait, plan: &PlanId) -> Result<u64, DbErr> {
    super::count(c, "SELECT COUNT(*) AS n FROM members WHERE plan_id = ? AND tier = 'paid'", [plan.as_str().into()])
        .await
}
