//! When a person takes over: the routing rules of a turn.
//!
//! Rules, in order: the guard blocked the draft; the customer asked for a person; complaint
//! or legal words; a question about an order worth more than the set amount; the generator
//! asked for one; confidence below the threshold; this turn and the thread's previous bot
//! turn both below the caution threshold (two unsure answers in a row); sentiment (message
//! or thread trend) below the threshold. Every rule that fires is kept, so the reviewer sees all the reasons; the
//! escalation's [`Priority`] follows from them and sets its SLA.
//!
//! [`hours`]: business hours, which SLA due times count and the holding message names.
//! [`review`]: what a reviewer does to an escalation, from the console or the JSON API.

pub mod accounts;
pub mod hours;
pub mod notify;
pub mod review;

use serde::Serialize;

use crate::domain::EscalationReason;
use crate::domain::draft::Draft;
use crate::domain::facts::OrderFact;
use crate::guard::{Guarded, Verdict};

/// Why a turn is escalated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// The rule that fired (the compliance gate adds `possible_opt_out` and
    /// `opted_out_inbound`).
    pub code: EscalationReason,
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
    // "customer service" alone is also how people ask about its hours.
    "talk to customer service",
    "speak to customer service",
    "speak with customer service",
    "contact customer service",
    "manager",
    "call me",
    "someone real",
];

/// Words of a complaint that may cost the brand (a chargeback, a regulator, a court): a
/// person answers those, never the bot. Matched as whole words, so "pursue" is not "sue".
const COMPLAINT_OR_LEGAL: &[&str] = &[
    "lawyer",
    "attorney",
    "sue",
    "suing",
    "lawsuit",
    "legal action",
    "small claims",
    "chargeback",
    "charge back",
    "dispute the charge",
    "bbb",
    "better business bureau",
    "ftc",
    "attorney general",
    "consumer protection",
    "report you",
    "fraud",
    "scam",
];

/// Phrases of a customer who has waited or written before without an answer. An answer
/// from the bot ("Refunds take 5-7 days") to "this is the 3rd time I'm texting about my
/// refund" reads as another brush-off; ABCD's agent guidelines open with an apology and a
/// person's attention for these.
const WAITING_PHRASES: &[&str] = &[
    "2nd time",
    "3rd time",
    "second time",
    "third time",
    "fourth time",
    "again and again",
    "nobody answers",
    "nobody answered",
    "no one answers",
    "no one answered",
    "nobody replied",
    "no one replied",
    "nobody has replied",
    "no one has replied",
    "no response",
    "no reply",
    "never answered",
    "never replied",
    "never heard back",
    "still waiting",
    "been waiting",
    "keep waiting",
    "still no",
    "ridiculous",
    "unacceptable",
    "ignoring me",
    "ignored",
];

/// The phrase of a customer who says they have waited without an answer, if any.
pub fn waiting_customer(message: &str) -> Option<&'static str> {
    phrase_in(&padded_words(&without_apostrophes(message)), WAITING_PHRASES)
}

/// Words that make a message about an order (for the order-value rule).
const ORDER_WORDS: &[&str] =
    &["order", "orders", "package", "delivery", "delivered", "refund", "return", "cancel", "exchange", "charged"];

/// The message's words, lower case, separated by single spaces and padded with one at each
/// end, so a phrase is found as " phrase ".
fn padded_words(message: &str) -> String {
    let words: Vec<String> =
        message.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect();
    format!(" {} ", words.join(" "))
}

/// The first of `phrases` that stands as whole words in `padded` (from [`padded_words`]).
fn phrase_in(padded: &str, phrases: &[&'static str]) -> Option<&'static str> {
    phrases.iter().copied().find(|p| padded.contains(&format!(" {p} ")))
}

/// "isn't" as "isnt", so phrase lists hold one spelling.
fn without_apostrophes(message: &str) -> String {
    message.replace(['’', '\''], "")
}

/// The complaint or legal phrase the message uses, if any.
pub fn complaint_or_legal(message: &str) -> Option<&'static str> {
    phrase_in(&padded_words(message), COMPLAINT_OR_LEGAL)
}

/// The customer's most valuable order of at least `min_cents`, when the message is about an
/// order (0 turns the rule off).
pub fn high_value_order<'a>(message: &str, orders: &'a [OrderFact], min_cents: i64) -> Option<&'a OrderFact> {
    if min_cents <= 0 {
        return None;
    }
    let words = padded_words(message);
    if !ORDER_WORDS.iter().any(|w| words.contains(&format!(" {w} "))) {
        return None;
    }
    orders.iter().filter(|o| o.total.cents >= min_cents).max_by_key(|o| o.total.cents)
}

/// How soon a person should answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Money, the law or an upset customer: `escalation.sla_high_minutes`.
    High,
    /// Everything else: `escalation.sla_normal_minutes`.
    Normal,
}

/// The priority of an escalation with these reasons.
pub fn priority(reasons: &[Reason]) -> Priority {
    use EscalationReason::*;
    let high = [ComplaintOrLegal, HighValueOrder, NegativeSentiment, WaitingCustomer, HumanRequested, PossibleOptOut];
    if reasons.iter().any(|r| high.contains(&r.code)) { Priority::High } else { Priority::Normal }
}

/// True when the customer asks to talk to a person.
pub fn asks_for_human(message: &str) -> bool {
    // "are you a real person?" asks about the bot; it is answered, not paged.
    if crate::domain::intent::asks_who_answers(message) {
        return false;
    }
    let m = message.to_lowercase();
    HUMAN_PHRASES.iter().any(|p| m.contains(p)) || m.trim() == "agent"
}

/// Requests only a person can carry out: a return, refund, cancellation, exchange or
/// change to an order or account, or the state of a refund. The bot can explain the
/// policy; it cannot act, so it must not pretend to (found by the eval on ABCD's dialogues).
static ACTION_REQUEST: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?x)
        \b(i|we)(\s+really)?(\s+(need|want|would\s+like)|'d\s+like|\s+d\s+like)\s+(to\s+)?(return|cancel|exchange|change|refund)\b
        | \b(i|we)\s+(need|want|would\s+like)\s+(a|my)\s+refund\b
        | \bmy\s+money\s+back\b
        | \bcancel\s+(my|the|this)\s+order\b
        | \b(where\s+is|status\s+of)\s+(a|my|the)\s+refund\b
        | \brefund\s+status\b
        | \b(change|update|correct|fix)\s+(the|my)\s+(delivery\s+|shipping\s+)?address\b",
    )
    .expect("a valid pattern")
});

/// Phrases of a delivery gone wrong: a parcel marked delivered that is not there, lost,
/// stolen, damaged or wrong. A person checks with the carrier and makes it right.
const DELIVERY_PROBLEMS: &[&str] = &[
    "not here",
    "isnt here",
    "never arrived",
    "never came",
    "didnt arrive",
    "hasnt arrived",
    "never got it",
    "never received",
    "didnt get it",
    "not received",
    "nothing at my door",
    "not at my door",
    "stolen",
    "lost in the mail",
    "lost my package",
    "wrong item",
    "wrong size sent",
    "arrived damaged",
    "came damaged",
    "is damaged",
    "was damaged",
    "damaged parcel",
    "damaged package",
];

/// The delivery problem the message reports, if any.
pub fn delivery_problem(message: &str) -> Option<&'static str> {
    phrase_in(&padded_words(&without_apostrophes(message)), DELIVERY_PROBLEMS)
}

/// True when the message asks for something only a person can do.
pub fn asks_for_action(message: &str) -> bool {
    ACTION_REQUEST.is_match(&message.to_lowercase().replace('’', "'"))
}

/// The thresholds the rules use.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub confidence: f64,
    /// Two turns in a row below this (the previous bot turn and this one) go to a person.
    pub caution: f64,
    pub sentiment: f64,
    /// Orders worth at least this (cents) go to a person when asked about; 0: off.
    pub order_value_cents: i64,
}

/// All the reasons this turn must go to a person (empty: the bot may answer).
#[allow(clippy::too_many_arguments)]
pub fn reasons(
    message: &str,
    orders: &[OrderFact],
    draft: &Draft,
    guarded: &Guarded,
    confidence: f64,
    sentiment: f64,
    trend: f64,
    previous_confidence: Option<f64>,
    t: Thresholds,
) -> Vec<Reason> {
    let mut out = Vec::new();
    if guarded.verdict == Verdict::Blocked {
        let failed: Vec<&str> = guarded.findings.iter().map(|f| f.detail.as_str()).collect();
        out.push(Reason { code: EscalationReason::GuardBlocked, detail: failed.join("; ") });
    }
    if asks_for_human(message) {
        out.push(Reason { code: EscalationReason::HumanRequested, detail: "the customer asked for a person".into() });
    }
    if asks_for_action(message) {
        out.push(Reason {
            code: EscalationReason::ActionRequested,
            detail: "the customer asks for a return, refund, cancellation or change only a person can make".into(),
        });
    }
    if let Some(phrase) = delivery_problem(message) {
        out.push(Reason {
            code: EscalationReason::ActionRequested,
            detail: format!("a delivery problem for a person to sort out (\"{phrase}\")"),
        });
    }
    if let Some(phrase) = complaint_or_legal(message) {
        out.push(Reason {
            code: EscalationReason::ComplaintOrLegal,
            detail: format!("the customer wrote \"{phrase}\""),
        });
    }
    if let Some(phrase) = waiting_customer(message) {
        out.push(Reason {
            code: EscalationReason::WaitingCustomer,
            detail: format!("the customer has waited for an answer (\"{phrase}\")"),
        });
    }
    if let Some(order) = high_value_order(message, orders, t.order_value_cents) {
        out.push(Reason {
            code: EscalationReason::HighValueOrder,
            detail: format!("a question about order {} ({} cents)", order.id, order.total.cents),
        });
    }
    if let Some(why) = &draft.needs_human {
        out.push(Reason { code: EscalationReason::ModelRequested, detail: why.clone() });
    }
    if confidence < t.confidence && guarded.verdict != Verdict::Blocked {
        out.push(Reason {
            code: EscalationReason::LowConfidence,
            detail: format!("confidence {confidence:.2} < {:.2}", t.confidence),
        });
    }
    if let Some(previous) = previous_confidence
        && confidence < t.caution
        && previous < t.caution
        && confidence >= t.confidence
        && guarded.verdict != Verdict::Blocked
    {
        out.push(Reason {
            code: EscalationReason::LowConfidenceStreak,
            detail: format!("two unsure replies in a row: {previous:.2} then {confidence:.2} < {:.2}", t.caution),
        });
    }
    // The message, or the thread's trend (recent messages weigh more; see
    // score::sentiment::trend), below the threshold.
    if sentiment.min(trend) < t.sentiment {
        out.push(Reason {
            code: EscalationReason::NegativeSentiment,
            detail: format!("sentiment {sentiment:.2}, thread trend {trend:.2}; threshold {:.2}", t.sentiment),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Guarded;

    #[test]
    fn requests_to_act_go_to_a_person_and_questions_do_not() {
        for m in [
            "Hi! I need to return an item, can you help me with that?",
            "I want a refund",
            "please cancel my order",
            "just wanted to check on the status of a refund",
            "where is my refund??",
            "I'd like to exchange these",
        ] {
            assert!(asks_for_action(m), "{m}");
        }
        for m in [
            "what is your return policy?",
            "how long do refunds take?",
            "can I exchange for a different size?",
            "do I have to pay for the return label?",
        ] {
            assert!(!asks_for_action(m), "{m}");
        }
        assert!(!asks_for_human("when is customer service open?"));
        assert!(asks_for_human("I need to talk to customer service"));
    }

    fn pass() -> Guarded {
        Guarded { verdict: Verdict::Pass, text: "ok".into(), findings: vec![], claims: vec![], segments: 1 }
    }
    const T: Thresholds = Thresholds { confidence: 0.5, caution: 0.65, sentiment: -0.5, order_value_cents: 50_000 };

    /// The rules for a customer without orders.
    fn reasons_for(
        m: &str,
        d: &Draft,
        g: &Guarded,
        confidence: f64,
        sentiment: f64,
        trend: f64,
        t: Thresholds,
    ) -> Vec<Reason> {
        reasons(m, &[], d, g, confidence, sentiment, trend, None, t)
    }

    fn order(id: &str, cents: i64) -> OrderFact {
        OrderFact {
            id: id.into(),
            date: "2026-11-01".into(),
            status: "shipped".into(),
            total: crate::domain::Money::usd_cents(cents),
            items: vec![],
            tracking: None,
            delivery: None,
        }
    }

    #[test]
    fn a_delivery_gone_wrong_and_an_address_change_go_to_a_person() {
        for m in [
            "it says delivered but its not here. nothing at my door",
            "my parcel never arrived",
            "I got the wrong item",
        ] {
            assert!(delivery_problem(m).is_some(), "{m}");
        }
        assert!(delivery_problem("when will it arrive?").is_none());
        assert!(asks_for_action("can i change the delivery address?"));
        assert!(!asks_for_action("what's your delivery address for returns?"));
    }

    #[test]
    fn a_customer_who_has_waited_goes_to_a_person() {
        for m in [
            "this is the 3rd time im texting about my refund and nobody answers",
            "this is ridiculous, i've been waiting 2 weeks for a reply from your email team",
            "still no answer??",
        ] {
            assert!(waiting_customer(m).is_some(), "{m}");
        }
        for m in ["how long do refunds take?", "is it still available?", "no problem, thanks", "waiting for my order"] {
            assert_eq!(waiting_customer(m), None, "{m}");
        }
    }

    #[test]
    fn complaint_and_legal_words_are_whole_words() {
        assert_eq!(complaint_or_legal("I'm calling my LAWYER"), Some("lawyer"));
        assert_eq!(complaint_or_legal("I will file a chargeback"), Some("chargeback"));
        assert_eq!(complaint_or_legal("reporting you to the BBB!"), Some("bbb"));
        assert_eq!(complaint_or_legal("I'll dispute the charge with my bank"), Some("dispute the charge"));
        assert_eq!(complaint_or_legal("do you pursue free shipping deals?"), None);
        assert_eq!(complaint_or_legal("is the suede jacket back?"), None);
    }

    #[test]
    fn a_question_about_a_valuable_order_goes_to_a_person() {
        let orders = [order("A1", 12_000), order("A2", 64_900)];
        assert_eq!(high_value_order("where is my order?", &orders, 50_000).map(|o| o.id.as_str()), Some("A2"));
        assert!(high_value_order("do you have red shoes?", &orders, 50_000).is_none(), "not about an order");
        assert!(high_value_order("where is my order?", &orders[..1], 50_000).is_none(), "small orders only");
        assert!(high_value_order("where is my order?", &orders, 0).is_none(), "0 turns the rule off");
        let codes: Vec<EscalationReason> =
            reasons("can I return it", &orders, &Draft::default(), &pass(), 0.9, 0.0, 0.0, None, T)
                .iter()
                .map(|r| r.code)
                .collect();
        assert_eq!(codes, [EscalationReason::HighValueOrder]);
    }

    #[test]
    fn money_the_law_and_upset_customers_are_high_priority() {
        let reason = |code| Reason { code, detail: String::new() };
        assert_eq!(priority(&[reason(EscalationReason::LowConfidence)]), Priority::Normal);
        assert_eq!(
            priority(&[reason(EscalationReason::LowConfidence), reason(EscalationReason::ComplaintOrLegal)]),
            Priority::High
        );
        assert_eq!(priority(&[reason(EscalationReason::NegativeSentiment)]), Priority::High);
    }

    #[test]
    fn a_confident_calm_turn_is_not_escalated() {
        assert!(reasons_for("red blouse?", &Draft::default(), &pass(), 0.9, 0.0, 0.0, T).is_empty());
    }

    #[test]
    fn each_rule_fires_on_its_own_condition() {
        let codes = |r: Vec<Reason>| r.into_iter().map(|r| r.code).collect::<Vec<_>>();
        assert_eq!(
            codes(reasons_for("can I talk to a real person", &Draft::default(), &pass(), 0.9, 0.0, 0.0, T)),
            vec![EscalationReason::HumanRequested]
        );
        assert_eq!(
            codes(reasons_for("hm", &Draft::default(), &pass(), 0.2, 0.0, 0.0, T)),
            vec![EscalationReason::LowConfidence]
        );
        assert_eq!(
            codes(reasons_for("hm", &Draft::default(), &pass(), 0.9, -0.8, -0.8, T)),
            vec![EscalationReason::NegativeSentiment]
        );
        // A neutral message in a thread that has been angry: the trend escalates.
        assert_eq!(
            codes(reasons_for("ok", &Draft::default(), &pass(), 0.9, 0.0, -0.6, T)),
            vec![EscalationReason::NegativeSentiment]
        );
        // Unsure twice in a row: the second unsure turn escalates; once is not enough.
        let streak = |previous| codes(reasons("hm", &[], &Draft::default(), &pass(), 0.6, 0.0, 0.0, previous, T));
        assert_eq!(streak(Some(0.55)), vec![EscalationReason::LowConfidenceStreak]);
        assert!(streak(Some(0.9)).is_empty());
        assert!(streak(None).is_empty());
        let blocked = Guarded { verdict: Verdict::Blocked, ..pass() };
        assert_eq!(
            codes(reasons_for("hm", &Draft::default(), &blocked, 0.0, 0.0, 0.0, T)),
            vec![EscalationReason::GuardBlocked]
        );
    }
}
