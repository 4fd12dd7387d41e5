//! Cells a spreadsheet would run as a formula. A WhatsApp profile name or message such as
//! `=cmd|' /C calc'!A0` must come out of every CSV or tab-separated output as text, so a cell starting
//! with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'` (OWASP's advice; Excel and
//! LibreOffice show the quote-prefixed cell as plain text). [`restore`] undoes it on import, so import →
//! export → import keeps every value as it was.

use std::borrow::Cow;

fn needs_quote(cell: &str) -> bool {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => true,
        // A value that itself starts with the quote before such a character is quoted too, so that
        // restoring never takes away a quote that was the value's own.
        Some('\'') => needs_quote(&cell[1..]),
        _ => false,
    }
}

/// The cell as a spreadsheet may open it safely.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_quote(cell) { Cow::Owned(format!("'{cell}")) } else { Cow::Borrowed(cell) }
}

/// A cell as [`neutralise`] wrote it, back to its value.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::{neutralise, restore};

    #[test]
    fn formulas_are_quoted_and_every_value_comes_back_as_it_was() {
        assert_eq!(neutralise("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(neutralise("+14155550100"), "'+14155550100");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("-2+3"), "'-2+3");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("Ana"), "Ana");
        assert_eq!(neutralise("it's"), "it's");
        for value in ["=1+1", "+1", "'=1", "''=1", "'", "''", "Ana", "", "-", "'plain", "@", "\r\n"] {
            assert_eq!(restore(&neutralise(value)), value, "{value:?}");
        }
        // A cell typed with the quote by hand reads as the value after it.
        assert_eq!(restore("'=1"), "=1");
        assert_eq!(restore("'plain"), "'plain");
    }
}
