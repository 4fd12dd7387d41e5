//! Popups: pickers, forms and confirmations drawn over a pane. While one is open it receives every key
//! and none goes further — a key it does not use is swallowed, so `1` in a picker never switches tabs
//! and `q` in a form never quits. A popup answers each key with an [`Outcome`]; its owner (the app or
//! a pane) acts on a `Done` and drops the popup on `Cancelled`.

pub mod confirm;
pub mod form;
pub mod help;
pub mod log;
pub mod notifications;
pub mod palette;
pub mod picker;
pub mod template_send;

/// What a popup made of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Still open (the key was used, or swallowed).
    Open,
    /// Closed without a result (Esc).
    Cancelled,
    /// Closed with the user's answer.
    Done(T),
}
