//! Plan portal links and sessions (CONTRACT 3.6), stored hashed: a leaked
//! database copy opens nothing. Every check is one conditional statement, so
//! replicas sharing the database agree (a link opens one session, once).
use super::col;
use crate::{
    db::stmt,
    domain::{Micros, PlanId},
};
use sea_orm::{ConnectionTrait, DbErr};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A link is valid this long after it is made.
pub const LINK_VALID_FOR: Duration = Duration::from_secs(5 * 60);
/// A session ends after this long without a request...
pub const SESSION_IDLE: Duration = Duration::from_secs(60 * 60);
/// ... and this long after it began, whatever happens.
pub const SESSION_MAX: Duration = Duration::from_secs(12 * 60 * 60);
/// A session's last use is written at most this often (reads stay reads).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// A new secret: 32 random bytes, URL-safe base64 (43 characters).
pub fn new_token() -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Stores a link for `plan`; returns when it expires.
pub async fn create_link(
    c: &impl ConnectionTrait,
    plan: &PlanId,
    token: &str,
    return_url: Option<&str>,
    now: Micros,
) -> Result<Micros, DbErr> {
    let expires_at = now.plus(LINK_VALID_FOR);
    c.execute_raw(stmt(
        c.get_database_backend(),
        "INSERT INTO portal_links (token_hash, plan_id, return_url, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        [
            hash(token).into(),
            plan.as_str().into(),
            return_url.map(str::to_owned).into(),
            now.0.into(),
            expires_at.0.into(),
        ],
    ))
    .await?;
    Ok(expires_at)
}

/// A link that was just used: the plan it opens and where "back" goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    pub plan: PlanId,
    pub return_url: Option<String>,
}

/// Uses a link, once: the plan it opens, or None when it is unknown, used,
/// revoked or expired. One conditional update: of two replicas opening the
/// same link at once, one wins.
pub async fn use_link(c: &impl ConnectionTrait, token: &str, now: Micros) -> Result<Option<Opened>, DbErr> {
    let row = c
        .query_one_raw(stmt(
            c.get_database_backend(),
            "UPDATE portal_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? \
             RETURNING plan_id, return_url",
            [now.0.into(), hash(token).into(), now.0.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let plan = PlanId::parse(&col::<String>(&row, "plan_id")?)
        .map_err(|e| DbErr::Custom(format!("unexpected plan_id in portal_links: {e}")))?;
    Ok(Some(Opened { plan, return_url: col(&row, "return_url")? }))
}

/// Starts a session for what a link opened, under `token`.
pub async fn create_session(c: &impl ConnectionTrait, opened: &Opened, token: &str, now: Micros) -> Result<(), DbErr> {
    c.execute_raw(stmt(
        c.get_database_backend(),
        "INSERT INTO portal_sessions (token_hash, plan_id, created_at, last_seen_at, expires_at, return_url) \
         VALUES (?, ?, ?, ?, ?, ?)",
        [
            hash(token).into(),
            opened.plan.as_str().into(),
            now.0.into(),
            now.0.into(),
            now.plus(SESSION_MAX).0.into(),
            opened.return_url.clone().into(),
        ],
    ))
    .await
    .map(|_| ())
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub plan: PlanId,
    pub return_url: Option<String>,
    pub expires_at: Micros,
}

/// A live session (not revoked, not idle an hour, not past its twelve
/// hours), its use recorded; None otherwise.
pub async fn session(c: &impl ConnectionTrait, token: &str, now: Micros) -> Result<Option<Session>, DbErr> {
    let backend = c.get_database_backend();
    let token_hash = hash(token);
    let idle_since = now.minus(SESSION_IDLE).0;
    let row = c
        .query_one_raw(stmt(
            backend,
            "SELECT plan_id, last_seen_at, expires_at, return_url FROM portal_sessions WHERE token_hash = ? \
             AND revoked_at IS NULL \
             AND expires_at > ? AND last_seen_at > ?",
            [token_hash.as_str().into(), now.0.into(), idle_since.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let plan = PlanId::parse(&col::<String>(&row, "plan_id")?)
        .map_err(|e| DbErr::Custom(format!("unexpected plan_id in portal_sessions: {e}")))?;
    if col::<i64>(&row, "last_seen_at")? < now.minus(TOUCH_EVERY).0 {
        c.execute_raw(stmt(
            backend,
            "UPDATE portal_sessions SET last_seen_at = ? WHERE token_hash = ? AND last_seen_at < ?",
            [now.0.into(), token_hash.into(), now.0.into()],
        ))
        .await?;
    }
    Ok(Some(Session { plan, return_url: col(&row, "return_url")?, expires_at: Micros(col(&row, "expires_at")?) }))
}

/// Ends every session of `plan` and voids its unused links. Returns how many
/// sessions and links were live.
pub async fn revoke_plan(c: &impl ConnectionTrait, plan: &PlanId, now: Micros) -> Result<u64, DbErr> {
    let backend = c.get_database_backend();
    let sessions = c
        .execute_raw(stmt(
            backend,
            "UPDATE portal_sessions SET revoked_at = ? WHERE plan_id = ? AND revoked_at IS NULL",
            [now.0.into(), plan.as_str().into()],
        ))
        .await?;
    let links = c
        .execute_raw(stmt(
            backend,
            "UPDATE portal_links SET used_at = ? WHERE plan_id = ? AND used_at IS NULL",
            [now.0.into(), plan.as_str().into()],
        ))
        .await?;
    Ok(sessions.rows_affected() + links.rows_affected())
}

/// Retention: links and sessions that can open nothing any more, older than
/// `before`.
pub async fn prune(c: &impl ConnectionTrait, now: Micros) -> Result<u64, DbErr> {
    let backend = c.get_database_backend();
    let cutoff = now.minus(Duration::from_secs(24 * 3600)).0;
    let links = c.execute_raw(stmt(backend, "DELETE FROM portal_links WHERE expires_at < ?", [cutoff.into()])).await?;
    let sessions = c
        .execute_raw(stmt(
            backend,
            "DELETE FROM portal_sessions WHERE expires_at < ? OR last_seen_at < ? OR revoked_at < ?",
            [cutoff.into(), cutoff.into(), cutoff.into()],
        ))
        .await?;
    Ok(links.rows_affected() + sessions.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_only_as_their_hash() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 64);
        assert_ne!(hash(&a), a);
    }
}
