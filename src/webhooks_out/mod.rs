//! Signed outbound webhooks (Standard Webhooks v1.0.0): telling the brand's own systems (a
//! CRM, a chat bridge, a data warehouse) what happened.
//!
//! # Layout
//!
//! - Events are recorded where the change happens, in its transaction, by
//!   `store::webhook_events::emit` (consent changes, escalations opened and resolved, texts
//!   received, sent and failed), each with one delivery per subscribed endpoint and a job.
//! - [`delivery`] runs those jobs: one signed POST per attempt, the spec's retry schedule,
//!   410 disables the endpoint, dead letters keep their reason.
//! - [`signing`] signs and verifies (`v1,` HMAC-SHA256), tested on the spec's vectors.
//!
//! docs/webhooks.md describes the events and headers for the people who receive them.

pub mod delivery;
pub mod signing;

pub use delivery::{Deliverer, delivery_of};
pub use signing::{generate_secret, sign, verify};
