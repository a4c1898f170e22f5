//! What became of a stored event (CONTRACT 3.3, `GET /admin/events/{id}`).
//! The queue's SQL names these statuses as literals on purpose: SQLite uses a
//! partial index only when a query repeats its predicate's text exactly.

string_enum!(EventStatus {
    Pending => "pending",
    Applied => "applied",
    Ignored => "ignored",
    Stale => "stale",
    Parked => "parked",
    Held => "held",
    Failed => "failed",
});

impl EventStatus {
    /// Settled for good: retention may prune it once old (parked ones too, see
    /// `inbox::retention`).
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Applied | Self::Ignored | Self::Stale | Self::Failed)
    }
}
