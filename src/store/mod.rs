//! The seat aggregate's storage: plans, directories and their users, members and
//! the audit trail. Every query takes `&impl ConnectionTrait`, so it runs inside
//! or outside a transaction alike.
pub mod audit;
pub mod cursors;
pub mod directory;
pub mod leases;
pub mod members;
pub mod plans;

use crate::domain::OrganizationId;
use sea_orm::{DbErr, QueryResult, TryGetable, Value};

/// Reads a column by name, turning a type surprise into a `DbErr`.
pub(crate) fn col<T: TryGetable>(row: &QueryResult, name: &str) -> Result<T, DbErr> {
    row.try_get::<T>("", name)
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
