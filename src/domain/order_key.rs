//! What an event is ordered by: its organization, else (legacy payloads without
//! one) its directory. One group's events are applied in arrival order.
use super::{DirectoryId, OrganizationId};

pub fn of_organization(org: &OrganizationId) -> String {
    format!("org:{org}")
}

pub fn of_directory(dir: &DirectoryId) -> String {
    format!("dir:{dir}")
}
