//! Small reusable pieces: the text editor behind the composer, search line and form fields, and popups.

pub mod input;
pub mod popup;
