//! Stock and price claims checked against what the customer asked about, not only against
//! the product the reply happens to name.
//!
//! - The variant asked: when the message asks for a size ("in a medium?", "size 8", "en
//!   talla M") or a colour ("in red?", "¿en rojo?"), a sentence saying a product is "in
//!   stock", "available", "we have", "tenemos", "disponible" (and naming no other size or
//!   colour itself) says it of that size and colour: the product must come in it and, when
//!   the catalog gives variants, have stock in it. "Silk blouse in medium?" answered "in
//!   stock" while the medium had none was one of the misleading facts issue 16 found sent.
//! - "It's in stock" with no product named is about the product the draft named before,
//!   else the quoted sku, else the only retrieved product: that product needs stock.
//! - The sku asked: when the message quotes a sku, a price or stock statement about another
//!   product must either mention the quoted sku too ("ZO1 is sold out; ZO2 is in stock")
//!   or say the product is a different one ("instead", "another", "similar", "different",
//!   "en su lugar", "otro", "otra"). Answering a question about one item with another's
//!   price or stock, unannounced, misleads (FTC Act §5: a representation likely to mislead a
//!   consumer acting reasonably, FTC Policy Statement on Deception, 1983).
//!
//! Questions and offers ("want it in M?") claim nothing; denials ("sorry, no medium") are
//! not stock claims for the variant check.

use std::sync::LazyLock;

use regex::Regex;

use super::claims::{IN_STOCK, sentences, sizes_in};
use super::mentions::{
    Asked, has_colour, has_size, implied_subject, knows_colours, knows_sizes, mentions, offset_in, stated_colours,
    stock_of,
};
use super::{Finding, money};
use crate::domain::FindingKind;
use crate::domain::facts::{Facts, ProductFact};

/// A statement that a product can be had now.
static STOCK_CLAIM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(in stock|available|we have|we've got|we carry|ready to ship|ships today|en stock|disponibles?|tenemos|en existencia|hay stock)\b")
        .expect("valid regex")
});
/// A statement about stock either way (for the sku check: "ZO2 is sold out" is about ZO2).
static STOCK_EITHER_WAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(in stock|available|we have|we've got|sold out|out of stock|en stock|disponibles?|tenemos|agotad[oa]s?|sin stock)\b")
        .expect("valid regex")
});
static DENIAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(not|no|don't|doesn't|isn't|aren't|can't|cannot|sorry|unfortunately|sold out|out of stock|none|lo siento|agotad[oa]s?|sin stock|ya no)\b|n't\b")
        .expect("valid regex")
});
/// Words that say a product is not the one asked about.
static ANOTHER_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(instead|another|similar|different|alternatives?|en su lugar|otr[oa]s?|similar(?:es)?|parecid[oa]s?|alternativ[ao]s?|diferentes?)\b")
        .expect("valid regex")
});
/// "talla M" in a sentence: the reply names its own size.
static SPANISH_SIZE_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(tallas?|n[úu]mero)\b").expect("valid regex"));

fn is_question(sentence: &str) -> bool {
    let s = sentence.trim();
    s.ends_with('?') || s.starts_with('¿')
}

/// The stock claims of `text` about a variant or sku other than the one the customer
/// asked for (`asked`, from the customer's message).
pub fn unsupported(text: &str, facts: &Facts, asked: &Asked) -> Vec<Finding> {
    let mut out = variant_stock(text, facts, asked);
    out.extend(other_sku(text, facts, asked));
    out
}

fn variant_stock(text: &str, facts: &Facts, asked: &Asked) -> Vec<Finding> {
    let mut out = Vec::new();
    for sentence in sentences(text) {
        if !STOCK_CLAIM.is_match(sentence)
            || is_question(sentence)
            || DENIAL.is_match(sentence)
            || ANOTHER_ITEM.is_match(sentence)
        {
            continue;
        }
        // Each name is one claim; a name several products share (a title, "the black
        // blouse") holds when one of them makes it true.
        let mut groups: Vec<Vec<&ProductFact>> = mentions(sentence, facts).into_iter().map(|m| m.products).collect();
        if groups.is_empty() {
            groups.push(implied_subject(text, offset_in(text, sentence), facts, asked));
        }
        // The sentence's own size or colour, when it names one, is what it claims (checked
        // by the claims module); the customer's applies when it names none, or the same.
        let own_sizes = sizes_in(sentence);
        let size = asked
            .sizes
            .first()
            .filter(|s| (own_sizes.is_empty() && !SPANISH_SIZE_WORD.is_match(sentence)) || own_sizes.contains(s));
        let own_colours = stated_colours(sentence, facts);
        let colour = asked.colours.first().filter(|c| {
            own_colours.is_empty()
                || own_colours.iter().any(|o| o.split(|x: char| !x.is_alphanumeric()).any(|w| w == c.as_str()))
        });
        let lower = sentence.to_lowercase();
        for group in groups.into_iter().filter(|g| !g.is_empty()) {
            let said_exactly = |p: &ProductFact| {
                lower.contains(&p.sku.as_str().to_lowercase()) || lower.contains(&p.title.to_lowercase())
            };
            if group.iter().all(|p| p.stock <= 0) {
                // "In stock" of a product named exactly: the claims module reports it.
                if !(IN_STOCK.is_match(sentence) && group.iter().all(|p| said_exactly(p))) {
                    let p = group[0];
                    out.push(Finding {
                        kind: FindingKind::UnsupportedStock,
                        detail: format!("{} ({}) has no stock", p.title, p.sku),
                    });
                }
                continue;
            }
            let failures: Vec<Finding> = group
                .iter()
                .filter(|p| p.stock > 0)
                .map(|p| variant_finding(p, size.map(String::as_str), colour.map(String::as_str)))
                .collect::<Option<Vec<_>>>()
                .unwrap_or_default();
            out.extend(failures.into_iter().take(1));
        }
    }
    out
}

/// Why `p` is not in stock in the asked size and colour, if it is not.
fn variant_finding(p: &ProductFact, size: Option<&str>, colour: Option<&str>) -> Option<Finding> {
    let size = size.filter(|_| knows_sizes(p));
    let colour = colour.filter(|_| knows_colours(p));
    let missing = |detail: String| Some(Finding { kind: FindingKind::UnsupportedVariantStock, detail });
    if let Some(s) = size
        && !has_size(p, s)
    {
        return missing(format!("{} ({}) does not come in size {s}, which the customer asked for", p.title, p.sku));
    }
    if let Some(c) = colour
        && !has_colour(p, c)
    {
        return missing(format!("{} ({}) does not come in {c}, which the customer asked for", p.title, p.sku));
    }
    // Stock by variant, where the catalog gives it for what was asked.
    let colour = colour.filter(|_| p.variants.iter().any(|v| v.color.is_some()));
    let size = size.filter(|_| p.variants.iter().any(|v| v.size.is_some()));
    if size.is_none() && colour.is_none() {
        return None;
    }
    match stock_of(p, size, colour) {
        Some(units) if units <= 0 => {
            let which = [size.map(|s| format!("size {s}")), colour.map(str::to_string)]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            missing(format!("{} ({}) has no stock in {which}, which the customer asked for", p.title, p.sku))
        }
        _ => None,
    }
}

fn other_sku(text: &str, facts: &Facts, asked: &Asked) -> Vec<Finding> {
    if asked.skus.is_empty() || ANOTHER_ITEM.is_match(text) {
        return vec![];
    }
    let lower = text.to_lowercase();
    if asked.skus.iter().any(|s| lower.contains(&s.to_lowercase())) {
        return vec![];
    }
    let asked_titles: Vec<String> = facts
        .products
        .iter()
        .filter(|p| asked.skus.iter().any(|s| s.eq_ignore_ascii_case(p.sku.as_str())))
        .map(|p| p.title.to_lowercase())
        .collect();
    let mut out: Vec<Finding> = Vec::new();
    let mut reported: Vec<&str> = Vec::new();
    for sentence in sentences(text).filter(|s| !is_question(s)) {
        let price = !money::amounts_in(sentence).is_empty();
        let stock = STOCK_EITHER_WAY.is_match(sentence);
        if !price && !stock {
            continue;
        }
        for p in mentions(sentence, facts).into_iter().flat_map(|m| m.products) {
            let sku = p.sku.as_str();
            if asked.skus.iter().any(|s| s.eq_ignore_ascii_case(sku)) || reported.contains(&sku) {
                continue;
            }
            // The asked product named by its title (another title than this one's) is
            // mentioned too.
            let title = p.title.to_lowercase();
            if asked_titles.iter().any(|t| *t != title && lower.contains(t.as_str())) {
                continue;
            }
            reported.push(sku);
            let what = if price && stock {
                "price and stock"
            } else if price {
                "price"
            } else {
                "stock"
            };
            out.push(Finding {
                kind: FindingKind::OtherSku,
                detail: format!(
                    "the customer asked about {}; the reply gives the {what} of {} ({sku}) without saying it is another item",
                    asked.skus.join(", "),
                    p.title
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::domain::FindingKind;
    use crate::domain::facts::Facts;
    use crate::guard::mentions::shop;
    use crate::guard::{Verdict, check};

    /// The guard's verdict and blocking finding kinds for `reply` to `message`.
    fn guarded(message: &str, reply: &str) -> (Verdict, Vec<FindingKind>) {
        let facts = Facts { message: message.into(), ..shop() };
        let g = check(reply, &facts, 3, &[]);
        // Spanish accents folded for GSM-7 are a repair of their own, not what these test.
        (g.verdict, g.findings.iter().map(|f| f.kind).filter(|k| *k != FindingKind::NormalizedGsm7).collect())
    }

    /// Sent (as written, or with its Spanish accents folded for GSM-7).
    fn passes(message: &str, reply: &str) -> bool {
        let (verdict, kinds) = guarded(message, reply);
        assert!(verdict != Verdict::Blocked || kinds.len() == 1, "{reply}: {kinds:?}");
        verdict != Verdict::Blocked
    }

    const VARIANT: (Verdict, [FindingKind; 1]) = (Verdict::Blocked, [FindingKind::UnsupportedVariantStock]);
    const OTHER_SKU: (Verdict, [FindingKind; 1]) = (Verdict::Blocked, [FindingKind::OtherSku]);

    fn blocked_as(message: &str, reply: &str, expected: (Verdict, [FindingKind; 1])) {
        let (verdict, kinds) = guarded(message, reply);
        assert_eq!((verdict, kinds.as_slice()), (expected.0, expected.1.as_slice()), "{reply}");
    }

    #[test]
    fn in_stock_answers_the_size_the_customer_asked() {
        // The silk blouse has none in M (issue 16: "silk blouse in medium?" said in stock).
        let ask = "do you have the silk blouse in a medium?";
        blocked_as(ask, "Yes, Silk blouse - white (ZO0100000005) is in stock for $39.99.", VARIANT);
        blocked_as(ask, "We have Silk blouse - white (ZO0100000005), $39.99.", VARIANT);
        assert!(passes("do you have the silk blouse in a large?", "Yes, Silk blouse - white is in stock for $39.99."));
        // Saying which size it is in, or that the medium is gone, is honest.
        assert!(passes(ask, "Silk blouse - white is in stock in size L."));
        assert!(passes(ask, "Sorry, the medium is sold out; S and L are in stock."));
        assert!(passes(ask, "Do you want it in size L instead?"));
        // A size the product does not come in.
        blocked_as("trainers in size 11?", "Yes! Trainers - brown (ZO0000600006) are in stock, $24.99.", VARIANT);
        assert!(passes("trainers in size 8?", "Yes! Trainers - brown (ZO0000600006) are in stock, $24.99."));
        // "Too small" asks for no size.
        assert!(passes("what if the silk blouse is too small", "Silk blouse - white is in stock."));
    }

    #[test]
    fn in_stock_answers_the_colour_the_customer_asked() {
        blocked_as("the t-shirt in black?", "Yes, Basic T-shirt (ZO0100000007) is in stock, $12.99.", VARIANT);
        assert!(passes("the t-shirt in white?", "Yes, Basic T-shirt (ZO0100000007) is in stock, $12.99."));
        // By sku alone the reply states no colour: it must be the one asked.
        blocked_as("the shift dress in black?", "Yes, ZO0100000002 is in stock at $14.99.", VARIANT);
        // Naming another colour openly is not a claim about the one asked.
        assert!(passes("the shift dress in black?", "We have Shift dress - red (ZO0100000002), in stock."));
    }

    #[test]
    fn spanish_sizes_and_colours_are_asked_too() {
        let ask = "¿tienen la blusa de seda en talla M?";
        blocked_as(ask, "Sí, Silk blouse - white (ZO0100000005) está disponible por $39.99.", VARIANT);
        blocked_as(ask, "Sí, la tenemos: Silk blouse - white (ZO0100000005), $39.99.", VARIANT);
        assert!(passes("¿tienen la blusa de seda en talla L?", "Sí, Silk blouse - white está disponible."));
        assert!(passes(ask, "Lo siento, la talla M está agotada."));
        blocked_as("¿la camiseta en negro?", "Sí, Basic T-shirt (ZO0100000007) está disponible.", VARIANT);
    }

    #[test]
    fn a_name_several_products_share_holds_when_one_of_them_is_in_stock() {
        let mut facts = Facts { message: "do you have the jersey dress in black?".into(), ..shop() };
        let sold_out = crate::domain::facts::ProductFact {
            sku: crate::domain::Sku::parse("ZO0100000009").unwrap(),
            stock: 0,
            ..facts.products[0].clone()
        };
        facts.products.push(sold_out);
        let reply = "Yes, the black jersey dress is $44.99 and in stock.";
        let g = check(reply, &facts, 3, &[]);
        assert_eq!(g.verdict, Verdict::Pass, "{:?}", g.findings);
        facts.products[0].stock = 0;
        let g = check(reply, &facts, 3, &[]);
        let kinds: Vec<FindingKind> = g.findings.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FindingKind::UnsupportedStock]);
    }

    #[test]
    fn it_is_in_stock_is_about_the_quoted_sku() {
        // The maxi dress is sold out: "it" is the sku the customer quoted.
        let (verdict, kinds) = guarded("is ZO0100000003 in stock?", "Yes, it's in stock!");
        assert_eq!((verdict, kinds.as_slice()), (Verdict::Blocked, [FindingKind::UnsupportedStock].as_slice()));
        assert!(passes("is ZO0100000001 in stock?", "Yes, it's in stock!"));
    }

    #[test]
    fn an_answer_about_another_sku_says_so() {
        let ask = "is ZO0100000003 in stock?";
        // Issue 16: "is ZO0059900599 in stock?" answered about a different sku.
        blocked_as(ask, "Jersey dress - black (ZO0100000001) is in stock for $44.99.", OTHER_SKU);
        blocked_as(ask, "We have Jersey dress - black (ZO0100000001) for $44.99.", OTHER_SKU);
        assert!(passes(ask, "ZO0100000003 is sold out. Jersey dress - black (ZO0100000001) is in stock."));
        assert!(passes(ask, "Maxi dress - navy is sold out; Jersey dress - black (ZO0100000001) is in stock."));
        assert!(passes(ask, "That one is sold out. Try Jersey dress - black (ZO0100000001) instead, $44.99."));
        assert!(passes(ask, "That one is sold out. A similar one: Jersey dress - black, $44.99."));
        assert!(passes("how much is ZO0100000001?", "Jersey dress - black (ZO0100000001) is $44.99."));
        assert!(passes(ask, "Sorry, that dress is sold out."), "no claim about another product");
        // Spanish.
        blocked_as(
            "¿hay stock de ZO0100000003?",
            "Jersey dress - black (ZO0100000001) está disponible por $44.99.",
            OTHER_SKU,
        );
        assert!(passes(
            "¿hay stock de ZO0100000003?",
            "Ese está agotado. Te ofrezco otro: Jersey dress - black (ZO0100000001), $44.99."
        ));
    }
}
