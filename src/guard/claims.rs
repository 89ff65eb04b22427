//! Claims in a draft beyond prices, each checked against the turn's facts. A claim the facts
//! do not support blocks the reply (FTC Act §5: a discount, a delivery time or a guarantee
//! is a material claim, and the brand is held to what its bot says; Moffatt v. Air Canada,
//! 2024 BCCRT 149, held an airline to its chatbot's invented refund policy).
//!
//! - Discounts: every "N%" / "N percent" must be stated in a retrieved policy or be a
//!   retrieved product's actual markdown (price to sale price, to the nearest percent).
//! - Delivery and shipping times: "N days", "N-M business days", "tomorrow", "next day",
//!   "overnight", "same day" must be stated in a retrieved policy.
//! - Guarantees, absolutes and free offers ("guaranteed", "100% satisfaction", "promise",
//!   "always", "free"): only where a retrieved policy says it about the same thing.
//! - Health and legal claims ("cures", "clinically proven", "FDA approved", "legal advice"):
//!   never.
//! - Skus and order numbers: only those of retrieved products and of the customer's own
//!   orders (anything else names another product or another customer's order).
//! - Stock: "in stock" about a retrieved product that has none, or in a size or colour
//!   whose variants have none.
//! - Order status: "delivered", "shipped", "on its way", "processing", "cancelled", "refunded"
//!   said of an order must be that order's status (the order the sentence numbers, else the
//!   customer's latest); a customer with no order on file has no status to state. Sentences
//!   a retrieved policy says, and conditionals ("once it ships"), are general, not claims.
//! - Colours and sizes offered: each colour word and size a sentence offers must be one of
//!   the colours (or the title) and sizes of the products the sentence names, or of any
//!   retrieved product when it names none. Questions ("want it in M?") and sentences that
//!   deny ("not in red", "sorry, no XL") offer nothing and are not checked.
//!
//! Links are not blocked but repaired: [`drop_unlisted_links`] removes any whose host is not
//! on the allow-list.
//!
//! Over 600 lines with its tests: one check per kind of claim, each short, over the same
//! sentence splitting and word lists.

use std::sync::LazyLock;

use regex::Regex;

use super::Finding;
use crate::domain::facts::Facts;
use crate::domain::{FindingKind, Money};

/// A percentage said as a discount: "25% off", "save 10 percent", "a 15% discount".
static DISCOUNT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(\d{1,3})(?:\.\d+)?\s*(?:%|percent\b|pct\b)\s*(?:off|discount|sale|savings?|cheaper|less|back)\b|\b(?:save|saving|discount of|markdown of)\s+(\d{1,3})(?:\.\d+)?\s*(?:%|percent\b)",
    )
    .expect("valid regex")
});
/// Any percentage (what a policy states).
static PERCENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(\d{1,3})(?:\.\d+)?\s*(?:%|percent\b|pct\b)").expect("valid regex"));
static DAY_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(\d{1,2})\s*(?:-|–|to)\s*(\d{1,2})\s*(?:business\s+|working\s+)?days?\b").expect("valid regex")
});
static DAYS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(\d{1,2})\s*(?:business\s+|working\s+)?days?\b").expect("valid regex"));
static FAST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(tomorrow|next[- ]day|overnight|same[- ]day|within (?:an|one|1) hour)\b").expect("valid regex")
});
static ABSOLUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(guaranteed?|guarantees|promise[sd]?|always|never fails|risk[- ]free|no questions asked|100\s*%\s*(?:satisfaction|guaranteed?|safe|money[- ]back|refund))\b",
    )
    .expect("valid regex")
});
/// "Free": an offer, supported only where a retrieved policy makes it ("free shipping" in a
/// shipping policy that says free; not "everything is free").
static FREE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(free(?:bie)?s?|no charge|on the house)\b").expect("valid regex"));
/// Words too common to tie an absolute to a policy.
const FILLER: &[&str] =
    &["the", "and", "our", "your", "you", "for", "with", "will", "are", "its", "it's", "this", "that"];
static HEALTH_OR_LEGAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(cures?|heals?|treats? (?:acne|eczema|pain|anxiety|depression)|clinically proven|fda[- ]approved|medical advice|legal advice|prevents? (?:cancer|disease|covid))\b",
    )
    .expect("valid regex")
});
/// A sku-like token: letters and digits together, at least 6 long, upper case.
static SKU_LIKE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b([A-Z0-9][A-Z0-9-]{4,}[A-Z0-9])\b").expect("valid regex"));
/// A tracking number stated: "tracking number 1Z999AA10123456784", "tracking #9400…".
static TRACKING_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\btracking(?:\s+(?:number|no\.?|code|id))?\s*(?:#|is|:)?\s*([A-Z0-9]{8,40})\b")
        .expect("valid regex")
});
static ORDER_NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\border\s*(?:#|no\.?|number)?\s*([A-Z0-9-]{3,})\b").expect("valid regex"));
pub(super) static IN_STOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(in stock|available now|ready to ship|ships today)\b").expect("valid regex"));
/// Colour words (basic names and the fashion names the catalog uses).
pub(super) const COLOURS: &[&str] = &[
    "black",
    "white",
    "grey",
    "gray",
    "navy",
    "blue",
    "red",
    "green",
    "yellow",
    "pink",
    "purple",
    "brown",
    "beige",
    "orange",
    "gold",
    "silver",
    "khaki",
    "ivory",
    "teal",
    "maroon",
    "burgundy",
    "lilac",
    "violet",
    "olive",
    "turquoise",
    "camel",
    "nude",
    "taupe",
    "cognac",
    "bordeaux",
    "coral",
    "charcoal",
    "mustard",
    "magenta",
];
/// A size token: letter sizes and numbers (shoe sizes, waist sizes, half sizes).
const SIZE: &str = r"(?:XXS|XS|S|M|L|XL|XXL|XXXL|2XL|3XL|\d{1,2}(?:\.5)?)";
/// "size M", "sizes S, M and L", "sizes 5-10": the sizes after the word.
static SIZES_AFTER_WORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)\bsizes?\s+({SIZE}(?:\s*(?:,|/|and|or|-|–|to|&)\s*{SIZE})*)\b")).expect("valid regex")
});
/// Letter sizes that cannot be anything else, in capitals: "XL", "XXL".
static LETTER_SIZE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(XXS|XS|XL|XXL|XXXL|2XL|3XL)\b").expect("valid regex"));
static ONE_SIZE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"(?i)\b{SIZE}\b")).expect("valid regex"));
/// A status said of an order, by the status it claims.
static ORDER_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(delivered|arrived|shipped|dispatched|on (?:its|the) way|in transit|out for delivery|processing|being prepared|not (?:yet )?shipped|hasn't shipped|cancell?ed|refunded)\b")
        .expect("valid regex")
});
/// Words that make a sentence about an order.
static ABOUT_AN_ORDER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(orders?|package|parcel|shipment|it)\b").expect("valid regex"));
/// A conditional or general statement ("once your order ships"), not a claim of status.
static CONDITIONAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(once|when|after|if|until|usually|typically)\b").expect("valid regex"));

/// The canonical status a phrase claims, and the order statuses that make it true.
fn status_claim(phrase: &str) -> (&'static str, &'static [&'static str]) {
    let p = phrase.to_lowercase();
    if p == "delivered" || p == "arrived" {
        ("delivered", &["delivered"])
    } else if p.starts_with("cancel") {
        ("cancelled", &["cancelled", "canceled"])
    } else if p == "refunded" {
        ("refunded", &["refunded", "returned"])
    } else if p == "processing"
        || p == "being prepared"
        || p.contains("shipped") && (p.starts_with("not") || p.starts_with("hasn"))
    {
        ("processing", &["processing", "pending"])
    } else {
        // shipped, dispatched, on its way, in transit, out for delivery: true once shipped.
        ("shipped", &["shipped", "delivered", "in_transit", "out_for_delivery", "out for delivery"])
    }
}

/// A sentence that denies rather than offers.
static DENIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(not|no|don't|doesn't|isn't|aren't|can't|cannot|sorry|unfortunately|sold out|out of stock|only)\b|n't\b")
        .expect("valid regex")
});

static LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:https?://|www\.)([a-z0-9.-]+\.[a-z]{2,})(?:[/?#][^\s]*)?|\b([a-z0-9-]+\.(?:com|net|org|io|co|shop|store|us))(?:/[^\s]*)?\b")
        .expect("valid regex")
});

/// One checkable statement found in a draft, stored on the turn whether it held or not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Claim {
    /// `money`, `discount`, `delivery_time`, `absolute`, `free_offer`, `health_or_legal`,
    /// `sku`, `order_number`, `stock`, `order_status`, `size`, `colour`, `link`,
    /// `superlative`, `comparison`, `scarcity`, `popularity`.
    pub kind: &'static str,
    /// The words of the draft that make it.
    pub text: String,
}

/// Every checkable claim in `text`, in the order of the checks (what [`unsupported`] and
/// the guard's price check verify).
pub fn extract(text: &str) -> Vec<Claim> {
    let mut out: Vec<Claim> = super::money::amounts_in(text)
        .into_iter()
        .map(|c| Claim { kind: "money", text: Money::usd_cents(c).to_string() })
        .collect();
    let mut add = |kind: &'static str, re: &Regex| {
        out.extend(re.find_iter(text).map(|m| Claim { kind, text: m.as_str().trim().to_string() }));
    };
    add("discount", &DISCOUNT);
    add("delivery_time", &DAY_RANGE);
    add("delivery_time", &FAST);
    add("absolute", &ABSOLUTE);
    add("free_offer", &FREE);
    add("health_or_legal", &HEALTH_OR_LEGAL);
    add("sku", &SKU_LIKE);
    add("order_number", &ORDER_NUMBER);
    add("stock", &IN_STOCK);
    add("order_status", &ORDER_STATUS);
    add("link", &LINK);
    let sizes = sizes_in(text);
    out.extend(sizes.into_iter().map(|text| Claim { kind: "size", text }));
    let lower = text.to_lowercase();
    let colours = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| COLOURS.contains(w));
    out.extend(colours.map(|w| Claim { kind: "colour", text: w.to_string() }));
    out.extend(super::superlatives::claims_in(text));
    out
}

/// The claims of `text` that `facts` do not support.
pub fn unsupported(text: &str, facts: &Facts) -> Vec<Finding> {
    let policies: String = facts.policies.iter().map(|p| format!("{}\n{}\n", p.title, p.body)).collect();
    let policies_lower = policies.to_lowercase();
    let mut out = Vec::new();
    let mut finding = |kind: FindingKind, detail: String| out.push(Finding { kind, detail });

    for caps in DISCOUNT.captures_iter(text) {
        let number = caps.get(1).or_else(|| caps.get(2)).map_or("0", |m| m.as_str());
        let percent: i64 = number.parse().unwrap_or(0);
        let in_policy = PERCENT.captures_iter(&policies).any(|p| p[1].parse::<i64>().ok() == Some(percent));
        let markdown = facts.products.iter().any(|p| {
            p.sale_price.is_some_and(|sale| {
                let off = (p.price.cents - sale.cents) as f64 * 100.0 / p.price.cents.max(1) as f64;
                (off.round() as i64 - percent).abs() <= 1
            })
        });
        if !in_policy && !markdown {
            finding(
                FindingKind::UnsupportedDiscount,
                format!("\"{}\" is not a discount in this turn's facts", &caps[0]),
            );
        }
    }

    let mut ranges = Vec::new();
    for caps in DAY_RANGE.captures_iter(text) {
        ranges.push(caps.get(0).expect("match").range());
        let (a, b) = (&caps[1], &caps[2]);
        let stated = DAY_RANGE.captures_iter(&policies).any(|p| &p[1] == a && &p[2] == b);
        if !stated {
            finding(
                FindingKind::UnsupportedDeliveryTime,
                format!("\"{}\" is not a time any retrieved policy states", &caps[0]),
            );
        }
    }
    for caps in DAYS.captures_iter(text) {
        let whole = caps.get(0).expect("match");
        if ranges.iter().any(|r| r.contains(&whole.start()) || r.contains(&(whole.end() - 1))) {
            continue;
        }
        let n = &caps[1];
        let stated = DAYS.captures_iter(&policies).any(|p| &p[1] == n)
            || DAY_RANGE.captures_iter(&policies).any(|p| &p[1] == n || &p[2] == n);
        if !stated {
            finding(
                FindingKind::UnsupportedDeliveryTime,
                format!("\"{}\" is not a time any retrieved policy states", whole.as_str()),
            );
        }
    }
    for caps in FAST.captures_iter(text) {
        let said = caps[1].to_lowercase().replace('-', " ");
        if !policies_lower.replace('-', " ").contains(&said) {
            finding(
                FindingKind::UnsupportedDeliveryTime,
                format!("\"{}\" is not a time any retrieved policy states", &caps[1]),
            );
        }
    }

    // An absolute or a free offer is supported when a sentence of a retrieved policy uses it
    // about the same thing: that sentence has the claim's stem and one of the content words
    // within three words of it in the draft ("exchanges are free with our fit guarantee"
    // against "Our fit guarantee: exchange any size for free"; not "guaranteed delivery").
    let words_of = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(|w| w.to_lowercase().trim_end_matches('s').to_string())
            .collect()
    };
    let policy_sentences: Vec<(String, Vec<String>)> =
        sentences(&policies).map(|s| (s.to_lowercase(), words_of(s))).collect();
    let claimed = ABSOLUTE
        .captures_iter(text)
        .map(|c| (c.get(1).expect("group"), FindingKind::AbsoluteClaim))
        .chain(FREE.captures_iter(text).map(|c| (c.get(1).expect("group"), FindingKind::UnsupportedFreeOffer)));
    for (said, kind) in claimed {
        let word = said.as_str().to_lowercase();
        let stem = word.trim_end_matches(['s', 'd', 'e']);
        let before = words_of(&text[..said.start()]);
        let after = words_of(&text[said.end()..]);
        let window: Vec<&String> = before
            .iter()
            .rev()
            .take(3)
            .chain(after.iter().take(3))
            .filter(|w| w.len() >= 3 && !FILLER.contains(&w.as_str()))
            .collect();
        let supported = !word.starts_with("100")
            && policy_sentences
                .iter()
                .any(|(lower, words)| lower.contains(stem) && window.iter().any(|w| words.contains(w)));
        if !supported {
            finding(kind, format!("\"{}\" promises more than the facts say", said.as_str()));
        }
    }
    for caps in HEALTH_OR_LEGAL.captures_iter(text) {
        finding(FindingKind::HealthOrLegalClaim, format!("\"{}\" is a health or legal claim", &caps[1]));
    }

    let own_orders: Vec<String> = facts.orders.iter().map(|o| o.id.to_uppercase()).collect();
    let known_skus: Vec<String> = facts
        .products
        .iter()
        .map(|p| p.sku.as_str().to_uppercase())
        .chain(facts.orders.iter().flat_map(|o| o.items.iter().map(|i| i.sku.as_str().to_uppercase())))
        .collect();
    // A tracking number must be one of the customer's shipments'.
    let tracking: Vec<String> =
        facts.orders.iter().filter_map(|o| o.tracking.as_ref()?.number.as_ref()).map(|n| n.to_uppercase()).collect();
    for caps in TRACKING_NUMBER.captures_iter(text) {
        let number = caps[1].to_uppercase();
        if number.chars().any(|c| c.is_ascii_digit()) && !tracking.contains(&number) {
            finding(
                FindingKind::UnsupportedTracking,
                format!("tracking number {number} is not one of the customer's shipments"),
            );
        }
    }
    for caps in ORDER_NUMBER.captures_iter(text) {
        let id = caps[1].to_uppercase();
        if id.chars().any(|c| c.is_ascii_digit()) && !own_orders.contains(&id) {
            finding(FindingKind::OtherCustomer, format!("order {id} is not one of this customer's orders"));
        }
    }
    for caps in SKU_LIKE.captures_iter(text) {
        let token = &caps[1];
        let has_digit = token.chars().any(|c| c.is_ascii_digit());
        let has_letter = token.chars().any(|c| c.is_ascii_alphabetic());
        if has_digit
            && has_letter
            && !known_skus.contains(&token.to_string())
            && !own_orders.contains(&token.to_string())
            && !tracking.contains(&token.to_string())
            && !TRACKING_NUMBER.captures_iter(text).any(|c| &c[1] == token)
        {
            finding(FindingKind::UnknownSku, format!("{token} is not a product retrieved for this turn"));
        }
    }

    // "In stock" is checked sentence by sentence, against the products the sentence names:
    // by sku when it gives any (titles repeat across colours and sizes), else by title.
    for sentence in sentences(text).filter(|s| IN_STOCK.is_match(s)) {
        let by_sku: Vec<_> = facts.products.iter().filter(|p| sentence.contains(p.sku.as_str())).collect();
        let named = if by_sku.is_empty() {
            let lower = sentence.to_lowercase();
            facts.products.iter().filter(|p| lower.contains(&p.title.to_lowercase())).collect()
        } else {
            by_sku
        };
        // A size or colour in the sentence narrows the claim to those variants.
        let sizes = sizes_in(sentence);
        let colours: Vec<String> = words_of(sentence).into_iter().filter(|w| COLOURS.contains(&w.as_str())).collect();
        for p in named {
            if p.stock <= 0 {
                finding(FindingKind::UnsupportedStock, format!("{} ({}) has no stock", p.title, p.sku));
                continue;
            }
            let matching: Vec<_> = p
                .variants
                .iter()
                .filter(|v| {
                    sizes.is_empty() || v.size.as_ref().is_some_and(|s| sizes.iter().any(|z| z.eq_ignore_ascii_case(s)))
                })
                .filter(|v| {
                    colours.is_empty()
                        || v.color
                            .as_ref()
                            .is_some_and(|c| colours.iter().any(|w| c.to_lowercase().contains(w.as_str())))
                })
                .collect();
            if (!sizes.is_empty() || !colours.is_empty())
                && !matching.is_empty()
                && matching.iter().all(|v| v.stock <= 0)
            {
                let which = sizes.iter().chain(colours.iter()).cloned().collect::<Vec<_>>().join(" ");
                finding(FindingKind::UnsupportedStock, format!("{} ({}) has no stock in {which}", p.title, p.sku));
            }
        }
    }

    // Order status, per sentence about an order.
    for sentence in sentences(text) {
        let lower = sentence.trim().to_lowercase();
        if !ABOUT_AN_ORDER.is_match(sentence) || CONDITIONAL.is_match(sentence) || policies_lower.contains(&lower) {
            continue;
        }
        let numbered = ORDER_NUMBER
            .captures_iter(sentence)
            .find_map(|c| facts.orders.iter().find(|o| o.id.eq_ignore_ascii_case(&c[1])));
        let order = numbered.or(facts.orders.first());
        for said in ORDER_STATUS.find_iter(sentence) {
            let (claim, true_when) = status_claim(said.as_str());
            match order {
                Some(o) if true_when.contains(&o.status.to_lowercase().as_str()) => {}
                Some(o) => finding(
                    FindingKind::UnsupportedOrderStatus,
                    format!("\"{}\": order {} is {}, not {claim}", said.as_str(), o.id, o.status),
                ),
                None => finding(
                    FindingKind::UnsupportedOrderStatus,
                    format!("\"{}\": the customer has no order on file", said.as_str()),
                ),
            }
        }
    }

    // Sizes and colours a retrieved policy states ("clothing comes in sizes S, M, L and XL").
    let policy_sizes = sizes_in(&policies);
    let policy_words = words_of(&policies);
    for sentence in sentences(text).filter(|s| !s.trim_end().ends_with('?') && !DENIAL.is_match(s)) {
        let products = named_in(sentence, facts);
        let offered = |c: &str| {
            products
                .iter()
                .any(|p| p.colors.iter().chain(std::iter::once(&p.title)).any(|t| words_of(t).iter().any(|w| w == c)))
        };
        for colour in words_of(sentence).into_iter().filter(|w| COLOURS.contains(&w.as_str())) {
            if !products.is_empty() && !offered(&colour) && !policy_words.contains(&colour) {
                finding(FindingKind::UnsupportedColor, format!("\"{colour}\" is not a colour of the products named"));
            }
        }
        let sizes = sizes_in(sentence);
        for size in sizes {
            if !products.is_empty()
                && !policy_sizes.contains(&size)
                && !products.iter().any(|p| p.sizes.iter().any(|s| s.eq_ignore_ascii_case(&size)))
            {
                finding(FindingKind::UnsupportedSize, format!("size {size} is not a size of the products named"));
            }
        }
    }
    out
}

/// The sizes a text offers: after the word "size(s)", and letter sizes that cannot be
/// anything else; upper case, without repeats.
pub(super) fn sizes_in(text: &str) -> Vec<String> {
    let mut sizes: Vec<String> = SIZES_AFTER_WORD
        .captures_iter(text)
        .flat_map(|c| {
            ONE_SIZE
                .find_iter(c.get(1).map_or("", |m| m.as_str()))
                .map(|m| m.as_str().to_uppercase())
                .collect::<Vec<_>>()
        })
        .collect();
    sizes.extend(LETTER_SIZE.find_iter(text).map(|m| m.as_str().to_string()));
    sizes.sort();
    sizes.dedup();
    sizes
}

/// The retrieved products a sentence names: by sku when it gives any (titles repeat across
/// colours and sizes), else by title, else every retrieved product.
fn named_in<'a>(sentence: &str, facts: &'a Facts) -> Vec<&'a crate::domain::facts::ProductFact> {
    let by_sku: Vec<_> = facts.products.iter().filter(|p| sentence.contains(p.sku.as_str())).collect();
    if !by_sku.is_empty() {
        return by_sku;
    }
    let lower = sentence.to_lowercase();
    let by_title: Vec<_> = facts.products.iter().filter(|p| lower.contains(&p.title.to_lowercase())).collect();
    if by_title.is_empty() { facts.products.iter().collect() } else { by_title }
}

/// The sentences of a text ([`crate::text::sentence_ends`]), also split at `;` and at line
/// breaks.
pub(super) fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let mut starts = vec![0];
    starts.extend(crate::text::sentence_ends(text));
    starts.push(text.len());
    let pieces: Vec<&str> = starts.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    pieces.into_iter().flat_map(|s| s.split([';', '\n'])).filter(|s| !s.trim().is_empty())
}

/// True when `url` is a link to a host on `allowed` (a host or any of its subdomains): one
/// a reply may carry.
pub fn link_allowed(url: &str, allowed: &[String]) -> bool {
    LINK.is_match(url) && drop_unlisted_links(url, allowed).1.is_empty()
}

/// `text` without the links whose host is not on `allowed` (a host or any of its
/// subdomains), and the hosts removed.
///
/// Tidying the gaps joins what whitespace separated ("https://rival\t.example" becomes
/// "https://rival.example"), which can make a link that was not one before, so the text is
/// checked again until a pass changes nothing (found by the `guard_claims` fuzz target).
/// Each pass that changes the text makes it shorter or only turns whitespace into spaces,
/// so this ends.
pub fn drop_unlisted_links(text: &str, allowed: &[String]) -> (String, Vec<String>) {
    let (mut text, mut dropped) = (text.to_string(), Vec::new());
    loop {
        let (again, more) = drop_unlisted_links_once(&text, allowed);
        dropped.extend(more);
        if again == text {
            return (text, dropped);
        }
        text = again;
    }
}

/// One pass of [`drop_unlisted_links`].
fn drop_unlisted_links_once(text: &str, allowed: &[String]) -> (String, Vec<String>) {
    let mut dropped = Vec::new();
    let kept = LINK.replace_all(text, |caps: &regex::Captures| {
        let host = caps.get(1).or_else(|| caps.get(2)).map(|m| m.as_str().to_lowercase()).unwrap_or_default();
        let host = host.trim_start_matches("www.").to_string();
        let ok = allowed.iter().any(|a| {
            let a = a.to_lowercase();
            host == a || host.ends_with(&format!(".{a}"))
        });
        if ok {
            caps[0].to_string()
        } else {
            dropped.push(host);
            String::new()
        }
    });
    // Tidy the gap a link leaves ("see  for details", "at .").
    let tidy = kept
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" .", ".")
        .replace(" ,", ",")
        .replace(" !", "!")
        .replace(" ?", "?");
    (tidy, dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::{OrderFact, PolicyFact, ProductFact};
    use crate::domain::{Money, Sku};

    fn facts() -> Facts {
        let product = |sku: &str, title: &str, price: f64, sale: Option<f64>, stock: i64| ProductFact {
            sku: Sku::parse(sku).unwrap(),
            title: title.into(),
            brand: "Acme".into(),
            category: "Women's Clothing".into(),
            price: Money::usd(price),
            sale_price: sale.map(Money::usd),
            colors: vec![title.rsplit(" - ").next().unwrap().to_string()],
            sizes: if title.starts_with("Blouse") {
                vec!["S".into(), "M".into(), "L".into()]
            } else {
                vec!["7".into(), "8".into()]
            },
            stock,
            score: 1.0,
            variants: vec![],
        };
        Facts {
            products: vec![
                product("ZO0347403474", "Blouse - black", 40.0, Some(30.0), 3),
                product("ZO0111122223", "Sandals - red", 25.0, None, 0),
            ],
            policies: vec![
                PolicyFact {
                    id: "shipping".into(),
                    title: "Shipping".into(),
                    body: "Standard shipping takes 3-5 business days. Returns within 30 days. 10% off for members."
                        .into(),
                    translation: None,
                    score: 1.0,
                },
                PolicyFact {
                    id: "guarantee".into(),
                    title: "Fit guarantee".into(),
                    body: "Our fit guarantee: exchange any size for free.".into(),
                    translation: None,
                    score: 1.0,
                },
            ],
            orders: vec![OrderFact {
                id: "584677".into(),
                date: "2026-11-01".into(),
                status: "shipped".into(),
                total: Money::usd(55.0),
                items: vec![],
                tracking: None,
                delivery: None,
            }],
            ..Facts::default()
        }
    }

    fn kinds(text: &str) -> Vec<FindingKind> {
        unsupported(text, &facts()).into_iter().map(|f| f.kind).collect()
    }

    #[test]
    fn every_claim_is_listed_whether_it_holds_or_not() {
        let claims = extract(
            "The Blouse - black (ZO0347403474) is $30.00, 25% off and in stock; it ships in 3-5 business days.",
        );
        let kinds: Vec<&str> = claims.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, ["money", "discount", "delivery_time", "sku", "stock", "colour"], "{claims:?}");
        assert_eq!(claims[0].text, "$30.00");
    }

    #[test]
    fn grounded_claims_pass() {
        assert!(kinds("The Blouse - black (ZO0347403474) is 25% off and in stock.").is_empty());
        assert!(kinds("Shipping takes 3-5 business days; returns within 30 days.").is_empty());
        assert!(kinds("Members get 10% off. Our fit guarantee covers exchanges.").is_empty());
        assert!(kinds("Exchanges are free with our fit guarantee.").is_empty());
        assert!(kinds("Your order #584677 has shipped.").is_empty());
        assert!(kinds("Do you want it in size M?").is_empty());
        assert!(kinds("The black blouse comes in sizes S, M and L.").is_empty());
        assert!(kinds("The Sandals - red come in size 7 or 8.").is_empty());
        assert!(kinds("Sorry, we don't have it in green or XL.").is_empty(), "a denial offers nothing");
    }

    #[test]
    fn stock_is_checked_per_variant_when_a_size_is_named() {
        let mut f = facts();
        f.products[0].variants = vec![
            crate::domain::facts::VariantFact {
                size: Some("S".into()),
                color: Some("black".into()),
                stock: 3,
                orderable: false,
            },
            crate::domain::facts::VariantFact {
                size: Some("M".into()),
                color: Some("black".into()),
                stock: 0,
                orderable: false,
            },
        ];
        let kinds = |t: &str| unsupported(t, &f).into_iter().map(|x| x.kind).collect::<Vec<_>>();
        assert!(kinds("The Blouse - black is in stock in size S.").is_empty());
        assert_eq!(kinds("The Blouse - black is in stock in size M."), [FindingKind::UnsupportedStock]);
        assert!(kinds("The Blouse - black is in stock.").is_empty());
    }

    #[test]
    fn colours_and_sizes_must_be_offered() {
        assert_eq!(kinds("The Blouse - black also comes in green."), [FindingKind::UnsupportedColor]);
        assert_eq!(kinds("We have it in XL."), [FindingKind::UnsupportedSize]);
        assert_eq!(kinds("The Sandals - red come in sizes 7 to 10."), [FindingKind::UnsupportedSize]);
        // A colour of another retrieved product is fine when the sentence names no product ...
        assert!(kinds("We have it in red and black.").is_empty());
        // ... but not when it names one that lacks it.
        assert_eq!(kinds("Blouse - black (ZO0347403474) is available in red."), [FindingKind::UnsupportedColor]);
        // Sizes a retrieved policy states are facts too.
        let mut f = facts();
        f.policies[0].body.push_str(" Clothing comes in sizes S, M, L and XL.");
        let found = unsupported("Clothing comes in sizes S, M, L and XL.", &f);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn tracking_numbers_and_shipment_dates_come_from_the_shipment() {
        use crate::domain::facts::{DeliveryFact, TrackingFact};
        let mut shipped = facts();
        shipped.orders[0].status = "out for delivery".into();
        shipped.orders[0].tracking = Some(TrackingFact {
            company: Some("UPS".into()),
            number: Some("1Z999AA10123456784".into()),
            url: Some("https://www.ups.com/track?tracknum=1Z999AA10123456784".into()),
        });
        shipped.orders[0].delivery = Some(DeliveryFact::Expected("2026-12-09".into()));
        let found = |text: &str, f: &Facts| unsupported(text, f).into_iter().map(|f| f.kind).collect::<Vec<_>>();
        let reply = "Your latest order 584677 from 2026-11-01 (0 items) is out for delivery. \
                     The carrier expects it by 2026-12-09. Tracking number 1Z999AA10123456784 (UPS).";
        assert!(found(reply, &shipped).is_empty(), "{:?}", found(reply, &shipped));
        // A number the shipment does not have, with or without letters in it.
        assert_eq!(found("Your tracking number is 1Z999AA10999999999.", &shipped), [FindingKind::UnsupportedTracking]);
        assert_eq!(found("Tracking #940011189922385522.", &shipped), [FindingKind::UnsupportedTracking]);
        // Without a shipment on file, any tracking number is made up.
        assert_eq!(found("Tracking number 1Z999AA10123456784.", &facts()), [FindingKind::UnsupportedTracking]);
    }

    #[test]
    fn each_kind_of_unsupported_claim_is_named() {
        assert_eq!(kinds("Good news: 50% off everything today!"), [FindingKind::UnsupportedDiscount]);
        assert_eq!(kinds("It will arrive in 2 days."), [FindingKind::UnsupportedDeliveryTime]);
        assert_eq!(
            kinds("Guaranteed delivery tomorrow!"),
            [FindingKind::UnsupportedDeliveryTime, FindingKind::AbsoluteClaim]
        );
        assert_eq!(kinds("Shipping takes 1-2 days."), [FindingKind::UnsupportedDeliveryTime]);
        assert_eq!(kinds("This cream cures acne."), [FindingKind::HealthOrLegalClaim]);
        assert_eq!(kinds("Try the XY9999999 instead."), [FindingKind::UnknownSku]);
        assert_eq!(kinds("Order #771234 went to Jane yesterday."), [FindingKind::OtherCustomer]);
        // The customer's order 584677 has shipped, not arrived (SmolLM2 said it had).
        assert_eq!(
            kinds("The order is processed and delivered to your address."),
            [FindingKind::UnsupportedOrderStatus]
        );
        assert_eq!(kinds("Your order #584677 was cancelled."), [FindingKind::UnsupportedOrderStatus]);
        assert!(kinds("Your order 584677 is on its way.").is_empty());
        assert!(kinds("Once your order ships, you'll get a tracking link.").is_empty(), "a conditional");
        let no_orders = Facts { orders: vec![], ..facts() };
        let found: Vec<_> =
            unsupported("Your package was delivered.", &no_orders).into_iter().map(|f| f.kind).collect();
        assert_eq!(found, [FindingKind::UnsupportedOrderStatus]);
        assert_eq!(kinds("The Sandals - red are in stock!"), [FindingKind::UnsupportedStock]);
        // Per sentence, by sku first: another product with a shared title is not this one.
        assert!(kinds("Blouse - black (ZO0347403474) is in stock. Sandals - red: sold out.").is_empty());
        assert_eq!(kinds("Try ZO0111122223, in stock now."), [FindingKind::UnsupportedStock]);
        assert_eq!(kinds("It's 100% silk, 100% satisfaction."), [FindingKind::AbsoluteClaim]);
        assert_eq!(kinds("We always price match."), [FindingKind::AbsoluteClaim]);
        assert_eq!(kinds("Developer mode on: everything is free today."), [FindingKind::UnsupportedFreeOffer]);
    }

    #[test]
    fn links_off_the_allow_list_are_dropped() {
        let allowed = vec!["shop.example.com".to_string()];
        let (text, dropped) =
            drop_unlisted_links("See https://shop.example.com/returns or www.rival.com/deals for more.", &allowed);
        assert_eq!(text, "See https://shop.example.com/returns or for more.");
        assert_eq!(dropped, ["rival.com"]);
        let (text, dropped) = drop_unlisted_links("Cheaper at competitor.com!", &[]);
        assert_eq!((text.as_str(), dropped.len()), ("Cheaper at!", 1));
    }

    #[test]
    fn a_link_made_by_tidying_the_gaps_is_dropped_too() {
        // The fuzzer's find: closing up "carrier\t.example" wrote a link to an unlisted host.
        let allowed = vec!["shop.example".to_string()];
        let draft = "Track it at https://carrier\t.example/t?id=1Z99 or see www.other.example and https://shop.example/orders/1042.";
        let (text, dropped) = drop_unlisted_links(draft, &allowed);
        assert_eq!(text, "Track it at or see and https://shop.example/orders/1042.");
        assert_eq!(dropped, ["other.example", "carrier.example"]);
        let (text, dropped) = drop_unlisted_links("See https://rival\t.example today", &allowed);
        assert_eq!((text.as_str(), dropped.as_slice()), ("See today", ["rival.example".to_string()].as_slice()));
    }
}
