//! When a person takes over: the routing rules of a turn.
//!
//! Rules, in order: the guard blocked the draft; the customer asked for a person; the
//! generator asked for one; confidence below the threshold; sentiment below the threshold.
//! Every rule that fires is kept, so the reviewer sees all the reasons.

use serde::Serialize;

use crate::guard::{Guarded, Verdict};
use crate::llm::Draft;

/// Why a turn is escalated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// `guard_blocked`, `human_requested`, `model_requested`, `low_confidence`, `negative_sentiment`, `llm_unavailable`.
    pub code: &'static str,
    pub detail: String,
}

/// Phrases that ask for a person (Postscript and Klaviyo escalate on these; so do we).
const HUMAN_PHRASES: &[&str] = &[
    "real person",
    "a person",
    "human",
    "an agent",
    "live agent",
    "representative",
    "speak to someone",
    "talk to someone",
    "customer service",
    "manager",
    "call me",
    "someone real",
];

/// True when the customer asks to talk to a person.
pub fn asks_for_human(message: &str) -> bool {
    let m = message.to_lowercase();
    HUMAN_PHRASES.iter().any(|p| m.contains(p)) || m.trim() == "agent"
}

/// The thresholds the rules use.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub confidence: f64,
    pub sentiment: f64,
}

/// All the reasons this turn must go to a person (empty: the bot may answer).
pub fn reasons(
    message: &str,
    draft: &Draft,
    guarded: &Guarded,
    confidence: f64,
    sentiment: f64,
    trend: f64,
    t: Thresholds,
) -> Vec<Reason> {
    let mut out = Vec::new();
    if guarded.verdict == Verdict::Blocked {
        let failed: Vec<&str> = guarded.findings.iter().map(|f| f.detail.as_str()).collect();
        out.push(Reason { code: "guard_blocked", detail: failed.join("; ") });
    }
    if asks_for_human(message) {
        out.push(Reason { code: "human_requested", detail: "the customer asked for a person".into() });
    }
    if let Some(why) = &draft.needs_human {
        out.push(Reason { code: "model_requested", detail: why.clone() });
    }
    if confidence < t.confidence && guarded.verdict != Verdict::Blocked {
        out.push(Reason {
            code: "low_confidence",
            detail: format!("confidence {confidence:.2} < {:.2}", t.confidence),
        });
    }
    // The message, or the thread's trend (recent messages weigh more; see
    // score::sentiment::trend), below the threshold.
    if sentiment.min(trend) < t.sentiment {
        out.push(Reason {
            code: "negative_sentiment",
            detail: format!("sentiment {sentiment:.2}, thread trend {trend:.2}; threshold {:.2}", t.sentiment),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Guarded;

    fn pass() -> Guarded {
        Guarded { verdict: Verdict::Pass, text: "ok".into(), findings: vec![], segments: 1 }
    }
    const T: Thresholds = Thresholds { confidence: 0.5, sentiment: -0.5 };

    #[test]
    fn a_confident_calm_turn_is_not_escalated() {
        assert!(reasons("red blouse?", &Draft::default(), &pass(), 0.9, 0.0, 0.0, T).is_empty());
    }

    #[test]
    fn each_rule_fires_on_its_own_condition() {
        let codes = |r: Vec<Reason>| r.into_iter().map(|r| r.code).collect::<Vec<_>>();
        assert_eq!(
            codes(reasons("can I talk to a real person", &Draft::default(), &pass(), 0.9, 0.0, 0.0, T)),
            vec!["human_requested"]
        );
        assert_eq!(codes(reasons("hm", &Draft::default(), &pass(), 0.2, 0.0, 0.0, T)), vec!["low_confidence"]);
        assert_eq!(codes(reasons("hm", &Draft::default(), &pass(), 0.9, -0.8, -0.8, T)), vec!["negative_sentiment"]);
        // A neutral message in a thread that has been angry: the trend escalates.
        assert_eq!(codes(reasons("ok", &Draft::default(), &pass(), 0.9, 0.0, -0.6, T)), vec!["negative_sentiment"]);
        let blocked = Guarded { verdict: Verdict::Blocked, ..pass() };
        assert_eq!(codes(reasons("hm", &Draft::default(), &blocked, 0.0, 0.0, 0.0, T)), vec!["guard_blocked"]);
    }
}
