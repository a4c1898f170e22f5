//! sea-orm entities for seatsync's tables. Times are microseconds since the Unix
//! epoch (`i64`): exact, ordered the same way on SQLite and PostgreSQL.

pub mod billing_stream;
pub mod billing_target;
pub mod dead_letter;
pub mod directory;
pub mod directory_user;
pub mod inbox_event;
pub mod member;
pub mod outbound_message;
pub mod plan;
pub mod portal_link;
pub mod portal_session;
pub mod seat_audit;
pub mod sync_cursor;
