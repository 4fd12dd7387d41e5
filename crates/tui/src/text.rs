//! Text layout helpers measured in terminal cells (names and messages carry emoji and CJK).

use chrono::{DateTime, Duration, FixedOffset, Utc};
use ratatui::text::{Line, Span};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// What `/` typed, trimmed; `None` when blank, which clears the pane's search.
pub fn search_term(typed: &str) -> Option<String> {
    let typed = typed.trim();
    (!typed.is_empty()).then(|| typed.to_string())
}

pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// `s` cut to at most `max` cells, ending in `…` when cut. Newlines become spaces (one row per line).
pub fn truncate(s: &str, max: usize) -> String {
    let flat: String = s.chars().map(|c| if c == '\n' || c == '\r' || c == '\t' { ' ' } else { c }).collect();
    if width(&flat) <= max {
        return flat;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in flat.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    if max > 0 {
        out.push('…');
    }
    out
}

/// `s` cut to fit in `cells - 1` cells (a column gap stays), then padded with spaces to exactly `cells`
/// cells: a table column of CJK or emoji names stays aligned (`format!("{:<n$}")` counts characters).
pub fn cell(s: &str, cells: usize) -> String {
    let mut out = truncate(s, cells.saturating_sub(1));
    let used = width(&out);
    out.extend(std::iter::repeat_n(' ', cells.saturating_sub(used)));
    out
}

/// Wraps `s` into lines of at most `max` cells, breaking at spaces where possible and keeping the
/// message's own line breaks.
pub fn wrap(s: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for paragraph in s.split('\n') {
        let mut line = String::new();
        let mut used = 0;
        for word in paragraph.split(' ') {
            let w = width(word);
            if used > 0 && used + 1 + w > max {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            if used > 0 {
                line.push(' ');
                used += 1;
            }
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if used + cw > max {
                    lines.push(std::mem::take(&mut line));
                    used = 0;
                }
                line.push(c);
                used += cw;
            }
        }
        lines.push(line);
    }
    lines
}

/// `left` then `right` flush to the right edge of `max` cells; `left` is cut to make room.
pub fn spread<'a>(left: Vec<Span<'a>>, right: Vec<Span<'a>>, max: usize) -> Line<'a> {
    let right_w: usize = right.iter().map(|s| width(&s.content)).sum();
    let room = max.saturating_sub(right_w + 1);
    let mut spans = Vec::with_capacity(left.len() + right.len() + 1);
    let mut used = 0;
    for span in left {
        let w = width(&span.content);
        if used + w <= room {
            used += w;
            spans.push(span);
        } else {
            let cut = truncate(&span.content, room - used);
            used += width(&cut);
            spans.push(Span::styled(cut, span.style));
            break;
        }
    }
    spans.push(Span::raw(" ".repeat(max.saturating_sub(used + right_w))));
    spans.extend(right);
    Line::from(spans)
}

/// "now", "5m", "3h", "2d", then the date: short enough for a list column.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>, offset: FixedOffset) -> String {
    let ago = now - at;
    if ago < Duration::minutes(1) {
        "now".into()
    } else if ago < Duration::hours(1) {
        format!("{}m", ago.num_minutes())
    } else if ago < Duration::days(1) {
        format!("{}h", ago.num_hours())
    } else if ago < Duration::days(7) {
        format!("{}d", ago.num_days())
    } else {
        at.with_timezone(&offset).format("%d %b").to_string()
    }
}

/// "3h 12m", "45m", "2d 4h".
pub fn span_of(d: Duration) -> String {
    let minutes = d.num_minutes().max(0);
    match (minutes / 1440, (minutes / 60) % 24, minutes % 60) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_counts_cells_not_bytes() {
        assert_eq!(truncate("hello world", 8), "hello w…");
        assert_eq!(truncate("日本語テキスト", 7), "日本語…");
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("two\nlines", 20), "two lines");
    }

    #[test]
    fn cells_pad_by_display_width() {
        for name in ["Ana", "李伟 Li Wei", "Zoë 👋🏽 café", "❤️ Rosa"] {
            assert_eq!(width(&cell(name, 12)), 12, "{name}");
            assert_eq!(width(&cell(name, 6)), 6, "{name}");
        }
        assert_eq!(cell("日本語テキスト", 8), "日本語… ");
    }

    #[test]
    fn wrap_breaks_at_spaces_and_keeps_newlines() {
        assert_eq!(wrap("the quick brown fox", 10), vec!["the quick", "brown fox"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }

    #[test]
    fn relative_times_shorten() {
        let now = DateTime::parse_from_rfc3339("2026-03-10T12:00:00Z").unwrap().to_utc();
        let utc = FixedOffset::east_opt(0).unwrap();
        assert_eq!(relative(now - Duration::seconds(5), now, utc), "now");
        assert_eq!(relative(now - Duration::minutes(5), now, utc), "5m");
        assert_eq!(relative(now - Duration::hours(3), now, utc), "3h");
        assert_eq!(relative(now - Duration::days(9), now, utc), "01 Mar");
        assert_eq!(span_of(Duration::minutes(192)), "3h 12m");
    }
}
