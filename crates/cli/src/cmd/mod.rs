//! One module per area of `wacrm <area> <verb>`.

pub mod accounts;
pub mod billing;
pub mod business;
pub mod completions;
pub mod config;
pub mod contacts;
pub mod db;
pub mod demo;
pub mod events;
pub mod inbox;
pub mod pipeline;
pub mod planned;
pub mod session;
pub mod tui;
pub mod users;
pub mod webhook;
