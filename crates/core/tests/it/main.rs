//! Integration tests of wacrm-core against a real PostgreSQL server: each `#[sqlx::test]` gets a fresh
//! database with every migration applied. One test binary for the whole crate (link time on 2 cores):
//! each dashboard adds a module here.

mod analytics;
mod architecture;
mod automation;
mod automation_timed;
mod billing;
mod broadcast;
mod broadcast_plan;
mod campaign_flow;
mod cluster;
mod contacts;
mod foundation;
mod inbox;
mod ingest;
mod media;
mod notifications;
mod phones;
mod pipeline;
mod platform;
mod sessions;
mod templates;
mod tokens;
mod wording;
mod workflow;
