//! The offline responder's answers to product questions, by what the customer asks
//! ([`Ask`]): the price, the stock of a size, the other colours, the cheapest, or the
//! products themselves; a complement says which purchase it goes with. Every figure comes
//! from the facts, so the guard can check it.

use crate::domain::dialogue::{self, Ask};
use crate::domain::facts::{ComplementFact, Facts, ProductFact};
use crate::domain::intent;

/// "Blouse - red (B1) for $20.99, in stock".
pub fn describe(p: &ProductFact) -> String {
    let stock = if p.stock > 0 { "in stock" } else { "out of stock right now" };
    match p.sale_price {
        Some(sale) => format!("{} ({}) on sale for {sale} (was {}), {stock}", p.title, p.sku, p.price),
        None => format!("{} ({}) for {}, {stock}", p.title, p.sku, p.price),
    }
}

/// "Blouse - red (B1) is $20.99."
fn price_is(p: &ProductFact) -> String {
    match p.sale_price {
        Some(sale) => format!("{} ({}) is on sale for {sale} (was {}).", p.title, p.sku, p.price),
        None => format!("{} ({}) is {}.", p.title, p.sku, p.price),
    }
}

/// Units of `size` in stock: the variant's when the catalog gives variants, else the
/// product's (a product without variants does not say which sizes are left).
fn stock_in_size(p: &ProductFact, size: &str) -> i64 {
    let variants: Vec<_> =
        p.variants.iter().filter(|v| v.size.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(size))).collect();
    if variants.is_empty() { p.stock } else { variants.iter().map(|v| v.stock).sum() }
}

/// "red, blue and black".
fn list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
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
fn size_answer(p: &ProductFact, size: &str) -> String {
    let offered = p.sizes.iter().any(|s| s.eq_ignore_ascii_case(size));
    if !p.sizes.is_empty() && !offered {
        format!("{} ({}) comes in sizes {}, not {size}.", p.title, p.sku, p.sizes.join(", "))
    } else if stock_in_size(p, size) > 0 {
        format!("Yes, {} ({}) comes in size {size} and is in stock.", p.title, p.sku)
    } else {
        format!("{} ({}) is out of stock right now.", p.title, p.sku)
    }
}

/// "the skirt you bought in November": the purchase by its name without the colour (the
/// guard reads colours in a sentence as claims about the products it names).
fn purchase(c: &ComplementFact) -> String {
    let name = dialogue::base_title(&c.goes_with).to_lowercase();
    match chrono::NaiveDate::parse_from_str(&c.bought_on, "%Y-%m-%d") {
        Ok(date) => format!("the {name} you bought in {}", date.format("%B")),
        Err(_) => format!("the {name} you bought"),
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
    let evidence = intent::product_evidence(facts);
    let best = in_stock_first(facts);
    let one = |text: String, p: &ProductFact| Answer { text, evidence, skus: vec![p.sku.as_str().to_owned()] };
    let referred: Vec<&ProductFact> =
        facts.products.iter().filter(|p| facts.asked.refers_to.contains(&p.sku)).collect();
    let asked = &facts.asked;
    match &asked.ask {
        Ask::Cheaper | Ask::Cheapest | Ask::Dearest if referred.len() >= 2 => {
            let price = |p: &ProductFact| dialogue::price_now(p).cents;
            let low = *referred.iter().min_by_key(|p| price(p)).expect("two or more");
            let high = *referred.iter().max_by_key(|p| price(p)).expect("two or more");
            if price(low) == price(high) {
                let names: Vec<String> = referred.iter().map(|p| format!("{} ({})", p.title, p.sku)).collect();
                let text = format!("They're the same price: {} are {} each.", list(&names), dialogue::price_now(low));
                return Answer { text, evidence, skus: referred.iter().map(|p| p.sku.as_str().to_owned()).collect() };
            }
            let (pick, word) = if asked.ask == Ask::Dearest { (high, "most expensive") } else { (low, "cheapest") };
            one(format!("The {word} is {}.", describe(pick)), pick)
        }
        // Retrieval sorted the matches by price (in stock first).
        Ask::Cheapest | Ask::Cheaper => one(format!("The cheapest is {}.", describe(best)), best),
        Ask::Dearest => one(format!("The most expensive is {}.", describe(best)), best),
        Ask::Price if !referred.is_empty() => one(price_is(best), best),
        Ask::Size(Some(size)) if !referred.is_empty() || evidence >= 0.5 => one(size_answer(best, size), best),
        Ask::Stock if !referred.is_empty() => {
            let text = if best.stock > 0 {
                format!("Yes, {} ({}) is in stock.", best.title, best.sku)
            } else {
                format!("{} ({}) is out of stock right now.", best.title, best.sku)
            };
            one(text, best)
        }
        Ask::Colours if !referred.is_empty() => {
            let name = dialogue::base_title(&best.title);
            let family: Vec<&ProductFact> = facts.products.iter().collect();
            let colours = colours_of(&family, room.saturating_sub(name.len() + 12));
            one(format!("{name} comes in {}.", list(&colours)), best)
        }
        _ => show(facts, best, evidence, room),
    }
}

/// The products themselves: the best one (in the colour asked, when it has it), a second
/// one when it matches nearly as well and fits, and the purchase a complement goes with.
fn show(facts: &Facts, best: &ProductFact, evidence: f64, room: usize) -> Answer {
    let asked = &facts.asked;
    let has_colour = |p: &ProductFact| asked.colours.iter().any(|c| p.colors.iter().any(|pc| pc.contains(c.as_str())));
    if !asked.colours.is_empty() && !has_colour(best) {
        // Nothing in the colour asked: say so, and what there is.
        let name = dialogue::base_title(&best.title);
        let family: Vec<&ProductFact> =
            facts.products.iter().filter(|p| dialogue::base_title(&p.title).eq_ignore_ascii_case(name)).collect();
        let colours = colours_of(&family, room.saturating_sub(name.len() + 40));
        let text = format!("We don't have {name} in {}; it comes in {}.", list(&asked.colours), list(&colours));
        return Answer { text, evidence, skus: vec![best.sku.as_str().to_owned()] };
    }
    let mut text = match facts.complement_of(&best.sku) {
        Some(c) if asked.wants_complements => format!("To go with {}: {}.", purchase(c), describe(best)),
        _ => format!("We have {}.", describe(best)),
    };
    // A size question gets the product's sizes, when it has any.
    if asked.ask == Ask::Size(None) && !best.sizes.is_empty() {
        text = format!("{}, in sizes {}.", text.trim_end_matches('.'), best.sizes.join(", "));
    }
    let mut skus = vec![best.sku.as_str().to_owned()];
    let content = intent::content_words(&facts.message);
    let cov = intent::coverage(&content, best);
    if let Some(second) = facts.products.iter().find(|p| p.sku != best.sku)
        && intent::coverage(&content, second) >= cov * 0.75
        && cov > 0.0
        && !asked.wants_complements
    {
        let also = format!(" Also {}.", describe(second));
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
        let note = format!(" It goes with {}.", purchase(c));
        if text.chars().count() + note.chars().count() <= room {
            text.push_str(&note);
        }
    }
    Answer { text, evidence, skus }
}
