//! What every listing shares: one page type and one check of how many rows a caller may ask for.

use serde::Serialize;

use crate::error::{Error, Result};

/// One page of a keyset-paginated list and the cursor of the next one (`None` on the last page). The
/// cursor is opaque to callers: they pass it back to get the next page.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T, C = String> {
    pub items: Vec<T>,
    pub next: Option<C>,
}

/// `requested` rows if that is 1 to `max`, else an error saying the range. Never rewritten: a caller
/// asking for 0 or a million rows has a bug it should hear about.
pub fn limit(requested: i64, max: i64) -> Result<i64> {
    if (1..=max).contains(&requested) {
        Ok(requested)
    } else {
        Err(Error::invalid(format!("a list of {requested} rows is not possible"), format!("ask for 1 to {max} rows")))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_limit_outside_the_range_is_refused_with_the_range() {
        assert_eq!(super::limit(1, 10).unwrap(), 1);
        assert_eq!(super::limit(10, 10).unwrap(), 10);
        for bad in [0, -1, 11] {
            let err = super::limit(bad, 10).unwrap_err();
            assert_eq!(err.hint().as_deref(), Some("ask for 1 to 10 rows"));
        }
    }
}
