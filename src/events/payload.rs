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
        let is_user = super::EventKind::parse(&self.event).is_some_and(super::EventKind::is_user);
        let directory = if is_user { text("directory_id") } else { text("id") };
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
        // or last wins): such an envelope is refused, not guessed at.
        serde_json::from_slice::<UniqueKeys<true>>(body).map_err(|e| InvalidEvent(format!("body is not JSON: {e}")))?;
        let object = value.as_object().ok_or_else(|| InvalidEvent("body is not a JSON object".into()))?;
        for field in ["id", "event"] {
            match object.get(field) {
                Some(serde_json::Value::String(s))
                    if !s.trim().is_empty() && s.len() <= 255 && crate::domain::text::is_plain(s) => {}
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

/// A body read only to refuse a repeated key where it would change what we
/// read: the envelope's own keys and the keys of its `data` (deeper values,
/// such as an identity provider's custom attributes, are not ours to judge).
/// `TOP`: the envelope; otherwise `data`.
struct UniqueKeys<const TOP: bool>;

impl<'de, const TOP: bool> Deserialize<'de> for UniqueKeys<TOP> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor::<TOP>)
    }
}

struct UniqueKeysVisitor<const TOP: bool>;

impl<'de, const TOP: bool> serde::de::Visitor<'de> for UniqueKeysVisitor<TOP> {
    type Value = UniqueKeys<TOP>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if TOP && key == "data" {
                map.next_value::<UniqueKeys<false>>()?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            if !seen.insert(key.clone()) {
                let place = if TOP { "" } else { "data." };
                return Err(serde::de::Error::custom(format!("the key {place}{key} appears twice")));
            }
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

#[cfg(test)]
mod tests {
    use super::Envelope;

    #[test]
    fn a_repeated_envelope_or_data_key_is_refused_deeper_ones_are_not_ours_to_judge() {
        let top = br#"{"id": "event_a", "id": "event_b", "event": "dsync.user.created", "data": {}}"#;
        assert!(Envelope::parse(top).unwrap_err().0.contains("the key id appears twice"));
        let data =
            br#"{"id": "event_a", "event": "dsync.user.created", "data": {"state": "active", "state": "inactive"}}"#;
        assert!(Envelope::parse(data).unwrap_err().0.contains("data.state appears twice"));
        let deeper =
            br#"{"id": "event_a", "event": "dsync.user.created", "data": {"custom_attributes": {"x": 1, "x": 2}}}"#;
        assert!(Envelope::parse(deeper).is_ok());
    }
}
