//! Contacts dashboard (seed Contacts FLOWS 2-6): create, edit, delete, tags, search and filter,
//! opt-out, and bulk import/export ([`import`], [`export`]).
//!
//! Phones are stored in E.164; numbers typed without a country code are read in the business's
//! `default_region`. Contacts known only by a WhatsApp user id (BSUID) have no phone.

pub mod export;
pub mod identity;
pub mod import;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, TryStreamExt};
use serde::Serialize;
use sqlx::{PgConnection, PgExecutor, PgPool};

use crate::auth::{Area, Scope};
use crate::error::{Error, Result, op};
use crate::events::{self, Cause, Event};
use crate::listing;
use crate::types::{BusinessId, ContactId, Phone, Stage, plain_name};

/// A contact as every view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    pub id: ContactId,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub stage: Stage,
    /// Sorted case-insensitively.
    pub tags: Vec<String>,
    /// The name the customer set in WhatsApp, when known.
    pub profile_name: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_active: Option<DateTime<Utc>>,
    /// Set when the contact opted out of marketing; broadcasts skip them.
    pub opted_out_at: Option<DateTime<Utc>>,
    pub opt_out_source: Option<String>,
}

/// A contact to create by hand.
#[derive(Debug, Clone, Default)]
pub struct NewContact {
    pub phone: String,
    pub name: Option<String>,
    /// `New` unless given.
    pub stage: Option<Stage>,
    pub tags: Vec<String>,
}

/// Fields to change; `None` leaves a field as it is, an empty name clears it.
#[derive(Debug, Clone, Default)]
pub struct ContactChanges {
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// Which contacts a list, export or bulk move covers. Every set field narrows the set.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// A substring of the name or the phone, any case. Phone-like input (`+1 (415) 555`) is matched
    /// without its punctuation.
    pub query: Option<String>,
    pub stage: Option<Stage>,
    /// Contacts with at least one of these tags (any case).
    pub tags_any: Vec<String>,
    /// Contacts with every one of these tags (any case).
    pub tags_all: Vec<String>,
    /// Last active at or after this time (never-active contacts are excluded).
    pub active_after: Option<DateTime<Utc>>,
    /// Last active before this time (never-active contacts are excluded).
    pub active_before: Option<DateTime<Utc>>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// `Some(true)`: only opted-out contacts; `Some(false)`: only reachable ones.
    pub opted_out: Option<bool>,
}

impl ContactFilter {
    /// True when no field narrows the set: the filter covers every contact of the business.
    pub fn is_empty(&self) -> bool {
        // Blank searches and tags narrow nothing in the query ([`select`]), so they narrow nothing here.
        self.query.as_deref().and_then(search_pattern).is_none()
            && self.stage.is_none()
            && lower_all(&self.tags_any).is_empty()
            && lower_all(&self.tags_all).is_empty()
            && self.active_after.is_none()
            && self.active_before.is_none()
            && self.created_after.is_none()
            && self.created_before.is_none()
            && self.opted_out.is_none()
    }
}

/// File formats of import and export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// CSV with a header row; tags separated by `;`.
    Csv,
    /// One JSON object per line; tags as an array.
    Jsonl,
}

impl FromStr for FileFormat {
    type Err = Error;
    fn from_str(s: &str) -> Result<FileFormat> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(FileFormat::Csv),
            "jsonl" | "ndjson" | "json" => Ok(FileFormat::Jsonl),
            _ => Err(Error::invalid(format!("{s:?} is not a contacts file format"), "use csv or jsonl")),
        }
    }
}

/// The order of a list; each has a stable tie-break on the id, so keyset pages never skip or repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Most recently active first, never-active last.
    #[default]
    Active,
    /// By name, A to Z (unnamed first).
    Name,
    /// Newest first.
    Created,
    /// Oldest id first: the stable order of exports.
    Id,
}

impl Sort {
    pub const ALL: &'static [Sort] = &[Sort::Active, Sort::Name, Sort::Created, Sort::Id];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Active => "active",
            Sort::Name => "name",
            Sort::Created => "created",
            Sort::Id => "id",
        }
    }
}

impl fmt::Display for Sort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Sort {
    type Err = Error;
    fn from_str(s: &str) -> Result<Sort> {
        Sort::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s.trim())).ok_or_else(|| {
            Error::invalid(format!("{s:?} is not a sort order"), "use one of: active, name, created, id")
        })
    }
}

pub use crate::listing::Page;

/// Where a keyset page starts: just after the row with these sort keys. Rendered as an opaque string
/// `<sort>:<id>:<key>` that the next call takes back.
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    sort: Sort,
    id: i32,
    text: Option<String>,
    time: Option<DateTime<Utc>>,
}

impl Cursor {
    fn after(row: &ContactRow, sort: Sort) -> Cursor {
        let (text, time) = match sort {
            Sort::Name => (Some(row.name_key.clone()), None),
            Sort::Created => (None, Some(row.created_key)),
            Sort::Active => (None, Some(row.active_key)),
            Sort::Id => (None, None),
        };
        Cursor { sort, id: row.id.0, text, time }
    }

    fn render(&self) -> String {
        let key = match (&self.text, self.time) {
            (Some(text), _) => text.clone(),
            (None, Some(time)) => time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            (None, None) => String::new(),
        };
        format!("{}:{}:{}", self.sort, self.id, key)
    }

    fn parse(input: &str, sort: Sort) -> Result<Cursor> {
        let bad = || {
            Error::invalid(
                format!("{input:?} is not a page cursor for sort order {sort}"),
                format!(
                    "pass the `next` value printed by the previous page, with the same sort order ({})",
                    crate::error::input("sort")
                ),
            )
        };
        let mut parts = input.splitn(3, ':');
        let (Some(s), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        if s.parse::<Sort>().ok() != Some(sort) {
            return Err(bad());
        }
        let id = id.parse::<i32>().map_err(|_| bad())?;
        let (text, time) = match sort {
            Sort::Name => (Some(key.to_string()), None),
            Sort::Created | Sort::Active => {
                let time = DateTime::parse_from_rfc3339(key).map_err(|_| bad())?.with_timezone(&Utc);
                (None, Some(time))
            }
            Sort::Id => (None, None),
        };
        Ok(Cursor { sort, id, text, time })
    }
}

/// A contact row with the sort keys its cursor is made of.
struct ContactRow {
    id: ContactId,
    phone: Option<String>,
    name: Option<String>,
    stage: Stage,
    tags: Vec<String>,
    profile_name: Option<String>,
    created_at: Option<DateTime<Utc>>,
    last_active: Option<DateTime<Utc>>,
    opted_out_at: Option<DateTime<Utc>>,
    opt_out_source: Option<String>,
    name_key: String,
    active_key: DateTime<Utc>,
    created_key: DateTime<Utc>,
}

impl From<ContactRow> for Contact {
    fn from(r: ContactRow) -> Contact {
        Contact {
            id: r.id,
            phone: r.phone,
            name: r.name,
            stage: r.stage,
            tags: r.tags,
            profile_name: r.profile_name,
            created_at: r.created_at,
            last_active: r.last_active,
            opted_out_at: r.opted_out_at,
            opt_out_source: r.opt_out_source,
        }
    }
}

/// `LIKE` pattern for a name-or-phone substring, in the form the search index holds (lower case).
fn search_pattern(query: &str) -> Option<String> {
    let query = query.trim();
    if query.is_empty() {
        return None;
    }
    let phone_like =
        query.chars().any(|c| c.is_ascii_digit()) && query.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    let needle: String = if phone_like {
        query.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect()
    } else {
        query.to_lowercase()
    };
    let escaped = needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    Some(format!("%{escaped}%"))
}

fn lower_all(tags: &[String]) -> Vec<String> {
    tags.iter().map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty()).collect()
}

/// The one query behind lists, searches, board columns, exports and bulk moves: the filter, the sort,
/// the keyset cursor and an optional limit (none streams the whole set). Missing times sort as year 1
/// (not `-infinity`, which chrono cannot hold) so the keyset keys are never NULL. The `active` keys are
/// exactly those of `idx_contacts_active` (migration 0007; keep the two in step): a page, or a search for
/// a common fragment, then reads that index in order and stops at the limit instead of sorting. Search
/// and the name order use the name the faces show: the contact's own name, else the WhatsApp profile
/// name (a contact who wrote first has no other). The trigram index of migration 0005 still covers the
/// own name only, so a search reads the tenant's rows until an index on this expression replaces it.
fn select<'e>(
    executor: impl PgExecutor<'e> + 'e,
    business: BusinessId,
    filter: &ContactFilter,
    sort: Sort,
    cursor: Option<&Cursor>,
    limit: Option<i64>,
) -> impl Stream<Item = Result<ContactRow>> + 'e {
    let pattern = filter.query.as_deref().and_then(search_pattern);
    sqlx::query_as!(
        ContactRow,
        r#"SELECT c.id AS "id: ContactId", c.phone, c.name, coalesce(c.stage, 'New') AS "stage!: Stage",
                  ARRAY(SELECT t.tag FROM contact_tags t
                        WHERE t.business_id = c.business_id AND t.contact_id = c.id
                        ORDER BY lower(t.tag)) AS "tags!",
                  c.profile_name, c.created_at, c.last_active, c.opted_out_at, c.opt_out_source,
                  lower(coalesce(c.name, c.profile_name, '')) AS "name_key!",
                  coalesce(c.last_active, '0001-01-01Z') AS "active_key!",
                  coalesce(c.created_at, '0001-01-01Z') AS "created_key!"
           FROM contacts c
           WHERE c.business_id = $1
             AND ($2::text IS NULL
                  OR lower(coalesce(c.name, c.profile_name, '') || ' ' || coalesce(c.phone, '')) LIKE $2)
             AND ($3::pipeline_stage IS NULL OR c.stage = $3)
             AND (cardinality($4::text[]) = 0 OR EXISTS (
                    SELECT 1 FROM contact_tags t
                    WHERE t.business_id = $1 AND t.contact_id = c.id AND lower(t.tag) = ANY($4)))
             AND (cardinality($5::text[]) = 0 OR (
                    SELECT count(*) FROM contact_tags t
                    WHERE t.business_id = $1 AND t.contact_id = c.id AND lower(t.tag) = ANY($5))
                  = cardinality(ARRAY(SELECT DISTINCT unnest($5::text[]))))
             AND ($6::timestamptz IS NULL OR c.last_active >= $6)
             AND ($7::timestamptz IS NULL OR c.last_active < $7)
             AND ($8::timestamptz IS NULL OR c.created_at >= $8)
             AND ($9::timestamptz IS NULL OR c.created_at < $9)
             AND ($10::bool IS NULL OR (c.opted_out_at IS NOT NULL) = $10)
             AND ($11::int IS NULL OR CASE $12::text
                   WHEN 'name' THEN (lower(coalesce(c.name, c.profile_name, '')), c.id) > ($13::text, $11)
                   WHEN 'created' THEN (coalesce(c.created_at, '0001-01-01Z'), c.id) < ($14::timestamptz, $11)
                   WHEN 'active' THEN (coalesce(c.last_active, '0001-01-01Z'), c.id) < ($14::timestamptz, $11)
                   ELSE c.id > $11 END)
           ORDER BY CASE WHEN $12 = 'name' THEN lower(coalesce(c.name, c.profile_name, '')) END ASC,
                    CASE WHEN $12 = 'created' THEN coalesce(c.created_at, '0001-01-01Z') END DESC,
                    CASE WHEN $12 = 'active' THEN coalesce(c.last_active, '0001-01-01Z') END DESC,
                    CASE WHEN $12 IN ('name', 'id') THEN c.id END ASC,
                    c.id DESC
           LIMIT $15"#,
        business.0,
        pattern,
        filter.stage as Option<Stage>,
        &lower_all(&filter.tags_any),
        &lower_all(&filter.tags_all),
        filter.active_after,
        filter.active_before,
        filter.created_after,
        filter.created_before,
        filter.opted_out,
        cursor.map(|c| c.id),
        sort.as_str(),
        cursor.and_then(|c| c.text.clone()),
        cursor.and_then(|c| c.time),
        limit
    )
    .fetch(executor)
    .map_err(Error::from)
}

/// The largest page a list returns.
pub const MAX_PAGE: i64 = 1000;

/// One page of the contacts matching `filter` (seed Contacts FLOW 5), `after` being the previous
/// page's `next`.
pub async fn list(
    pool: &PgPool,
    scope: &Scope,
    filter: &ContactFilter,
    sort: Sort,
    after: Option<&str>,
    limit: i64,
) -> Result<Page<Contact>> {
    scope.require(Area::Contacts)?;
    let cursor = after.map(|a| Cursor::parse(a, sort)).transpose()?;
    let limit = listing::limit(limit, MAX_PAGE)?;
    // One row more than asked says whether a next page exists.
    let mut rows: Vec<ContactRow> =
        select(pool, scope.business(), filter, sort, cursor.as_ref(), Some(limit + 1)).try_collect().await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| Cursor::after(r, sort).render())
    } else {
        None
    };
    Ok(Page { items: rows.into_iter().map(Contact::from).collect(), next })
}

/// Every contact matching `filter` in `sort` order, streamed (memory stays flat on any tenant size).
pub fn stream<'e>(
    pool: &'e PgPool,
    scope: &Scope,
    filter: &ContactFilter,
    sort: Sort,
) -> impl Stream<Item = Result<Contact>> + 'e {
    let allowed = scope.require(Area::Contacts);
    let rows = select(pool, scope.business(), filter, sort, None, None);
    futures::stream::iter(allowed.err().map(Err)).chain(rows.map_ok(Contact::from))
}

async fn load(conn: &mut PgConnection, business: BusinessId, id: ContactId) -> Result<Contact> {
    let row = sqlx::query_as!(
        Contact,
        r#"SELECT c.id AS "id: ContactId", c.phone, c.name, coalesce(c.stage, 'New') AS "stage!: Stage",
                  ARRAY(SELECT t.tag FROM contact_tags t
                        WHERE t.business_id = c.business_id AND t.contact_id = c.id
                        ORDER BY lower(t.tag)) AS "tags!",
                  c.profile_name, c.created_at, c.last_active, c.opted_out_at, c.opt_out_source
           FROM contacts c WHERE c.business_id = $1 AND c.id = $2"#,
        business.0,
        id.0
    )
    .fetch_optional(conn)
    .await?;
    row.ok_or_else(|| Error::not_found(format!("contact {id}")))
}

/// One contact (seed Contacts FLOW 4's tags included).
pub async fn get(pool: &PgPool, scope: &Scope, id: ContactId) -> Result<Contact> {
    scope.require(Area::Contacts)?;
    load(&mut *pool.acquire().await?, scope.business(), id).await
}

/// The business's region, for reading phones typed without a country code.
async fn default_region(conn: &mut PgConnection, business: BusinessId) -> Result<String> {
    sqlx::query_scalar!("SELECT default_region FROM businesses WHERE id = $1", business.0)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| Error::not_found(format!("business {business}")))
}

/// A contact by id, or by phone when the reference starts with `+` (as people paste numbers).
pub async fn resolve(pool: &PgPool, scope: &Scope, reference: &str) -> Result<ContactId> {
    scope.require(Area::Contacts)?;
    let reference = reference.trim();
    if !reference.starts_with('+') {
        return reference.parse();
    }
    let mut conn = pool.acquire().await?;
    let phone = Phone::parse(reference, &default_region(&mut conn, scope.business()).await?)?;
    sqlx::query_scalar!(
        r#"SELECT id AS "id: ContactId" FROM contacts WHERE business_id = $1 AND phone = ANY($2)
           ORDER BY phone = $3 DESC LIMIT 1"#,
        scope.business().0,
        &identity::spellings(&phone),
        phone.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| Error::not_found(format!("contact with phone {phone}")))
}

/// The contact that already has `phone` under any of its spellings ([`identity::alias`]), but `except`.
async fn same_person(
    conn: &mut PgConnection,
    business: BusinessId,
    phone: &Phone,
    except: Option<ContactId>,
) -> Result<Option<ContactId>> {
    Ok(sqlx::query_scalar!(
        r#"SELECT id AS "id: ContactId" FROM contacts
           WHERE business_id = $1 AND phone = ANY($2) AND id IS DISTINCT FROM $3
           ORDER BY phone = $4 DESC LIMIT 1"#,
        business.0,
        &identity::spellings(phone),
        except.map(|c| c.0),
        phone.as_str()
    )
    .fetch_optional(conn)
    .await?)
}

/// The clear duplicate error: which contact already has the phone (under any of its spellings).
async fn duplicate_phone(conn: &mut PgConnection, business: BusinessId, phone: &Phone) -> Result<Error> {
    let existing = sqlx::query!(
        "SELECT id, name, phone FROM contacts WHERE business_id = $1 AND phone = ANY($2) ORDER BY phone = $3 DESC LIMIT 1",
        business.0,
        &identity::spellings(phone),
        phone.as_str()
    )
    .fetch_optional(conn)
    .await?;
    Ok(match existing {
        Some(r) => Error::conflict(
            format!(
                "{phone} already belongs to contact {} ({}{})",
                r.id,
                r.name.as_deref().filter(|n| !n.is_empty()).unwrap_or("no name"),
                match r.phone.as_deref() {
                    Some(stored) if stored != phone.as_str() => format!(", as {stored}: the same WhatsApp number"),
                    _ => String::new(),
                }
            ),
            format!("edit that contact instead ({})", op(&format!("contacts edit {}", r.id))),
        ),
        None => Error::conflict(format!("{phone} is already in use"), "try again; the other contact was just removed"),
    })
}

/// A contact's name as typed; blank is no name.
fn clean_name(name: Option<&str>) -> Result<Option<String>> {
    Ok(name.map(|n| plain_name("contact's name", n)).transpose()?.filter(|n| !n.is_empty()))
}

/// Creates a contact by hand (seed Contacts FLOW 2). A phone already in the business is a `Conflict`
/// naming the contact that has it.
pub async fn create(pool: &PgPool, scope: &Scope, new: &NewContact) -> Result<Contact> {
    scope.require(Area::Contacts)?;
    let business = scope.business();
    let tags = validate_tags(&new.tags)?;
    let name = clean_name(new.name.as_deref())?;
    let mut tx = pool.begin().await?;
    let phone = Phone::parse(&new.phone, &default_region(&mut tx, business).await?)?;
    if same_person(&mut tx, business, &phone, None).await?.is_some() {
        return Err(duplicate_phone(&mut tx, business, &phone).await?);
    }
    let id = sqlx::query_scalar!(
        r#"INSERT INTO contacts (business_id, phone, name, stage) VALUES ($1, $2, $3, $4)
           ON CONFLICT (business_id, phone) DO NOTHING
           RETURNING id AS "id: ContactId""#,
        business.0,
        phone.as_str(),
        name,
        new.stage.unwrap_or(Stage::New) as Stage
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        return Err(duplicate_phone(&mut tx, business, &phone).await?);
    };
    insert_tags(&mut tx, business, id, &tags).await?;
    let contact = load(&mut tx, business, id).await?;
    contact_event(&mut tx, scope, id, Event::ContactCreated {}).await?;
    tx.commit().await?;
    Ok(contact)
}

async fn contact_event(conn: &mut PgConnection, scope: &Scope, id: ContactId, event: Event) -> Result<()> {
    events::emit(conn, scope.business(), Some(id), event, Cause::of(scope)).await?;
    Ok(())
}

/// Renames a contact or changes its phone (seed Contacts FLOW 3); the phone stays unique in the business.
pub async fn update(pool: &PgPool, scope: &Scope, id: ContactId, changes: &ContactChanges) -> Result<Contact> {
    scope.require(Area::Contacts)?;
    let business = scope.business();
    let name = clean_name(changes.name.as_deref())?;
    let mut tx = pool.begin().await?;
    let phone = match changes.phone.as_deref() {
        Some(p) => Some(Phone::parse(p, &default_region(&mut tx, business).await?)?),
        None => None,
    };
    if let Some(phone) = &phone
        && same_person(&mut tx, business, phone, Some(id)).await?.is_some()
    {
        return Err(duplicate_phone(&mut tx, business, phone).await?);
    }
    // A new number is a new WhatsApp account: the old wa_id goes, unless it spells the same number.
    let kept_wa_id = phone.as_ref().map(identity::spellings);
    let done = sqlx::query!(
        r#"UPDATE contacts SET name = CASE WHEN $3 THEN $4 ELSE name END, phone = coalesce($5, phone),
                  wa_id = CASE WHEN $6::text[] IS NULL OR '+' || wa_id = ANY($6) THEN wa_id END
           WHERE business_id = $1 AND id = $2"#,
        business.0,
        id.0,
        changes.name.is_some(),
        name,
        phone.as_ref().map(Phone::as_str),
        kept_wa_id.as_deref()
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(Error::not_found(format!("contact {id}")));
    }
    let contact = load(&mut tx, business, id).await?;
    contact_event(&mut tx, scope, id, Event::ContactUpdated {}).await?;
    tx.commit().await?;
    Ok(contact)
}

/// Deletes a contact; its messages, tags and history go with it (the schema's cascades). Returns the
/// contact as it was.
pub async fn delete(pool: &PgPool, scope: &Scope, id: ContactId) -> Result<Contact> {
    scope.require(Area::Contacts)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let contact = load(&mut tx, business, id).await?;
    sqlx::query!("DELETE FROM contacts WHERE business_id = $1 AND id = $2", business.0, id.0).execute(&mut *tx).await?;
    contact_event(&mut tx, scope, id, Event::ContactDeleted {}).await?;
    tx.commit().await?;
    Ok(contact)
}

/// Longest tag accepted; tags are labels, not notes.
pub const MAX_TAG_LEN: usize = 64;

/// Trims tags and checks them; `;` is refused because CSV import and export separate tags with it.
/// Duplicates (any case) collapse to the first spelling.
pub fn validate_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if tag.is_empty() {
            return Err(Error::invalid("a tag is empty", "give tags as words, e.g. vip or \"hot lead\""));
        }
        if tag.contains(';') || tag.chars().any(char::is_control) {
            return Err(Error::invalid(
                format!("tag {tag:?} contains ';' or a control character"),
                "use letters, digits, spaces, - or _",
            ));
        }
        if tag.chars().count() > MAX_TAG_LEN {
            return Err(Error::invalid(
                format!("tag {tag:?} is longer than {MAX_TAG_LEN} characters"),
                "use a shorter tag",
            ));
        }
        if !out.iter().any(|t| t.to_lowercase() == tag.to_lowercase()) {
            out.push(tag.to_string());
        }
    }
    Ok(out)
}

/// Adds tags a contact does not have yet (any case); the contact must be in `business`.
/// Adds the tags the contact does not have yet; returns those.
async fn insert_tags(
    conn: &mut PgConnection,
    business: BusinessId,
    id: ContactId,
    tags: &[String],
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!(
        r#"INSERT INTO contact_tags (business_id, contact_id, tag)
           SELECT c.business_id, c.id, t.tag FROM contacts c, unnest($3::text[]) AS t(tag)
           WHERE c.business_id = $1 AND c.id = $2
           ON CONFLICT (business_id, contact_id, lower(tag)) DO NOTHING
           RETURNING tag"#,
        business.0,
        id.0,
        tags
    )
    .fetch_all(conn)
    .await?)
}

/// Tags a contact (seed Contacts FLOW 4); tags it already has, in any case, are left alone. Returns the
/// contact with its tags.
pub async fn add_tags(pool: &PgPool, scope: &Scope, id: ContactId, tags: &[String]) -> Result<Contact> {
    scope.require(Area::Contacts)?;
    let mut tx = pool.begin().await?;
    add_tags_as_on(&mut tx, scope, id, tags, Cause::of(scope)).await?;
    let contact = load(&mut tx, scope.business(), id).await?;
    tx.commit().await?;
    Ok(contact)
}

/// [`add_tags`] in the caller's transaction with the caller's cause (an automation rule's); returns the
/// tags that were new.
pub async fn add_tags_as_on(
    conn: &mut PgConnection,
    scope: &Scope,
    id: ContactId,
    tags: &[String],
    cause: Cause,
) -> Result<Vec<String>> {
    scope.require(Area::Contacts)?;
    let business = scope.business();
    let tags = validate_tags(tags)?;
    // Checked first so another business's id is NotFound rather than a silent no-op.
    load(conn, business, id).await?;
    let added = insert_tags(conn, business, id, &tags).await?;
    if !added.is_empty() {
        events::emit(conn, business, Some(id), Event::TagAdded { tags: added.clone() }, cause).await?;
    }
    Ok(added)
}

/// Removes tags (any case) from a contact. A tag the contact does not have is `NotFound`.
pub async fn remove_tags(pool: &PgPool, scope: &Scope, id: ContactId, tags: &[String]) -> Result<Contact> {
    scope.require(Area::Contacts)?;
    let mut tx = pool.begin().await?;
    let before = load(&mut tx, scope.business(), id).await?;
    if let Some(missing) = lower_all(tags).iter().find(|w| !before.tags.iter().any(|t| t.to_lowercase() == **w)) {
        return Err(Error::not_found(format!("tag {missing:?} on contact {id}")));
    }
    remove_tags_as_on(&mut tx, scope, id, tags, Cause::of(scope)).await?;
    let contact = load(&mut tx, scope.business(), id).await?;
    tx.commit().await?;
    Ok(contact)
}

/// Removes tags (any case) in the caller's transaction with the caller's cause; a tag the contact does
/// not have is ignored. Returns how many were removed.
pub async fn remove_tags_as_on(
    conn: &mut PgConnection,
    scope: &Scope,
    id: ContactId,
    tags: &[String],
    cause: Cause,
) -> Result<u64> {
    scope.require(Area::Contacts)?;
    let business = scope.business();
    let wanted = lower_all(tags);
    let removed = sqlx::query!(
        "DELETE FROM contact_tags WHERE business_id = $1 AND contact_id = $2 AND lower(tag) = ANY($3)",
        business.0,
        id.0,
        &wanted
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if removed > 0 {
        events::emit(conn, business, Some(id), Event::TagRemoved { tags: wanted }, cause).await?;
    }
    Ok(removed)
}

/// A tag in use and how many contacts carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TagCount {
    pub tag: String,
    pub contacts: i64,
}

/// Every tag of the business with its count, most used first. Spellings differing only in case are
/// one tag, shown in its alphabetically first spelling.
pub async fn tags(pool: &PgPool, scope: &Scope) -> Result<Vec<TagCount>> {
    scope.require(Area::Contacts)?;
    Ok(sqlx::query_as!(
        TagCount,
        r#"SELECT min(tag) AS "tag!", count(*) AS "contacts!" FROM contact_tags
           WHERE business_id = $1 GROUP BY lower(tag) ORDER BY count(*) DESC, lower(tag)"#,
        scope.business().0
    )
    .fetch_all(pool)
    .await?)
}

/// Renames a tag (any case) on every contact of the business; a contact that already has the new tag
/// keeps one. Returns how many contacts carry the renamed tag.
pub async fn rename_tag(pool: &PgPool, scope: &Scope, from: &str, to: &str) -> Result<u64> {
    scope.require(Area::Contacts)?;
    let business = scope.business();
    let to = validate_tags(&[to.to_string()])?.remove(0);
    let from = from.trim().to_lowercase();
    let mut tx = pool.begin().await?;
    // Contacts that carry both would end with the tag twice: their old spelling goes first.
    let merged = sqlx::query!(
        r#"DELETE FROM contact_tags o WHERE o.business_id = $1 AND lower(o.tag) = $2 AND lower(o.tag) <> lower($3)
             AND EXISTS (SELECT 1 FROM contact_tags n
                         WHERE n.business_id = $1 AND n.contact_id = o.contact_id AND lower(n.tag) = lower($3))"#,
        business.0,
        from,
        to
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let renamed = sqlx::query!(
        "UPDATE contact_tags SET tag = $3 WHERE business_id = $1 AND lower(tag) = $2",
        business.0,
        from,
        to
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if merged + renamed == 0 {
        return Err(Error::not_found(format!("tag {from:?}")));
    }
    tx.commit().await?;
    Ok(merged + renamed)
}

/// Removes a tag (any case) from every contact of the business; returns how many lost it.
pub async fn delete_tag(pool: &PgPool, scope: &Scope, tag: &str) -> Result<u64> {
    scope.require(Area::Contacts)?;
    let tag = tag.trim().to_lowercase();
    let removed =
        sqlx::query!("DELETE FROM contact_tags WHERE business_id = $1 AND lower(tag) = $2", scope.business().0, tag)
            .execute(pool)
            .await?
            .rows_affected();
    if removed == 0 {
        return Err(Error::not_found(format!("tag {tag:?}")));
    }
    Ok(removed)
}

/// Marks a contact opted out of marketing (`source` says why: manual, keyword, whatsapp) or, with
/// `opted_out = false`, reachable again. Broadcasts skip opted-out contacts.
pub async fn set_opted_out(
    pool: &PgPool,
    scope: &Scope,
    id: ContactId,
    opted_out: bool,
    source: &str,
) -> Result<Contact> {
    scope.require(Area::Contacts)?;
    let business = scope.business();
    let mut tx = pool.begin().await?;
    let choice = MarketingChoice { stop: opted_out, source, detail: None, at: Utc::now(), cause: Cause::of(scope) };
    if apply_marketing_choice_on(&mut tx, business, id, &choice).await?.is_none() {
        return Err(Error::not_found(format!("contact {id}")));
    }
    let contact = load(&mut tx, business, id).await?;
    tx.commit().await?;
    Ok(contact)
}

/// A contact's choice about marketing messages: stop (opt out) or resume.
#[derive(Debug, Clone)]
pub struct MarketingChoice<'a> {
    pub stop: bool,
    /// Who recorded it: manual, keyword, user_preferences.
    pub source: &'a str,
    pub detail: Option<String>,
    /// When the choice was made: only a choice newer than the last one applied counts (webhooks are
    /// replayed and retried out of order), and its time is kept even when the state stays, so an
    /// older opposite choice cannot slip in later.
    pub at: DateTime<Utc>,
    pub cause: Cause,
}

/// The one place a marketing choice is applied (a person's, WhatsApp's user preferences; the STOP
/// keyword applies the same rule inside the inbound batch statement). Emits `opted_out` / `opted_in`
/// when the state changes. Returns whether the contact is opted out now, `None` when no such contact.
pub async fn apply_marketing_choice_on(
    conn: &mut PgConnection,
    business: BusinessId,
    id: ContactId,
    choice: &MarketingChoice<'_>,
) -> Result<Option<bool>> {
    let Some(state) = sqlx::query!(
        r#"WITH old AS (
               SELECT id, opted_out_at IS NOT NULL AS was_out, marketing_preference_at FROM contacts
               WHERE business_id = $1 AND id = $2 FOR UPDATE
           ), applied AS (
               UPDATE contacts c SET
                   opted_out_at = CASE WHEN $3 THEN COALESCE(c.opted_out_at, $5) ELSE NULL END,
                   opt_out_source = CASE WHEN $3 THEN COALESCE(c.opt_out_source, $4) ELSE NULL END,
                   marketing_preference_at = $5
               FROM old
               WHERE c.business_id = $1 AND c.id = old.id
                 AND (old.marketing_preference_at IS NULL OR old.marketing_preference_at < $5)
               RETURNING c.opted_out_at IS NOT NULL AS is_out
           )
           SELECT old.was_out AS "was_out!", (SELECT is_out FROM applied) AS is_out FROM old"#,
        business.0,
        id.0,
        choice.stop,
        choice.source,
        choice.at
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let now_out = state.is_out.unwrap_or(state.was_out);
    if now_out != state.was_out {
        let (source, detail) = (choice.source.to_string(), choice.detail.clone());
        let event = if now_out {
            Event::OptedOut { source, message_id: None, detail }
        } else {
            Event::OptedIn { source, detail }
        };
        events::emit(conn, business, Some(id), event, choice.cause).await?;
    }
    Ok(Some(now_out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_patterns_escape_and_strip_phone_punctuation() {
        assert_eq!(search_pattern("  Ann ").as_deref(), Some("%ann%"));
        assert_eq!(search_pattern("+1 (415) 555").as_deref(), Some("%+1415555%"));
        assert_eq!(search_pattern("50%_off").as_deref(), Some("%50\\%\\_off%"));
        assert_eq!(search_pattern("   "), None);
    }

    #[test]
    fn cursors_round_trip_and_reject_other_sorts() {
        let time = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.123456Z").unwrap().with_timezone(&Utc);
        let c = Cursor { sort: Sort::Active, id: 7, text: None, time: Some(time) };
        assert_eq!(Cursor::parse(&c.render(), Sort::Active).unwrap(), c);
        let n = Cursor { sort: Sort::Name, id: 3, text: Some("a:b".into()), time: None };
        assert_eq!(Cursor::parse(&n.render(), Sort::Name).unwrap(), n);
        assert!(Cursor::parse(&n.render(), Sort::Active).is_err());
        assert!(Cursor::parse("garbage", Sort::Id).is_err());
    }

    #[test]
    fn a_filter_of_blank_searches_and_tags_covers_every_contact() {
        let blank = ContactFilter {
            query: Some("  ".into()),
            tags_any: vec!["".into()],
            tags_all: vec![" ".into()],
            ..ContactFilter::default()
        };
        assert!(blank.is_empty());
        assert!(!ContactFilter { tags_any: vec!["vip".into()], ..ContactFilter::default() }.is_empty());
    }

    #[test]
    fn tags_are_validated_and_deduplicated_case_insensitively() {
        let tags = validate_tags(&["VIP".into(), " vip ".into(), "hot lead".into()]).unwrap();
        assert_eq!(tags, vec!["VIP", "hot lead"]);
        assert!(validate_tags(&["a;b".into()]).is_err());
        assert!(validate_tags(&["".into()]).is_err());
    }
}
