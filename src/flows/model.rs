//! What a flow is, once its file is read and checked ([`super::file`]): its trigger, exits,
//! entry limits and steps, each step's texts, A/B tests and reply menus. The engine runs these;
//! the API and the console describe them.

use std::path::PathBuf;
use std::time::Duration;

use super::branch::{Arm, Target};
use crate::domain::duration;

/// Whether a flow's texts are marketing (consent, quiet hours, smart sending) or about
/// something the customer started (an order's shipping, an appointment).
pub use crate::domain::SendClass as FlowClass;

/// An event that ends a customer's run through the flow: by name, and (with `key`) only when
/// its property `key` equals the triggering event's (an order with the cart's `checkout_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub event: String,
    pub key: Option<String>,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Wait this long.
    Wait(Duration),
    /// Wait until this long before (or after) a time in the trigger event's properties
    /// (`wait = "24h before appointment_at"`); a time already past does not wait.
    WaitRelative { property: String, offset: Duration, before: bool },
    /// Send a text (a minijinja template over `customer` and `event`), with the answers a
    /// reply may choose from. One variant, or an A/B test's arms with `test`.
    Send { variants: Vec<Variant>, replies: Vec<Reply>, test: Option<AbTest> },
    /// Send a text written from this goal and the customer's facts (by the model or the
    /// offline responder, under the reply guard), with an optional reply menu.
    Compose { goal: String, replies: Vec<Reply> },
    /// Go to the first arm's target whose condition holds, else to `otherwise` (a `goto` is a
    /// branch without arms).
    Branch { arms: Vec<Arm>, otherwise: Target },
    /// Wait until an event of the customer's arrives (with `key` equal to the trigger's), or
    /// for `timeout`; or, with `reply`, for `timeout` to see whether the customer texted back.
    WaitFor(WaitFor),
}

/// `wait_for = { event = "Order Delivered", match = "order_id", timeout = "7d" }`, or
/// `wait_for = { reply = true, timeout = "24h" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitFor {
    /// The event that ends the wait (the run goes on at once), or `None` for a reply.
    pub event: Option<String>,
    pub key: Option<String>,
    pub timeout: Duration,
    /// What a timeout does: go on to the next step (`true`) or end the run.
    pub continue_on_timeout: bool,
    /// What a reply does (`wait_for` a reply): go on to the next step (`true`, so a branch can
    /// read it) or end the run as "replied".
    pub continue_on_reply: bool,
}

impl WaitFor {
    /// What the run waits for, in words (the API, the console, reasons).
    pub fn describe(&self) -> String {
        let what = self.event.as_deref().map_or("a reply".to_string(), |e| format!("{e:?}"));
        format!("{what} for up to {}", duration::format(self.timeout))
    }
}

/// One arm of a send step: its name, its relative weight and its text (a template), or with
/// `composed`, the goal its text is written from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    pub weight: u32,
    pub text: String,
    pub composed: bool,
}

/// What an A/B test on a send step measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Recipients who texted back within 7 days (higher wins).
    ReplyRate,
    /// Recipients who opted out within 7 days (lower wins).
    OptOutRate,
    /// Recipients with an `Order Completed` within 7 days (higher wins).
    ConversionRate,
    /// Recipients who opened the text's tracked link within 7 days, link-preview fetches
    /// excluded (higher wins): Klaviyo's and Attentive's default for SMS tests.
    ClickRate,
}

impl Metric {
    /// True when the lowest rate wins (opt-outs).
    pub fn lower_is_better(self) -> bool {
        self == Metric::OptOutRate
    }

    /// An arm's recipients and how many of them did what this metric counts.
    pub fn count(self, o: &crate::store::ab::ArmOutcome) -> crate::domain::ab::ArmCount {
        let hits = match self {
            Metric::ReplyRate => o.replied,
            Metric::OptOutRate => o.opted_out,
            Metric::ConversionRate => o.ordered,
            Metric::ClickRate => o.clicked,
        };
        crate::domain::ab::ArmCount { recipients: o.recipients, hits }
    }
}

/// An A/B test on a send step (`test = { name = "…", metric = "reply_rate", ends = "…" }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbTest {
    /// Unique across the flows; the assignment hashes it with the customer's number.
    pub name: String,
    pub metric: Metric,
    /// With no winner by then, the leader is sent from then on.
    pub ends: Option<chrono::DateTime<chrono::Utc>>,
}

/// One answer a reply to a flow's text may choose ("1" confirms, "2" reschedules, "SHOP").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reply {
    /// What the customer texts: matched whole, ignoring case, spaces and punctuation.
    #[serde(rename = "match")]
    pub pattern: String,
    /// The text sent back (a template like the step's).
    #[serde(default)]
    pub text: Option<String>,
    /// An event recorded for the customer (it may start or end other flows).
    #[serde(default)]
    pub event: Option<String>,
    /// Hand the conversation to a person.
    #[serde(default)]
    pub handoff: bool,
    /// The reply confirms an opt-in (double opt-in's "Reply YES"): recorded in the consent
    /// ledger, answered with the brand's opt-in confirmation and its disclosures.
    #[serde(default)]
    pub opt_in: bool,
}

/// A checked flow.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub name: String,
    pub description: String,
    pub class: FlowClass,
    /// The events that start a run (`event = "…"`, or a list: shipping updates start on
    /// each of shipped, out for delivery and delivered).
    pub triggers: Vec<String>,
    pub exits: Vec<Exit>,
    /// A customer enters at most once in this time.
    pub once_per: Option<Duration>,
    /// A text not due within this time of the trigger is not sent (Postscript: one cart
    /// message, within 48 h of the abandon).
    pub send_within: Option<Duration>,
    pub steps: Vec<Step>,
    /// The file it came from.
    pub file: PathBuf,
}

/// A problem in a flow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowError {
    pub file: PathBuf,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn click_rate_counts_the_recipients_who_opened_the_link() {
        let metric: Metric = serde_json::from_str("\"click_rate\"").unwrap();
        assert_eq!(metric, Metric::ClickRate);
        let o = crate::store::ab::ArmOutcome { recipients: 10, replied: 4, clicked: 3, ..Default::default() };
        let n = metric.count(&o);
        assert_eq!((n.recipients, n.hits), (10, 3));
        assert!(!metric.lower_is_better());
    }
}
