//! Envelope → domain command: pure, no database.
use super::payload::{Directory, DirectoryUser, Envelope};
use crate::domain::{DirectoryId, DirectoryUserId, Email, Micros, OrganizationId, UserState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `dsync.activated`: a directory now feeds this organization.
    LinkDirectory { directory: DirectoryId, organization: OrganizationId },
    /// `dsync.deleted`: the directory and its users are gone; seats stay.
    RemoveDirectory { directory: DirectoryId, organization: Option<OrganizationId> },
    /// `dsync.user.*`: the newest state of one directory user.
    ChangeDirectoryUser(DirectoryUserChange),
    /// A type we acknowledge and do not act on.
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUserChange {
    pub user: DirectoryUserId,
    pub directory: DirectoryId,
    /// Missing in some legacy payloads: the directory's organization is used.
    pub organization: Option<OrganizationId>,
    pub email: Email,
    pub state: UserState,
    pub updated_at: Micros,
    pub deleted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    #[error("`data` is missing or not an object of the expected shape: {0}")]
    BadData(String),
    #[error("{0}")]
    InvalidId(#[from] crate::domain::ids::InvalidId),
    #[error("directory user has no usable email")]
    NoEmail,
    #[error(transparent)]
    InvalidEmail(#[from] crate::domain::email::InvalidEmail),
    #[error("directory user has no usable updated_at: {0:?}")]
    BadUpdatedAt(Option<String>),
}

/// The event types the reconciler acts on: the one list. The Events API query,
/// the inbox status (`pending` or `ignored`) and `translate` all read it, so a
/// new type is added here and in `translate`'s match, which the compiler then
/// holds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    DirectoryActivated,
    DirectoryDeleted,
    UserCreated,
    UserUpdated,
    UserDeleted,
}

impl EventKind {
    pub const ALL: [EventKind; 5] =
        [Self::DirectoryActivated, Self::DirectoryDeleted, Self::UserCreated, Self::UserUpdated, Self::UserDeleted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DirectoryActivated => "dsync.activated",
            Self::DirectoryDeleted => "dsync.deleted",
            Self::UserCreated => "dsync.user.created",
            Self::UserUpdated => "dsync.user.updated",
            Self::UserDeleted => "dsync.user.deleted",
        }
    }

    pub fn parse(event_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == event_type)
    }

    /// Whether the payload is a directory user (else a directory).
    pub fn is_user(self) -> bool {
        matches!(self, Self::UserCreated | Self::UserUpdated | Self::UserDeleted)
    }
}

pub fn translate(envelope: &Envelope) -> Result<Command, TranslateError> {
    let Some(kind) = EventKind::parse(&envelope.event) else { return Ok(Command::Ignore) };
    match kind {
        EventKind::DirectoryActivated => {
            let directory: Directory = data(envelope)?;
            let organization = directory
                .organization_id
                .as_deref()
                .ok_or_else(|| TranslateError::BadData("directory has no organization_id".into()))?;
            Ok(Command::LinkDirectory {
                directory: DirectoryId::parse(&directory.id)?,
                organization: OrganizationId::parse(organization)?,
            })
        }
        EventKind::DirectoryDeleted => {
            let directory: Directory = data(envelope)?;
            Ok(Command::RemoveDirectory {
                directory: DirectoryId::parse(&directory.id)?,
                organization: directory.organization_id.as_deref().map(OrganizationId::parse).transpose()?,
            })
        }
        EventKind::UserCreated | EventKind::UserUpdated | EventKind::UserDeleted => {
            let user: DirectoryUser = data(envelope)?;
            Ok(Command::ChangeDirectoryUser(user_change(&user, kind == EventKind::UserDeleted)?))
        }
    }
}

/// A directory user (from an event or a Directory Sync listing) as its new state.
pub fn user_change(user: &DirectoryUser, deleted: bool) -> Result<DirectoryUserChange, TranslateError> {
    let email = Email::parse(&user.primary_email().ok_or(TranslateError::NoEmail)?)?;
    let updated_at = user
        .updated_at
        .as_deref()
        .and_then(Micros::parse_workos)
        .ok_or_else(|| TranslateError::BadUpdatedAt(user.updated_at.clone()))?;
    Ok(DirectoryUserChange {
        user: DirectoryUserId::parse(&user.id)?,
        directory: DirectoryId::parse(&user.directory_id)?,
        organization: user.organization_id.as_deref().map(OrganizationId::parse).transpose()?,
        email,
        state: UserState::parse(user.state.as_deref().unwrap_or("")),
        updated_at,
        deleted,
    })
}

fn data<T: serde::de::DeserializeOwned>(envelope: &Envelope) -> Result<T, TranslateError> {
    let value = envelope.data.clone().ok_or_else(|| TranslateError::BadData("no data".into()))?;
    serde_json::from_value(value).map_err(|e| TranslateError::BadData(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(event: &str, data: &str) -> Envelope {
        let body =
            format!(r#"{{"id":"event_01","event":"{event}","data":{data},"created_at":"2023-04-28 20:05:31.093"}}"#);
        Envelope::parse(body.as_bytes()).unwrap()
    }

    fn user_change(event: &str, data: &str) -> DirectoryUserChange {
        match translate(&envelope(event, data)).unwrap() {
            Command::ChangeDirectoryUser(change) => change,
            other => panic!("expected a user change, got {other:?}"),
        }
    }

    macro_rules! sample {
        ($name:literal) => {
            include_str!(concat!("../../fixtures/workos-samples/", $name))
        };
    }

    #[test]
    fn a_created_user_becomes_an_active_change() {
        let change = user_change("dsync.user.created", sample!("dsync.user.created.json"));
        assert_eq!(change.user.as_str(), "directory_user_01E1X1B89NH8Z3SDFJR4H7RGX7");
        assert_eq!(change.directory.as_str(), "directory_01ECAZ4NV9QMV47GW873HDCX74");
        assert_eq!(change.organization.unwrap().as_str(), "org_01EZTR6WYX1A0DSE2CYMGXQ24Y");
        assert_eq!(change.email.as_str(), "lela.block@example.com");
        assert_eq!(change.state, UserState::Active);
        assert_eq!(change.updated_at, Micros::parse_workos("2021-06-25T19:07:33.155Z").unwrap());
        assert!(!change.deleted);
    }

    #[test]
    fn an_updated_user_with_previous_attributes_is_a_change() {
        let change = user_change("dsync.user.updated", sample!("dsync.user.updated.json"));
        assert_eq!(change.state, UserState::Active);
        assert!(!change.deleted);
    }

    #[test]
    fn a_deleted_user_is_a_deletion_with_its_last_state() {
        let change = user_change("dsync.user.deleted", sample!("dsync.user.deleted.json"));
        assert!(change.deleted);
        assert_eq!(change.state, UserState::Inactive);
    }

    #[test]
    fn the_legacy_suspended_shape_uses_the_top_level_emails() {
        let change = user_change("dsync.user.updated", sample!("dsync.user.updated.legacy-suspended.json"));
        assert_eq!(change.email.as_str(), "veda@example.com");
        assert_eq!(change.state, UserState::Suspended);
        assert!(!change.state.is_active());
    }

    #[test]
    fn a_role_change_with_zoneless_times_is_read_as_utc() {
        let change = user_change("dsync.user.updated", sample!("dsync.user.updated.role-change.json"));
        assert_eq!(change.email.as_str(), "jonsnow@workos.com");
        assert_eq!(change.directory.as_str(), "dir_123");
        assert_eq!(change.updated_at, Micros::parse_workos("2021-12-13T12:15:45.531847Z").unwrap());
    }

    #[test]
    fn a_null_email_falls_back_to_custom_attributes_then_legacy_emails() {
        let custom = r#"{"id":"u","directory_id":"d","email":null,"state":"active","updated_at":"2024-01-01T00:00:00Z",
            "custom_attributes":{"emails":[{"primary":false,"value":"other@x.com"},{"primary":true,"value":"Main@X.com"}]},
            "emails":[{"primary":true,"value":"legacy@x.com"}]}"#;
        assert_eq!(user_change("dsync.user.created", custom).email.as_str(), "main@x.com");
        let legacy = r#"{"id":"u","directory_id":"d","state":"active","updated_at":"2024-01-01T00:00:00Z",
            "custom_attributes":{"emails":"not a list"},"emails":[{"value":"Legacy@X.com"}]}"#;
        let change = user_change("dsync.user.created", legacy);
        assert_eq!(change.email.as_str(), "legacy@x.com");
        assert_eq!(change.organization, None);
    }

    #[test]
    fn unknown_states_are_kept_and_not_active() {
        let data = r#"{"id":"u","directory_id":"d","email":"a@b.c","state":"provisioning","updated_at":"2024-01-01T00:00:00Z"}"#;
        let change = user_change("dsync.user.updated", data);
        assert_eq!(change.state, UserState::Other("provisioning".into()));
    }

    #[test]
    fn a_user_without_any_email_is_a_clear_failure() {
        let data = r#"{"id":"u","directory_id":"d","email":null,"state":"active","updated_at":"2024-01-01T00:00:00Z","custom_attributes":{}}"#;
        assert_eq!(translate(&envelope("dsync.user.created", data)), Err(TranslateError::NoEmail));
    }

    #[test]
    fn a_user_without_updated_at_or_id_fails() {
        let no_time = r#"{"id":"u","directory_id":"d","email":"a@b.c","state":"active"}"#;
        assert_eq!(translate(&envelope("dsync.user.created", no_time)), Err(TranslateError::BadUpdatedAt(None)));
        let no_id = r#"{"directory_id":"d","email":"a@b.c","state":"active","updated_at":"2024-01-01T00:00:00Z"}"#;
        assert!(matches!(translate(&envelope("dsync.user.created", no_id)), Err(TranslateError::BadData(_))));
        assert!(matches!(translate(&envelope("dsync.user.created", "null")), Err(TranslateError::BadData(_))));
    }

    #[test]
    fn directory_events_link_and_remove() {
        assert_eq!(
            translate(&envelope("dsync.activated", sample!("dsync.activated.json"))).unwrap(),
            Command::LinkDirectory {
                directory: DirectoryId::parse("directory_01EHWNC0FCBHZ3BJ7EGKYXK0E6").unwrap(),
                organization: OrganizationId::parse("org_01EZTR6WYX1A0DSE2CYMGXQ24Y").unwrap(),
            }
        );
        assert_eq!(
            translate(&envelope("dsync.deleted", sample!("dsync.deleted.json"))).unwrap(),
            Command::RemoveDirectory {
                directory: DirectoryId::parse("directory_01EHWNC0FCBHZ3BJ7EGKYXK0E6").unwrap(),
                organization: Some(OrganizationId::parse("org_01EZTR6WYX1A0DSE2CYMGXQ24Y").unwrap()),
            }
        );
    }

    #[test]
    fn group_events_are_ignored() {
        for (event, data) in [
            ("dsync.group.created", sample!("dsync.group.created.json")),
            ("dsync.group.updated", sample!("dsync.group.updated.json")),
            ("dsync.group.deleted", sample!("dsync.group.deleted.json")),
            ("dsync.group.user_added", sample!("dsync.group.user_added.json")),
            ("dsync.group.user_removed", sample!("dsync.group.user_removed.json")),
            ("connection.activated", "{}"),
        ] {
            assert_eq!(translate(&envelope(event, data)).unwrap(), Command::Ignore, "{event}");
        }
    }

    #[test]
    fn every_fixture_event_translates() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/events");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let envelope = Envelope::parse(&std::fs::read(&path).unwrap()).unwrap();
            let command = translate(&envelope).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(command == Command::Ignore, envelope.event.starts_with("dsync.group."), "{}", path.display());
            seen += 1;
        }
        assert_eq!(seen, 12);
    }

    #[test]
    fn events_are_ordered_by_organization_else_directory() {
        let user = envelope("dsync.user.created", sample!("dsync.user.created.json"));
        assert_eq!(user.order_key().as_deref(), Some("org:org_01EZTR6WYX1A0DSE2CYMGXQ24Y"));
        let legacy = envelope("dsync.user.updated", r#"{"id":"u","directory_id":"directory_1"}"#);
        assert_eq!(legacy.order_key().as_deref(), Some("dir:directory_1"));
        let directory = envelope("dsync.deleted", r#"{"id":"directory_2"}"#);
        assert_eq!(directory.order_key().as_deref(), Some("dir:directory_2"));
        assert_eq!(envelope("connection.activated", "{}").order_key(), None);
    }

    #[test]
    fn envelopes_need_string_id_and_event() {
        for body in
            [&b"not json"[..], b"[]", br#"{"event":"x"}"#, br#"{"id":1,"event":"x"}"#, br#"{"id":"e","event":""}"#]
        {
            assert!(Envelope::parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let minimal = Envelope::parse(br#"{"id":"wh_1","event":"user.created"}"#).unwrap();
        assert_eq!((minimal.id.as_str(), minimal.event.as_str()), ("wh_1", "user.created"));
    }
}
