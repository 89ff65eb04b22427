//! The offline responder: deterministic, grounded replies without an LLM.
//!
//! It answers greetings, thanks, order status (from the CRM), store policies and product
//! questions (from retrieval), and says so when it cannot. Its confidence is evidence-based:
//! for products, the share of the customer's content words that the best product matches,
//! so a weak match scores low and is escalated instead of guessed.

mod products;

use async_trait::async_trait;

use super::{Generator, LlmError};
use crate::domain::dialogue::OrderAsk;
use crate::domain::draft::Draft;
use crate::domain::facts::{DeliveryFact, Facts, OrderFact, PolicyFact};
use crate::domain::intent::{self, Intent};
use crate::llm::phrases::{self, Phrases, fill, phrases};

/// Model name recorded on turns answered offline.
pub const OFFLINE_MODEL: &str = "offline-responder";
/// Version recorded in place of a prompt version.
pub const OFFLINE_VERSION: &str = "offline@1";

/// Template answers from facts.
#[derive(Default)]
pub struct OfflineResponder;

fn greeting_name(facts: &Facts) -> String {
    match &facts.customer_name {
        Some(name) => format!(" {}", name.split_whitespace().next().unwrap_or(name)),
        None => String::new(),
    }
}

/// The sentences of a text, trimmed, empty ones left out.
fn sentences(body: &str) -> Vec<&str> {
    let mut starts = vec![0];
    starts.extend(crate::text::sentence_ends(body));
    starts
        .windows(2)
        .map(|w| body[w[0]..w[1]].trim())
        .chain(std::iter::once(body[*starts.last().unwrap()..].trim()))
        .filter(|s| !s.is_empty())
        .collect()
}

/// The reply's room in characters: the turn's, or one SMS segment when none is given.
fn room(facts: &Facts) -> usize {
    if facts.reply_chars == 0 { crate::domain::segments::GSM7_SINGLE } else { facts.reply_chars }
}

/// The sentences of a policy that answer the message, within `room` characters: the one
/// sharing the most content words with the message (the first on a tie or when none
/// shares any), then the next best that still fits, in the policy's order.
fn relevant_sentences(body: &str, content: &[String], room: usize) -> String {
    let sentences = sentences(body);
    pick(&sentences, &sentences, content, room)
}

/// The sentences of `out` that answer `content`, ranked on `ranked_on` (the same text
/// sentence for sentence: the policy in English when `out` is its translation): the best,
/// then the next best that still fit `room` (measured in `out`), in the policy's order.
fn pick(ranked_on: &[&str], out: &[&str], content: &[String], room: usize) -> String {
    let stem = |w: &str| w.trim_end_matches('s').to_string();
    // What a question word asks for in a policy's words: "how long" a number of days (not
    // "as long as"), "hours" the days and times ("Monday to Friday, 9:00 to 18:00").
    let wanted: Vec<String> = content
        .iter()
        .flat_map(|w| match w.as_str() {
            "long" => vec!["day".to_string()],
            "hours" | "hour" | "open" => vec![stem(w), "monday".to_string()],
            _ => vec![stem(w)],
        })
        .collect();
    // Distinct words: "Every return comes with a free return label" does not outrank "You can
    // return items within 30 days…" for "return policy" by saying "return" twice.
    let score = |s: &str| {
        let found: std::collections::BTreeSet<String> =
            intent::words(s).iter().map(|w| stem(w)).filter(|w| wanted.contains(w)).collect();
        found.len()
    };
    let mut ranked: Vec<usize> = (0..ranked_on.len()).collect();
    ranked.sort_by_key(|&i| (std::cmp::Reverse(score(ranked_on[i])), i));
    let mut chosen = vec![ranked[0]];
    let mut used = out[ranked[0]].chars().count();
    for &i in &ranked[1..] {
        let len = out[i].chars().count() + 1;
        if score(ranked_on[i]) > 0 && used + len <= room {
            chosen.push(i);
            used += len;
        }
    }
    chosen.sort_unstable();
    chosen.iter().map(|&i| out[i]).collect::<Vec<_>>().join(" ")
}

/// An answer about an order: the one the text is about (quoted by number, or the thread's),
/// else the latest; its status, its contents ("what was in it?"), or its status and the
/// shipping times ("when will it arrive?"). A quoted number that is not one of the
/// customer's orders goes to a teammate.
fn order_status(facts: &Facts, room: usize) -> (String, f64) {
    let (lang, w) = (facts.language, phrases(facts.language));
    let describe = |template: &str, o: &crate::domain::facts::OrderFact| {
        let count = o.items.len().to_string();
        let items = if o.items.len() == 1 { w.item } else { w.items };
        let status = phrases::order_status(lang, &o.status);
        let values =
            [("id", o.id.as_str()), ("date", &o.date), ("count", &count), ("items", items), ("status", &status)];
        fill(template, &values)
    };
    // The order quoted by number, else the thread's (not the latest, which says so).
    let quoted = intent::order_numbers(&facts.message);
    let thread = facts.dialogue.order.as_deref().filter(|_| facts.asked.order.is_some());
    let quoted_order = facts.orders.iter().find(|o| quoted.iter().any(|n| o.has_number(n)));
    if quoted_order.is_none()
        && let Some(number) = quoted.first()
    {
        return (fill(w.order_unknown_number, &[("id", number)]), 0.2);
    }
    let named = quoted_order.or_else(|| facts.orders.iter().find(|o| thread == Some(o.id.as_str())));
    let Some(order) = named.or(facts.orders.first()) else { return (w.no_order.to_string(), 0.2) };
    let status = if named.is_some() { describe(w.order_named, order) } else { describe(w.order_latest, order) };
    match facts.asked.order_ask {
        Some(OrderAsk::Items) => {
            let items: Vec<String> = order.items.iter().map(|i| format!("{} ({})", i.title, i.sku)).collect();
            let text =
                fill(w.order_contents, &[("id", &order.id), ("date", &order.date), ("items", &items.join(", "))]);
            (text, 0.85)
        }
        Some(OrderAsk::Arrival)
            if !matches!(order.status.as_str(), "delivered" | "cancelled")
                && order.tracking.is_none()
                && order.delivery.is_none() =>
        {
            // The status, and the shipping times of the store's policy, in up to two segments.
            let left = (2 * room).saturating_sub(status.chars().count() + 1);
            let times = facts
                .policies
                .iter()
                .find(|p| p.body.contains("business days"))
                // The one sentence that answers best (a room of 0 keeps only it).
                .map(|p| policy_text(p, &["long".to_string(), "standard".to_string()], 0))
                .filter(|t| t.chars().count() <= left);
            match times {
                Some(t) => (format!("{status} {t}"), 0.85),
                None => (status, 0.85),
            }
        }
        _ => (with_shipment(status, order, w, 2 * room), 0.85),
    }
}

/// The order's status followed by what its shipment says: the delivery date or the
/// carrier's estimate, the tracking number, and the tracking page, each only while the
/// reply stays within `room` characters.
fn with_shipment(status: String, order: &OrderFact, w: &Phrases, room: usize) -> String {
    let mut text = status;
    let mut add = |sentence: String| {
        if text.chars().count() + 1 + sentence.chars().count() <= room {
            text.push(' ');
            text.push_str(&sentence);
        }
    };
    match &order.delivery {
        Some(DeliveryFact::Delivered(date)) => add(fill(w.delivered_on, &[("date", date)])),
        Some(DeliveryFact::Expected(date)) => add(fill(w.expected_by, &[("date", date)])),
        None => {}
    }
    if order.status == "cancelled" || order.status == "delivered" {
        return text;
    }
    if let Some(tracking) = &order.tracking {
        if let Some(number) = &tracking.number {
            let carrier = tracking.company.as_ref().map(|c| format!(" ({c})")).unwrap_or_default();
            add(fill(w.tracking, &[("number", number), ("carrier", &carrier)]));
        }
        if let Some(url) = &tracking.url {
            add(fill(w.track_at, &[("url", url)]));
        }
    }
    text
}

/// The policy's sentences that answer the message, in the customer's language: chosen on
/// the English text, then taken from the translation when it has as many sentences (else
/// the translation's opening sentences that fit).
fn policy_text(policy: &PolicyFact, content: &[String], room: usize) -> String {
    let Some(translated) = &policy.translation else { return relevant_sentences(&policy.body, content, room) };
    let (en, tr) = (sentences(&policy.body), sentences(translated));
    if en.len() == tr.len() {
        return pick(&en, &tr, content, room);
    }
    let mut out = String::new();
    for t in tr {
        if !out.is_empty() && out.chars().count() + t.chars().count() + 1 > room {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

/// What a composed text may be about: what the facts can answer. A goal read as a greeting,
/// thanks, small talk or nothing known is not a text worth starting a conversation with.
const COMPOSABLE: [Intent; 3] = [Intent::Product, Intent::Policy, Intent::OrderStatus];

impl OfflineResponder {
    /// Drafts a reply from facts alone, or with a compose goal, the text the brand starts
    /// (pure; the async trait method wraps it).
    pub fn answer(&self, facts: &Facts) -> Draft {
        match facts.goal {
            Some(_) => self.compose(facts),
            None => self.reply(facts),
        }
    }

    /// A compose step's text (docs/flows.md, "Compose steps"): the goal answered as the
    /// customer's request would be, after a greeting, with an invitation to reply when it
    /// fits. A goal only a guess could answer keeps its low confidence, so it is not sent.
    fn compose(&self, facts: &Facts) -> Draft {
        let w = phrases(facts.language);
        let lead = fill(w.compose_lead, &[("name", &greeting_name(facts))]);
        let room = room(facts);
        let mut inner = facts.clone();
        inner.reply_chars = room.saturating_sub(lead.chars().count() + 1);
        let mut draft = self.reply(&inner);
        if !COMPOSABLE.iter().any(|i| i.as_str() == draft.intent) {
            draft.confidence = draft.confidence.min(0.1);
            return draft;
        }
        draft.text = format!("{lead} {}", draft.text);
        if draft.text.chars().count() + 1 + w.compose_close.chars().count() <= room {
            draft.text = format!("{} {}", draft.text, w.compose_close);
        }
        draft
    }

    /// Drafts a reply to the customer's message.
    fn reply(&self, facts: &Facts) -> Draft {
        let content = intent::content_words(&facts.message);
        let name = greeting_name(facts);
        let draft = |intent: Intent, text: String, confidence: f64, skus: Vec<String>| Draft {
            text,
            skus,
            confidence,
            needs_human: None,
            intent: intent.as_str().into(),
            model: OFFLINE_MODEL.into(),
            prompt_version: OFFLINE_VERSION.into(),
            prompt_tokens: 0,
            completion_tokens: 0,
            prompt_tokens_counted: 0,
            prompt_cuts: vec![],
        };
        let w = phrases(facts.language);
        let intent = intent::classify(facts);
        match intent {
            Intent::Thanks => draft(intent, fill(w.thanks, &[("name", &name)]), 0.9, vec![]),
            Intent::Greeting => draft(intent, fill(w.greeting, &[("name", &name)]), 0.9, vec![]),
            Intent::OrderStatus => {
                let (text, confidence) = order_status(facts, room(facts));
                draft(intent, text, confidence, vec![])
            }
            Intent::Policy => {
                // A question about fit wants the policy's sentence about fit, led by the sizes
                // of the product it is about ("is it true to size?" after a cart reminder).
                let mut wanted = content.clone();
                let mut lead = String::new();
                if intent::asks_about_fit(&intent::words(&facts.message)) {
                    wanted.push("fit".into());
                    let about =
                        facts.asked.refers_to.first().and_then(|sku| facts.products.iter().find(|p| &p.sku == sku));
                    if let Some(p) = about.filter(|p| !p.sizes.is_empty()) {
                        lead = fill(w.fit_sizes, &[("title", &p.title), ("sizes", &p.sizes.join(", "))]) + " ";
                    }
                }
                let room = room(facts).saturating_sub(lead.chars().count());
                let text = format!("{lead}{}", policy_text(&facts.policies[0], &wanted, room));
                draft(intent, text, 0.75, vec![])
            }
            Intent::Product => {
                let a = products::answer(facts, room(facts));
                draft(intent, a.text, 0.3 + 0.6 * a.evidence, a.skus)
            }
            // Honest about what answers (the AI disclosure of CTIA's and the states' bot rules),
            // and that a person is a text away.
            Intent::AboutBot => draft(intent, w.about_bot.into(), 0.9, vec![]),
            Intent::SmallTalk => draft(intent, w.small_talk.into(), 0.8, vec![]),
            Intent::Unknown => draft(intent, w.handoff.into(), 0.15, vec![]),
        }
    }
}

#[async_trait]
impl Generator for OfflineResponder {
    async fn draft(&self, facts: &Facts) -> Result<Draft, LlmError> {
        Ok(self.answer(facts))
    }

    fn model(&self) -> String {
        OFFLINE_MODEL.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::{OrderFact, PolicyFact, ProductFact};
    use crate::domain::{Money, Sku};

    fn blouse(sku: &str, colour: &str, stock: i64) -> ProductFact {
        ProductFact {
            sku: Sku::parse(sku).unwrap(),
            title: format!("Blouse - {colour}"),
            brand: "Acme".into(),
            category: "Women's Clothing".into(),
            price: Money::usd(32.99),
            sale_price: None,
            colors: vec![colour.into()],
            sizes: vec![],
            stock,
            score: 3.0,
            variants: vec![],
        }
    }

    fn facts(message: &str) -> Facts {
        Facts { message: message.into(), customer_name: Some("Elyssa Reese".into()), ..Facts::default() }
    }

    #[test]
    fn a_product_question_is_answered_with_price_and_stock_from_the_facts() {
        let mut f = facts("do you have the blouse in red?");
        f.products = vec![blouse("B1", "red", 4), blouse("B2", "black", 0)];
        let d = OfflineResponder.answer(&f);
        assert_eq!(d.intent, "product");
        assert!(d.text.contains("Blouse - red (B1) for $32.99, in stock"), "{}", d.text);
        assert!(d.confidence > 0.8, "{}", d.confidence);
        assert_eq!(d.skus, vec!["B1"]);
    }

    #[test]
    fn a_product_that_can_be_ordered_without_stock_is_not_called_sold_out() {
        let mut f = facts("do you have the blouse in red?");
        let mut mug = blouse("B1", "red", 0);
        mug.variants = vec![crate::domain::facts::VariantFact {
            size: None,
            color: Some("red".into()),
            stock: 0,
            orderable: true,
        }];
        f.products = vec![mug];
        let d = OfflineResponder.answer(&f);
        assert!(d.text.contains("Blouse - red (B1) for $32.99, out of stock but can still be ordered"), "{}", d.text);
    }

    #[test]
    fn a_weak_product_match_has_low_confidence() {
        let mut f = facts("do you sell garden hoses?");
        f.products = vec![blouse("B1", "red", 4)];
        assert!(OfflineResponder.answer(&f).confidence < 0.5);
    }

    #[test]
    fn a_shipped_order_is_answered_with_its_tracking_and_the_carriers_estimate() {
        use crate::domain::facts::TrackingFact;
        let mut f = facts("where is my order?");
        let order = |status: &str, delivery| OrderFact {
            id: "1001".into(),
            date: "2026-11-28".into(),
            status: status.into(),
            total: crate::domain::Money::usd(61.98),
            items: vec![],
            tracking: Some(TrackingFact {
                company: Some("UPS".into()),
                number: Some("1Z999AA10123456784".into()),
                url: Some("https://shop.example.com/t/1Z999".into()),
            }),
            delivery,
        };
        f.orders = vec![order("shipped", Some(DeliveryFact::Expected("2026-12-09".into())))];
        let d = OfflineResponder.answer(&f);
        assert_eq!(
            d.text,
            "Your latest order 1001 from 2026-11-28 (0 items) is shipped. The carrier expects it by 2026-12-09. \
             Tracking number 1Z999AA10123456784 (UPS). Track it at https://shop.example.com/t/1Z999"
        );
        // Delivered: the date, and no tracking to chase.
        f.orders = vec![order("delivered", Some(DeliveryFact::Delivered("2026-12-02".into())))];
        let d = OfflineResponder.answer(&f);
        assert_eq!(
            d.text,
            "Your latest order 1001 from 2026-11-28 (0 items) is delivered. It was delivered on 2026-12-02."
        );
    }

    #[test]
    fn order_status_comes_from_the_latest_order() {
        let mut f = facts("where is my order?");
        f.orders = vec![OrderFact {
            id: "591188".into(),
            date: "2026-11-20".into(),
            status: "processing".into(),
            total: Money::usd(61.98),
            items: vec![],
            tracking: None,
            delivery: None,
        }];
        let d = OfflineResponder.answer(&f);
        assert_eq!(d.text, "Your latest order 591188 from 2026-11-20 (0 items) is processing.");
        let none = OfflineResponder.answer(&facts("where is my order?"));
        assert!(none.confidence < 0.5);
    }

    #[test]
    fn greetings_thanks_and_policies_have_their_own_answers() {
        assert!(OfflineResponder.answer(&facts("hi!")).text.starts_with("Hi Elyssa!"));
        assert!(OfflineResponder.answer(&facts("thanks so much")).text.starts_with("You're welcome Elyssa"));
        let mut f = facts("how long does shipping take?");
        f.policies = vec![PolicyFact {
            id: "shipping".into(),
            title: "Shipping".into(),
            body: "Standard takes 3-5 business days. Free over $50. Express costs $14.95.".into(),
            translation: None,
            score: 2.0,
        }];
        let d = OfflineResponder.answer(&f);
        assert_eq!(d.text, "Standard takes 3-5 business days.");
        let content = |m: &str| intent::content_words(m);
        let body =
            "You can return items within 30 days. Every return comes with a free return label. Refunds take 5-7 days.";
        assert_eq!(
            relevant_sentences(body, &content("do I have to pay for the return label?"), 160),
            "You can return items within 30 days. Every return comes with a free return label."
        );
        assert_eq!(
            relevant_sentences(body, &content("return label?"), 60),
            "Every return comes with a free return label."
        );
        assert_eq!(relevant_sentences("It costs $5.95 today. Or more.", &content("hmm"), 160), "It costs $5.95 today.");
    }

    #[test]
    fn nothing_to_go_on_means_a_handoff() {
        let d = OfflineResponder.answer(&facts("what's the meaning of life"));
        assert_eq!(d.intent, "unknown");
        assert!(d.confidence < 0.3);
    }
}
