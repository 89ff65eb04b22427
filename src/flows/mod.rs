//! Flows: conversations the brand starts (issue 18), one TOML file per flow in `flows.dir`.
//!
//! - [`file`]: reading and checking flow files (`backtalk flows validate`);
//! - [`set`]: the folder's flows, read again when a file changes;
//! - [`engine`]: events start and end runs; each wait is a queued job; texts go to the outbox
//!   with the flow's class, where the sender applies consent, smart sending and quiet hours;
//! - [`ab`]: where an A/B test stands (the engine calls its winner from it);
//! - [`simulate`]: `backtalk flows simulate`, the same path on a virtual clock;
//! - [`segment`]: segments, named sets of customers (docs/campaigns.md);
//! - [`campaign`]: a campaign's text to a segment, planned per recipient (consent, quiet hours,
//!   caps, smart sending), with the dry run's figures;
//! - [`dispatch`]: hands planned campaign texts to the sender at the campaign's rate.
//!
//! Not built yet: compose steps, waits for an event or reply, branches (docs/flows.md and
//! docs/campaigns.md say what is and is not there).

pub mod ab;
pub mod campaign;
pub mod dispatch;
pub mod engine;
pub mod file;
pub mod segment;
pub mod set;
pub mod simulate;
