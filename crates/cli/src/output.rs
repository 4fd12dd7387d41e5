//! Rendering for people and scripts: comfy-table tables on a terminal, tab-separated rows when piped,
//! `--json` (stable field names: the serde names of core's types) and `--csv`.

use std::io::{IsTerminal, Write};

use anyhow::Result;
use clap::ValueEnum;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use serde::Serialize;
use serde_json::Value;
use wacrm_core::spreadsheet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned table on a terminal, tab-separated rows when piped.
    Table,
    /// JSON: an array for lists, an object for single records.
    Json,
    /// CSV with a header row.
    Csv,
}

/// How output should look, decided once from the flags and the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: Format,
    /// stdout is a terminal (tables, colour and progress bars only then).
    pub interactive: bool,
    pub color: bool,
}

impl Output {
    pub fn new(format: Format) -> Output {
        let interactive = std::io::stdout().is_terminal();
        let color = interactive && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Output { format, interactive, color }
    }

    /// Whether progress bars may be drawn (stderr is a terminal and output is for a person).
    pub fn progress(&self) -> bool {
        std::io::stderr().is_terminal() && self.format == Format::Table
    }

    /// A line of plain text on stdout; a closed pipe becomes an error that `main` treats as success.
    pub fn line(&self, text: impl std::fmt::Display) -> Result<()> {
        writeln!(std::io::stdout().lock(), "{text}")?;
        Ok(())
    }

    /// A list of records; `columns` picks and orders the table's columns (JSON and CSV carry every field).
    pub fn list<T: Serialize>(&self, rows: &[T], columns: &[&str]) -> Result<()> {
        let values: Vec<Value> = rows.iter().map(serde_json::to_value).collect::<Result<_, _>>()?;
        match self.format {
            Format::Json => print_json(&Value::Array(values)),
            Format::Csv => print_csv(&values, &all_fields(&values, columns)),
            Format::Table if self.interactive => {
                let mut table = new_table();
                table.set_header(columns.iter().map(|c| c.to_string()));
                for v in &values {
                    table.add_row(columns.iter().map(|c| table_cell(v.get(*c))));
                }
                let mut out = std::io::stdout().lock();
                writeln!(out, "{table}")?;
                if values.is_empty() {
                    writeln!(out, "(none)")?;
                }
                Ok(())
            }
            Format::Table => {
                let mut out = std::io::stdout().lock();
                for v in &values {
                    let line: Vec<String> = columns.iter().map(|c| tsv_cell(v.get(*c))).collect();
                    writeln!(out, "{}", line.join("\t"))?;
                }
                Ok(())
            }
        }
    }

    /// One record, as a two-column field/value table for people.
    pub fn record<T: Serialize>(&self, record: &T) -> Result<()> {
        let value = serde_json::to_value(record)?;
        match self.format {
            Format::Json => print_json(&value),
            Format::Csv => {
                let fields = all_fields(std::slice::from_ref(&value), &[]);
                print_csv(std::slice::from_ref(&value), &fields)
            }
            Format::Table => {
                let mut out = std::io::stdout().lock();
                let Value::Object(map) = &value else {
                    writeln!(out, "{}", cell(Some(&value)))?;
                    return Ok(());
                };
                if self.interactive {
                    let mut table = new_table();
                    for (k, v) in map {
                        table.add_row(vec![k.clone(), table_cell(Some(v))]);
                    }
                    writeln!(out, "{table}")?;
                } else {
                    for (k, v) in map {
                        writeln!(out, "{k}\t{}", tsv_cell(Some(v)))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// A confirmation for people; scripts get the record as JSON when they asked for it.
    pub fn done<T: Serialize>(&self, message: &str, record: &T) -> Result<()> {
        match self.format {
            Format::Table => {
                writeln!(std::io::stdout().lock(), "{message}")?;
                Ok(())
            }
            _ => self.record(record),
        }
    }
}

/// A failed command as reported on stderr, so pipes carry only data: for people `error: …`, the
/// causes and `hint: …`; under `--json` one object on one line,
/// `{"error": {"message", "causes", "hint", "code", "exit_code"}}`, where `message` is the whole story
/// in one line (the causes joined after it) and `code` the exit code's stable name.
#[derive(Debug, Clone)]
pub struct Failure {
    /// What failed, outermost first.
    pub message: String,
    /// What led to it, outermost first (empty when the message says it all).
    pub causes: Vec<String>,
    /// How to fix it, when there is something to say.
    pub hint: Option<String>,
    pub code: &'static str,
    pub exit_code: u8,
}

impl Failure {
    pub fn print(&self, format: Format) {
        let mut stderr = std::io::stderr().lock();
        // Nothing is left to tell anyone if stderr itself is gone.
        let _ = match format {
            Format::Json => writeln!(stderr, "{}", self.to_json()),
            Format::Table | Format::Csv => self.print_plain(&mut stderr),
        };
    }

    fn to_json(&self) -> Value {
        let message = std::iter::once(&self.message).chain(&self.causes).cloned().collect::<Vec<_>>().join(": ");
        serde_json::json!({ "error": {
            "message": message,
            "causes": self.causes,
            "hint": self.hint,
            "code": self.code,
            "exit_code": self.exit_code,
        }})
    }

    fn print_plain(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "error: {}", self.message)?;
        for cause in &self.causes {
            writeln!(out, "  caused by: {cause}")?;
        }
        if let Some(hint) = &self.hint {
            writeln!(out, "hint: {hint}")?;
        }
        Ok(())
    }
}

fn new_table() -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic);
    let width = table_width(std::env::var("COLUMNS").ok().as_deref(), table.width());
    table.set_width(width);
    table
}

/// The width tables are laid out in: `COLUMNS` when set, else the terminal's, else 80. A pseudo-terminal
/// nobody sized (0×0, as some CI runners and `script` give) would squeeze every column to one character.
fn table_width(columns: Option<&str>, terminal: Option<u16>) -> u16 {
    const NARROWEST: u16 = 20;
    columns
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|&c| c >= NARROWEST)
        .or(terminal.filter(|&t| t >= NARROWEST))
        .unwrap_or(80)
}

fn print_json(value: &Value) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// The table's columns first, then every other field the records have, in first-seen order.
fn all_fields(values: &[Value], columns: &[&str]) -> Vec<String> {
    let mut fields: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    for v in values {
        if let Value::Object(map) = v {
            for k in map.keys() {
                if !fields.contains(k) {
                    fields.push(k.clone());
                }
            }
        }
    }
    fields
}

fn print_csv(values: &[Value], fields: &[String]) -> Result<()> {
    let mut writer = csv::Writer::from_writer(std::io::stdout().lock());
    writer.write_record(fields)?;
    for v in values {
        writer.write_record(fields.iter().map(|f| spreadsheet::neutralise(&csv_cell(v.get(f))).into_owned()))?;
    }
    writer.flush()?;
    Ok(())
}

fn csv_cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(";")
        }
        Some(other) => other.to_string(),
    }
}

/// A cell of a tab-separated row: one line per record and one tab per column whatever a message
/// holds, so `cut` and `awk` work: a backslash, tab, newline and carriage return in a value are
/// written `\\`, `\t`, `\n` and `\r` (as PostgreSQL's COPY text format does).
fn tsv_cell(value: Option<&Value>) -> String {
    let text = spreadsheet::neutralise(&cell(value)).into_owned();
    if !text.contains(['\\', '\t', '\n', '\r']) {
        return text;
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\t' => escaped.push_str("\\t"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A cell of a table for people: times to the second, in UTC (`2026-12-06 05:47:46 UTC`); scripts get
/// the full precision from tab-separated rows, `--json` and `--csv`.
fn table_cell(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) if s.len() > 19 && s.as_bytes().get(10) == Some(&b'T') => {
            match chrono::DateTime::parse_from_rfc3339(s) {
                Ok(time) => time.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                Err(_) => s.clone(),
            }
        }
        other => cell(other),
    }
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => items.iter().map(|i| cell(Some(i))).collect::<Vec<_>>().join(", "),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_separated_cells_keep_a_record_on_one_line() {
        let message = serde_json::json!("two\tcolumns\nand two lines\r\nC:\\path");
        assert_eq!(tsv_cell(Some(&message)), "two\\tcolumns\\nand two lines\\r\\nC:\\\\path");
        assert_eq!(tsv_cell(Some(&serde_json::json!("plain"))), "plain");
    }

    #[test]
    fn tables_show_times_to_the_second_and_leave_other_text_alone() {
        let time = serde_json::json!("2026-12-06T05:47:46.477783Z");
        assert_eq!(table_cell(Some(&time)), "2026-12-06 05:47:46 UTC");
        assert_eq!(table_cell(Some(&serde_json::json!("2026-12-06T07:47:46+02:00"))), "2026-12-06 05:47:46 UTC");
        assert_eq!(table_cell(Some(&serde_json::json!("2026-12-06T is not a time"))), "2026-12-06T is not a time");
        assert_eq!(tsv_cell(Some(&time)), "2026-12-06T05:47:46.477783Z");
    }

    #[test]
    fn an_unsized_terminal_gets_columns_or_80_not_one_character_columns() {
        assert_eq!(table_width(None, Some(0)), 80);
        assert_eq!(table_width(None, None), 80);
        assert_eq!(table_width(Some("132"), Some(0)), 132);
        assert_eq!(table_width(Some("0"), Some(100)), 100);
        assert_eq!(table_width(None, Some(100)), 100);
    }

    #[test]
    fn cells_flatten_arrays_and_nulls() {
        assert_eq!(cell(Some(&serde_json::json!(["a", "b"]))), "a, b");
        assert_eq!(cell(Some(&Value::Null)), "");
        assert_eq!(csv_cell(Some(&serde_json::json!(["vip", "hot"]))), "vip;hot");
    }

    #[test]
    fn failures_read_the_same_in_json_and_plain_text() {
        let failure = Failure {
            message: "choosing the business to act for".into(),
            causes: vec!["no acting business".into()],
            hint: Some("run `wacrm login`".into()),
            code: "usage",
            exit_code: 2,
        };
        assert_eq!(
            failure.to_json(),
            serde_json::json!({ "error": {
                "message": "choosing the business to act for: no acting business",
                "causes": ["no acting business"],
                "hint": "run `wacrm login`",
                "code": "usage",
                "exit_code": 2,
            }})
        );
        let mut plain = Vec::new();
        failure.print_plain(&mut plain).unwrap();
        assert_eq!(
            String::from_utf8(plain).unwrap(),
            "error: choosing the business to act for\n  caused by: no acting business\nhint: run `wacrm login`\n"
        );
    }

    #[test]
    fn csv_fields_put_table_columns_first() {
        let rows = vec![serde_json::json!({"b": 1, "a": 2, "c": 3})];
        assert_eq!(all_fields(&rows, &["c"]), vec!["c", "b", "a"]);
    }
}
