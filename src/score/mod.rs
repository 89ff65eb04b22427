//! Scores for routing: the reply's confidence and the customer's sentiment.
//!
//! - [`sentiment`]: VADER with an SMS layer (`sentiment.rs`).
//! - [`confidence`]: thin for now (issue 5 brings the calibrated formula): the generator's
//!   own, lowered by guard repairs.

use crate::guard::{Guarded, Verdict};
use crate::llm::Draft;

pub mod sentiment;

pub use sentiment::sentiment;

/// The reply's confidence after the guard: blocked is 0, a repair costs a little.
pub fn confidence(draft: &Draft, guarded: &Guarded) -> f64 {
    let base = draft.confidence.clamp(0.0, 1.0);
    match guarded.verdict {
        Verdict::Pass => base,
        Verdict::Repaired => (base - 0.05).max(0.0),
        Verdict::Blocked => 0.0,
    }
}
