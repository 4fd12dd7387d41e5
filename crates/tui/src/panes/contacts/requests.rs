//! What the Contacts table asks the worker for and what comes back (handled by `worker/contacts.rs`).

use std::path::PathBuf;

use wacrm_core::{ContactId, Stage};

use crate::view::ContactRow;

/// The Contacts table's orders: core's keyset orders, so every page continues the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContactSort {
    #[default]
    LastActive,
    Name,
    Created,
}

impl ContactSort {
    pub fn next(self) -> ContactSort {
        match self {
            ContactSort::LastActive => ContactSort::Name,
            ContactSort::Name => ContactSort::Created,
            ContactSort::Created => ContactSort::LastActive,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ContactSort::LastActive => "last active ↓",
            ContactSort::Name => "name A→Z",
            ContactSort::Created => "newest ↓",
        }
    }
}

/// The Contacts table's filter and order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactQuery {
    pub search: Option<String>,
    pub stage: Option<Stage>,
    pub tag: Option<String>,
    pub sort: ContactSort,
}

/// A contact as the create/edit form submits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactDraft {
    /// `None` creates a contact.
    pub id: Option<ContactId>,
    pub name: String,
    pub phone: String,
    pub stage: Option<Stage>,
    pub tags: Vec<String>,
}

/// What the Contacts table asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactsRequest {
    /// A page of the table; `after` is the previous page's cursor.
    Page {
        query: ContactQuery,
        after: Option<String>,
    },
    Save(ContactDraft),
    Tags {
        contact: ContactId,
        add: Vec<String>,
        remove: Vec<String>,
    },
    Import(PathBuf),
}

impl ContactsRequest {
    /// The name a failed request goes by in the status bar (and that the pane matches on).
    pub fn what(&self) -> &'static str {
        match self {
            ContactsRequest::Page { .. } => "contacts",
            ContactsRequest::Save(_) | ContactsRequest::Tags { .. } => "contact",
            ContactsRequest::Import(_) => "import",
        }
    }
}

/// The Contacts table's answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactsUpdate {
    /// A page of the table; `appended` when it continues the loaded rows.
    Page {
        rows: Vec<ContactRow>,
        next: Option<String>,
        appended: bool,
    },
    Saved(ContactRow),
    /// The form was refused; core's message, shown inline.
    FormError(String),
    ImportProgress {
        done: u64,
        total: Option<u64>,
    },
    ImportDone(String),
}
