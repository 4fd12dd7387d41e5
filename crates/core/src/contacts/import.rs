//! Bulk import of contacts from CSV or JSON lines, streamed: memory stays flat whatever the file size.
//!
//! A reader thread parses and validates the file in chunks (bad phone, bad stage, bad tags, a phone
//! repeated within the chunk) while the database applies the previous chunk: each chunk is `COPY`ed
//! into a session-private staging table, phones seen in earlier chunks are rejected as duplicates
//! (tracked in a second staging table, not in memory), and the rest is upserted with
//! `INSERT … ON CONFLICT (business_id, phone)`. Stage changes of existing contacts go through
//! [`pipeline::move_stage_on`], so they get the pipeline's rules, history and events.
//!
//! Without `update`, existing contacts keep their name (a missing one is filled in) and stage; with
//! it, a name or stage given in the file replaces theirs. Tags in the file are always added. Blank
//! cells never erase anything, so re-importing a file (or an export) changes nothing.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};

use serde::Serialize;
use serde_json::Value;
use sqlx::{Acquire, PgConnection, PgPool};
use tokio::sync::mpsc;

use super::{FileFormat, clean_name, default_region, validate_tags};
use crate::auth::{Area, Scope};
use crate::error::{Error, Result};
use crate::events::{self, Cause, Event};
use crate::pipeline::{self, MoveOutcome, MoveSource};
use crate::types::{ContactId, Phone, Stage};

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub format: FileFormat,
    /// Overwrite existing contacts' names and stages with the file's.
    pub update: bool,
    /// Validate and count everything, then roll back: nothing is written.
    pub dry_run: bool,
    /// Rows per chunk (one COPY, one upsert, one transaction).
    pub chunk_size: usize,
}

impl ImportOptions {
    pub fn new(format: FileFormat) -> ImportOptions {
        ImportOptions { format, update: false, dry_run: false, chunk_size: DEFAULT_CHUNK }
    }
}

pub const DEFAULT_CHUNK: usize = 10_000;

/// The largest chunk: its rows are held in memory and bound as arrays of one statement.
pub const MAX_CHUNK: usize = 100_000;

/// The report keeps at most this many problem rows (the counts stay exact), so a file of nothing but
/// bad rows cannot exhaust memory.
pub const MAX_REPORTED_ROWS: usize = 10_000;

/// A row that was not imported, or whose stage change the pipeline rules refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectedRow {
    /// 1-based line in the file (the CSV header is line 1).
    pub line: u64,
    /// The phone as written in the file.
    pub phone: String,
    pub reason: String,
}

/// What an import did (or, in a dry run, would do). Also handed to the progress callback after each
/// chunk.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Data rows read.
    pub rows: u64,
    /// Valid rows: created + updated + unchanged.
    pub accepted: u64,
    pub created: u64,
    /// Existing contacts that changed (name, stage or tags).
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Stage changes made through the pipeline (history and events written).
    pub stage_changes: u64,
    /// The first [`MAX_REPORTED_ROWS`] rejected rows, in file order.
    pub rejected_rows: Vec<RejectedRow>,
    /// Rows imported except for a stage change the business's pipeline rules block.
    pub stage_blocked: Vec<RejectedRow>,
    /// Bytes of the input consumed so far (for progress bars).
    #[serde(skip)]
    pub bytes_read: u64,
}

impl ImportReport {
    fn reject(&mut self, row: RejectedRow) {
        self.rejected += 1;
        if self.rejected_rows.len() < MAX_REPORTED_ROWS {
            self.rejected_rows.push(row);
        }
    }
}

/// Imports contacts from `input` into the scope's business. `progress` is called after every chunk
/// with the counts so far.
pub async fn import<R: Read + Send + 'static>(
    pool: &PgPool,
    scope: &Scope,
    input: R,
    options: &ImportOptions,
    mut progress: impl FnMut(&ImportReport),
) -> Result<ImportReport> {
    scope.require(Area::Contacts)?;
    scope.require(Area::Pipeline)?;
    if !(1..=MAX_CHUNK).contains(&options.chunk_size) {
        return Err(Error::invalid(
            format!("a chunk size of {} rows is out of range", options.chunk_size),
            format!("pass between 1 and {MAX_CHUNK} (the default, {DEFAULT_CHUNK}, suits most files)"),
        ));
    }
    // A connection of its own, closed at the end, so the session's staging tables never return to the pool.
    let mut conn = pool.acquire().await?.detach();
    let region = default_region(&mut conn, scope.business()).await?;
    let chunks = spawn_reader(input, options.format, region, options.chunk_size)?;
    let mut report = ImportReport { dry_run: options.dry_run, ..ImportReport::default() };
    if options.dry_run {
        let mut tx = conn.begin().await?;
        run(&mut tx, scope, chunks, options.update, &mut report, &mut progress).await?;
        tx.rollback().await?;
    } else {
        run(&mut conn, scope, chunks, options.update, &mut report, &mut progress).await?;
        if report.created + report.updated > 0 {
            let mut tx = conn.begin().await?;
            let event = Event::ContactsImported { created: report.created, updated: report.updated };
            events::emit(&mut tx, scope.business(), None, event, Cause::of(scope)).await?;
            tx.commit().await?;
            // The rows just written wait in the search index's pending list, which every search scans
            // in full; merging them now (tens of milliseconds) keeps searches right after an import fast.
            sqlx::query_scalar!(r#"SELECT wacrm_contacts_search_flush() AS "pages!""#).fetch_one(&mut conn).await?;
        }
    }
    sqlx::Connection::close(conn).await?;
    Ok(report)
}

async fn run(
    conn: &mut PgConnection,
    scope: &Scope,
    mut chunks: mpsc::Receiver<Result<Chunk>>,
    update: bool,
    report: &mut ImportReport,
    progress: &mut impl FnMut(&ImportReport),
) -> Result<()> {
    sqlx::query!("CREATE TEMP TABLE contact_import_rows (LIKE public.contact_import_rows)").execute(&mut *conn).await?;
    sqlx::query!("CREATE TEMP TABLE contact_import_seen (LIKE public.contact_import_seen INCLUDING INDEXES)")
        .execute(&mut *conn)
        .await?;
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk?;
        report.rows += chunk.rows_read;
        report.bytes_read = chunk.bytes_read;
        let mut rejected = chunk.rejected;
        if !chunk.rows.is_empty() {
            // A savepoint inside a dry run's transaction, a transaction of its own otherwise.
            let mut tx = conn.begin().await?;
            rejected.extend(apply_chunk(&mut tx, scope, &chunk.rows, update, report).await?);
            tx.commit().await?;
        }
        rejected.sort_by_key(|r| r.line);
        for row in rejected {
            report.reject(row);
        }
        progress(report);
    }
    Ok(())
}

/// Writes one chunk and adds its counts to `report`; returns the rows rejected as duplicates of
/// earlier chunks.
async fn apply_chunk(
    conn: &mut PgConnection,
    scope: &Scope,
    rows: &[ValidRow],
    update: bool,
    report: &mut ImportReport,
) -> Result<Vec<RejectedRow>> {
    let business = scope.business();
    sqlx::query!("TRUNCATE contact_import_rows").execute(&mut *conn).await?;
    let mut copy = conn.copy_in_raw("COPY contact_import_rows (line, phone, name, stage, tags) FROM STDIN").await?;
    copy.send(copy_text(rows)).await?;
    copy.finish().await?;

    // Phones repeated within the chunk are already gone, so a row is a duplicate exactly when an earlier
    // chunk recorded its phone. Recording through ON CONFLICT makes that check one index probe per row:
    // a join against the ever-growing seen table is planned without statistics (temporary tables have
    // none) and turned into a scan of the whole table per chunk, quadratic over a large file.
    let duplicates = sqlx::query!(
        r#"WITH fresh AS (
               INSERT INTO contact_import_seen (phone, line) SELECT phone, line FROM contact_import_rows
               ON CONFLICT (phone) DO NOTHING
               RETURNING line)
           DELETE FROM contact_import_rows r WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.line = r.line)
           RETURNING r.line, r.phone,
                     (SELECT s.line FROM contact_import_seen s WHERE s.phone = r.phone) AS "first_line!""#
    )
    .fetch_all(&mut *conn)
    .await?;
    let rejected: Vec<RejectedRow> = duplicates
        .into_iter()
        .map(|d| RejectedRow { line: d.line as u64, phone: d.phone, reason: duplicate_reason(d.first_line as u64) })
        .collect();

    // A name in the file fills a missing one always, and replaces a different one only with `update`.
    let upserted = sqlx::query!(
        r#"INSERT INTO contacts (business_id, phone, name, stage, source)
           SELECT $1, r.phone, r.name, coalesce(r.stage, 'New'), 'import' FROM contact_import_rows r
           ON CONFLICT (business_id, phone) DO UPDATE SET name = EXCLUDED.name
           WHERE EXCLUDED.name IS NOT NULL
             AND (contacts.name IS NULL OR ($2 AND contacts.name IS DISTINCT FROM EXCLUDED.name))
           RETURNING id, (xmax = 0) AS "created!""#,
        business.0,
        update
    )
    .fetch_all(&mut *conn)
    .await?;
    let created: HashSet<i32> = upserted.iter().filter(|r| r.created).map(|r| r.id).collect();
    let mut changed: HashSet<i32> = upserted.iter().filter(|r| !r.created).map(|r| r.id).collect();

    // The contact of each row is looked up by a LATERAL subquery with LIMIT 1 (the phone is unique in
    // the business) because the planner cannot flatten it into a join: a plain join gets hashed over
    // every contact of the business per chunk, since the staging table's size is unknown to it.
    if rows.iter().any(|r| !r.tags.is_empty()) {
        let tagged = sqlx::query_scalar!(
            r#"INSERT INTO contact_tags (business_id, contact_id, tag)
               SELECT $1, c.id, t.tag
               FROM contact_import_rows r
               CROSS JOIN LATERAL (SELECT id FROM contacts WHERE business_id = $1 AND phone = r.phone LIMIT 1) c
               CROSS JOIN LATERAL unnest(string_to_array(r.tags, ';')) AS t(tag)
               WHERE r.tags IS NOT NULL
               ON CONFLICT (business_id, contact_id, lower(tag)) DO NOTHING
               RETURNING contact_id"#,
            business.0
        )
        .fetch_all(&mut *conn)
        .await?;
        changed.extend(tagged.into_iter().filter(|id| !created.contains(id)));
    }

    if update && rows.iter().any(|r| r.stage.is_some()) {
        let moves = sqlx::query!(
            r#"SELECT r.line, r.phone, c.id AS "id!: ContactId", r.stage AS "stage!: Stage"
               FROM contact_import_rows r
               CROSS JOIN LATERAL (SELECT id, stage FROM contacts
                                   WHERE business_id = $1 AND phone = r.phone LIMIT 1) c
               WHERE r.stage IS NOT NULL AND coalesce(c.stage, 'New') <> r.stage
               ORDER BY r.line"#,
            business.0
        )
        .fetch_all(&mut *conn)
        .await?;
        for m in moves {
            let moved = pipeline::move_stage_on(conn, scope, m.id, m.stage, MoveSource::Import).await?;
            match moved.outcome {
                MoveOutcome::Moved => {
                    report.stage_changes += 1;
                    changed.insert(m.id.0);
                }
                MoveOutcome::Blocked if report.stage_blocked.len() < MAX_REPORTED_ROWS => {
                    report.stage_blocked.push(RejectedRow {
                        line: m.line as u64,
                        phone: m.phone,
                        reason: format!("stage not changed: the pipeline rules block {} → {}", moved.from, moved.to),
                    });
                }
                MoveOutcome::Blocked | MoveOutcome::Unchanged => {}
            }
        }
    }

    let accepted = (rows.len() - rejected.len()) as u64;
    report.accepted += accepted;
    report.created += created.len() as u64;
    report.updated += changed.len() as u64;
    report.unchanged += accepted - created.len() as u64 - changed.len() as u64;
    Ok(rejected)
}

fn duplicate_reason(first_line: u64) -> String {
    format!("duplicate: the same phone is on line {first_line}")
}

/// The chunk in COPY's text format, written straight into one buffer (no allocation per row).
fn copy_text(rows: &[ValidRow]) -> Vec<u8> {
    fn escaped(out: &mut String, value: &str) {
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                c => out.push(c),
            }
        }
    }
    fn field(out: &mut String, value: Option<&str>) {
        match value {
            None => out.push_str("\\N"),
            Some(v) => escaped(out, v),
        }
    }
    let mut out = String::with_capacity(rows.len() * 64);
    for row in rows {
        // Writing to a String cannot fail.
        let _ = write!(out, "{}\t", row.line);
        escaped(&mut out, row.phone.as_str());
        out.push('\t');
        field(&mut out, row.name.as_deref());
        out.push('\t');
        field(&mut out, row.stage.map(Stage::as_str));
        out.push('\t');
        match row.tags.split_first() {
            None => out.push_str("\\N"),
            Some((first, rest)) => {
                escaped(&mut out, first);
                for tag in rest {
                    out.push(';');
                    escaped(&mut out, tag);
                }
            }
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// A row that passed validation.
#[derive(Debug)]
struct ValidRow {
    line: u64,
    phone: Phone,
    name: Option<String>,
    stage: Option<Stage>,
    tags: Vec<String>,
}

/// One chunk from the reader thread.
struct Chunk {
    rows: Vec<ValidRow>,
    rejected: Vec<RejectedRow>,
    rows_read: u64,
    bytes_read: u64,
}

/// A row as written in the file, before validation.
#[derive(Debug, Default, PartialEq)]
struct RawRow {
    line: u64,
    phone: String,
    name: String,
    stage: String,
    tags: Vec<String>,
}

/// Parses `input` on a thread of its own and hands over validated chunks; the channel holds two, so a
/// slow database slows the reader instead of filling memory.
fn spawn_reader<R: Read + Send + 'static>(
    input: R,
    format: FileFormat,
    region: String,
    chunk_size: usize,
) -> Result<mpsc::Receiver<Result<Chunk>>> {
    let (tx, rx) = mpsc::channel(2);
    std::thread::Builder::new()
        .name("contacts-import".into())
        .spawn(move || {
            let mut source = match RowSource::new(input, format) {
                Ok(source) => source,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            loop {
                let chunk = source.next_chunk(&region, chunk_size);
                let last = !matches!(&chunk, Ok(Some(_)));
                let sent = match chunk {
                    Ok(Some(chunk)) => tx.blocking_send(Ok(chunk)),
                    Ok(None) => Ok(()),
                    Err(e) => tx.blocking_send(Err(e)),
                };
                if last || sent.is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Error::io("starting the import reader", e))?;
    Ok(rx)
}

/// Counts the bytes read, for progress.
struct Counting<R> {
    inner: R,
    bytes: u64,
    /// Offsets of the line feeds read but not yet passed by [`Counting::line_at`] (a reader's buffer
    /// ahead at most), and how many lines lie before the first of them.
    newlines: std::collections::VecDeque<u64>,
    lines_before: u64,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Counting<R> {
        Counting { inner, bytes: 0, newlines: std::collections::VecDeque::new(), lines_before: 0 }
    }

    /// The 1-based line of a record starting at `offset`; offsets must not go backwards. The csv crate
    /// ends a CRLF line at its `\r`, so its line numbers lose one after a CRLF header (Excel's files)
    /// and the next record's offset is that of the `\n`: a line feed *at* the offset is before it.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.newlines.front().is_some_and(|&newline| newline <= offset) {
            self.newlines.pop_front();
            self.lines_before += 1;
        }
        self.lines_before + 1
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let start = self.bytes;
        self.newlines.extend(buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| start + i as u64));
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Where each import column is in the CSV header.
struct Columns {
    phone: usize,
    name: Option<usize>,
    stage: Option<usize>,
    tags: Option<usize>,
}

enum RowSource<R: Read> {
    Csv { reader: csv::Reader<Counting<R>>, columns: Columns, record: csv::StringRecord },
    Jsonl { reader: BufReader<Counting<R>>, line: u64, buf: String },
}

fn read_error(e: impl std::fmt::Display) -> Error {
    Error::io("reading the import file", std::io::Error::other(e.to_string()))
}

impl<R: Read> RowSource<R> {
    fn new(input: R, format: FileFormat) -> Result<RowSource<R>> {
        let input = Counting::new(input);
        match format {
            FileFormat::Jsonl => Ok(RowSource::Jsonl { reader: BufReader::new(input), line: 0, buf: String::new() }),
            FileFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
                let headers: Vec<String> = reader
                    .headers()
                    .map_err(read_error)?
                    .iter()
                    .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
                    .collect();
                let find = |name: &str| headers.iter().position(|h| h == name);
                let phone = find("phone").ok_or_else(|| {
                    Error::invalid(
                        format!("the CSV header has no phone column (it has: {})", headers.join(", ")),
                        "the first line must name the columns, e.g. phone,name,stage,tags",
                    )
                })?;
                let columns = Columns { phone, name: find("name"), stage: find("stage"), tags: find("tags") };
                Ok(RowSource::Csv { reader, columns, record: csv::StringRecord::new() })
            }
        }
    }

    fn bytes_read(&self) -> u64 {
        match self {
            RowSource::Csv { reader, .. } => reader.get_ref().bytes,
            RowSource::Jsonl { reader, .. } => reader.get_ref().bytes,
        }
    }

    /// The next row: `Ok(None)` at the end, `Ok(Some(Err(_)))` for a row that cannot be read.
    fn next_row(&mut self) -> Result<Option<Result<RawRow, RejectedRow>>> {
        match self {
            RowSource::Csv { reader, columns, record } => match reader.read_record(record) {
                Ok(false) => Ok(None),
                Ok(true) => {
                    let line = record.position().map_or(0, |p| reader.get_mut().line_at(p.byte()));
                    // A cell that an export quoted against spreadsheet formulas reads as its value.
                    let cell = |i: Option<usize>| {
                        crate::spreadsheet::restore(i.and_then(|i| record.get(i)).unwrap_or("")).to_string()
                    };
                    let tags = cell(columns.tags);
                    Ok(Some(Ok(RawRow {
                        line,
                        phone: cell(Some(columns.phone)),
                        name: cell(columns.name),
                        stage: cell(columns.stage),
                        tags: tags.split(';').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect(),
                    })))
                }
                Err(e) if e.is_io_error() => Err(read_error(e)),
                Err(e) => {
                    let line = e.position().map_or(0, |p| reader.get_mut().line_at(p.byte()));
                    Ok(Some(Err(RejectedRow { line, phone: String::new(), reason: format!("unreadable row: {e}") })))
                }
            },
            RowSource::Jsonl { reader, line, buf } => loop {
                buf.clear();
                if reader.read_line(buf).map_err(read_error)? == 0 {
                    return Ok(None);
                }
                *line += 1;
                if !buf.trim().is_empty() {
                    return Ok(Some(json_row(*line, buf)));
                }
            },
        }
    }

    /// Reads and validates up to `size` rows; `None` once the input is exhausted.
    fn next_chunk(&mut self, region: &str, size: usize) -> Result<Option<Chunk>> {
        let mut chunk = Chunk { rows: Vec::with_capacity(size), rejected: Vec::new(), rows_read: 0, bytes_read: 0 };
        let mut seen: HashMap<String, u64> = HashMap::with_capacity(size);
        while chunk.rows.len() + chunk.rejected.len() < size {
            let Some(row) = self.next_row()? else { break };
            chunk.rows_read += 1;
            match row.and_then(|raw| validate(raw, region)) {
                Ok(row) => match seen.get(row.phone.as_str()) {
                    Some(first) => chunk.rejected.push(RejectedRow {
                        line: row.line,
                        phone: row.phone.to_string(),
                        reason: duplicate_reason(*first),
                    }),
                    None => {
                        seen.insert(row.phone.to_string(), row.line);
                        chunk.rows.push(row);
                    }
                },
                Err(rejected) => chunk.rejected.push(rejected),
            }
        }
        chunk.bytes_read = self.bytes_read();
        Ok((chunk.rows_read > 0).then_some(chunk))
    }
}

fn json_row(line: u64, text: &str) -> Result<RawRow, RejectedRow> {
    let reject = |reason: String| RejectedRow { line, phone: String::new(), reason };
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(reject("not a JSON object".into())),
        Err(e) => return Err(reject(format!("not valid JSON: {e}"))),
    };
    let text_field = |name: &str| -> Result<String, RejectedRow> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(reject(format!("{name} must be a string"))),
        }
    };
    let tags = match object.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| t.as_str().map(str::to_string).ok_or_else(|| reject("tags must be an array of strings".into())))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(reject("tags must be an array of strings".into())),
    };
    Ok(RawRow { line, phone: text_field("phone")?, name: text_field("name")?, stage: text_field("stage")?, tags })
}

fn validate(raw: RawRow, region: &str) -> Result<ValidRow, RejectedRow> {
    let reject = |reason: String| RejectedRow { line: raw.line, phone: raw.phone.clone(), reason };
    if raw.phone.trim().is_empty() {
        return Err(reject("the phone is missing".into()));
    }
    let phone = Phone::parse(&raw.phone, region).map_err(|e| reject(e.to_string()))?;
    let stage = match raw.stage.trim() {
        "" => None,
        stage => Some(stage.parse::<Stage>().map_err(|e| reject(e.to_string()))?),
    };
    let tags = validate_tags(&raw.tags).map_err(|e| reject(e.to_string()))?;
    // Checked here, not by the database: a NUL, which PostgreSQL cannot store, would fail the row's whole chunk.
    let name = clean_name(Some(&raw.name)).map_err(|e| reject(e.to_string()))?;
    Ok(ValidRow { line: raw.line, phone, name, stage, tags })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(format: FileFormat, text: &'static str) -> Vec<Result<RawRow, RejectedRow>> {
        let mut source = RowSource::new(text.as_bytes(), format).unwrap();
        std::iter::from_fn(|| source.next_row().unwrap()).collect()
    }

    #[test]
    fn csv_columns_are_mapped_by_header_and_extras_ignored() {
        let parsed = rows(FileFormat::Csv, "Extra,Tags,PHONE,name\nx,vip; hot ,+14155552671,Ann\n");
        assert_eq!(
            parsed,
            vec![Ok(RawRow {
                line: 2,
                phone: "+14155552671".into(),
                name: "Ann".into(),
                stage: String::new(),
                tags: vec!["vip".into(), "hot".into()],
            })]
        );
    }

    #[test]
    fn csv_line_numbers_are_the_same_for_lf_and_crlf_files() {
        let lines = |text: &'static str| -> Vec<u64> {
            rows(FileFormat::Csv, text).into_iter().map(|r| r.map_or_else(|e| e.line, |r| r.line)).collect()
        };
        let lf = "phone,name\n+1,A\n+2,\"two\nlines\"\n+3,C\n";
        assert_eq!(lines(lf), vec![2, 3, 5]);
        assert_eq!(lines(Box::leak(lf.replace('\n', "\r\n").into_boxed_str())), vec![2, 3, 5]);
    }

    #[test]
    fn jsonl_rows_skip_blank_lines_and_reject_garbage() {
        let parsed = rows(FileFormat::Jsonl, "{\"phone\":\"+14155552671\",\"tags\":[\"a\"]}\n\nnope\n");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].as_ref().unwrap().tags, vec!["a"]);
        assert_eq!(parsed[1].as_ref().unwrap_err().line, 3);
    }

    #[test]
    fn validation_names_the_problem() {
        let raw = |phone: &str, stage: &str| RawRow {
            line: 5,
            phone: phone.into(),
            stage: stage.into(),
            ..Default::default()
        };
        assert!(validate(raw("+14155552671", "paid"), "US").is_ok());
        assert!(validate(raw("12", ""), "US").unwrap_err().reason.contains("phone"));
        assert!(validate(raw("+14155552671", "Won"), "US").unwrap_err().reason.contains("stage"));
        assert!(validate(raw("", ""), "US").unwrap_err().reason.contains("missing"));
        let nul = RawRow { name: "Ann\0".into(), ..raw("+14155552671", "") };
        assert!(validate(nul, "US").unwrap_err().reason.contains("NUL"));
    }

    #[test]
    fn copy_text_escapes_specials_and_nulls() {
        let row = ValidRow {
            line: 3,
            phone: Phone::parse("+14155552671", "US").unwrap(),
            name: Some("a\tb\\c".into()),
            stage: None,
            tags: vec!["x".into(), "y".into()],
        };
        assert_eq!(String::from_utf8(copy_text(&[row])).unwrap(), "3\t+14155552671\ta\\tb\\\\c\t\\N\tx;y\n");
    }
}
