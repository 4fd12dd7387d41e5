//! Inbox dashboard.

pub mod canned;
pub mod conversations;
pub mod ingest;
pub mod notes;
pub mod send;
pub mod workflow;
