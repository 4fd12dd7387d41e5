//! Inbox dashboard.
