//! Which group (`order_key`) an event is applied in.
use crate::domain::order_key;
use sea_orm::{ConnectionTrait, DbErr};

/// `keys` with every directory key whose directory is known replaced by its
/// organization's key. Takes the write lock first on SQLite, so a directory
/// linked meanwhile waits for the caller's events to commit.
pub async fn known_groups(
    c: &impl ConnectionTrait,
    mut keys: Vec<Option<String>>,
) -> Result<Vec<Option<String>>, DbErr> {
    let mut directories: Vec<&str> =
        keys.iter().flatten().filter_map(|k| k.strip_prefix(order_key::DIRECTORY_PREFIX)).collect();
    if directories.is_empty() {
        return Ok(keys);
    }
    directories.sort_unstable();
    directories.dedup();
    crate::db::write_first(c).await?;
    let owners = crate::store::directory::organizations_of(c, &directories).await?;
    for key in keys.iter_mut() {
        let owner =
            key.as_deref().and_then(|k| k.strip_prefix(order_key::DIRECTORY_PREFIX)).and_then(|d| owners.get(d));
        if let Some(org) = owner {
            *key = Some(order_key::of_organization(org));
        }
    }
    Ok(keys)
}
