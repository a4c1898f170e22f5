//! What an event is ordered by: its organization, else (legacy payloads without
//! one) its directory. One group's events are applied in arrival order.
use super::{DirectoryId, OrganizationId};

pub const ORGANIZATION_PREFIX: &str = "org:";
pub const DIRECTORY_PREFIX: &str = "dir:";

pub fn of_organization(org: &OrganizationId) -> String {
    format!("{ORGANIZATION_PREFIX}{org}")
}

pub fn of_directory(dir: &DirectoryId) -> String {
    format!("{DIRECTORY_PREFIX}{dir}")
}

/// The organization a group is keyed by, if `key` is one.
pub fn organization_of(key: &str) -> Option<OrganizationId> {
    key.strip_prefix(ORGANIZATION_PREFIX).and_then(|o| OrganizationId::parse(o).ok())
}

/// The directory a legacy group is keyed by, if `key` is one.
pub fn directory_of(key: &str) -> Option<DirectoryId> {
    key.strip_prefix(DIRECTORY_PREFIX).and_then(|d| DirectoryId::parse(d).ok())
}
