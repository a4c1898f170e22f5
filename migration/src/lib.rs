//! Forward-only schema migrations. Independent of the `entity` crate on purpose:
//! a migration describes the schema as it was on the day it was written.
pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_tables;
mod m20261128_000002_inbox_order_key;
mod m20261129_000003_queue_indexes;
mod m20261129_000004_directory_user_stored_at;
mod m20261129_000005_release_guard;
mod m20261129_000006_plan_without_organization;
mod m20261130_000007_approval_as_a_set;
mod m20261130_000008_billing_outbox;
mod m20261130_000009_backlog_counts;
mod m20261130_000010_vocabulary_checks;
mod m20261207_000011_billing_streams;
mod m20261207_000012_plan_external_id;
mod m20261207_000013_admin_changes;
mod m20261207_000014_plan_portal;
mod m20261207_000015_traces_and_history;
mod m20261207_000016_inbox_spool;
pub mod vocabulary;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_tables::Migration),
            Box::new(m20261128_000002_inbox_order_key::Migration),
            Box::new(m20261129_000003_queue_indexes::Migration),
            Box::new(m20261129_000004_directory_user_stored_at::Migration),
            Box::new(m20261129_000005_release_guard::Migration),
            Box::new(m20261129_000006_plan_without_organization::Migration),
            Box::new(m20261130_000007_approval_as_a_set::Migration),
            Box::new(m20261130_000008_billing_outbox::Migration),
            Box::new(m20261130_000009_backlog_counts::Migration),
            Box::new(m20261130_000010_vocabulary_checks::Migration),
            Box::new(m20261207_000011_billing_streams::Migration),
            Box::new(m20261207_000012_plan_external_id::Migration),
            Box::new(m20261207_000013_admin_changes::Migration),
            Box::new(m20261207_000014_plan_portal::Migration),
            Box::new(m20261207_000015_traces_and_history::Migration),
            Box::new(m20261207_000016_inbox_spool::Migration),
        ]
    }
}
