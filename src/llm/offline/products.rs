//! The offline responder's answers to product questions, by what the customer asks
//! ([`Ask`]): the price, the stock of a size, the other colours, the cheapest, or the
//! products themselves; a complement says which purchase it goes with. Every figure comes
//! from the facts, so the guard can check it.

use crate::domain::dialogue::{self, Ask};
use crate::domain::facts::{ComplementFact, Facts, ProductFact};
use crate::domain::intent;
use crate::domain::language::Language;
use crate::llm::phrases::{fill, phrases};

/// "Blouse - red (B1) for $20.99, in stock", in the customer's language.
pub fn describe(p: &ProductFact, lang: Language) -> String {
    let w = phrases(lang);
    let stock = if p.stock > 0 {
        w.in_stock
    } else if p.orderable() {
        w.orderable
    } else {
        w.out_of_stock
    };
    let (title, sku, price) = (p.title.as_str(), p.sku.as_str(), p.price.to_string());
    let product = match p.sale_price {
        Some(sale) => {
            fill(w.product_on_sale, &[("title", title), ("sku", sku), ("sale", &sale.to_string()), ("price", &price)])
        }
        None => fill(w.product_for, &[("title", title), ("sku", sku), ("price", &price)]),
    };
    format!("{product}, {stock}")
}

/// "Blouse - red (B1) is $20.99."
fn price_is(p: &ProductFact, lang: Language) -> String {
    let w = phrases(lang);
    let (title, sku, price) = (p.title.as_str(), p.sku.as_str(), p.price.to_string());
    match p.sale_price {
        Some(sale) => {
            fill(w.price_on_sale, &[("title", title), ("sku", sku), ("sale", &sale.to_string()), ("price", &price)])
        }
        None => fill(w.price_is, &[("title", title), ("sku", sku), ("price", &price)]),
    }
}

/// A phrase about one product: `{title}` and `{sku}` filled, with `more`.
fn about(template: &str, p: &ProductFact, more: &[(&str, &str)]) -> String {
    let mut values = vec![("title", p.title.as_str()), ("sku", p.sku.as_str())];
    values.extend_from_slice(more);
    fill(template, &values)
}

/// Units of `size` in stock: the variant's when the catalog gives variants, else the
/// product's (a product without variants does not say which sizes are left).
fn stock_in_size(p: &ProductFact, size: &str) -> i64 {
    let variants: Vec<_> =
        p.variants.iter().filter(|v| v.size.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(size))).collect();
    if variants.is_empty() { p.stock } else { variants.iter().map(|v| v.stock).sum() }
}

/// True when `size` has no stock but can be ordered (its variant, or the product when the
/// catalog gives no variant of that size).
fn orderable_in_size(p: &ProductFact, size: &str) -> bool {
    let sized: Vec<_> =
        p.variants.iter().filter(|v| v.size.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(size))).collect();
    if sized.is_empty() { p.orderable() } else { sized.iter().any(|v| v.orderable) }
}

/// "red, blue and black" ("rojo, azul y negro").
fn list(items: &[String], lang: Language) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {} {last}", rest.join(", "), phrases(lang).and),
    }
}

/// The distinct colours of these products, in order, within `room` characters.
fn colours_of(products: &[&ProductFact], room: usize) -> Vec<String> {
    let mut colours: Vec<String> = Vec::new();
    for c in products.iter().flat_map(|p| p.colors.iter()) {
        let c = c.to_lowercase();
        if !colours.contains(&c) && colours.iter().map(|x| x.len() + 2).sum::<usize>() + c.len() < room {
            colours.push(c);
        }
    }
    colours
}

/// The product to answer with: the best match, or a product in stock that matches the words
/// as well when the best is sold out ("sweaters?" with the first cardigan sold out). Not for
/// a product the customer quoted or referred to: that one is the answer, sold out or not.
fn in_stock_first(facts: &Facts) -> &ProductFact {
    let best = &facts.products[0];
    let quoted = crate::catalog::query::sku_mentions(&facts.message).contains(&best.sku.as_str().to_string());
    if best.stock > 0 || quoted || !facts.asked.refers_to.is_empty() {
        return best;
    }
    let content = intent::content_words(&facts.message);
    let cov = intent::coverage(&content, best);
    facts.products.iter().find(|p| p.stock > 0 && intent::coverage(&content, p) >= cov).unwrap_or(best)
}

/// The answer to a size question about one product.
fn size_answer(p: &ProductFact, size: &str, lang: Language) -> String {
    let w = phrases(lang);
    let offered = p.sizes.iter().any(|s| s.eq_ignore_ascii_case(size));
    if p.sizes.is_empty() {
        // A bag or a scarf: no sizes to offer, so none is claimed.
        about(w.one_size, p, &[])
    } else if !offered {
        about(w.size_not_offered, p, &[("sizes", &p.sizes.join(", ")), ("size", size)])
    } else if stock_in_size(p, size) > 0 {
        about(w.size_yes, p, &[("size", size)])
    } else if orderable_in_size(p, size) {
        about(w.stock_orderable, p, &[])
    } else {
        about(w.size_sold_out, p, &[])
    }
}

/// "the skirt you bought in November": the purchase by its name without the colour (the
/// guard reads colours in a sentence as claims about the products it names).
fn purchase(c: &ComplementFact, lang: Language, dated: bool) -> String {
    use chrono::Datelike;
    let w = phrases(lang);
    let name = dialogue::base_title(&c.goes_with).to_lowercase();
    match chrono::NaiveDate::parse_from_str(&c.bought_on, "%Y-%m-%d") {
        Ok(d) if dated => fill(w.purchase, &[("name", &name), ("month", w.months[d.month0() as usize])]),
        _ => fill(w.purchase_undated, &[("name", &name)]),
    }
}

/// A product answer: the text, the evidence (0–1) behind it, and the skus it names.
pub struct Answer {
    pub text: String,
    pub evidence: f64,
    pub skus: Vec<String>,
}

/// Answers a product question from the facts; `room` is the reply's length budget.
pub fn answer(facts: &Facts, room: usize) -> Answer {
    let (lang, w) = (facts.language, phrases(facts.language));
    let evidence = intent::product_evidence(facts);
    if intent::needs_what_kind(facts) {
        return Answer { text: w.what_kind.to_string(), evidence, skus: vec![] };
    }
    let best = in_stock_first(facts);
    let one = |text: String, p: &ProductFact| Answer { text, evidence, skus: vec![p.sku.as_str().to_owned()] };
    let referred: Vec<&ProductFact> =
        facts.products.iter().filter(|p| facts.asked.refers_to.contains(&p.sku)).collect();
    let asked = &facts.asked;
    match &asked.ask {
        Ask::Cheaper | Ask::Cheapest | Ask::Dearest if referred.len() >= 2 => {
            let price = |p: &ProductFact| p.price_now().cents;
            let low = *referred.iter().min_by_key(|p| price(p)).expect("two or more");
            let high = *referred.iter().max_by_key(|p| price(p)).expect("two or more");
            if price(low) == price(high) {
                let names: Vec<String> = referred.iter().map(|p| format!("{} ({})", p.title, p.sku)).collect();
                let each = low.price_now().to_string();
                let text = fill(w.same_price, &[("names", &list(&names, lang)), ("price", &each)]);
                return Answer { text, evidence, skus: referred.iter().map(|p| p.sku.as_str().to_owned()).collect() };
            }
            let (pick, template) = if asked.ask == Ask::Dearest { (high, w.dearest) } else { (low, w.cheapest) };
            one(fill(template, &[("product", &describe(pick, lang))]), pick)
        }
        // Retrieval sorted the matches by price (in stock first).
        Ask::Cheapest | Ask::Cheaper => one(fill(w.cheapest, &[("product", &describe(best, lang))]), best),
        Ask::Dearest => one(fill(w.dearest, &[("product", &describe(best, lang))]), best),
        Ask::Price if !referred.is_empty() => one(price_is(best, lang), best),
        Ask::Size(Some(size)) if !referred.is_empty() || evidence >= 0.5 => one(size_answer(best, size, lang), best),
        Ask::Stock if !referred.is_empty() => {
            let template = if best.stock > 0 {
                w.stock_yes
            } else if best.orderable() {
                w.stock_orderable
            } else {
                w.size_sold_out
            };
            one(about(template, best, &[]), best)
        }
        Ask::Colours if !referred.is_empty() => {
            let name = dialogue::base_title(&best.title);
            let family: Vec<&ProductFact> = facts.products.iter().collect();
            let colours = colours_of(&family, room.saturating_sub(name.len() + 12));
            one(fill(w.colours, &[("name", name), ("colours", &list(&colours, lang))]), best)
        }
        _ => show(facts, best, evidence, room),
    }
}

/// The products themselves: the best one (in the colour asked, when it has it), a second
/// one when it matches nearly as well and fits, and the purchase a complement goes with.
fn show(facts: &Facts, best: &ProductFact, evidence: f64, room: usize) -> Answer {
    let (lang, w) = (facts.language, phrases(facts.language));
    let asked = &facts.asked;
    let has_colour = |p: &ProductFact| asked.colours.iter().any(|c| p.colors.iter().any(|pc| pc.contains(c.as_str())));
    if !asked.colours.is_empty() && !has_colour(best) {
        // Nothing in the colour asked: say so, and what there is.
        let name = dialogue::base_title(&best.title);
        let family: Vec<&ProductFact> =
            facts.products.iter().filter(|p| dialogue::base_title(&p.title).eq_ignore_ascii_case(name)).collect();
        let colours = colours_of(&family, room.saturating_sub(name.len() + 40));
        let (asked_colours, there) = (list(&asked.colours, lang), list(&colours, lang));
        let text = fill(w.colour_missing, &[("name", name), ("colour", &asked_colours), ("colours", &there)]);
        return Answer { text, evidence, skus: vec![best.sku.as_str().to_owned()] };
    }
    let product = describe(best, lang);
    let mut text = match facts.complement_of(&best.sku) {
        Some(c) if asked.wants_complements => {
            // With the month when the reply has room for it.
            let dated = fill(w.complement, &[("owned", &purchase(c, lang, true)), ("product", &product)]);
            if dated.chars().count() <= room {
                dated
            } else {
                fill(w.complement, &[("owned", &purchase(c, lang, false)), ("product", &product)])
            }
        }
        _ => fill(w.we_have, &[("product", &product)]),
    };
    // A size question gets the product's sizes, when it has any.
    if asked.ask == Ask::Size(None) && !best.sizes.is_empty() {
        let sizes = fill(w.in_sizes, &[("sizes", &best.sizes.join(", "))]);
        text = format!("{}, {sizes}.", text.trim_end_matches('.'));
    }
    let mut skus = vec![best.sku.as_str().to_owned()];
    let content = intent::content_words(&facts.message);
    let cov = intent::coverage(&content, best);
    if let Some(second) = facts.products.iter().find(|p| p.sku != best.sku)
        && intent::coverage(&content, second) >= cov * 0.75
        && cov > 0.0
        && !asked.wants_complements
    {
        let also = fill(w.also, &[("product", &describe(second, lang))]);
        // A second product only when both fit in the reply's room (one SMS).
        if text.chars().count() + also.chars().count() <= room {
            text.push_str(&also);
            skus.push(second.sku.as_str().to_owned());
        }
    }
    // Offered unasked: a product that goes with something the customer bought says so.
    if let Some(c) = facts.complement_of(&best.sku)
        && !asked.wants_complements
    {
        let note = fill(w.goes_with, &[("owned", &purchase(c, lang, true))]);
        if text.chars().count() + note.chars().count() <= room {
            text.push_str(&note);
        }
    }
    Answer { text, evidence, skus }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Sku;
    use crate::domain::dialogue::Asked;
    use crate::domain::facts::ComplementFact;

    fn product(sku: &str, title: &str, colour: &str, cents: i64, stock: i64) -> ProductFact {
        ProductFact {
            sku: Sku::parse(sku).unwrap(),
            title: title.into(),
            colors: vec![colour.into()],
            sizes: vec!["S".into(), "M".into(), "L".into()],
            price: crate::domain::Money::usd_cents(cents),
            stock,
            ..ProductFact::red_blouse()
        }
    }

    fn facts(message: &str, products: Vec<ProductFact>, asked: Asked) -> Facts {
        Facts { message: message.into(), products, asked, ..Facts::default() }
    }

    fn referring(ask: Ask, skus: &[&str]) -> Asked {
        Asked { ask, refers_to: skus.iter().map(|s| Sku::parse(s).unwrap()).collect(), ..Asked::default() }
    }

    #[test]
    fn a_follow_up_gets_what_it_asks_of_the_product_in_focus() {
        let blouse = product("B1", "Blouse - red", "red", 2099, 4);
        let answer = |ask: Ask| answer(&facts("?", vec![blouse.clone()], referring(ask, &["B1"])), 160).text;
        assert_eq!(answer(Ask::Price), "Blouse - red (B1) is $20.99.");
        assert_eq!(answer(Ask::Size(Some("M".into()))), "Yes, Blouse - red (B1) comes in size M and is in stock.");
        assert_eq!(answer(Ask::Size(Some("XL".into()))), "Blouse - red (B1) comes in sizes S, M, L, not XL.");
        assert_eq!(answer(Ask::Stock), "Yes, Blouse - red (B1) is in stock.");
        let sold_out = product("B2", "Blouse - red", "red", 2099, 0);
        let f = facts("is it in stock?", vec![sold_out], referring(Ask::Stock, &["B2"]));
        assert_eq!(answer_text(&f), "Blouse - red (B2) is out of stock right now.");
    }

    fn answer_text(f: &Facts) -> String {
        answer(f, 160).text
    }

    #[test]
    fn two_products_offered_are_compared_by_the_price_paid_now() {
        let white = product("W1", "Blazer - white", "white", 2899, 3);
        let coral = product("C1", "Blazer - coral", "coral", 2899, 3);
        let f = facts("which one is cheaper?", vec![white.clone(), coral], referring(Ask::Cheaper, &["W1", "C1"]));
        assert_eq!(
            answer_text(&f),
            "They're the same price: Blazer - white (W1) and Blazer - coral (C1) are $28.99 each."
        );
        let mut sale = product("S1", "Blazer - navy", "navy", 3299, 3);
        sale.sale_price = Some(crate::domain::Money::usd_cents(1999));
        let f = facts("which one is cheaper?", vec![white, sale], referring(Ask::Cheaper, &["W1", "S1"]));
        assert!(
            answer_text(&f).starts_with("The cheapest is Blazer - navy (S1) on sale for $19.99"),
            "{}",
            answer_text(&f)
        );
    }

    #[test]
    fn a_colour_the_product_lacks_is_said_with_the_colours_it_has() {
        let jacket = product("J1", "Winter jacket - bordeaux", "bordeaux", 2899, 3);
        let asked = Asked { colours: vec!["black".into()], ..Asked::default() };
        let f = facts("and in black?", vec![jacket], asked);
        assert_eq!(answer_text(&f), "We don't have Winter jacket in black; it comes in bordeaux.");
    }

    #[test]
    fn a_complement_names_the_purchase_and_a_product_that_goes_with_one_says_so() {
        let sandals = product("H1", "High heeled sandals - black", "black", 2899, 5);
        let goes = ComplementFact {
            sku: Sku::parse("H1").unwrap(),
            goes_with: "Pencil skirt - light brown".into(),
            bought_on: "2026-10-21".into(),
        };
        let mut f = facts(
            "which shoes would go with the skirt i bought?",
            vec![sandals],
            Asked { wants_complements: true, ..Asked::default() },
        );
        f.complements = vec![goes];
        assert_eq!(
            answer_text(&f),
            "To go with the pencil skirt you bought in October: High heeled sandals - black (H1) for $28.99, in stock."
        );
        // Asked about the product itself: the purchase it goes with is mentioned unasked.
        f.message = "do you have black sandals?".into();
        f.asked.wants_complements = false;
        assert!(
            answer_text(&f).ends_with(" It goes with the pencil skirt you bought in October."),
            "{}",
            answer_text(&f)
        );
        // In Spanish, with the month in Spanish.
        f.language = Language::Es;
        f.asked.wants_complements = true;
        assert!(answer_text(&f).starts_with("Para combinar con tu pencil skirt de octubre: "), "{}", answer_text(&f));
    }
}
