//! Small reusable pieces: the text editor behind the composer, search line and form fields, popups, and
//! the list and detail halves of the list/detail dashboards.

pub mod detail;
pub mod input;
pub mod listing;
pub mod popup;
