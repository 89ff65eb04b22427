//! Query understanding for SMS text: what a shopper's message says beyond its words.
//!
//! "anything under $30 for my husband?" is not a bag of words: it is a price bound and an
//! audience. This module turns a message (and the customer's previous message, for
//! "in red?") into search text plus exact filters for [`SearchIndex::search_products`]:
//!
//! - price bounds: "under $50", "less than 30 bucks", "over $100", "between 20 and 40",
//!   "$20-$40", "up to 25 dollars";
//! - colours ("in red", "the navy one") and negations ("not black", "anything but white",
//!   "no pink");
//! - sizes: "size 9", "in a 9", "size M", "medium", "XL";
//! - audience words to category words: "for my husband" → men's, "for her" → women's;
//! - carry-over: a message with no product words of its own ("in red?", "what about size
//!   8?") searches with the previous message's words and keeps its filters unless restated;
//! - skus quoted in the message ([`sku_mentions`]), taken literally by retrieval;
//! - whether the customer asks what goes with something ("what goes with the skirt I
//!   bought?"), for complement boosting.
//!
//! Typos are handled by the index (a fuzzy retry when nothing matches). Every rule is a
//! table or a regex below; [`Understood::notes`] says what was understood (for the audit).
//!
//! [`SearchIndex::search_products`]: super::SearchIndex::search_products

use std::sync::OnceLock;

use regex::Regex;

use super::index::ProductFilter;
use crate::domain::{Money, intent, synonyms};

/// What a message asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Understood {
    /// Words to rank by: the product words (filler, prices, colours, sizes and audience
    /// words removed; those are filters).
    pub text: String,
    pub filter: ProductFilter,
    /// "what goes with…": complements of past purchases are welcome.
    pub wants_complements: bool,
    /// The product words as the customer wrote them (before the catalog's synonyms are
    /// added to `text`): what the evidence score checks a product against.
    pub product_words: Vec<String>,
    /// Whether the message carried over the previous message's words.
    pub carried_over: bool,
    /// What was understood, in words ("max $29.99", "colour red", "size 9", …).
    pub notes: Vec<String>,
}

/// Colour words shoppers use (matched as whole words; "grey"/"gray" both).
const COLORS: &[&str] = &[
    "black",
    "white",
    "red",
    "blue",
    "navy",
    "green",
    "grey",
    "gray",
    "pink",
    "brown",
    "beige",
    "yellow",
    "orange",
    "purple",
    "gold",
    "silver",
    "khaki",
    "olive",
    "cream",
    "tan",
    "camel",
    "burgundy",
    "bordeaux",
    "rose",
    "cognac",
    "taupe",
    "turquoise",
    "coral",
    "mint",
    "lilac",
    "teal",
    "maroon",
    "nude",
    "denim",
    "charcoal",
    "ivory",
    "mustard",
];

/// Words that say who it is for, and the category word they imply.
const AUDIENCE: &[(&str, &str)] = &[
    ("husband", "men"),
    ("boyfriend", "men"),
    ("dad", "men"),
    ("father", "men"),
    ("son", "men"),
    ("brother", "men"),
    ("him", "men"),
    ("men", "men"),
    ("mens", "men"),
    ("man", "men"),
    ("guy", "men"),
    ("wife", "women"),
    ("girlfriend", "women"),
    ("mom", "women"),
    ("mum", "women"),
    ("mother", "women"),
    ("daughter", "women"),
    ("sister", "women"),
    ("her", "women"),
    ("women", "women"),
    ("womens", "women"),
    ("woman", "women"),
    ("ladies", "women"),
    ("lady", "women"),
];

/// Letter sizes and their spelled-out forms.
const SIZE_WORDS: &[(&str, &str)] = &[
    ("xs", "XS"),
    ("extra small", "XS"),
    ("s", "S"),
    ("small", "S"),
    ("m", "M"),
    ("medium", "M"),
    ("l", "L"),
    ("large", "L"),
    ("xl", "XL"),
    ("extra large", "XL"),
    ("xxl", "XXL"),
];

/// Words that carry no product meaning in a follow-up ("do you have it in red?").
const FILLER: &[&str] = &[
    "do",
    "you",
    "have",
    "has",
    "it",
    "in",
    "a",
    "an",
    "the",
    "any",
    "that",
    "this",
    "one",
    "ones",
    "them",
    "those",
    "these",
    "what",
    "about",
    "how",
    "and",
    "or",
    "is",
    "are",
    "there",
    "got",
    "get",
    "please",
    "pls",
    "size",
    "color",
    "colour",
    "also",
    "instead",
    "then",
    "maybe",
    "ok",
    "okay",
    "same",
    "but",
    "can",
    "i",
    "me",
    "my",
    "for",
    "with",
    "of",
    "something",
    "anything",
    "stuff",
    "cheaper",
    "under",
    "less",
    "more",
    "than",
    "not",
    "no",
    "too",
    "thanks",
    "hi",
    "hey",
    "hello",
    "yes",
    "yeah",
    "cool",
    "would",
    "like",
    "want",
    "need",
    "to",
    "show",
    "gift",
    "gifts",
    // Complement talk ("what goes w the skirt I bought?").
    "go",
    "goes",
    "going",
    "bought",
    "purchased",
    "ordered",
    "match",
    "matches",
    "wear",
    "pair",
    "w",
    "anyway",
    "btw",
    "time",
    "hows",
    "whats",
    "wheres",
    "options",
    "option",
    "see",
    "similar",
    "true",
    "run",
    "runs",
    "small",
    "big",
    "sale",
    "discount",
    "discounted",
    "deal",
    "choices",
    "alternatives",
    "again",
    "so",
    "sell",
    "sells",
    "selling",
    "carry",
    "after",
    "fine",
    "exactly",
    "exact",
    "present",
    "idea",
    "ideas",
    "another",
    "different",
    "else",
    // Follow-up questions about what was offered ("how much is it?", "is the first one in
    // stock?", "which one is the cheapest?", "what other colours?").
    "much",
    "price",
    "prices",
    "cost",
    "costs",
    "stock",
    "available",
    "left",
    "still",
    "sold",
    "out",
    "cheapest",
    "expensive",
    "priciest",
    "most",
    "least",
    "lowest",
    "which",
    "whats",
    "what's",
    "other",
    "others",
    "colours",
    "colors",
    "sizes",
    "come",
    "comes",
    "does",
    "first",
    "second",
    "third",
    "last",
    "1st",
    "2nd",
    "3rd",
    "where",
    "when",
    "tell",
    "oh",
    "cool",
    "great",
    "nice",
    "hmm",
    "perfect",
    "they",
    "their",
    "s",
    "both",
    "good",
    "will",
    "should",
    "work",
    "just",
    "really",
    "very",
    "well",
];

struct Patterns {
    between: Regex,
    max: Regex,
    min: Regex,
    negated_color: Regex,
    size: Regex,
    complements: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let amount = r"\$?\s?(\d{1,5}(?:\.\d{1,2})?)\s*(?:\$|dollars?|bucks|usd)?";
        let colors = COLORS.join("|");
        Patterns {
            between: Regex::new(&format!(r"\b(?:between\s+)?{amount}\s*(?:-|to|and)\s*{amount}")).expect("regex"),
            max: Regex::new(&format!(
                r"\b(under|below|less than|cheaper than|no more than|not more than|max|maximum|up to|at most|<)\s*{amount}"
            ))
            .expect("regex"),
            min: Regex::new(&format!(r"\b(over|above|more than|at least|min|minimum|>)\s*{amount}")).expect("regex"),
            negated_color: Regex::new(&format!(
                r"\b(?:not|no|anything but|except|but not|nothing|never|without)\s+(?:in\s+)?(?:the\s+)?({colors})\b"
            ))
            .expect("regex"),
            size: Regex::new(
                r"\b(?:size|sz)\s+(xxl|xl|xs|s|m|l|extra small|extra large|small|medium|large|\d{1,2}(?:\.5)?)\b|\bin (?:a|an)\s+(\d{1,2}(?:\.5)?|xxl|xl|xs|small|medium|large|extra large)\b|\b(extra small|extra large|small|medium|large|xxl|xl|xs)\b",
            )
            .expect("regex"),
            complements: Regex::new(
                r"\b(go|goes|going) (well )?(with|w)\b|\bmatch(es|ing)?\b|\bpair (it |them )?with\b|\bwear (it |them )?with\b|\bcomplete the look\b|\bto go with\b",
            )
            .expect("regex"),
        }
    })
}

fn cents(amount: &str) -> Option<i64> {
    let v: f64 = amount.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * 100.0).round() as i64)
}

fn size_label(raw: &str) -> String {
    let raw = raw.trim();
    SIZE_WORDS.iter().find(|(w, _)| *w == raw).map_or_else(|| raw.to_uppercase(), |(_, label)| label.to_string())
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\'').trim_end_matches("'s").to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Words of `text` that may name a product (not filler, colour, size or audience).
fn product_words(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| {
            !FILLER.contains(&w.as_str())
                && !intent::is_stopword(w)
                && !COLORS.contains(&w.as_str())
                && !AUDIENCE.iter().any(|(a, _)| a == w)
                && !SIZE_WORDS.iter().any(|(s, _)| s == w)
                && !w.chars().all(|c| c.is_ascii_digit())
        })
        .collect()
}

/// Understands `message`; `previous` is the customer's previous message in the thread.
pub fn understand(message: &str, previous: Option<&str>) -> Understood {
    let mut u = understand_one(message);
    if product_words(&u.text).is_empty()
        && let Some(prev) = previous
    {
        let before = understand_one(prev);
        let carried = product_words(&before.text);
        if !carried.is_empty() {
            u.text = carried.join(" ");
            u.product_words = before.product_words;
            u.carried_over = true;
            u.notes.push(format!("carried over: {}", carried.join(" ")));
            // Filters not restated now still hold ("size 9" then "in black?").
            let (now, then) = (&mut u.filter, before.filter);
            if now.sizes.is_empty() {
                now.sizes = then.sizes;
            }
            if now.category_terms.is_empty() {
                now.category_terms = then.category_terms;
            }
            if now.max_price_cents.is_none() && now.min_price_cents.is_none() {
                now.max_price_cents = then.max_price_cents;
                now.min_price_cents = then.min_price_cents;
            }
        }
    }
    u
}

fn understand_one(message: &str) -> Understood {
    let p = patterns();
    let mut text = message.to_lowercase().replace(['’', '‘'], "'");
    let mut u = Understood { wants_complements: p.complements.is_match(&text), ..Understood::default() };
    let has_money = |s: &str| s.contains('$') || s.contains("dollar") || s.contains("buck") || s.contains("usd");

    if let Some(c) = p.max.captures(&text) {
        let exclusive = matches!(&c[1], "under" | "below" | "less than" | "cheaper than" | "<");
        if let Some(amount) = cents(&c[2]) {
            let max = if exclusive { amount - 1 } else { amount };
            u.filter.max_price_cents = Some(max);
            u.notes.push(format!("max {}", Money::usd_cents(max)));
        }
        text = text.replace(&c[0], " ");
    } else if let Some(c) = p.between.captures(&text)
        && (has_money(&c[0]) || c[0].starts_with("between"))
    {
        if let (Some(a), Some(b)) = (cents(&c[1]), cents(&c[2])) {
            u.filter.min_price_cents = Some(a.min(b));
            u.filter.max_price_cents = Some(a.max(b));
            u.notes.push(format!("price {}-{}", Money::usd_cents(a.min(b)), Money::usd_cents(a.max(b))));
        }
        text = text.replace(&c[0], " ");
    }
    if let Some(c) = p.min.captures(&text) {
        if let Some(amount) = cents(&c[2]) {
            let exclusive = matches!(&c[1], "over" | "above" | "more than" | ">");
            let min = if exclusive { amount + 1 } else { amount };
            u.filter.min_price_cents = Some(min);
            u.notes.push(format!("min {}", Money::usd_cents(min)));
        }
        text = text.replace(&c[0], " ");
    }
    for c in p.negated_color.captures_iter(&text.clone()) {
        let color = normalize_color(&c[1]);
        u.notes.push(format!("not {color}"));
        u.filter.exclude_colors.push(color);
        text = text.replace(&c[0], " ");
    }
    if let Some(c) = p.size.captures(&text.clone()) {
        let raw = c.get(1).or(c.get(2)).or(c.get(3)).map(|m| m.as_str()).unwrap_or_default();
        let label = size_label(raw);
        u.notes.push(format!("size {label}"));
        u.filter.sizes.push(label);
        text = text.replace(&c[0], " ");
    }
    for w in words(&text) {
        if COLORS.contains(&w.as_str()) {
            let color = normalize_color(&w);
            if !u.filter.colors.contains(&color) && !u.filter.exclude_colors.contains(&color) {
                u.notes.push(format!("colour {color}"));
                u.filter.colors.push(color);
            }
        }
        if let Some((_, category)) = AUDIENCE.iter().find(|(a, _)| *a == w)
            && !u.filter.category_terms.iter().any(|c| c == category)
        {
            u.notes.push(format!("for {category}"));
            u.filter.category_terms.push(category.to_string());
        }
    }
    // Two audiences ("for him or her") say nothing.
    if u.filter.category_terms.len() > 1 {
        u.filter.category_terms.clear();
    }
    // Rank by the product words only: colours, sizes and audience are filters now, and
    // filler ("do you have") would only add noise.
    let mut product = product_words(&text);
    u.product_words = product.clone();
    // The catalog's words for a shopper's ("sweaters" → jumper, cardigan).
    for w in product.clone() {
        let more: Vec<&str> =
            synonyms::catalog_words(&w).iter().copied().filter(|s| !product.iter().any(|p| p == s)).collect();
        if !more.is_empty() {
            u.notes.push(format!("{w}: {}", more.join(", ")));
            product.extend(more.into_iter().map(str::to_string));
        }
    }
    u.text = product.join(" ");
    u
}

/// Words of a message that look like a sku (letters and digits together, 6 to 64
/// characters), upper-cased as the catalog writes them; the catalog says which exist.
pub fn sku_mentions(message: &str) -> Vec<String> {
    message
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '-')
        .filter(|w| (6..=64).contains(&w.len()))
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()) && w.chars().any(|c| c.is_ascii_alphabetic()))
        .map(str::to_uppercase)
        .collect()
}

fn normalize_color(c: &str) -> String {
    match c {
        "gray" => "grey".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sku_like_words_are_quoted_skus() {
        assert_eq!(sku_mentions("is zo0059900599 in stock?"), vec!["ZO0059900599".to_string()]);
        assert_eq!(sku_mentions("order 550471 and the blouse"), Vec::<String>::new(), "digits alone are not a sku");
        assert_eq!(sku_mentions("do you have sneakers?"), Vec::<String>::new());
    }

    #[test]
    fn price_bounds_in_sms_words() {
        let max = |m: &str| understand(m, None).filter.max_price_cents;
        assert_eq!(max("anything under $30 for my husband?"), Some(2999));
        assert_eq!(max("less than 30 bucks"), Some(2999));
        assert_eq!(max("up to 25 dollars pls"), Some(2500));
        assert_eq!(max("shoes below $49.99"), Some(4998));
        let u = understand("boots between 40 and 80", None);
        assert_eq!((u.filter.min_price_cents, u.filter.max_price_cents), (Some(4000), Some(8000)));
        let u = understand("a coat $50-$100", None);
        assert_eq!((u.filter.min_price_cents, u.filter.max_price_cents), (Some(5000), Some(10000)));
        assert_eq!(understand("bags over $100", None).filter.min_price_cents, Some(10001));
        assert_eq!(understand("size 5-6 shoes", None).filter.min_price_cents, None, "sizes are not prices");
    }

    #[test]
    fn colours_negations_sizes_and_audience() {
        let u = understand("do you have the blouse in red?", None);
        assert_eq!(u.filter.colors, ["red"]);
        assert!(u.text.contains("blouse"));
        let u = understand("a dress but not black", None);
        assert_eq!(u.filter.exclude_colors, ["black"]);
        assert!(u.filter.colors.is_empty(), "a negated colour is not wanted");
        assert_eq!(understand("the shoes in size 9", None).filter.sizes, ["9"]);
        assert_eq!(understand("got it in a medium?", None).filter.sizes, ["M"]);
        assert_eq!(understand("size XL hoodie", None).filter.sizes, ["XL"]);
        assert_eq!(understand("something for my husband", None).filter.category_terms, ["men"]);
        assert_eq!(understand("a gift for her", None).filter.category_terms, ["women"]);
        assert!(understand("for him or her", None).filter.category_terms.is_empty());
    }

    #[test]
    fn a_follow_up_carries_the_previous_product_over() {
        let u = understand("in red?", Some("do you have the blouse?"));
        assert!(u.carried_over);
        assert!(u.text.contains("blouse"), "{u:?}");
        assert_eq!(u.filter.colors, ["red"]);
        let u = understand("what about in black?", Some("trainers in size 9"));
        assert_eq!(u.filter.sizes, ["9"], "the size still holds");
        assert_eq!(u.filter.colors, ["black"]);
        assert!(!understand("do you have jeans?", Some("the blouse")).carried_over);
    }

    #[test]
    fn complement_questions_are_recognised() {
        assert!(understand("what goes with the skirt I bought?", None).wants_complements);
        assert!(understand("shoes to match my new dress", None).wants_complements);
        assert!(!understand("do you have the skirt in blue", None).wants_complements);
    }
}
