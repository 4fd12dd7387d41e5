//! Contacts dashboard.
