//! Which text earned an order: last touch, with the anchors' windows (docs/analytics.md,
//! "Attribution"). Pure: the store gathers one customer's [`Evidence`], this picks.
//!
//! Sources (../shared/reference/flows-webhooks-analytics.md §6): Klaviyo and Attentive count
//! the last touch across channels, an SMS click for 5 days and (Attentive) a delivered text for
//! 24 h; Attentive attributes a unique coupon code "even outside the windows"; Emotive counts 14
//! days after a reply (a "conversation"), the precedent for a two-way product.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// The attribution windows (`analytics.*` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    pub click: Duration,
    pub delivery: Duration,
    pub reply: Duration,
}

impl Default for Windows {
    fn default() -> Self {
        Windows { click: Duration::days(5), delivery: Duration::hours(24), reply: Duration::days(14) }
    }
}

/// A text sent to the customer.
#[derive(Debug, Clone, Deserialize)]
pub struct Text {
    /// The outbox id.
    pub id: i64,
    pub sent_at: DateTime<Utc>,
    /// The carrier reported it undelivered.
    pub failed: bool,
    /// As written (before links were shortened): what a code is looked for in.
    pub body: String,
}

/// A request for one of the customer's tracked links.
#[derive(Debug, Clone, Deserialize)]
pub struct Click {
    /// The text whose link it was.
    pub text: i64,
    pub at: DateTime<Utc>,
    /// A link-preview fetcher, not a person: never a touch.
    pub preview: bool,
}

/// What one customer saw and did: every text, click and inbound text of theirs.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub texts: Vec<Text>,
    pub clicks: Vec<Click>,
    /// When they texted the brand.
    pub replies: Vec<DateTime<Utc>>,
}

/// The order, as far as attribution cares.
#[derive(Debug, Clone)]
pub struct Order {
    pub ordered_at: DateTime<Utc>,
    pub discount_codes: Vec<String>,
    pub cancelled: bool,
}

/// How a text touched the order, strongest first among equal times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Touch {
    Delivery,
    Reply,
    Click,
    /// A discount code the text carried: wins over every other touch, in or out of a window.
    Code,
}

impl Touch {
    pub fn as_str(self) -> &'static str {
        match self {
            Touch::Delivery => "delivery",
            Touch::Reply => "reply",
            Touch::Click => "click",
            Touch::Code => "code",
        }
    }
}

/// The text an order is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributed {
    /// The outbox id of the text.
    pub text: i64,
    pub touch: Touch,
    pub at: DateTime<Utc>,
}

/// The one text `order` is attributed to, if any: a text carrying a discount code the order
/// used, else the latest touch inside its window (ties: click, reply, delivery, then the later
/// text). Nothing after the order counts; a cancelled order is nobody's.
pub fn attribute(order: &Order, evidence: &Evidence, windows: &Windows) -> Option<Attributed> {
    if order.cancelled {
        return None;
    }
    let until = order.ordered_at;
    let coded = evidence
        .texts
        .iter()
        .filter(|t| t.sent_at <= until && order.discount_codes.iter().any(|code| carries_code(&t.body, code)))
        .max_by_key(|t| (t.sent_at, t.id));
    if let Some(t) = coded {
        return Some(Attributed { text: t.id, touch: Touch::Code, at: t.sent_at });
    }
    let within = |at: DateTime<Utc>, window: Duration| at <= until && at >= until - window;
    let clicks = evidence.clicks.iter().filter(|c| !c.preview && within(c.at, windows.click)).map(|c| Attributed {
        text: c.text,
        touch: Touch::Click,
        at: c.at,
    });
    let replies = evidence.replies.iter().filter(|r| within(**r, windows.reply)).filter_map(|r| {
        replied_to(&evidence.texts, *r, until).map(|text| Attributed { text, touch: Touch::Reply, at: *r })
    });
    let deliveries = evidence
        .texts
        .iter()
        .filter(|t| !t.failed && within(t.sent_at, windows.delivery))
        .map(|t| Attributed { text: t.id, touch: Touch::Delivery, at: t.sent_at });
    clicks.chain(replies).chain(deliveries).max_by_key(|a| (a.at, a.touch, a.text))
}

/// The text a reply at `at` answered: the latest sent at or before it; when the customer
/// started the conversation, the first answer after it (if it went before `until`).
fn replied_to(texts: &[Text], at: DateTime<Utc>, until: DateTime<Utc>) -> Option<i64> {
    let before = texts.iter().filter(|t| t.sent_at <= at).max_by_key(|t| (t.sent_at, t.id));
    let answer = || texts.iter().filter(|t| t.sent_at > at && t.sent_at <= until).min_by_key(|t| (t.sent_at, t.id));
    before.or_else(answer).map(|t| t.id)
}

/// `body` carries `code` as a whole word, in any letter case ("use SPRING15 at checkout"
/// carries SPRING15; "SPRING150" does not).
pub fn carries_code(body: &str, code: &str) -> bool {
    let code = code.trim();
    if code.is_empty() {
        return false;
    }
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    body.split(|c: char| !word(c)).any(|w| w.eq_ignore_ascii_case(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn text(id: i64, sent: &str, body: &str) -> Text {
        Text { id, sent_at: at(sent), failed: false, body: body.into() }
    }

    fn order(when: &str, codes: &[&str]) -> Order {
        Order { ordered_at: at(when), discount_codes: codes.iter().map(|c| c.to_string()).collect(), cancelled: false }
    }

    #[test]
    fn a_click_inside_its_window_beats_an_older_delivery() {
        let evidence = Evidence {
            texts: vec![text(1, "2026-03-01T10:00:00Z", "Cart saved"), text(2, "2026-03-03T10:00:00Z", "New in")],
            clicks: vec![Click { text: 1, at: at("2026-03-04T09:00:00Z"), preview: false }],
            replies: vec![],
        };
        let got = attribute(&order("2026-03-04T12:00:00Z", &[]), &evidence, &Windows::default()).unwrap();
        assert_eq!((got.text, got.touch), (1, Touch::Click));
    }

    #[test]
    fn a_preview_is_not_a_click_and_a_failed_text_is_not_a_delivery() {
        let mut t = text(1, "2026-03-04T10:00:00Z", "Cart saved");
        t.failed = true;
        let evidence = Evidence {
            texts: vec![t],
            clicks: vec![Click { text: 1, at: at("2026-03-04T10:00:01Z"), preview: true }],
            replies: vec![],
        };
        assert_eq!(attribute(&order("2026-03-04T12:00:00Z", &[]), &evidence, &Windows::default()), None);
    }

    #[test]
    fn a_code_counts_outside_every_window_and_a_cancelled_order_is_nobodys() {
        let evidence = Evidence {
            texts: vec![text(1, "2026-01-01T10:00:00Z", "Use code spring15 at checkout")],
            ..Evidence::default()
        };
        let mut o = order("2026-03-01T00:00:00Z", &["SPRING15"]);
        assert_eq!(attribute(&o, &evidence, &Windows::default()).map(|a| a.touch), Some(Touch::Code));
        o.cancelled = true;
        assert_eq!(attribute(&o, &evidence, &Windows::default()), None);
        assert!(!carries_code("Use SPRING150 today", "SPRING15"));
    }

    #[test]
    fn a_reply_points_at_the_text_it_answered_or_the_answer() {
        let evidence = Evidence {
            texts: vec![text(7, "2026-03-01T10:05:00Z", "Yes, we have it in M")],
            clicks: vec![],
            replies: vec![at("2026-03-01T10:00:00Z")],
        };
        let got = attribute(&order("2026-03-10T10:00:00Z", &[]), &evidence, &Windows::default()).unwrap();
        assert_eq!((got.text, got.touch), (7, Touch::Reply));
        assert_eq!(attribute(&order("2026-03-01T10:01:00Z", &[]), &evidence, &Windows::default()), None);
    }

    /// The blind cases (eval/attribution/blind.jsonl), written from the rule in
    /// docs/analytics.md by someone who had not read this code.
    #[test]
    fn the_blind_cases_are_attributed_as_written() {
        #[derive(Deserialize)]
        struct Case {
            name: String,
            #[serde(default)]
            windows: Option<serde_json::Value>,
            order: CaseOrder,
            texts: Vec<Text>,
            clicks: Vec<Click>,
            replies: Vec<CaseReply>,
            expect: Option<Expect>,
        }
        #[derive(Deserialize)]
        struct CaseOrder {
            at: DateTime<Utc>,
            codes: Vec<String>,
            cancelled: bool,
        }
        #[derive(Deserialize)]
        struct CaseReply {
            at: DateTime<Utc>,
        }
        #[derive(Deserialize, Debug, PartialEq)]
        struct Expect {
            text: i64,
            touch: Touch,
        }
        let mut wrong = Vec::new();
        let lines = include_str!("../../eval/attribution/blind.jsonl");
        for line in lines.lines().filter(|l| !l.trim().is_empty()) {
            let case: Case = serde_json::from_str(line).unwrap();
            let mut windows = Windows::default();
            if let Some(w) = &case.windows {
                let secs = |k: &str, d: Duration| w[k].as_i64().map(Duration::seconds).unwrap_or(d);
                windows = Windows {
                    click: secs("click", windows.click),
                    delivery: secs("delivery", windows.delivery),
                    reply: secs("reply", windows.reply),
                };
            }
            let order =
                Order { ordered_at: case.order.at, discount_codes: case.order.codes, cancelled: case.order.cancelled };
            let evidence = Evidence {
                texts: case.texts,
                clicks: case.clicks,
                replies: case.replies.into_iter().map(|r| r.at).collect(),
            };
            let got = attribute(&order, &evidence, &windows).map(|a| Expect { text: a.text, touch: a.touch });
            if got != case.expect {
                wrong.push(format!("{}: expected {:?}, got {got:?}", case.name, case.expect));
            }
        }
        assert!(wrong.is_empty(), "{} of the blind cases disagree:\n{}", wrong.len(), wrong.join("\n"));
    }
}
