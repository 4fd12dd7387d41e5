//! Export of any filtered set of contacts as CSV or JSON lines, streamed row by row. The first four
//! columns are import's (`phone,name,stage,tags`), so an export imports back unchanged; the others
//! are informational and import ignores them.

use std::io::{BufWriter, Write};

use futures::TryStreamExt;
use serde::Serialize;
use sqlx::PgPool;

use super::{Contact, ContactFilter, FileFormat, Sort, stream};
use crate::auth::Scope;
use crate::error::{Error, Result};
use crate::spreadsheet;

/// One exported line. Contacts known only by a WhatsApp user id have no phone and are left out:
/// import needs a phone.
#[derive(Serialize)]
struct Line<'a> {
    phone: &'a str,
    name: &'a str,
    stage: &'a str,
    tags: &'a [String],
    id: i32,
    created_at: Option<String>,
    last_active: Option<String>,
    opted_out_at: Option<String>,
}

const CSV_HEADER: [&str; 8] = ["phone", "name", "stage", "tags", "id", "created_at", "last_active", "opted_out_at"];

/// Keeps the I/O error's kind, so a closed pipe stays a closed pipe and `wacrm contacts export | head`
/// ends quietly (serde_json hands its I/O errors back as they were).
fn write_error(e: impl Into<std::io::Error>) -> Error {
    Error::io("writing the export", e.into())
}

/// csv wraps I/O errors in its own type, whose conversion to `io::Error` loses the kind; unwrap it.
fn csv_error(e: csv::Error) -> Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => write_error(io),
        other => write_error(std::io::Error::other(format!("{other:?}"))),
    }
}

/// Writes every contact matching `filter` (oldest first) to `out`; returns how many were written.
pub async fn export<W: Write>(
    pool: &PgPool,
    scope: &Scope,
    filter: &ContactFilter,
    format: FileFormat,
    out: W,
) -> Result<u64> {
    let mut sink = match format {
        FileFormat::Csv => {
            let mut csv = csv::Writer::from_writer(out);
            csv.write_record(CSV_HEADER).map_err(csv_error)?;
            Sink::Csv(Box::new(csv))
        }
        FileFormat::Jsonl => Sink::Jsonl(BufWriter::new(out)),
    };
    let mut rows = std::pin::pin!(stream(pool, scope, filter, Sort::Id));
    let mut written = 0;
    while let Some(contact) = rows.try_next().await? {
        let Contact { id, phone: Some(phone), name, stage, tags, created_at, last_active, opted_out_at, .. } = &contact
        else {
            continue;
        };
        let time = |t: &Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.to_rfc3339());
        let line = Line {
            phone,
            name: name.as_deref().unwrap_or(""),
            stage: stage.as_str(),
            tags,
            id: id.0,
            created_at: time(created_at),
            last_active: time(last_active),
            opted_out_at: time(opted_out_at),
        };
        match &mut sink {
            Sink::Csv(csv) => {
                let optional = |v: &Option<String>| v.clone().unwrap_or_default();
                let tags = line.tags.join(";");
                csv.write_record(
                    [
                        spreadsheet::neutralise(line.phone),
                        spreadsheet::neutralise(line.name),
                        spreadsheet::neutralise(line.stage),
                        spreadsheet::neutralise(&tags),
                        line.id.to_string().into(),
                        optional(&line.created_at).into(),
                        optional(&line.last_active).into(),
                        optional(&line.opted_out_at).into(),
                    ]
                    .iter()
                    .map(|cell| cell.as_bytes()),
                )
                .map_err(csv_error)?;
            }
            Sink::Jsonl(out) => {
                serde_json::to_writer(&mut *out, &line).map_err(write_error)?;
                out.write_all(b"\n").map_err(write_error)?;
            }
        }
        written += 1;
    }
    match &mut sink {
        Sink::Csv(csv) => csv.flush(),
        Sink::Jsonl(out) => out.flush(),
    }
    .map_err(write_error)?;
    Ok(written)
}

enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(BufWriter<W>),
}
