//! Serde types for the WorkOS payloads we read. Lenient: every optional field may
//! be absent or null, unknown fields are ignored, and shapes from 2021 to 2026
//! (top-level `emails[]`, `custom_attributes.emails`, no `organization_id`) parse.
use serde::Deserialize;

/// `{"id", "event", "data", "created_at"?, "object"?, "context"?}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub id: String,
    pub event: String,
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Envelope {
    /// What the event is about, for ordering: its organization, else its
    /// directory. Events with the same key are applied in arrival order.
    pub fn order_key(&self) -> Option<String> {
        use crate::domain::{DirectoryId, OrganizationId, order_key};
        let data = self.data.as_ref()?;
        let text = |key: &str| data.get(key).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
        // Only valid ids become keys: a key is stored as text, and a value the
        // database refuses must not fail the other deliveries stored with it.
        if let Some(org) = text("organization_id").and_then(|o| OrganizationId::parse(o).ok()) {
            return Some(order_key::of_organization(&org));
        }
        let directory = if self.event.starts_with("dsync.user.") { text("directory_id") } else { text("id") };
        directory.and_then(|d| DirectoryId::parse(d).ok()).map(|d| order_key::of_directory(&d))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEvent(pub String);

impl Envelope {
    /// Parses a verified body. Anything but an object with string `id` and `event`
    /// is not an event.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidEvent> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| InvalidEvent(format!("body is not JSON: {e}")))?;
        // A key given twice means different things to different parsers (first
        // or last wins): such a body is refused, not guessed at.
        serde_json::from_slice::<UniqueKeys>(body).map_err(|e| InvalidEvent(format!("body is not JSON: {e}")))?;
        let object = value.as_object().ok_or_else(|| InvalidEvent("body is not a JSON object".into()))?;
        for field in ["id", "event"] {
            match object.get(field) {
                Some(serde_json::Value::String(s))
                    if !s.trim().is_empty() && s.len() <= 255 && !s.chars().any(char::is_control) => {}
                _ => {
                    return Err(InvalidEvent(format!(
                        "`{field}` must be a non-empty string of at most 255 printable characters"
                    )));
                }
            }
        }
        serde_json::from_value(value).map_err(|e| InvalidEvent(e.to_string()))
    }
}

/// Any JSON value, read only to refuse an object that repeats a key, at any
/// depth (serde_json's recursion limit bounds the depth).
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("the key {key:?} appears twice")));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct EmailEntry {
    #[serde(default)]
    pub primary: Option<bool>,
    #[serde(default)]
    pub value: Option<String>,
}

/// A directory user, as in `dsync.user.*` data.
#[derive(Debug, Clone, Deserialize)]
pub struct DirectoryUser {
    pub id: String,
    pub directory_id: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Deprecated top-level list (pre-2026 payloads).
    #[serde(default)]
    pub emails: Option<Vec<EmailEntry>>,
    /// Free-form; since April 2026 it holds `emails[]`. Read leniently.
    #[serde(default)]
    pub custom_attributes: Option<serde_json::Value>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl DirectoryUser {
    /// `email`, else the primary of `custom_attributes.emails`, else of the legacy
    /// `emails`. A list without a `primary` flag gives its first entry.
    pub fn primary_email(&self) -> Option<String> {
        let non_empty = |s: &str| !s.trim().is_empty();
        if let Some(email) = self.email.as_deref().filter(|s| non_empty(s)) {
            return Some(email.to_owned());
        }
        let custom: Option<Vec<EmailEntry>> = self
            .custom_attributes
            .as_ref()
            .and_then(|c| c.get("emails"))
            .and_then(|e| serde_json::from_value(e.clone()).ok());
        [custom.as_deref(), self.emails.as_deref()].into_iter().flatten().find_map(|list| {
            let usable = || list.iter().filter_map(|e| e.value.as_deref().filter(|s| non_empty(s)).map(|v| (e, v)));
            usable().find(|(e, _)| e.primary == Some(true)).or_else(|| usable().next()).map(|(_, v)| v.to_owned())
        })
    }
}

/// A directory, as in `dsync.activated` / `dsync.deleted` data.
#[derive(Debug, Clone, Deserialize)]
pub struct Directory {
    pub id: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}
