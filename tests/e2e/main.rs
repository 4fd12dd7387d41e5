//! End-to-end suite: the `wacrm` and `wacrm-webhookd` binaries driven as a user or Meta would, against a
//! real PostgreSQL (a fresh database per test). One test binary for the suite (link time on 2 cores).

mod admin;
mod automation;
mod billing;
mod broadcast;
mod files;
mod jobs;
mod logs;
mod readme;
mod roundtrip;
mod sessions;
mod templates;
