//! HTTP tests against the real server, on SQLite and PostgreSQL.
mod helpers;

mod billing;
mod billing_process;
mod browser;
mod differential;
mod fake_billing;
mod fake_workos;
mod faults;
mod health;
mod hostile_input;
mod openapi;
mod process;
mod property;
mod queue;
mod reconcile;
mod release_guard;
mod replicas;
mod retention;
mod rule_sql;
mod scenarios;
mod scim_setup;
mod seat_decisions;
mod security;
mod supervision;
mod webhook;
mod workos_api;
