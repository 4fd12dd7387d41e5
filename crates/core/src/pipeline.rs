//! Sales pipeline dashboard.
