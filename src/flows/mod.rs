//! Flows: conversations the brand starts (issue 18), one TOML file per flow in `flows.dir`.
//!
//! - [`file`]: reading and checking flow files (`backtalk flows validate`);
//! - [`set`]: the folder's flows, read again when a file changes;
//! - [`engine`]: events start and end runs; each wait is a queued job; texts go to the outbox
//!   with the flow's class, where the sender applies consent, smart sending and quiet hours;
//! - [`ab`]: where an A/B test stands (the engine calls its winner from it);
//! - [`simulate`]: `backtalk flows simulate`, the same path on a virtual clock.
//!
//! Not built yet: campaigns, segments, A/B tests, compose steps and the console pages
//! (docs/flows.md says what is and is not there).

pub mod ab;
pub mod engine;
pub mod file;
pub mod set;
pub mod simulate;
