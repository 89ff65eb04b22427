//! Which retrieved products a sentence of a draft is about, and what the customer asked for.
//!
//! The checks of [`super::superlatives`] and [`super::asked`] need more than "does the
//! sentence name a product": where it names each one (the side of "cheaper than" it is on),
//! what "it" means in a sentence that names none, and the size, colour and skus the
//! customer's message asked about.

use std::sync::LazyLock;

use regex::Regex;

use super::claims::{COLOURS, sentences};
use crate::catalog::query::{sku_mentions, understand};
use crate::domain::facts::{Facts, ProductFact};

/// One place a sentence names a product: by sku (one product) or by title (every product
/// with that title; titles repeat across skus).
#[derive(Debug, Clone)]
pub struct Mention<'a> {
    /// Byte offsets of the name in the sentence.
    pub start: usize,
    pub end: usize,
    pub products: Vec<&'a ProductFact>,
}

/// The retrieved products `sentence` names, in order: by sku, by exact title, else by all
/// of a title's words ("the red blouse" for "Blouse - red"). A title followed by its sku
/// ("Blouse - red (ZO0172001720)") is one mention, of that sku.
pub fn mentions<'a>(sentence: &str, facts: &'a Facts) -> Vec<Mention<'a>> {
    let lower = sentence.to_lowercase();
    let mut found: Vec<Mention<'a>> = Vec::new();
    for p in &facts.products {
        let sku = p.sku.as_str().to_lowercase();
        for (start, _) in lower.match_indices(&sku) {
            found.push(Mention { start, end: start + sku.len(), products: vec![p] });
        }
    }
    let by_sku = found.clone();
    let mut titles: Vec<Mention<'a>> = Vec::new();
    for p in &facts.products {
        let title = p.title.to_lowercase();
        if title.is_empty() {
            continue;
        }
        for (start, _) in lower.match_indices(&title) {
            let end = start + title.len();
            // "Title (SKU)": the sku says which of the products with this title.
            if by_sku.iter().any(|m| m.start >= end && m.start <= end + 3) {
                continue;
            }
            match titles.iter_mut().find(|m| m.start == start && m.end == end) {
                Some(m) => m.products.push(p),
                None => titles.push(Mention { start, end, products: vec![p] }),
            }
        }
    }
    // A title inside a longer one ("Trainers - black" in "Trainers - black/white") is the
    // longer one.
    let spans: Vec<(usize, usize)> = titles.iter().map(|m| (m.start, m.end)).collect();
    titles.retain(|m| !spans.iter().any(|&(s, e)| s <= m.start && m.end <= e && (s, e) != (m.start, m.end)));
    found.extend(titles);
    if found.is_empty() {
        found = by_title_words(&lower, facts);
    }
    found.sort_by_key(|m| m.start);
    found
}

/// Products all of whose title words the sentence uses, at the first of those words.
fn by_title_words<'a>(lower: &str, facts: &'a Facts) -> Vec<Mention<'a>> {
    let words: Vec<(usize, &str)> = word_spans(lower);
    let mut found: Vec<Mention<'a>> = Vec::new();
    for p in &facts.products {
        let title = p.title.to_lowercase();
        let wanted: Vec<&str> = title.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() >= 2).collect();
        let positions: Option<Vec<usize>> = wanted
            .iter()
            .map(|w| words.iter().find(|(_, s)| s == w || s.strip_suffix('s') == Some(w)).map(|(at, _)| *at))
            .collect();
        let Some(positions) = positions.filter(|p| !p.is_empty()) else { continue };
        let start = *positions.iter().min().expect("non-empty");
        let end = positions.iter().max().map_or(start, |&at| at + 1);
        match found.iter_mut().find(|m| m.start == start) {
            Some(m) => m.products.push(p),
            None => found.push(Mention { start, end, products: vec![p] }),
        }
    }
    found
}

fn word_spans(lower: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in lower.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &lower[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &lower[s..]));
    }
    out
}

/// What a sentence that names no product is about ("It's the last one."): the products
/// the nearest earlier sentence of the draft names, else the sku the customer quoted (when
/// retrieved), else the only retrieved product. Empty when none of these applies.
pub fn implied_subject<'a>(text: &str, sentence_start: usize, facts: &'a Facts, asked: &Asked) -> Vec<&'a ProductFact> {
    let earlier: Vec<&str> = sentences(text).filter(|s| offset_in(text, s) < sentence_start).collect();
    for s in earlier.iter().rev() {
        let named = mentions(s, facts);
        if !named.is_empty() {
            return named.into_iter().flat_map(|m| m.products).collect();
        }
    }
    let quoted: Vec<&ProductFact> =
        facts.products.iter().filter(|p| asked.skus.iter().any(|s| s.eq_ignore_ascii_case(p.sku.as_str()))).collect();
    if !quoted.is_empty() {
        return quoted;
    }
    if facts.products.len() == 1 { facts.products.iter().collect() } else { vec![] }
}

/// Where `part` (a slice of `text`) starts in it.
pub fn offset_in(text: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize).min(text.len())
}

/// What the customer's message asks about: sizes and colours (in the catalog's words:
/// "M", "8", "red") and quoted skus (upper case).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Asked {
    pub sizes: Vec<String>,
    pub colours: Vec<String>,
    pub skus: Vec<String>,
}

/// "talla M", "talla mediana", "número 38": a Spanish size (query understanding reads
/// English sizes only).
static SPANISH_SIZE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:tallas?|n[úu]mero|num|nº)\s+(xxl|xl|xs|s|m|l|peque[ñn]a|chica|mediana|grande|\d{1,2}(?:[.,]5)?)\b",
    )
    .expect("valid regex")
});

/// A fit complaint, whose "small" or "large" is no size asked for.
static FIT_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:too|so|very|bit|little|quite|really|kinda|pretty|slightly)\s+(?:small|medium|large|big|tight)\b",
    )
    .expect("valid regex")
});

/// Spanish colour words, in the catalog's (English) words.
const SPANISH_COLOURS: &[(&str, &str)] = &[
    ("rojo", "red"),
    ("negro", "black"),
    ("blanco", "white"),
    ("azul", "blue"),
    ("marino", "navy"),
    ("verde", "green"),
    ("gris", "grey"),
    ("rosa", "pink"),
    ("amarillo", "yellow"),
    ("marron", "brown"),
    ("marrón", "brown"),
    ("beige", "beige"),
    ("morado", "purple"),
    ("naranja", "orange"),
    ("dorado", "gold"),
    ("plateado", "silver"),
    ("burdeos", "burgundy"),
    ("caqui", "khaki"),
];

/// A Spanish colour word (any gender and number: "roja", "negros") in English, if it is one.
pub fn spanish_colour(word: &str) -> Option<&'static str> {
    let w = word.to_lowercase();
    let stems = [w.as_str(), w.trim_end_matches('s'), w.strip_suffix("es").unwrap_or(&w)];
    stems.iter().find_map(|stem| {
        SPANISH_COLOURS.iter().find_map(|(es, en)| {
            let masculine = stem.strip_suffix('a').map(|s| format!("{s}o"));
            (*stem == *es || masculine.as_deref() == Some(*es)).then_some(*en)
        })
    })
}

/// The sizes, colours and skus `message` asks about ([`understand`] and [`sku_mentions`],
/// plus Spanish sizes and colours).
pub fn asked(message: &str) -> Asked {
    let understood = understand(message, None);
    let mut sizes = understood.filter.sizes;
    // "Too small" is about fit, not a request for size S.
    if FIT_WORDS.is_match(message) {
        sizes.clear();
    }
    for caps in SPANISH_SIZE.captures_iter(message) {
        let raw = caps[1].to_lowercase().replace(',', ".");
        let size = match raw.as_str() {
            "pequeña" | "pequena" | "chica" => "S".to_string(),
            "mediana" => "M".to_string(),
            "grande" => "L".to_string(),
            other => other.to_uppercase(),
        };
        if !sizes.contains(&size) {
            sizes.push(size);
        }
    }
    let mut colours = understood.filter.colors;
    let lower = message.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    for (i, w) in words.iter().enumerate() {
        let Some(en) = spanish_colour(w) else { continue };
        // "azul marino" is navy, not blue.
        if en == "blue" && words.get(i + 1).is_some_and(|n| n.starts_with("marin")) {
            continue;
        }
        if !colours.iter().any(|c| c == en) {
            colours.push(en.to_string());
        }
    }
    Asked { sizes, colours, skus: sku_mentions(message) }
}

/// The colour words of a sentence (English, and Spanish ones in English), lower case.
pub fn colours_in(sentence: &str) -> Vec<String> {
    let lower = sentence.to_lowercase();
    let mut out: Vec<String> = Vec::new();
    for w in lower.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        let colour = if COLOURS.contains(&w) { Some(w) } else { spanish_colour(w) };
        if let Some(c) = colour.map(|c| if c == "gray" { "grey" } else { c })
            && !out.iter().any(|o| o == c)
        {
            out.push(c.to_string());
        }
    }
    out
}

/// The colours a sentence states: its colour words and the colours in the titles of the
/// products it names ("Blouse - rose" states rose).
pub fn stated_colours(sentence: &str, facts: &Facts) -> Vec<String> {
    let mut out = colours_in(sentence);
    let lower = sentence.to_lowercase();
    for p in facts.products.iter().filter(|p| lower.contains(&p.title.to_lowercase())) {
        if let Some((_, colour)) = p.title.rsplit_once(" - ") {
            let colour = colour.to_lowercase();
            if !out.contains(&colour) {
                out.push(colour);
            }
        }
    }
    out
}

/// True when `colour` is one of the product's colours, its title's, or a variant's
/// ("red" is in "dark red"; grey and gray are one colour).
pub fn has_colour(p: &ProductFact, colour: &str) -> bool {
    let same = |text: &str| {
        text.to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == colour || (w == "gray" && colour == "grey") || (w == "grey" && colour == "gray"))
    };
    p.colors.iter().any(|c| same(c))
        || same(p.title.rsplit(" - ").next().unwrap_or_default())
        || p.variants.iter().filter_map(|v| v.color.as_deref()).any(same)
}

/// True when the product says what colours it comes in.
pub fn knows_colours(p: &ProductFact) -> bool {
    !p.colors.is_empty() || p.variants.iter().any(|v| v.color.is_some())
}

/// True when the product says what sizes it comes in.
pub fn knows_sizes(p: &ProductFact) -> bool {
    !p.sizes.is_empty() || p.variants.iter().any(|v| v.size.is_some())
}

/// True when the product comes in `size` (its sizes or a variant's).
pub fn has_size(p: &ProductFact, size: &str) -> bool {
    p.sizes.iter().any(|s| s.eq_ignore_ascii_case(size))
        || p.variants.iter().filter_map(|v| v.size.as_deref()).any(|s| s.eq_ignore_ascii_case(size))
}

/// Units of the product in the given size and colour (either may be absent): the matching
/// variants' stock, `None` when the catalog gives no variant for them (only the product's
/// total is known then), the product's total when neither is given.
pub fn stock_of(p: &ProductFact, size: Option<&str>, colour: Option<&str>) -> Option<i64> {
    if size.is_none() && colour.is_none() {
        return Some(p.stock);
    }
    let matching: Vec<i64> = p
        .variants
        .iter()
        .filter(|v| size.is_none_or(|s| v.size.as_deref().is_some_and(|z| z.eq_ignore_ascii_case(s))))
        .filter(|v| {
            colour.is_none_or(|c| {
                v.color
                    .as_deref()
                    .is_some_and(|vc| vc.to_lowercase().split(|x: char| !x.is_alphanumeric()).any(|w| w == c))
            })
        })
        .map(|v| v.stock)
        .collect();
    if matching.is_empty() { None } else { Some(matching.iter().sum()) }
}

/// A small shop for the guard's tests, shaped on the demo store: dresses (one on sale from
/// $49.99 to $14.99, so its list price is not its price), a cheaper belt, a silk blouse
/// with stock by size (none in M), trainers in sizes 5-10 without variants, ballet pumps at
/// the trainers' price, and a T-shirt with stock by colour (none in black).
#[cfg(test)]
pub fn shop() -> Facts {
    use crate::domain::facts::VariantFact;
    use crate::domain::{Money, Sku};
    let product = |sku: &str, title: &str, price: f64, sale: Option<f64>, stock: i64| ProductFact {
        sku: Sku::parse(sku).unwrap(),
        title: title.into(),
        brand: "Tigress Enterprises".into(),
        category: "Women's Clothing".into(),
        price: Money::usd(price),
        sale_price: sale.map(Money::usd),
        colors: title.rsplit_once(" - ").map(|(_, c)| vec![c.to_string()]).unwrap_or_default(),
        sizes: vec![],
        stock,
        variants: vec![],
        score: 1.0,
    };
    let variant = |size: Option<&str>, color: Option<&str>, stock: i64| VariantFact {
        orderable: false,
        size: size.map(String::from),
        color: color.map(String::from),
        stock,
    };
    let mut blouse = product("ZO0100000005", "Silk blouse - white", 39.99, None, 6);
    blouse.sizes = vec!["S".into(), "M".into(), "L".into()];
    blouse.variants = vec![variant(Some("S"), None, 2), variant(Some("M"), None, 0), variant(Some("L"), None, 4)];
    let mut trainers = product("ZO0000600006", "Trainers - brown", 24.99, None, 22);
    trainers.sizes = ["5", "6", "7", "8", "9", "10"].map(String::from).to_vec();
    let mut tee = product("ZO0100000007", "Basic T-shirt", 12.99, None, 3);
    tee.colors = vec!["white".into(), "black".into()];
    tee.variants = vec![variant(None, Some("white"), 3), variant(None, Some("black"), 0)];
    Facts {
        products: vec![
            product("ZO0100000001", "Jersey dress - black", 44.99, None, 5),
            product("ZO0100000002", "Shift dress - red", 49.99, Some(14.99), 1),
            product("ZO0100000003", "Maxi dress - navy", 59.99, None, 0),
            product("ZO0100000004", "Belt - brown", 9.99, None, 3),
            blouse,
            trainers,
            product("ZO0001900019", "Ballet pumps - black", 24.99, None, 37),
            tee,
        ],
        ..Facts::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::facts::ProductFact;
    use crate::domain::{Money, Sku};

    fn product(sku: &str, title: &str) -> ProductFact {
        ProductFact {
            sku: Sku::parse(sku).unwrap(),
            title: title.into(),
            price: Money::usd(10.0),
            ..ProductFact::red_blouse()
        }
    }

    #[test]
    fn the_customer_asks_for_sizes_and_colours_in_english_and_spanish() {
        assert_eq!(asked("do you have it in a medium?").sizes, ["M"]);
        assert_eq!(asked("size 8 please").sizes, ["8"]);
        assert!(asked("what if the boots are too small").sizes.is_empty(), "a fit worry asks no size");
        assert_eq!(asked("¿la tienen en talla M?").sizes, ["M"]);
        assert_eq!(asked("¿hay talla mediana?").sizes, ["M"]);
        assert_eq!(asked("número 38").sizes, ["38"]);
        assert_eq!(asked("in red?").colours, ["red"]);
        assert_eq!(asked("¿la tienen en roja?").colours, ["red"]);
        assert_eq!(asked("¿en azul marino?").colours, ["navy"]);
        assert_eq!(asked("is zo0059900599 in stock?").skus, ["ZO0059900599"]);
        assert_eq!(asked("where is my order 550471?"), Asked::default());
    }

    #[test]
    fn a_title_with_its_sku_is_one_mention_of_that_sku() {
        let facts = Facts {
            products: vec![
                product("ZO0000000001", "Blouse - red"),
                product("ZO0000000002", "Blouse - red"),
                product("ZO0000000003", "Blouse - red/white"),
            ],
            ..Facts::default()
        };
        let found = mentions("Blouse - red (ZO0000000002) is cheaper than Blouse - red/white.", &facts);
        let skus: Vec<Vec<&str>> = found.iter().map(|m| m.products.iter().map(|p| p.sku.as_str()).collect()).collect();
        assert_eq!(skus, [vec!["ZO0000000002"], vec!["ZO0000000003"]]);
        // A bare title is every product with it; loose words find the title too.
        assert_eq!(mentions("the Blouse - red", &facts)[0].products.len(), 2);
        assert_eq!(mentions("the red blouses are lovely", &facts)[0].products.len(), 2);
    }
}
