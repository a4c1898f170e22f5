//! Directories and the newest state stored for each directory user.
use super::{col, typed_col};
use crate::{
    db::{chunks, stmt},
    domain::{DirectoryId, DirectoryUserId, Email, Micros, OrganizationId, UserState},
};
use sea_orm::{ConnectionTrait, DbErr, Value};

/// Emails that are active directory users of an organization (binds: the
/// organization, `true`). The set every plan-wide statement compares against.
// `IN` rather than a correlated `EXISTS`: PostgreSQL hashes the list whatever its
// row estimates, where a fresh plan's stale statistics led it to a nested loop.
pub(crate) const ACTIVE_EMAILS: &str =
    "SELECT u.email FROM directory_users u WHERE u.organization_id = ? AND u.active = ?";

/// Member `m` is a not-deleted user of the directory (binds: directory, `false`).
pub(crate) const IN_DIRECTORY: &str =
    "EXISTS (SELECT 1 FROM directory_users u WHERE u.directory_id = ? AND u.deleted = ? AND u.email = m.email)";

/// Member `m` is active in another directory of the organization (binds:
/// organization, directory, `true`).
pub(crate) const ACTIVE_ELSEWHERE: &str = "EXISTS (SELECT 1 FROM directory_users v WHERE v.organization_id = ? \
     AND v.directory_id <> ? AND v.active = ? AND v.email = m.email)";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRow {
    pub organization_id: OrganizationId,
    pub deleted: bool,
}

pub async fn find_directory(c: &impl ConnectionTrait, id: &DirectoryId) -> Result<Option<DirectoryRow>, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT organization_id, deleted FROM directories WHERE id = ?",
            [id.as_str().into()],
        ))
        .await?;
    row.map(|row| {
        Ok(DirectoryRow {
            organization_id: typed_col(&row, "organization_id", OrganizationId::parse)?,
            deleted: col(&row, "deleted")?,
        })
    })
    .transpose()
}

/// Every directory recorded for the organizations.
pub async fn directories_of(
    c: &impl ConnectionTrait,
    orgs: &[&OrganizationId],
) -> Result<Vec<(DirectoryId, DirectoryRow)>, DbErr> {
    if orgs.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT id, organization_id, deleted FROM directories WHERE organization_id IN ({})",
        vec!["?"; orgs.len()].join(", ")
    );
    let values: Vec<Value> = orgs.iter().map(|o| Value::from(o.as_str())).collect();
    c.query_all_raw(stmt(c.get_database_backend(), &sql, values))
        .await?
        .iter()
        .map(|row| {
            Ok((
                typed_col(row, "id", DirectoryId::parse)?,
                DirectoryRow {
                    organization_id: typed_col(row, "organization_id", OrganizationId::parse)?,
                    deleted: col(row, "deleted")?,
                },
            ))
        })
        .collect()
}

pub async fn insert_directory(
    c: &impl ConnectionTrait,
    id: &DirectoryId,
    org: &OrganizationId,
    deleted: bool,
    now: Micros,
) -> Result<bool, DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "INSERT INTO directories (id, organization_id, deleted, updated_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (id) DO NOTHING",
        [id.as_str().into(), org.as_str().into(), deleted.into(), now.0.into()],
    ))
    .await
    .map(|r| r.rows_affected() == 1)
}

/// The organizations of the known directories among `ids`.
pub async fn organizations_of(
    c: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<std::collections::HashMap<String, OrganizationId>, DbErr> {
    let mut out = std::collections::HashMap::new();
    for chunk in chunks(c.get_database_backend(), ids, 500, |id| id.len()) {
        let sql =
            format!("SELECT id, organization_id FROM directories WHERE id IN ({})", vec!["?"; chunk.len()].join(", "));
        let values: Vec<Value> = chunk.iter().map(|id| Value::from(*id)).collect();
        for row in c.query_all_raw(stmt(c.get_database_backend(), &sql, values)).await? {
            out.insert(col(&row, "id")?, typed_col(&row, "organization_id", OrganizationId::parse)?);
        }
    }
    Ok(out)
}

/// Marks a directory deleted; its users stop counting and stop being linked.
pub async fn delete_directory(c: &impl ConnectionTrait, id: &DirectoryId, now: Micros) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    c.execute_raw(stmt(
        backend,
        "UPDATE directories SET deleted = ?, updated_at = ? WHERE id = ?",
        [true.into(), now.0.into(), id.as_str().into()],
    ))
    .await?;
    c.execute_raw(stmt(
        backend,
        "UPDATE directory_users SET deleted = ?, active = ? WHERE directory_id = ?",
        [true.into(), false.into(), id.as_str().into()],
    ))
    .await
    .map(|_| ())
}

pub async fn live_directories(c: &impl ConnectionTrait, org: &OrganizationId) -> Result<u64, DbErr> {
    super::count(
        c,
        "SELECT COUNT(*) AS n FROM directories WHERE organization_id = ? AND deleted = ?",
        [org.as_str().into(), false.into()],
    )
    .await
}

/// What ordering a change needs of a stored directory user: its email, the
/// version it was last written at, and whether it was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserVersion {
    pub email: Email,
    pub updated_at: Micros,
    pub deleted: bool,
}

pub async fn find_user(c: &impl ConnectionTrait, id: &DirectoryUserId) -> Result<Option<UserVersion>, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "SELECT email, updated_at, deleted FROM directory_users WHERE id = ?",
            [id.as_str().into()],
        ))
        .await?;
    row.map(|row| {
        Ok(UserVersion {
            email: typed_col(&row, "email", Email::parse)?,
            updated_at: Micros(col(&row, "updated_at")?),
            deleted: col(&row, "deleted")?,
        })
    })
    .transpose()
}

/// Active directory users, counted as people (distinct emails), counting no
/// further than `up_to`: the rule only asks whether the threshold is passed, and
/// every event asks, so the cost stays that of the threshold, not of the directory.
pub async fn active_count(c: &impl ConnectionTrait, org: &OrganizationId, up_to: u64) -> Result<u64, DbErr> {
    super::count(
        c,
        "SELECT COUNT(*) AS n FROM (SELECT DISTINCT email FROM directory_users \
         WHERE organization_id = ? AND active = ? LIMIT ?) t",
        [org.as_str().into(), true.into(), i64::try_from(up_to).unwrap_or(i64::MAX).into()],
    )
    .await
}

/// The users stored as not deleted for a directory and last written before
/// `stored_before` (the database's clock, `db::clock`): `(id, email, state, updated_at)`.
pub async fn live_users_of(
    c: &impl ConnectionTrait,
    dir: &DirectoryId,
    stored_before: Micros,
) -> Result<Vec<(DirectoryUserId, Email, UserState, Micros)>, DbErr> {
    c.query_all_raw(stmt(
        c.get_database_backend(),
        "SELECT id, email, state, updated_at FROM directory_users \
         WHERE directory_id = ? AND deleted = ? AND stored_at < ? ORDER BY id",
        [dir.as_str().into(), false.into(), stored_before.0.into()],
    ))
    .await?
    .iter()
    .map(|row| {
        Ok((
            typed_col(row, "id", DirectoryUserId::parse)?,
            typed_col(row, "email", Email::parse)?,
            UserState::parse(&col::<String>(row, "state")?),
            Micros(col(row, "updated_at")?),
        ))
    })
    .collect()
}

/// Live directories stored for an organization.
pub async fn live_directories_of(c: &impl ConnectionTrait, org: &OrganizationId) -> Result<Vec<DirectoryId>, DbErr> {
    c.query_all_raw(stmt(
        c.get_database_backend(),
        "SELECT id FROM directories WHERE organization_id = ? AND deleted = ? ORDER BY id",
        [org.as_str().into(), false.into()],
    ))
    .await?
    .iter()
    .map(|row| typed_col(row, "id", DirectoryId::parse))
    .collect()
}

/// A directory user as stored, whole: what the reconciler's batched path reads and
/// writes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    pub id: DirectoryUserId,
    pub directory: DirectoryId,
    pub organization: OrganizationId,
    pub email: Email,
    pub state: UserState,
    pub updated_at: Micros,
    pub deleted: bool,
}

impl StoredUser {
    pub fn active(&self) -> bool {
        self.state.is_active() && !self.deleted
    }
}

/// The users stored under any of `ids`.
pub async fn find_users(c: &impl ConnectionTrait, ids: &[&DirectoryUserId]) -> Result<Vec<StoredUser>, DbErr> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in chunks(c.get_database_backend(), ids, 500, |id| id.as_str().len()) {
        let sql = format!(
            "SELECT id, directory_id, organization_id, email, state, updated_at, deleted FROM directory_users \
             WHERE id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let values: Vec<Value> = chunk.iter().map(|id| Value::from(id.as_str())).collect();
        for row in c.query_all_raw(stmt(c.get_database_backend(), &sql, values)).await? {
            out.push(StoredUser {
                id: typed_col(&row, "id", DirectoryUserId::parse)?,
                directory: typed_col(&row, "directory_id", DirectoryId::parse)?,
                organization: typed_col(&row, "organization_id", OrganizationId::parse)?,
                email: typed_col(&row, "email", Email::parse)?,
                state: UserState::parse(&col::<String>(&row, "state")?),
                updated_at: Micros(col(&row, "updated_at")?),
                deleted: col(&row, "deleted")?,
            });
        }
    }
    Ok(out)
}

/// The organizations' not-deleted users holding any of `emails`:
/// `(organization, email, user id, active)`.
pub async fn live_users_with_emails(
    c: &impl ConnectionTrait,
    orgs: &[&OrganizationId],
    emails: &[&Email],
) -> Result<Vec<(String, String, String, bool)>, DbErr> {
    let mut out = Vec::new();
    if orgs.is_empty() {
        return Ok(out);
    }
    let org_marks = vec!["?"; orgs.len()].join(", ");
    for chunk in chunks(c.get_database_backend(), emails, 500, |e| e.as_str().len()) {
        let sql = format!(
            "SELECT organization_id, email, id, active FROM directory_users \
             WHERE organization_id IN ({org_marks}) AND deleted = ? AND email IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut values: Vec<Value> = orgs.iter().map(|o| Value::from(o.as_str())).collect();
        values.push(false.into());
        values.extend(chunk.iter().map(|e| Value::from(e.as_str())));
        for row in c.query_all_raw(stmt(c.get_database_backend(), &sql, values)).await? {
            out.push((col(&row, "organization_id")?, col(&row, "email")?, col(&row, "id")?, col(&row, "active")?));
        }
    }
    Ok(out)
}

/// Writes several users' states at once, in id order so two writers never wait
/// on each other in a circle. `stored_at` is the database's clock where it has
/// one of its own (`db::clock_sql`), else `now`.
pub async fn upsert_users(c: &impl ConnectionTrait, users: &[&StoredUser], now: Micros) -> Result<(), DbErr> {
    let clock = crate::db::clock_sql(c.get_database_backend());
    let row = match clock {
        Some(clock) => format!("(?, ?, ?, ?, ?, ?, ?, ?, {clock})"),
        None => "(?, ?, ?, ?, ?, ?, ?, ?, ?)".to_owned(),
    };
    let mut sorted: Vec<&&StoredUser> = users.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let size = |u: &&&StoredUser| u.id.as_str().len() + u.directory.as_str().len() + u.email.as_str().len() + 64;
    for chunk in chunks(c.get_database_backend(), &sorted, 200, size) {
        let mut sql = String::from(
            "INSERT INTO directory_users \
               (id, directory_id, organization_id, email, state, updated_at, deleted, active, stored_at) VALUES ",
        );
        let mut values: Vec<Value> = Vec::with_capacity(chunk.len() * 8);
        for (i, u) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&row);
            values.extend([
                u.id.as_str().into(),
                u.directory.as_str().into(),
                u.organization.as_str().into(),
                u.email.as_str().into(),
                u.state.as_str().into(),
                u.updated_at.0.into(),
                u.deleted.into(),
                u.active().into(),
            ]);
            if clock.is_none() {
                values.push(now.0.into());
            }
        }
        sql.push_str(
            " ON CONFLICT (id) DO UPDATE SET directory_id = excluded.directory_id, \
             organization_id = excluded.organization_id, email = excluded.email, state = excluded.state, \
             updated_at = excluded.updated_at, deleted = excluded.deleted, active = excluded.active, \
             stored_at = excluded.stored_at",
        );
        c.execute_raw(stmt(c.get_database_backend(), &sql, values)).await?;
    }
    Ok(())
}
