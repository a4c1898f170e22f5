//! The seat aggregate's storage: plans, directories and their users, members and
//! the audit trail. Every query takes `&impl ConnectionTrait`, so it runs inside
//! or outside a transaction alike.
pub mod admin_changes;
pub mod audit;
pub mod cursors;
pub mod directory;
pub mod leases;
pub mod members;
pub mod outbound;
pub mod plans;
pub mod portal;

use crate::{db::stmt, domain::OrganizationId};
use sea_orm::{ConnectionTrait, DbErr, QueryResult, TryGetable, Value};

/// Reads a column by name, turning a type surprise into a `DbErr`.
pub(crate) fn col<T: TryGetable>(row: &QueryResult, name: &str) -> Result<T, DbErr> {
    row.try_get::<T>("", name)
}

/// Reads a text column holding one of our typed ids or an email.
pub(crate) fn typed_col<T, E: std::fmt::Display>(
    row: &QueryResult,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, DbErr> {
    let raw: String = col(row, name)?;
    parse(&raw).map_err(|e| DbErr::Custom(format!("unexpected {name} value in the database: {e}")))
}

/// Reads a text column holding one of our string enums.
pub(crate) fn enum_col<T>(row: &QueryResult, name: &str, parse: fn(&str) -> Option<T>) -> Result<T, DbErr> {
    let raw: String = col(row, name)?;
    parse(&raw).ok_or_else(|| DbErr::Custom(format!("unexpected {name} value {raw:?} in the database")))
}

/// A plan's organization as a bound value: NULL for a plan not configured yet,
/// which matches no directory user (as a plan without users should).
pub(crate) fn organization_value(org: Option<&OrganizationId>) -> Value {
    org.map(|o| o.to_string()).into()
}

/// Runs a `SELECT COUNT(*) AS n …` and reads its one number.
pub async fn count(c: &impl ConnectionTrait, sql: &str, values: impl IntoIterator<Item = Value>) -> Result<u64, DbErr> {
    let row = c.query_one_raw(stmt(c.get_database_backend(), sql, values)).await?;
    Ok(row.map(|r| col::<i64>(&r, "n")).transpose()?.unwrap_or(0).max(0) as u64)
}
