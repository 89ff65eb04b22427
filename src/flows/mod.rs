//! Flows: conversations the brand starts (issue 18), one TOML file per flow in `flows.dir`.
//!
//! - [`model`]: what a flow is: trigger, exits, steps, texts, tests, reply menus;
//! - [`file`]: reading and checking flow files (`backtalk flows validate`);
//! - [`set`]: the folder's flows, read again when a file changes;
//! - [`engine`]: events start and end runs; each wait is a queued job; texts go to the outbox
//!   with the flow's class, where the sender applies consent, smart sending and quiet hours;
//! - [`branch`]: branch and goto steps, their conditions and targets;
//! - [`compose`]: what a compose step asks of the writer (the pipeline answers);
//! - [`ab`]: where an A/B test stands (the engine calls its winner from it);
//! - [`simulate`]: `backtalk flows simulate`, the same path on a virtual clock;
//! - [`segment`]: segments, named sets of customers (docs/campaigns.md);
//! - [`campaign`]: a campaign's text to a segment, checked, created and planned;
//! - [`planner`]: each recipient's send time (consent, quiet hours, caps, smart sending) or skip,
//!   with the dry run's figures;
//! - [`dispatch`]: hands planned campaign texts to the sender at the campaign's rate.
//!
//! docs/flows.md and docs/campaigns.md say what is and is not built.

pub mod ab;
pub mod branch;
pub mod campaign;
pub mod compose;
pub mod dispatch;
pub mod engine;
pub mod file;
pub mod model;
pub mod planner;
pub mod segment;
pub mod set;
pub mod simulate;
