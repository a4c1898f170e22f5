//! seatsync keeps a customer's paid plan equal to the people their identity
//! provider has enabled. The flow, one folder a step:
//! HTTP (`webhook/`) → verify (`webhook/signature.rs`) → inbox (`inbox/`) →
//! translate (`events/`) → reconcile (`reconcile/`) → seats (`store/`, one
//! module per table). Operators reach it through `admin/` (HTTP routes) and
//! `cli.rs`, which share the use cases in `operator/`. The identity provider's
//! app tile (`sso/`) only sends people on to the product's login page.
pub mod admin;
pub mod billing;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod faults;
pub mod http;
pub mod http_client;
pub mod inbox;
pub mod metrics;
pub mod operator;
pub mod portal;
pub mod probes;
pub mod reconcile;
pub mod retry;
pub mod seats;
pub mod sso;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tools;
pub mod webhook;
pub mod workos;
