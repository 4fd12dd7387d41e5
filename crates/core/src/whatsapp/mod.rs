//! WhatsApp Cloud API: wire types and the Graph API client.

pub mod client;
#[cfg(feature = "fake-graph")]
pub mod fake;
pub mod manage;
pub mod media;
pub mod pacing;
pub mod send;
pub mod signature;
pub mod webhook;
