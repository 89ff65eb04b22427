//! Flows: conversations the brand starts (issue 18), one TOML file per flow in `flows.dir`.
//!
//! Built so far: reading and checking flow files ([`file`]; `backtalk flows validate`).
//! Not built yet: running them (triggers from events, durable waits, sends under consent,
//! quiet hours and smart sending, replies with the flow's context), campaigns, segments, A/B
//! tests and `flows simulate`.

pub mod file;
