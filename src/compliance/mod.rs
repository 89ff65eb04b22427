//! SMS compliance: keyword opt-out/opt-in/help, the consent gate before every send.
//!
//! Natural-language opt-out, quiet hours and frequency caps are issue 3 and not built yet.

pub mod keywords;

pub use keywords::{KeywordIntent, classify};

/// Outbox kind of the single opt-out confirmation (47 CFR 64.1200(a)(12)): the only text an
/// opted-out number may receive. The sender enforces this in `store::outbox::start_sending`,
/// in the same statement that claims the row, right before the provider call.
pub const OPT_OUT_CONFIRMATION: &str = "optout_confirmation";
