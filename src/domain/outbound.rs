//! Where seat changes are pushed (CONTRACT 7) and how far a message got.
string_enum!(Target { Webhook => "webhook", Stripe => "stripe" });
string_enum!(DeliveryState { Pending => "pending", Failing => "failing", Delivered => "delivered", Dead => "dead", Superseded => "superseded" });

impl DeliveryState {
    /// Still to be sent: blocks the plan's later messages (order per plan).
    pub fn is_unsent(self) -> bool {
        matches!(self, DeliveryState::Pending | DeliveryState::Failing)
    }
}
