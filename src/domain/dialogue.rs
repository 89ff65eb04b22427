//! The dialogue state of a conversation, and how a text refers back into it.
//!
//! Texting is elliptical: "how much is it?", "in a medium?", "the black one", "is the first
//! one in stock?", "which one is cheaper?" only mean something after the bot's previous
//! answer. [`DialogueState`] is what a turn leaves for the next one: the products the bot
//! offered, in the order it offered them (what "it" and "the first one" point at), the
//! product words and attributes the customer asked for (colour, size, budget, audience), and
//! the question the bot left open. [`resolve`] reads a new text against it: which of those
//! products the text is about, and what it wants to know of them ([`Ask`]).
//!
//! The state is recorded with every turn (the `dialogue` column of its audit row) and read
//! back from the conversation's latest turn, so it is stored per conversation, written in the
//! turn's own transaction, and shows in the audit. Pure: no IO, word lists, deterministic.

use serde::{Deserialize, Serialize};

use super::Sku;
use super::facts::ProductFact;
use super::intent::{self, words};

/// What a conversation has established so far; empty at the start of a thread.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DialogueState {
    /// The products the bot last offered, in the order it offered them.
    #[serde(default)]
    pub focus: Vec<FocusProduct>,
    /// The product words of the customer's last product question ("red blouse"): what a
    /// follow-up with no product words of its own ("in black?", "the cheapest?") searches.
    #[serde(default)]
    pub query: String,
    /// The attributes asked so far, the latest holding.
    #[serde(default)]
    pub attributes: Attributes,
    /// The last product question asked for what goes with a purchase; a follow-up ("which
    /// one is cheapest?") compares those suggestions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub complements: bool,
    /// The order the thread is about (quoted by number, or the one the bot last described):
    /// what "when will it arrive?" and "what was in it?" are about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The language the customer last wrote in (a bare "ok" keeps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<super::language::Language>,
    /// What the bot asked and is waiting for ("what are you looking for"), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_question: Option<String>,
}

/// One product the bot offered: enough to name it in the audit; its facts are read again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FocusProduct {
    pub sku: Sku,
    pub title: String,
}

/// The attributes a customer asked for, kept across turns until restated.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Attributes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub colours: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
    /// Price bounds in cents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_price_cents: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_price_cents: Option<i64>,
    /// Who it is for, as a category word ("men", "women").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
}

/// What a text wants to know about the products it is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Ask {
    /// Nothing in particular: show the products.
    #[default]
    Describe,
    /// "how much is it?", "price?"
    Price,
    /// "is it in stock?", "still available?"
    Stock,
    /// "in a medium?", "does it come in XL?" (the size), "what sizes?" (none).
    Size(Option<String>),
    /// "what other colours?", "does it come in other colours?"
    Colours,
    /// "which one is the cheapest?", "the cheapest dress?"
    Cheapest,
    /// "the most expensive one?"
    Dearest,
    /// "which one is cheaper?" between the products offered.
    Cheaper,
}

/// What a text asks of an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderAsk {
    /// "where is my order?", "did it ship?"
    Status,
    /// "what was in it?", "remind me what I ordered"
    Items,
    /// "when will it arrive?", "how long till it gets here?"
    Arrival,
}

/// Phrases of a question about an order's contents.
const ORDER_ITEMS: &[&str] = &[
    "in it",
    "in the order",
    "what did i order",
    "what i ordered",
    "what did i buy",
    "items",
    "whats in",
    "what was in",
];
/// Phrases of a question about when an order arrives.
const ORDER_ARRIVAL: &[&str] =
    &["when will", "how long", "arrive", "get here", "gets here", "till it", "until it", "be here", "eta", "when does"];
/// Words of a question about an order.
const ORDER_TALK: &[&str] =
    &["order", "package", "parcel", "track", "tracking", "ship", "shipped", "delivered", "status", "update"];

/// What `message` asks of an order, if it is about one: quoting one of `orders` by number,
/// or (with an order in the thread) asking about its contents, arrival or status.
pub fn order_ask(message: &str, in_thread: bool) -> Option<OrderAsk> {
    let w = words(message);
    let text = format!(" {} ", w.join(" "));
    let has = |list: &[&str]| list.iter().any(|p| text.contains(&format!(" {p} ")));
    if !in_thread && !w.iter().any(|x| matches!(x.as_str(), "order" | "package" | "parcel")) {
        return None;
    }
    // "how long do refunds take?" is about the returns policy, whatever the thread.
    if w.iter().any(|x| matches!(x.as_str(), "refund" | "refunds" | "return" | "returns" | "exchange")) {
        return None;
    }
    if has(ORDER_ITEMS) {
        Some(OrderAsk::Items)
    } else if has(ORDER_ARRIVAL) {
        Some(OrderAsk::Arrival)
    } else if has(ORDER_TALK) {
        Some(OrderAsk::Status)
    } else {
        None
    }
}

/// What this turn's text means in the thread: what it asks, about which products.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Asked {
    pub ask: Ask,
    /// The products of the thread the text refers to ("it", "the first one", "the black
    /// one"), in focus order; empty when it refers to none (a new question).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refers_to: Vec<Sku>,
    /// How the reference was made ("it", "the first one", "colour black", "implied"), for the
    /// audit and the prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The colours and sizes the text (or the thread) asks for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub colours: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sizes: Vec<String>,
    /// "what goes with the skirt I bought?": complements of past purchases are welcome.
    pub wants_complements: bool,
    /// The product words asked, as written (after resolution: the thread's for a follow-up).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub product_words: Vec<String>,
    /// The order the text is about: quoted by number, or the thread's for a follow-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// What the text asks of that order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_ask: Option<OrderAsk>,
    /// The search words after resolution ("blouse" for "in red?" after "the blouse?").
    pub query: String,
    /// The message's own product words (none in "how much is it?"), for the next state.
    #[serde(skip)]
    pub own_words: String,
    /// The attributes the message itself states, for the next state.
    #[serde(skip)]
    pub attributes: Attributes,
}

const STOCK_WORDS: &[&str] = &["stock", "available", "availability", "left", "sold", "still", "instock"];
const SIZE_WORDS: &[&str] = &["size", "sizes", "sizing", "fit", "fits"];
const COLOUR_WORDS: &[&str] = &["colour", "colours", "color", "colors", "shades", "shade"];
const CHEAPEST: &[&str] = &["cheapest", "lowest", "least"];
const DEAREST: &[&str] = &["priciest", "dearest", "most expensive", "highest price"];
/// Words that point back at something already said.
const POINTERS: &[&str] = &["it", "that", "this", "them", "those", "these", "they", "one", "ones", "both"];
/// Plural pointers: the whole focus, not its first product.
const PLURAL: &[&str] = &["them", "those", "these", "they", "both", "ones"];
const ORDINALS: &[(&str, usize)] =
    &[("first", 0), ("1st", 0), ("second", 1), ("2nd", 1), ("third", 2), ("3rd", 2), ("fourth", 3), ("4th", 3)];

/// What the text asks, from its words and the colours and sizes understood in it.
pub fn ask_of(message: &str, colours: &[String], sizes: &[String]) -> Ask {
    let w = words(message);
    let text = format!(" {} ", w.join(" "));
    let has = |list: &[&str]| list.iter().any(|p| text.contains(&format!(" {p} ")));
    if has(DEAREST) {
        Ask::Dearest
    } else if has(CHEAPEST) || text.contains(" least expensive ") || text.contains(" most affordable ") {
        Ask::Cheapest
    } else if has(&["cheaper", "less expensive", "too expensive", "too pricey", "too much", "too pricy"]) {
        Ask::Cheaper
    } else if has(COLOUR_WORDS) && colours.is_empty() {
        Ask::Colours
    } else if let Some(size) = sizes.first() {
        Ask::Size(Some(size.clone()))
    } else if has(SIZE_WORDS) {
        Ask::Size(None)
    } else if has(&["how much", "price", "prices", "cost", "costs", "priced", "sale", "discount", "discounted", "deal"])
    {
        Ask::Price
    } else if has(STOCK_WORDS) || text.contains(" have it ") || text.contains(" in stock ") {
        Ask::Stock
    } else {
        Ask::Describe
    }
}

/// "another black blouse?", "a different one": the customer wants something other than what
/// was offered.
pub fn wants_other(message: &str) -> bool {
    let w = words(message);
    w.iter().any(|x| {
        matches!(
            x.as_str(),
            "another" | "other" | "different" | "else" | "others" | "similar" | "options" | "alternatives" | "choices"
        )
    }) && !w.iter().any(|x| COLOUR_WORDS.contains(&x.as_str()))
}

/// The base name of a catalog title, without its colour ("Cardigan - blue" → "Cardigan").
pub fn base_title(title: &str) -> &str {
    title.rsplit_once(" - ").map_or(title, |(base, _)| base).trim()
}

/// Which of the focus products `message` refers to, with how, or `None` when it refers to
/// none of them (a new question, or nothing in focus).
///
/// `own_words` are the message's own product words (after synonyms); `colours` the colours
/// it names. A message that names products refers to the focus products it names ("is the
/// blazer in stock?"); one without product words refers by ordinal ("the first one"), by
/// colour ("the black one"), by pointer ("it", "that one") or implicitly by asking about
/// an attribute ("how much?", "in a medium?").
pub fn resolve(
    message: &str,
    own_words: &[String],
    colours: &[String],
    ask: &Ask,
    focus: &[ProductFact],
) -> Option<(Vec<Sku>, String)> {
    if focus.is_empty() || wants_other(message) {
        return None;
    }
    let w = words(message);
    let skus = |ps: Vec<&ProductFact>| ps.into_iter().map(|p| p.sku.clone()).collect::<Vec<_>>();
    if !own_words.is_empty() {
        let named: Vec<&ProductFact> = focus.iter().filter(|p| intent::coverage(own_words, p) >= 0.5).collect();
        return (!named.is_empty()).then(|| (skus(named), "named".to_string()));
    }
    if let Some((word, i)) = ORDINALS.iter().find(|(o, _)| w.iter().any(|x| x == o)) {
        return focus.get(*i).map(|p| (vec![p.sku.clone()], format!("the {word} one")));
    }
    if w.iter().any(|x| x == "last") && w.iter().any(|x| x == "one") {
        return focus.last().map(|p| (vec![p.sku.clone()], "the last one".to_string()));
    }
    if !colours.is_empty() {
        let coloured: Vec<&ProductFact> = focus
            .iter()
            .filter(|p| colours.iter().any(|c| p.colors.iter().any(|pc| pc.contains(c.as_str()))))
            .collect();
        // "in black?" when nothing offered is black: a search in that colour, not a reference.
        return (!coloured.is_empty()).then(|| (skus(coloured), format!("colour {}", colours.join(" "))));
    }
    let pointer = w.iter().find(|x| POINTERS.contains(&x.as_str()));
    let about_many =
        matches!(ask, Ask::Cheaper | Ask::Cheapest | Ask::Dearest) || w.iter().any(|x| PLURAL.contains(&x.as_str()));
    match (pointer, ask) {
        // "which one is the cheapest?" compares over everything that matches, not only what
        // was offered: the caller searches again.
        (_, Ask::Cheapest | Ask::Dearest | Ask::Cheaper) if focus.len() < 2 => None,
        (Some(p), _) if about_many => Some((skus(focus.iter().collect()), p.clone())),
        (Some(p), _) => Some((vec![focus[0].sku.clone()], p.clone())),
        (None, Ask::Describe) => None,
        (None, _) if about_many => Some((skus(focus.iter().collect()), "implied".into())),
        (None, _) => Some((vec![focus[0].sku.clone()], "implied".into())),
    }
}

impl DialogueState {
    /// The state after a turn: the products offered (when a reply went out with any), the
    /// customer's product words when they gave new ones, and the attributes restated.
    pub fn after(&self, asked: &Asked, offered: &[&ProductFact]) -> DialogueState {
        let (own_words, attributes) = (&asked.own_words, &asked.attributes);
        let mut next = self.clone();
        if !own_words.trim().is_empty() {
            next.query = own_words.trim().to_string();
            next.complements = asked.wants_complements;
        }
        let a = &mut next.attributes;
        if !attributes.colours.is_empty() {
            a.colours = attributes.colours.clone();
        }
        if !attributes.sizes.is_empty() {
            a.sizes = attributes.sizes.clone();
        }
        if attributes.max_price_cents.is_some() || attributes.min_price_cents.is_some() {
            a.max_price_cents = attributes.max_price_cents;
            a.min_price_cents = attributes.min_price_cents;
        }
        if attributes.audience.is_some() {
            a.audience = attributes.audience.clone();
        }
        if asked.order.is_some() {
            next.order = asked.order.clone();
        }
        if !offered.is_empty() {
            next.focus = offered.iter().map(|p| FocusProduct { sku: p.sku.clone(), title: p.title.clone() }).collect();
        }
        next
    }

    /// The skus in focus, in order.
    pub fn focus_skus(&self) -> Vec<String> {
        self.focus.iter().map(|f| f.sku.as_str().to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Money;

    fn product(sku: &str, title: &str, colour: &str, cents: i64) -> ProductFact {
        ProductFact {
            sku: Sku::parse(sku).unwrap(),
            title: title.into(),
            colors: vec![colour.into()],
            price: Money::usd_cents(cents),
            ..ProductFact::red_blouse()
        }
    }

    fn focus() -> Vec<ProductFact> {
        vec![product("B1", "Blazer - white", "white", 2899), product("B2", "Blazer - black", "black", 3299)]
    }

    fn refers(message: &str, own: &[&str], colours: &[&str]) -> Option<Vec<String>> {
        let own: Vec<String> = own.iter().map(|s| s.to_string()).collect();
        let colours: Vec<String> = colours.iter().map(|s| s.to_string()).collect();
        let ask = ask_of(message, &colours, &[]);
        resolve(message, &own, &colours, &ask, &focus())
            .map(|(s, _)| s.iter().map(|x| x.as_str().to_string()).collect())
    }

    #[test]
    fn what_a_follow_up_asks() {
        let ask = |m: &str| ask_of(m, &[], &[]);
        assert_eq!(ask("how much is it?"), Ask::Price);
        assert_eq!(ask("price?"), Ask::Price);
        assert_eq!(ask("is it in stock?"), Ask::Stock);
        assert_eq!(ask("what other colours does it come in?"), Ask::Colours);
        assert_eq!(ask("which one is the cheapest?"), Ask::Cheapest);
        assert_eq!(ask("which one's cheaper?"), Ask::Cheaper);
        assert_eq!(ask("what sizes?"), Ask::Size(None));
        assert_eq!(ask_of("in a medium?", &[], &["M".into()]), Ask::Size(Some("M".into())));
        assert_eq!(ask("the black one"), Ask::Describe);
    }

    #[test]
    fn pointers_ordinals_and_colours_pick_from_the_focus() {
        assert_eq!(refers("how much is it?", &[], &[]), Some(vec!["B1".into()]));
        assert_eq!(refers("is the second one in stock?", &[], &[]), Some(vec!["B2".into()]));
        assert_eq!(refers("the black one, how much?", &[], &["black"]), Some(vec!["B2".into()]));
        assert_eq!(refers("which one is cheaper?", &[], &[]), Some(vec!["B1".into(), "B2".into()]));
        assert_eq!(refers("is the blazer in stock?", &["blazer"], &[]), Some(vec!["B1".into(), "B2".into()]));
        // Not references: a new product, a colour nothing offered has, nothing asked.
        assert_eq!(refers("do you have jeans?", &["jeans"], &[]), None);
        assert_eq!(refers("and in red?", &[], &["red"]), None);
        assert_eq!(refers("hmm", &[], &[]), None);
        let none: Vec<ProductFact> = vec![];
        assert_eq!(resolve("how much is it?", &[], &[], &Ask::Price, &none), None);
    }

    #[test]
    fn order_follow_ups() {
        assert_eq!(order_ask("when will it arrive", true), Some(OrderAsk::Arrival));
        assert_eq!(order_ask("how long till it gets here", true), Some(OrderAsk::Arrival));
        assert_eq!(order_ask("what's in it again?", true), Some(OrderAsk::Items));
        assert_eq!(order_ask("ok. can you remind me what was in it", true), Some(OrderAsk::Items));
        assert_eq!(order_ask("did it ship?", true), Some(OrderAsk::Status));
        assert_eq!(order_ask("what was in my order?", false), Some(OrderAsk::Items));
        assert_eq!(order_ask("how much is it?", true), None);
        assert_eq!(order_ask("when will it arrive", false), None, "no order in the thread");
    }

    #[test]
    fn the_state_keeps_what_was_not_restated() {
        let start = DialogueState::default();
        let blazers = focus();
        let asked =
            |words: &str, attributes: Attributes| Asked { own_words: words.into(), attributes, ..Asked::default() };
        let s = start.after(
            &asked("blazer", Attributes { colours: vec!["white".into()], ..Attributes::default() }),
            &[&blazers[0]],
        );
        assert_eq!((s.query.as_str(), s.focus_skus()), ("blazer", vec!["B1".to_string()]));
        let s = s.after(&asked("", Attributes { sizes: vec!["M".into()], ..Attributes::default() }), &[]);
        assert_eq!(s.query, "blazer", "a follow-up keeps the product words");
        assert_eq!(s.attributes.colours, ["white"]);
        assert_eq!(s.attributes.sizes, ["M"]);
        assert_eq!(s.focus_skus(), ["B1"], "nothing offered: the focus stays");
        assert_eq!(base_title("Cardigan - black/white"), "Cardigan");
        assert_eq!(base_title("SET - Bow tie - black"), "SET - Bow tie");
    }
}
