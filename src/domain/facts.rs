//! The facts a turn is grounded in: what the customer said, who they are, what they bought,
//! and what retrieval found. Built by the context and retrieve stages; read by generation,
//! the guard and scoring. Prices are [`Money`], so the guard compares cents, not strings.

use serde::Serialize;

use super::dialogue::{Asked, DialogueState};
use super::language::Language;
use super::{Money, Phone, Sku};

/// A product as the reply may describe it (from the SQL catalog, not the index).
#[derive(Debug, Clone, Serialize)]
pub struct ProductFact {
    pub sku: Sku,
    pub title: String,
    pub brand: String,
    pub category: String,
    pub price: Money,
    /// The sale price, when the product is on sale (what the customer pays now).
    pub sale_price: Option<Money>,
    pub colors: Vec<String>,
    pub sizes: Vec<String>,
    /// Units in stock, all variants together.
    pub stock: i64,
    /// Stock by variant (size and/or colour), when the catalog gives variants.
    pub variants: Vec<VariantFact>,
    /// Retrieval score (BM25).
    pub score: f32,
}

/// One variant of a product: a size and/or colour with its own stock (the catalog file's
/// `variants`, stored as JSON in `products.variants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFact {
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub stock: i64,
    /// Can be ordered with none in stock (Shopify's "continue selling when out of stock").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub orderable: bool,
}

impl ProductFact {
    /// None in stock, yet a variant can still be ordered: not sold out.
    pub fn orderable(&self) -> bool {
        self.stock <= 0 && self.variants.iter().any(|v| v.orderable)
    }

    /// In stock, or orderable without stock.
    pub fn available(&self) -> bool {
        self.stock > 0 || self.orderable()
    }

    /// The price a customer pays now: the sale price when on sale.
    pub fn price_now(&self) -> Money {
        self.sale_price.unwrap_or(self.price)
    }
}

/// A store policy document that matched the message.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyFact {
    pub id: String,
    pub title: String,
    pub body: String,
    /// The policy in the customer's language, when that is not English and the store has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translation: Option<String>,
    pub score: f32,
}

/// One of the customer's orders.
#[derive(Debug, Clone, Serialize)]
pub struct OrderFact {
    pub id: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub status: String,
    pub total: Money,
    pub items: Vec<OrderItemFact>,
    /// The latest shipment's carrier and tracking, once the order has shipped.
    pub tracking: Option<TrackingFact>,
    /// `YYYY-MM-DD` the carrier delivered it, or expects to.
    pub delivery: Option<DeliveryFact>,
}

/// A shipment's tracking: what "where is my order?" points the customer to.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TrackingFact {
    /// The carrier ("UPS"), if the shop said.
    pub company: Option<String>,
    pub number: Option<String>,
    /// The carrier's tracking page; the guard still drops it unless its host is allowed.
    pub url: Option<String>,
}

/// When an order arrived or should arrive.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub enum DeliveryFact {
    /// Delivered on `YYYY-MM-DD`.
    Delivered(String),
    /// The carrier's estimate, `YYYY-MM-DD`.
    Expected(String),
}

impl OrderFact {
    /// True when a customer quoting `number` means this order: its id, or its id with a
    /// suffix after a dash ("722295-2": a split or re-shipped order, and the eval's
    /// per-conversation copies of the demo orders).
    pub fn has_number(&self, number: &str) -> bool {
        order_number_matches(&self.id, number)
    }
}

/// True when the order id `id` is the order number `number` (see [`OrderFact::has_number`]).
pub fn order_number_matches(id: &str, number: &str) -> bool {
    id == number || id.strip_prefix(number).is_some_and(|rest| rest.starts_with('-'))
}

/// One line of an order.
#[derive(Debug, Clone, Serialize)]
pub struct OrderItemFact {
    pub sku: Sku,
    pub title: String,
    pub price: Money,
}

/// One earlier message of the thread.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryLine {
    /// True for the customer's messages, false for ours.
    pub from_customer: bool,
    pub body: String,
}

/// Everything a turn knows. Built only by the context stage, for a customer's number; there
/// is no `Default` outside tests, because a turn without a customer means nothing.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// The customer's number (never serialised: facts go into prompts and audits).
    #[serde(skip)]
    pub phone: Phone,
    /// The customer's message being answered, as the pipeline reads it: a Spanish text is
    /// rewritten into the English words the word lists and the index know
    /// (`domain::spanish::to_english`); `original` keeps what the customer wrote.
    pub message: String,
    /// What the customer wrote, when `message` is a rewrite of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    /// The language to answer in (the message's, else the thread's).
    pub language: Language,
    /// The customer's name when the CRM knows it.
    pub customer_name: Option<String>,
    /// Newest first.
    pub orders: Vec<OrderFact>,
    /// Oldest first.
    pub history: Vec<HistoryLine>,
    /// Best first.
    pub products: Vec<ProductFact>,
    /// Best first.
    pub policies: Vec<PolicyFact>,
    /// The thread's latest turns in which the bot drafted, newest first (for scoring;
    /// never in a prompt).
    #[serde(skip)]
    pub recent_turns: Vec<PastTurnFact>,
    /// Room for the reply, in characters: one SMS segment, less the AI disclosure on the
    /// bot's first reply of a conversation (0: not set; generators use their default).
    #[serde(skip)]
    pub reply_chars: usize,
    /// The conversation's dialogue state before this turn (what the thread established).
    #[serde(skip)]
    pub dialogue: DialogueState,
    /// What the message asks, read with the thread: the products it refers to, the
    /// attribute it wants, the search words after resolution.
    pub asked: Asked,
    /// Products that go with what the customer bought, with the purchase they go with.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub complements: Vec<ComplementFact>,
    /// A flow's compose goal (the brand's instruction for a text it starts), when the text is
    /// not a reply: `message` holds the goal then, read like a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    /// Pictures the customer sent with the message, as `data:` URLs, for a model that accepts
    /// images (never serialised: they are large, and the message's media rows keep the URLs).
    #[serde(skip)]
    pub images: Vec<String>,
    /// The product whose picture goes with the reply as MMS (the customer asked to see it and
    /// the catalog has one), told to the model so it does not say it cannot send pictures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<PictureFact>,
}

/// A product picture to send with the reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PictureFact {
    pub sku: Sku,
    pub title: String,
    /// The catalog's `image_url`.
    pub url: String,
}

/// A product suggested because it goes with something the customer bought.
#[derive(Debug, Clone, Serialize)]
pub struct ComplementFact {
    /// The suggested product.
    pub sku: Sku,
    /// The title of the purchase it goes with ("A-line skirt - black").
    pub goes_with: String,
    /// When that purchase was ordered, `YYYY-MM-DD`.
    pub bought_on: String,
}

#[cfg(test)]
impl ProductFact {
    /// A test product: "Blouse - red" (sku B1) by Acme, $32.99, one in stock, red.
    pub fn red_blouse() -> ProductFact {
        ProductFact {
            sku: Sku::parse("B1").unwrap(),
            title: "Blouse - red".into(),
            brand: "Acme".into(),
            category: "Women's Clothing".into(),
            price: Money::usd(32.99),
            sale_price: None,
            colors: vec!["red".into()],
            sizes: vec![],
            stock: 1,
            variants: vec![],
            score: 1.0,
        }
    }
}

/// Facts for unit tests: a fixed test number, everything else empty.
#[cfg(test)]
impl Default for Facts {
    fn default() -> Facts {
        Facts {
            phone: Phone::parse("+14155550123").expect("a valid test number"),
            message: String::new(),
            original: None,
            language: Language::En,
            customer_name: None,
            orders: vec![],
            history: vec![],
            products: vec![],
            policies: vec![],
            recent_turns: vec![],
            reply_chars: 0,
            dialogue: DialogueState::default(),
            asked: Asked::default(),
            complements: vec![],
            goal: None,
            images: vec![],
            picture: None,
        }
    }
}

impl Facts {
    /// The complement fact of a product, when it was suggested as one.
    pub fn complement_of(&self, sku: &Sku) -> Option<&ComplementFact> {
        self.complements.iter().find(|c| &c.sku == sku)
    }

    /// True when the bot has not written in this thread yet: its reply is the first.
    pub fn first_reply(&self) -> bool {
        Facts::first_reply_after(&self.history)
    }

    /// True when `history` has no message of ours.
    pub fn first_reply_after(history: &[HistoryLine]) -> bool {
        !history.iter().any(|h| !h.from_customer)
    }
}

/// An earlier drafted turn of the thread: whether it went to a person, and its confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct PastTurnFact {
    pub escalated: bool,
    pub confidence: f64,
}
