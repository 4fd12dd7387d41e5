//! The Contacts table's requests: pages, saving, tags, import.

use wacrm_core::contacts::import::{ImportOptions, import};
use wacrm_core::contacts::{self, Contact, ContactChanges, ContactFilter, FileFormat, NewContact, Sort};
use wacrm_core::{Error, pipeline};

use super::{CONTACT_PAGE, Worker};
use crate::intent::{ContactDraft, ContactQuery, ContactSort, ContactsRequest, ContactsUpdate, Update};
use crate::view::ContactRow;

impl Worker {
    pub(super) async fn contacts(&self, request: ContactsRequest) -> Result<Update, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        Ok(match request {
            ContactsRequest::Page { query, after } => {
                let page = self.contact_page(&query, after.as_deref()).await?;
                Update::Contacts(ContactsUpdate::Page {
                    rows: page.items.into_iter().map(contact_row).collect(),
                    next: page.next,
                    appended: after.is_some(),
                })
            }
            ContactsRequest::Save(draft) => match self.save_contact(draft).await {
                Ok(row) => Update::Contacts(ContactsUpdate::Saved(row)),
                Err(Error::Invalid { message, .. } | Error::Conflict { message, .. }) => {
                    Update::Contacts(ContactsUpdate::FormError(message))
                }
                Err(other) => return Err(other),
            },
            ContactsRequest::Tags { contact, add, remove } => {
                if !add.is_empty() {
                    contacts::add_tags(pool, scope, contact, &add).await?;
                }
                let saved = if remove.is_empty() {
                    contacts::get(pool, scope, contact).await?
                } else {
                    contacts::remove_tags(pool, scope, contact, &remove).await?
                };
                Update::Contacts(ContactsUpdate::Saved(contact_row(saved)))
            }
            ContactsRequest::Import(path) => {
                let file =
                    std::fs::File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
                let total = file.metadata().map(|m| m.len()).ok();
                let format = match path.extension().and_then(|e| e.to_str()) {
                    Some("jsonl" | "ndjson") => FileFormat::Jsonl,
                    _ => FileFormat::Csv,
                };
                let updates = self.updates.clone();
                // Progress in bytes of the file read: the row count is unknown until the end.
                let report = import(pool, scope, file, &ImportOptions::new(format), move |report| {
                    let _ = updates
                        .send(Update::Contacts(ContactsUpdate::ImportProgress { done: report.bytes_read, total }));
                })
                .await?;
                let rejected: Vec<String> = report
                    .rejected_rows
                    .iter()
                    .chain(&report.stage_blocked)
                    .map(|r| format!("{}: line {} ({}): {}", path.display(), r.line, r.phone, r.reason))
                    .collect();
                if !rejected.is_empty() {
                    let _ = self.updates.send(Update::Notices(rejected));
                }
                Update::Contacts(ContactsUpdate::ImportDone(format!(
                    "imported {}: {} created, {} updated, {} rejected",
                    path.display(),
                    report.created,
                    report.updated,
                    report.rejected
                )))
            }
        })
    }

    async fn contact_page(&self, query: &ContactQuery, after: Option<&str>) -> Result<contacts::Page<Contact>, Error> {
        let filter = ContactFilter {
            query: query.search.clone(),
            stage: query.stage,
            tags_any: query.tag.iter().cloned().collect(),
            ..ContactFilter::default()
        };
        let sort = match query.sort {
            ContactSort::LastActive => Sort::Active,
            ContactSort::Name => Sort::Name,
            ContactSort::Created => Sort::Created,
        };
        contacts::list(&self.pool, &self.scope, &filter, sort, after, CONTACT_PAGE).await
    }
    async fn save_contact(&self, draft: ContactDraft) -> Result<ContactRow, Error> {
        let (pool, scope) = (&self.pool, &self.scope);
        let saved = match draft.id {
            None => {
                let new =
                    NewContact { phone: draft.phone, name: Some(draft.name), stage: draft.stage, tags: draft.tags };
                contacts::create(pool, scope, &new).await?
            }
            Some(id) => {
                let before = contacts::get(pool, scope, id).await?;
                let changes = ContactChanges {
                    name: Some(draft.name),
                    phone: (!draft.phone.is_empty() && before.phone.as_deref() != Some(draft.phone.as_str()))
                        .then_some(draft.phone),
                };
                contacts::update(pool, scope, id, &changes).await?;
                if let Some(stage) = draft.stage.filter(|s| *s != before.stage) {
                    pipeline::move_stage(pool, scope, id, stage).await?;
                }
                let add: Vec<String> = draft.tags.iter().filter(|t| !has_tag(&before.tags, t)).cloned().collect();
                let remove: Vec<String> = before.tags.iter().filter(|t| !has_tag(&draft.tags, t)).cloned().collect();
                if !add.is_empty() {
                    contacts::add_tags(pool, scope, id, &add).await?;
                }
                if !remove.is_empty() {
                    contacts::remove_tags(pool, scope, id, &remove).await?;
                }
                contacts::get(pool, scope, id).await?
            }
        };
        Ok(contact_row(saved))
    }
}

fn has_tag(tags: &[String], tag: &str) -> bool {
    tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
}

fn contact_row(c: Contact) -> ContactRow {
    ContactRow {
        id: c.id,
        name: c.name.or(c.profile_name).unwrap_or_default(),
        phone: c.phone.unwrap_or_default(),
        stage: c.stage,
        tags: c.tags,
        last_active: c.last_active,
    }
}
