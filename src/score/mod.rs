//! Scores for routing: the reply's confidence and the customer's sentiment.
//!
//! - [`sentiment`]: VADER with an SMS layer (`sentiment.rs`).
//! - [`intent`] (in `domain`, shared with the offline responder): what the message asks
//!   about, and the evidence the facts hold for it.
//! - [`confidence`]: one formula, below.

use serde::Serialize;

use crate::domain::draft::Draft;
use crate::domain::facts::Facts;
use crate::domain::intent;
use crate::guard::{Guarded, Verdict};

pub mod sentiment;

pub use sentiment::sentiment;

/// How many of the thread's latest bot turns count as "recent" for the failure factor.
pub const RECENT_TURNS: usize = 3;

/// What went into a reply's confidence, kept on the turn and shown to reviewers.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Confidence {
    /// The result, 0 to 1.
    pub value: f64,
    /// The generator's own rating: the model's self-rating, or the offline responder's
    /// evidence-based one.
    pub self_rating: f64,
    /// Retrieval evidence for the message's intent ([`intent::evidence`]).
    pub evidence: f64,
    /// 1 pass, 0.95 repaired, 0 blocked.
    pub guard: f64,
    /// 1 when the message's intent is one the bot handles, 0.5 otherwise.
    pub intent: f64,
    /// 0.8 for each of the thread's last [`RECENT_TURNS`] bot turns that went to a person.
    pub recent: f64,
    /// What the message asks about (the `intent` and `evidence` factors come from it).
    pub message_intent: intent::Intent,
}

/// The reply's confidence:
///
/// ```text
/// confidence = (0.5 · self_rating + 0.5 · evidence) · guard · intent · 0.8^recent_failures
/// ```
///
/// - `self_rating`: the generator's own 0–1 rating. A model rates itself; alone it is
///   over-confident, so it is averaged with
/// - `evidence`: how well retrieval supports an answer to this intent (the best product's
///   share of the message's content words; a policy or an order on file; 1 for greetings).
/// - `guard`: a blocked draft has no confidence (0); a repaired one (trimmed, a link
///   dropped, characters normalised) loses 5 %.
/// - `intent`: a message the bot is not built for (no product, policy or order words it
///   can match) halves the confidence.
/// - `recent_failures`: escalations among the thread's last [`RECENT_TURNS`] bot turns;
///   each costs 20 %, since a thread that needed a person tends to need one again.
pub fn confidence(draft: &Draft, guarded: &Guarded, facts: &Facts, recent_failures: usize) -> Confidence {
    let self_rating = draft.confidence.clamp(0.0, 1.0);
    let message_intent = intent::classify(facts);
    let evidence = intent::evidence(message_intent, facts);
    let guard = match guarded.verdict {
        Verdict::Pass => 1.0,
        Verdict::Repaired => 0.95,
        Verdict::Blocked => 0.0,
    };
    let intent = if message_intent.handled() { 1.0 } else { 0.5 };
    let recent = 0.8f64.powi(recent_failures.min(RECENT_TURNS) as i32);
    let value = ((0.5 * self_rating + 0.5 * evidence) * guard * intent * recent).clamp(0.0, 1.0);
    Confidence { value, self_rating, evidence, guard, intent, recent, message_intent }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::ProductFact;

    fn guarded(verdict: Verdict) -> Guarded {
        Guarded { verdict, text: "ok".into(), findings: vec![], claims: vec![], segments: 1 }
    }

    fn facts(message: &str) -> Facts {
        Facts { message: message.into(), products: vec![ProductFact::red_blouse()], ..Facts::default() }
    }

    fn rated(r: f64) -> Draft {
        Draft { confidence: r, ..Draft::default() }
    }

    #[test]
    fn the_formula_combines_its_five_factors() {
        let f = facts("do you have the blouse in red?");
        let c = confidence(&rated(0.9), &guarded(Verdict::Pass), &f, 0);
        assert!((c.value - 0.95).abs() < 1e-9, "{c:?}");
        let repaired = confidence(&rated(0.9), &guarded(Verdict::Repaired), &f, 0);
        assert!((repaired.value - 0.95 * 0.95).abs() < 1e-9);
        assert_eq!(confidence(&rated(0.9), &guarded(Verdict::Blocked), &f, 0).value, 0.0);
        let after_two_failures = confidence(&rated(0.9), &guarded(Verdict::Pass), &f, 2);
        assert!((after_two_failures.value - 0.95 * 0.64).abs() < 1e-9);
        // A confident model with weak evidence lands in between.
        let weak = confidence(&rated(1.0), &guarded(Verdict::Pass), &facts("garden hose in red"), 0);
        assert!((weak.value - (0.5 + 0.5 / 3.0)).abs() < 1e-9, "{weak:?}");
        // Nothing the bot handles: no evidence and half the weight.
        let off_topic = Facts { message: "what's the meaning of life".into(), ..Facts::default() };
        let c = confidence(&rated(1.0), &guarded(Verdict::Pass), &off_topic, 0);
        assert!((c.value - 0.25).abs() < 1e-9, "{c:?}");
    }
}
