//! WhatsApp Cloud API: wire types and the Graph API client.
