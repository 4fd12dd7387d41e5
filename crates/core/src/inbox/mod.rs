//! Inbox dashboard.

pub mod conversations;
pub mod ingest;
pub mod send;
