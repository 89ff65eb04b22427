//! What a flow leaves with a customer's run, as data both the flow engine (`flows`) and the
//! turn (`pipeline`) read: the trigger event, and the menu a reply may choose from. A reply to
//! a flow's text reaches the turn through this, not through a call into `flows`
//! (ARCHITECTURE.md, "Imports point downward only").

use serde::{Deserialize, Serialize};

use super::Sku;
use super::dialogue::{DialogueState, FocusProduct};

/// The trigger event of a run: what the steps' templates and the replies' facts know.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunContext {
    pub event: EventContext,
}

/// A stored event as a flow sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventContext {
    pub name: String,
    /// The event's properties as sent (`items[]`, `checkout_id`, `order_id`, `appointment_at`).
    pub properties: serde_json::Value,
    /// RFC 3339.
    pub occurred_at: String,
}

impl RunContext {
    /// The dialogue state a first reply to the flow's text starts from: the cart's or
    /// order's items in focus (so "is it true to size?" is about the cart's item), the order
    /// it is about.
    pub fn dialogue(&self) -> DialogueState {
        let p = &self.event.properties;
        let items = p.get("items").or_else(|| p.get("products")).and_then(|v| v.as_array());
        let focus = items
            .into_iter()
            .flatten()
            .filter_map(|item| {
                let sku = Sku::parse(item.get("sku")?.as_str()?).ok()?;
                let title = item.get("title").or_else(|| item.get("name")).and_then(|t| t.as_str()).unwrap_or_default();
                Some(FocusProduct { sku, title: title.to_string() })
            })
            .collect();
        let order = ["order_number", "order_id"].iter().find_map(|k| match p.get(*k)? {
            serde_json::Value::String(s) => Some(s.trim_start_matches('#').to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        DialogueState { focus, order, ..DialogueState::default() }
    }
}

/// The answers a reply to a flow's text may choose from, with the texts already rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Menu {
    /// The flow's text, sent again when a reply looks like a choice but is none of them.
    pub text: String,
    pub choices: Vec<MenuChoice>,
}

/// One answer ("1" confirms, "2" reschedules, "SHOP").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MenuChoice {
    /// [`normalise`]d.
    pub pattern: String,
    /// The text sent back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An event recorded for the customer (it may start or end flows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Hand the conversation to a person.
    #[serde(default)]
    pub handoff: bool,
    /// It confirms an opt-in (double opt-in).
    #[serde(default)]
    pub opt_in: bool,
}

/// What a reply does with a menu.
#[derive(Debug, Clone, PartialEq)]
pub enum MenuReading<'a> {
    /// It is this choice.
    Chose(&'a MenuChoice),
    /// It looks like a choice (a bare number or one word in capitals) but is none: the menu again.
    Unrecognised,
    /// Anything else: a question for the conversation engine.
    Other,
}

impl Menu {
    /// Reads a reply against the menu.
    pub fn read(&self, reply: &str) -> MenuReading<'_> {
        let said = normalise(reply);
        if let Some(choice) = self.choices.iter().find(|c| c.pattern == said) {
            return MenuReading::Chose(choice);
        }
        let trimmed = reply.trim();
        let numeric = !said.is_empty() && said.len() <= 2 && said.chars().all(|c| c.is_ascii_digit());
        let keyword = !trimmed.contains(char::is_whitespace)
            && trimmed.chars().filter(|c| c.is_alphabetic()).count() >= 2
            && trimmed.chars().filter(|c| c.is_alphabetic()).all(char::is_uppercase);
        if numeric || keyword { MenuReading::Unrecognised } else { MenuReading::Other }
    }
}

/// A reply as menus compare it: lowercase letters and digits only ("1." and " 1" are "1").
pub fn normalise(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn menu() -> Menu {
        let choice = |p: &str| MenuChoice {
            pattern: p.into(),
            text: Some(format!("chose {p}")),
            event: None,
            handoff: false,
            opt_in: false,
        };
        Menu {
            text: "Reply 1 to confirm, 2 to reschedule, or ask a question.".into(),
            choices: vec![choice("1"), choice("2"), choice("shop")],
        }
    }

    #[test]
    fn a_reply_is_a_choice_a_near_miss_or_a_question() {
        let m = menu();
        for (reply, want) in [("1", "1"), (" 1.", "1"), ("2!", "2"), ("SHOP", "shop"), ("shop", "shop")] {
            assert_eq!(
                m.read(reply),
                MenuReading::Chose(m.choices.iter().find(|c| c.pattern == want).unwrap()),
                "{reply}"
            );
        }
        for reply in ["3", "12", "STOP2", "YES"] {
            assert_eq!(m.read(reply), MenuReading::Unrecognised, "{reply}");
        }
        for reply in ["is parking free?", "what time is it again", "ok", "Thanks!"] {
            assert_eq!(m.read(reply), MenuReading::Other, "{reply}");
        }
    }

    #[test]
    fn a_cart_puts_its_items_in_focus_and_an_order_its_number() {
        let ctx = RunContext {
            event: EventContext {
                name: "Checkout Started".into(),
                properties: serde_json::json!({"checkout_id": "c1", "items": [{"sku": "ZO0347403474", "title": "Blouse"}, {"title": "no sku"}]}),
                occurred_at: String::new(),
            },
        };
        let d = ctx.dialogue();
        assert_eq!(d.focus.len(), 1);
        assert_eq!(d.focus[0].title, "Blouse");
        assert_eq!(d.order, None);
        let order = RunContext {
            event: EventContext { properties: serde_json::json!({"order_id": "#1001"}), ..Default::default() },
        };
        assert_eq!(order.dialogue().order.as_deref(), Some("1001"));
    }
}
