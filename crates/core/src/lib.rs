//! wacrm core: the domain logic of the eight dashboards against PostgreSQL.
//!
//! Faces (`wacrm`, `wacrm tui`, `wacrm-webhookd`) parse input, build a [`Scope`] and call one operation
//! here. Every operation on tenant data takes the scope and filters every statement by its business.

pub mod analytics;
pub mod auth;
pub mod automation;
pub mod billing;
pub mod broadcast;
pub mod business;
pub mod config;
pub mod contacts;
pub mod dashboards;
pub mod db;
pub mod demo;
pub mod error;
pub mod events;
pub mod inbox;
pub mod jobs;
pub mod listing;
pub mod notifications;
pub mod pipeline;
pub mod secrets;
pub mod spreadsheet;
pub mod templates;
pub mod types;
pub mod whatsapp;

pub use auth::{Actor, Area, Role, Scope};
pub use dashboards::Dashboard;
pub use error::{Error, Result};
pub use types::*;
