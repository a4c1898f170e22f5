//! The admin log (`admin_changes`, CONTRACT 3.3): one row per admin action
//! that changed something, appended, never updated or pruned.
use super::col;
use crate::{db::stmt, domain::Micros};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, Value};

/// One recorded admin action.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AdminChange {
    pub seq: i64,
    pub at: String,
    /// The client address, as `TRUSTED_PROXIES` reads it.
    pub client: String,
    pub method: String,
    /// The route's pattern (`/admin/plans/{plan_id}`).
    pub route: String,
    pub path: String,
    pub plan_id: Option<String>,
    pub status: i32,
    /// What the route's subject was before and after (JSON), when it has one.
    #[schema(value_type = Object)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Object)]
    pub after: Option<serde_json::Value>,
    /// `admin` (the admin API) or `portal` (the plan portal, CONTRACT 3.6).
    pub source: String,
}

/// What to record.
pub struct NewChange<'a> {
    pub at: Micros,
    pub client: &'a str,
    pub method: &'a str,
    pub route: &'a str,
    pub path: &'a str,
    pub plan_id: Option<&'a str>,
    pub status: u16,
    pub before: Option<&'a serde_json::Value>,
    pub after: Option<&'a serde_json::Value>,
    pub source: &'a str,
}

pub async fn record(c: &impl ConnectionTrait, change: &NewChange<'_>) -> Result<(), DbErr> {
    let json = |v: Option<&serde_json::Value>| -> Value { v.map(|v| v.to_string()).into() };
    c.execute_raw(stmt(
        c.get_database_backend(),
        "INSERT INTO admin_changes (at, client, method, route, path, plan_id, status, before, after, source) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            change.at.0.into(),
            change.client.into(),
            change.method.into(),
            change.route.into(),
            change.path.into(),
            change.plan_id.map(str::to_owned).into(),
            i32::from(change.status).into(),
            json(change.before),
            json(change.after),
            change.source.into(),
        ],
    ))
    .await
    .map(|_| ())
}

fn from_row(row: &QueryResult) -> Result<AdminChange, DbErr> {
    let json = |name: &str| -> Result<Option<serde_json::Value>, DbErr> {
        Ok(col::<Option<String>>(row, name)?.and_then(|text| serde_json::from_str(&text).ok()))
    };
    Ok(AdminChange {
        seq: col(row, "seq")?,
        at: Micros(col(row, "at")?).to_rfc3339(),
        client: col(row, "client")?,
        method: col(row, "method")?,
        route: col(row, "route")?,
        path: col(row, "path")?,
        plan_id: col(row, "plan_id")?,
        status: col(row, "status")?,
        before: json("before")?,
        after: json("after")?,
        source: col(row, "source")?,
    })
}

/// A page, oldest first, after `after` (a `seq`), and whether more follow.
pub async fn page(
    c: &impl ConnectionTrait,
    plan: Option<&str>,
    after: i64,
    limit: u64,
) -> Result<(Vec<AdminChange>, bool), DbErr> {
    let mut sql = String::from(
        "SELECT seq, at, client, method, route, path, plan_id, status, before, after, source FROM admin_changes \
         WHERE seq > ?",
    );
    let mut values: Vec<Value> = vec![after.into()];
    if let Some(plan) = plan {
        sql.push_str(" AND plan_id = ?");
        values.push(plan.into());
    }
    sql.push_str(" ORDER BY seq LIMIT ?");
    values.push((limit as i64 + 1).into());
    let rows = c.query_all_raw(stmt(c.get_database_backend(), &sql, values)).await?;
    let more = rows.len() as u64 > limit;
    let changes = rows.iter().take(limit as usize).map(from_row).collect::<Result<_, DbErr>>()?;
    Ok((changes, more))
}
