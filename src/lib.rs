//! seatsync keeps a customer's paid plan equal to the people their identity
//! provider has enabled. The flow, one folder a step:
//! HTTP (`webhook/`) → verify (`webhook/signature.rs`) → inbox (`inbox/`) →
//! translate (`events/`) → reconcile (`reconcile/`) → seats (`seats/`), with the
//! operator surface in `admin/`, `plans/` and `cli.rs`.
pub mod admin;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod faults;
pub mod http;
pub mod inbox;
pub mod metrics;
pub mod outbound;
pub mod plans;
pub mod reconcile;
pub mod retry;
pub mod seats;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tools;
pub mod webhook;
pub mod workos;
