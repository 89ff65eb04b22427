//! Superlatives, comparisons, scarcity and popularity in a draft, checked against the
//! retrieved products' prices and stock.
//!
//! A price or stock comparison is an objective claim: the FTC's Policy Statement Regarding
//! Advertising Substantiation (1984) requires a reasonable basis for it before it is made,
//! and here the only basis is this turn's facts. So:
//!
//! - "cheapest", "lowest price", "least expensive", "most affordable", "el/la más
//!   barato/a", "el precio más bajo": the named product's price now (the sale price when on
//!   sale) must be the lowest of the retrieved products ("most expensive", "priciest", "el
//!   más caro": the highest). "The cheapest dress" compares with the retrieved products
//!   whose titles have the words after the superlative ("dress"); "the cheapest option",
//!   with all of them. A tie for the lowest price is the lowest (nothing is cheaper). A
//!   sentence that names no product is about the price it states ("our cheapest is
//!   $14.99"), else about what the draft named before it (or after, for a heading that
//!   ends with ':'), else the quoted sku, else the only retrieved product; with none of
//!   these, the claim is about nothing the facts show and blocks.
//! - "X is cheaper than Y", "more expensive than", "más barato que", "más caro que": the
//!   prices must differ that way (equal prices make the comparison false); Y may be an
//!   amount ("cheaper than $30"). "Same price as" / "mismo precio": the prices must be
//!   equal (checked when two products are named).
//! - "only N left", "just N left", "the last one", "solo quedan N", "queda solo N", "el
//!   último": the product's stock (in the size and colour the sentence or the customer's
//!   message gives, when the catalog has variants) must be N (1 for "last"); a stock the
//!   facts do not give (no variant for that size) cannot be claimed. False scarcity is one
//!   of the dark patterns of the FTC staff report "Bringing Dark Patterns to Light" (2022).
//! - "best seller", "most popular", "top rated", "customer favourite", "el más vendido":
//!   the catalog holds no sales or ratings, so nothing supports them (unless a retrieved
//!   policy says it).
//!
//! Questions ("want the cheapest?"), conditionals ("if you want the cheapest") and, for
//! popularity, denials ("I can't say which is the best seller") claim nothing.
//!
//! Over 600 lines with its tests: four kinds of claim share one way of finding what a
//! sentence is about, and the tests, in English and Spanish, are half the file.

use std::sync::LazyLock;

use regex::Regex;

use super::claims::{Claim, sentences, sizes_in};
use super::mentions::{Asked, Mention, colours_in, implied_subject, knows_sizes, mentions, offset_in, stock_of};
use super::{Finding, money};
use crate::domain::facts::{Facts, ProductFact};
use crate::domain::{FindingKind, Money};

/// "Cheapest" in English and Spanish (the Spanish needs an article before "más", else it
/// is a comparison: "más barato que").
static LOWEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(cheapest|lowest[- ]priced|lowest price|least expensive|most affordable|(?:el|la|los|las|lo)\s+(?:[\p{L}-]+\s+){0,2}?m[áa]s\s+(?:barat[oa]s?|econ[óo]mic[oa]s?)|precio\s+m[áa]s\s+bajo)\b",
    )
    .expect("valid regex")
});
/// "Most expensive" in English and Spanish.
static HIGHEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(most expensive|priciest|highest[- ]priced|highest price|(?:el|la|los|las|lo)\s+(?:[\p{L}-]+\s+){0,2}?m[áa]s\s+car[oa]s?|precio\s+m[áa]s\s+alto)\b",
    )
    .expect("valid regex")
});
static CHEAPER_THAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(cheaper|less expensive|more affordable|lower[- ]priced|costs? less|m[áa]s\s+(?:barat[oa]s?|econ[óo]mic[oa]s?)|cuesta\s+menos)\s+(?:than|que)\b")
        .expect("valid regex")
});
static DEARER_THAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(more expensive|pricier|higher[- ]priced|costs? more|m[áa]s\s+car[oa]s?|cuesta\s+m[áa]s)\s+(?:than|que)\b")
        .expect("valid regex")
});
static SAME_PRICE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(same price|mismo precio)\b").expect("valid regex"));
/// A count of units, in digits or words (English and Spanish).
const COUNT: &str = r"(\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|a single|una?|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez)";
static ONLY_N_LEFT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)\b(?:(?:only|just)\s+{COUNT}\s+(?:[a-z]+\s+){{0,2}}?(?:left|remaining|in stock)|{COUNT}\s+(?:[a-z]+\s+)?left in stock|(?:(?:s[óo]lo|solamente|[úu]nicamente)\s+(?:nos\s+)?quedan?|quedan?\s+(?:s[óo]lo|solamente|[úu]nicamente))\s+{COUNT}|quedan?\s+{COUNT}\s+(?:unidad(?:es)?|pares?|disponibles?|en (?:stock|existencia)))\b"
    ))
    .expect("valid regex")
});
/// "The last one" / "el último": checked further by [`LAST_FOLLOWS`] ("the last one you
/// bought" is no stock claim).
static LAST_ONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:(?:the|our)\s+(?:very\s+)?last\s+(?:one|pair|unit|piece|item)|(?:el|la)\s+[úu]ltim[oa](?:\s+(?:unidad|par|pieza))?|[úu]ltima\s+unidad)\b")
        .expect("valid regex")
});
/// What may follow "the last one" for it to be about stock: the end of the sentence, or
/// "left", "in stock", "in size M", "que queda", …
static LAST_FOLLOWS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:$|[.!,;:)]|left\b|remaining\b|available\b|in stock\b|in (?:a )?size\b|in [A-Z0-9]{1,3}\b|we have\b|que (?:nos )?queda|en (?:stock|existencia|talla)\b|disponible)")
        .expect("valid regex")
});
static POPULAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(best[- ]?sell(?:er|ers|ing)|most popular|top[- ]rated|highest[- ]rated|best[- ]rated|customer (?:favou?rites?|faves?)|fan favou?rites?|most loved|m[áa]s vendid[oa]s?|superventas|m[áa]s popular(?:es)?|mejor valorad[oa]s?|favorit[oa]s? de (?:los |nuestros )?clientes)\b")
        .expect("valid regex")
});
/// A condition: the sentence offers, it does not state ("if you want the cheapest").
static CONDITION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\b(if|whether|si)\b").expect("valid regex"));
/// A denial before a claim ("not the cheapest", "no es el más barato").
static NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(not|no|never|nunca|can't|cannot|don't|doesn't|isn't|aren't|won't)\b|n't\b")
        .expect("valid regex")
});

/// The superlative, comparison, scarcity and popularity claims in `text`.
pub fn claims_in(text: &str) -> Vec<Claim> {
    let mut out = Vec::new();
    let mut add = |kind: &'static str, re: &Regex| {
        out.extend(re.find_iter(text).map(|m| Claim { kind, text: m.as_str().trim().to_string() }));
    };
    add("superlative", &LOWEST);
    add("superlative", &HIGHEST);
    add("comparison", &CHEAPER_THAN);
    add("comparison", &DEARER_THAN);
    add("comparison", &SAME_PRICE);
    add("scarcity", &ONLY_N_LEFT);
    add("scarcity", &LAST_ONE);
    add("popularity", &POPULAR);
    out
}

/// A sentence that asks or offers rather than states.
fn asks_or_offers(sentence: &str) -> bool {
    let s = sentence.trim();
    s.ends_with('?') || s.starts_with('¿') || CONDITION.is_match(s)
}

/// The superlative, comparison, scarcity and popularity claims of `text` that `facts` do
/// not support; `asked` is what the customer's message asked for.
pub fn unsupported(text: &str, facts: &Facts, asked: &Asked) -> Vec<Finding> {
    let mut out = Vec::new();
    let all: Vec<&str> = sentences(text).collect();
    for (i, &sentence) in all.iter().enumerate() {
        if asks_or_offers(sentence) {
            continue;
        }
        let subject = Subject { text, all: &all, index: i, facts, asked };
        out.extend(superlatives(sentence, &subject));
        out.extend(comparisons(sentence, &subject));
        out.extend(scarcity(sentence, &subject));
        out.extend(popularity(sentence, facts));
    }
    out
}

/// How to find what a sentence is about.
struct Subject<'t, 'f> {
    text: &'t str,
    all: &'t [&'t str],
    index: usize,
    facts: &'f Facts,
    asked: &'t Asked,
}

impl<'f> Subject<'_, 'f> {
    /// The products a sentence that names none is about.
    fn implied(&self) -> Vec<&'f ProductFact> {
        // A heading ("Our cheapest dresses:") is about what follows it.
        if self.all[self.index].trim_end().ends_with(':')
            && let Some(next) = self.all.get(self.index + 1)
        {
            let named: Vec<&ProductFact> = mentions(next, self.facts).into_iter().flat_map(|m| m.products).collect();
            if !named.is_empty() {
                return named;
            }
        }
        implied_subject(self.text, offset_in(self.text, self.all[self.index]), self.facts, self.asked)
    }
}

fn products_of<'f>(named: &[Mention<'f>]) -> Vec<&'f ProductFact> {
    named.iter().flat_map(|m| m.products.iter().copied()).collect()
}

fn describe(p: &ProductFact) -> String {
    format!("{} ({}) is {}", p.title, p.sku, Money::usd_cents(p.price_now().cents))
}

/// Lowest or highest price.
#[derive(Clone, Copy, PartialEq)]
enum Extreme {
    Lowest,
    Highest,
}

/// The superlatives of a sentence. A Spanish one needs an article before "más" with no
/// verb between ("el vestido más barato", not "el vestido es más barato que …", which is
/// a comparison).
fn superlatives_in(sentence: &str) -> Vec<(regex::Match<'_>, Extreme)> {
    LOWEST
        .find_iter(sentence)
        .map(|m| (m, Extreme::Lowest))
        .chain(HIGHEST.find_iter(sentence).map(|m| (m, Extreme::Highest)))
        .filter(|(m, _)| !SPANISH_VERB.is_match(m.as_str()))
        .collect()
}

static SPANISH_VERB: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(es|son|est[áa]n?|era|ser[íi]a|cuesta|sale)\b").expect("valid regex"));

/// True when the words just before byte `at` (in the same clause) deny what follows
/// ("not the cheapest", "no es el más barato"; not "No, the cheapest is …").
fn denied(sentence: &str, at: usize, words: usize) -> bool {
    let clause = sentence[..at].rsplit([',', ';', ':']).next().unwrap_or_default();
    words_before(clause, clause.len(), words).iter().any(|w| NEGATION.is_match(w))
}

fn superlatives(sentence: &str, subject: &Subject) -> Vec<Finding> {
    let facts = subject.facts;
    let mut out = Vec::new();
    for (said, extreme) in superlatives_in(sentence) {
        let negated = denied(sentence, said.start(), 3);
        let pool = comparable(facts, &narrowing_words(said.as_str(), &sentence[said.end()..]));
        let prices = pool.iter().map(|p| p.price_now().cents);
        let best = if extreme == Extreme::Lowest { prices.min() } else { prices.max() };
        let Some(best) = best else {
            if !negated {
                out.push(Finding {
                    kind: FindingKind::UnsupportedSuperlative,
                    detail: format!("\"{}\": no products were retrieved to compare", said.as_str()),
                });
            }
            continue;
        };
        let named = products_of(&mentions(sentence, facts));
        let claimed: Vec<i64> = if !named.is_empty() {
            named.iter().map(|p| p.price_now().cents).collect()
        } else {
            let stated = money::amounts_in(sentence);
            if stated.is_empty() { subject.implied().iter().map(|p| p.price_now().cents).collect() } else { stated }
        };
        if claimed.is_empty() {
            if !negated {
                out.push(Finding {
                    kind: FindingKind::UnsupportedSuperlative,
                    detail: format!("\"{}\" names no retrieved product or price", said.as_str()),
                });
            }
            continue;
        }
        // Several named (a list: "cheapest first: …") hold when one of them is at the
        // extreme; a tie for it is at it.
        let at_extreme = claimed.contains(&best);
        if at_extreme == negated {
            let which = if extreme == Extreme::Lowest { "lowest" } else { "highest" };
            let holder = pool.iter().find(|p| p.price_now().cents == best).map(|p| describe(p)).unwrap_or_default();
            let said_of = if named.is_empty() {
                claimed.iter().map(|&c| Money::usd_cents(c).to_string()).collect::<Vec<_>>().join(", ")
            } else {
                named.iter().map(|p| describe(p)).collect::<Vec<_>>().join("; ")
            };
            let detail = if negated {
                format!("\"{}\" denied, but {said_of}, the {which} price retrieved", said.as_str())
            } else {
                format!("\"{}\": {said_of}, but {holder}, the {which} price retrieved", said.as_str())
            };
            out.push(Finding { kind: FindingKind::UnsupportedSuperlative, detail });
        }
    }
    out
}

/// Spanish product nouns in the catalog's (English) title words, for "el vestido más
/// barato": the demo store's titles are English.
const SPANISH_NOUNS: &[(&str, &str)] = &[
    ("vestido", "dress"),
    ("blusa", "blouse"),
    ("falda", "skirt"),
    ("camisa", "shirt"),
    ("camiseta", "shirt"),
    ("chaqueta", "jacket"),
    ("abrigo", "coat"),
    ("bota", "boots"),
    ("botin", "boots"),
    ("botín", "boots"),
    ("zapatilla", "trainers"),
    ("sandalia", "sandals"),
    ("bolso", "bag"),
    ("cinturon", "belt"),
    ("cinturón", "belt"),
    ("pantalon", "trousers"),
    ("pantalón", "trousers"),
    ("pantalone", "trousers"),
    ("vaquero", "jeans"),
    ("jersey", "jumper"),
    ("sudadera", "sweatshirt"),
    ("bufanda", "scarf"),
    ("sombrero", "hat"),
    ("gorra", "cap"),
    ("mochila", "rucksack"),
    ("cartera", "wallet"),
    ("reloj", "watch"),
    ("tacone", "heels"),
    ("tacón", "heels"),
];

/// The words a superlative narrows by: in English the words after it ("cheapest black
/// dress"), up to the first punctuation ("cheapest: Jersey dress" narrows by nothing); in
/// Spanish the nouns between the article and "más" ("el vestido más barato"), in English.
fn narrowing_words(said: &str, after: &str) -> Vec<String> {
    let lower = said.to_lowercase();
    if let Some(at) = lower.find(" más ").or_else(|| lower.find(" mas ")) {
        return lower[..at]
            .split_whitespace()
            .skip(1)
            .filter_map(|w| {
                let singular = w.strip_suffix('s').unwrap_or(w);
                SPANISH_NOUNS.iter().find(|(es, _)| *es == w || *es == singular).map(|(_, en)| en.to_string())
            })
            .collect();
    }
    let phrase = after.split([':', ',', ';', '(', '-', '.', '!']).next().unwrap_or_default().to_lowercase();
    phrase.split_whitespace().take(3).map(String::from).collect()
}

/// The retrieved products a superlative compares with: those whose titles have the
/// narrowing words ([`narrowing_words`]: "cheapest black dress", black dresses), as far as
/// the titles have them, else all of them.
fn comparable<'f>(facts: &'f Facts, narrowing: &[String]) -> Vec<&'f ProductFact> {
    let title_words = |p: &ProductFact| -> Vec<String> {
        p.title
            .to_lowercase()
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect()
    };
    let is_word_of = |word: &str, words: &[String]| {
        words.iter().any(|t| word == t || word.strip_suffix('s') == Some(t) || word.strip_suffix("es") == Some(t))
    };
    let mut wanted: Vec<&str> = Vec::new();
    for w in narrowing {
        if !facts.products.iter().any(|p| is_word_of(w, &title_words(p))) {
            break;
        }
        wanted.push(w);
    }
    facts.products.iter().filter(|p| wanted.iter().all(|w| is_word_of(w, &title_words(p)))).collect()
}

/// Up to `n` words just before byte `at`.
fn words_before(sentence: &str, at: usize, n: usize) -> Vec<&str> {
    let words: Vec<&str> = sentence[..at].split_whitespace().collect();
    words[words.len().saturating_sub(n)..].to_vec()
}

fn comparisons(sentence: &str, subject: &Subject) -> Vec<Finding> {
    let facts = subject.facts;
    let named = mentions(sentence, facts);
    let mut out = Vec::new();
    let mut finding = |detail: String| out.push(Finding { kind: FindingKind::UnsupportedComparison, detail });
    let superlative_spans: Vec<_> = superlatives_in(sentence).into_iter().map(|(m, _)| m.range()).collect();
    let directed =
        CHEAPER_THAN.find_iter(sentence).map(|m| (m, true)).chain(DEARER_THAN.find_iter(sentence).map(|m| (m, false)));
    for (said, cheaper) in directed {
        // "el más barato que tenemos" is a superlative.
        if superlative_spans.iter().any(|r| r.contains(&said.start())) {
            continue;
        }
        let negated = denied(sentence, said.start(), 2);
        let before: Vec<&ProductFact> =
            named.iter().rev().find(|m| m.end <= said.start()).map(|m| m.products.clone()).unwrap_or_default();
        let left: Vec<(String, i64)> = if before.is_empty() { subject.implied() } else { before }
            .into_iter()
            .map(|p| (describe(p), p.price_now().cents))
            .collect();
        let after = &sentence[said.end()..];
        let right: Vec<(String, i64)> = match named.iter().find(|m| m.start >= said.end()) {
            Some(m) => m.products.iter().map(|p| (describe(p), p.price_now().cents)).collect(),
            None => money::amounts_in(after)
                .first()
                .map(|&c| vec![(Money::usd_cents(c).to_string(), c)])
                .unwrap_or_default(),
        };
        if left.is_empty() || right.is_empty() {
            finding(format!(
                "\"{}\": the sentence does not name both sides among the retrieved products",
                said.as_str()
            ));
            continue;
        }
        let holds = left.iter().any(|(_, a)| right.iter().any(|(_, b)| if cheaper { a < b } else { a > b }));
        if holds == negated {
            let (l, r) = (&left[0], &right[0]);
            let detail = if l.1 == r.1 {
                format!("\"{}\": same price, {} and {}", said.as_str(), l.0, r.0)
            } else {
                format!("\"{}\": {}, {}", said.as_str(), l.0, r.0)
            };
            finding(detail);
        }
    }
    if let Some(said) = SAME_PRICE.find(sentence) {
        let mut groups: Vec<Vec<i64>> =
            named.iter().map(|m| m.products.iter().map(|p| p.price_now().cents).collect()).collect();
        if groups.len() == 1 {
            groups.push(subject.implied().iter().map(|p| p.price_now().cents).collect());
        }
        groups.retain(|g| !g.is_empty());
        // Fewer than two products: nothing to compare ("the same price as before").
        if groups.len() >= 2 && !groups[0].iter().any(|c| groups[1..].iter().all(|g| g.contains(c))) {
            let listed: Vec<String> = named.iter().flat_map(|m| m.products.iter().map(|p| describe(p))).collect();
            finding(format!("\"{}\": {}", said.as_str(), listed.join("; ")));
        }
    }
    out
}

/// The number a count word says.
fn count_of(word: &str) -> Option<i64> {
    let w = word.to_lowercase();
    if let Ok(n) = w.parse() {
        return Some(n);
    }
    let n = match w.as_str() {
        "one" | "a single" | "un" | "una" | "uno" => 1,
        "two" | "dos" => 2,
        "three" | "tres" => 3,
        "four" | "cuatro" => 4,
        "five" | "cinco" => 5,
        "six" | "seis" => 6,
        "seven" | "siete" => 7,
        "eight" | "ocho" => 8,
        "nine" | "nueve" => 9,
        "ten" | "diez" => 10,
        _ => return None,
    };
    Some(n)
}

fn scarcity(sentence: &str, subject: &Subject) -> Vec<Finding> {
    let mut said: Vec<(String, i64)> = ONLY_N_LEFT
        .captures_iter(sentence)
        .filter_map(|c| {
            let n = c.iter().skip(1).flatten().next().and_then(|m| count_of(m.as_str()))?;
            Some((c[0].to_string(), n))
        })
        .collect();
    said.extend(
        LAST_ONE
            .find_iter(sentence)
            .filter(|m| LAST_FOLLOWS.is_match(&sentence[m.end()..]))
            .map(|m| (m.as_str().to_string(), 1)),
    );
    if said.is_empty() {
        return vec![];
    }
    let named = products_of(&mentions(sentence, subject.facts));
    let products = if named.is_empty() { subject.implied() } else { named };
    // The size and colour: the sentence's, else the customer's ("in a medium?" then "only
    // one left").
    let sizes = {
        let own = sizes_in(sentence);
        if own.is_empty() { subject.asked.sizes.clone() } else { own }
    };
    let colours = {
        let own = colours_in(sentence);
        if own.is_empty() { subject.asked.colours.clone() } else { own }
    };
    let mut out = Vec::new();
    for (phrase, n) in said {
        if products.is_empty() {
            out.push(Finding {
                kind: FindingKind::UnsupportedScarcity,
                detail: format!("\"{phrase}\" names no retrieved product"),
            });
            continue;
        }
        let stocks: Vec<(String, Option<i64>)> = products
            .iter()
            .map(|p| {
                // A size counts where the product has sizes; a colour only where its
                // variants have colours (else the product is one colour, in its title).
                let size = sizes.first().map(String::as_str).filter(|_| knows_sizes(p));
                let colour =
                    colours.first().map(String::as_str).filter(|_| p.variants.iter().any(|v| v.color.is_some()));
                let which = [size.map(|s| format!("size {s}")), colour.map(str::to_string)]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                let label = if which.is_empty() {
                    format!("{} ({})", p.title, p.sku)
                } else {
                    format!("{} ({}) in {which}", p.title, p.sku)
                };
                (label, stock_of(p, size, colour))
            })
            .collect();
        if !stocks.iter().any(|(_, s)| *s == Some(n)) {
            let (label, stock) = &stocks[0];
            let detail = match stock {
                Some(s) => format!("\"{phrase}\": {label} has {s} in stock"),
                None => format!("\"{phrase}\": the facts give no stock for {label}"),
            };
            out.push(Finding { kind: FindingKind::UnsupportedScarcity, detail });
        }
    }
    out
}

fn popularity(sentence: &str, facts: &Facts) -> Vec<Finding> {
    let policies: String = facts.policies.iter().map(|p| p.body.to_lowercase()).collect::<Vec<_>>().join("\n");
    POPULAR
        .find_iter(sentence)
        .filter(|m| !denied(sentence, m.start(), 6))
        .filter(|m| !policies.contains(&m.as_str().to_lowercase()))
        .map(|m| Finding {
            kind: FindingKind::UnsupportedPopularity,
            detail: format!("\"{}\": the catalog has no sales or ratings to support it", m.as_str()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::mentions::{asked, shop};

    /// The kinds of finding for `reply` to `message`.
    fn found(message: &str, reply: &str) -> Vec<FindingKind> {
        let facts = Facts { message: message.into(), ..shop() };
        unsupported(reply, &facts, &asked(message)).into_iter().map(|f| f.kind).collect()
    }

    fn holds(reply: &str) -> bool {
        let facts = shop();
        let found = unsupported(reply, &facts, &Asked::default());
        assert!(found.is_empty() || found.len() == 1, "{reply}: {found:?}");
        found.is_empty()
    }

    const SUPERLATIVE: [FindingKind; 1] = [FindingKind::UnsupportedSuperlative];
    const COMPARISON: [FindingKind; 1] = [FindingKind::UnsupportedComparison];
    const SCARCITY: [FindingKind; 1] = [FindingKind::UnsupportedScarcity];
    const POPULARITY: [FindingKind; 1] = [FindingKind::UnsupportedPopularity];

    #[test]
    fn the_cheapest_is_the_lowest_price_now_among_what_the_sentence_compares() {
        // The shift dress is on sale at $14.99: its list price ($49.99) is not what counts.
        assert!(holds("The cheapest dress is the Shift dress - red (ZO0100000002), now $14.99."));
        assert!(!holds("The cheapest dress is the Jersey dress - black (ZO0100000001) at $44.99."));
        assert!(!holds("Jersey dress - black is the lowest-priced dress we have."));
        // "Cheapest dress" compares dresses; "cheapest option" everything (the $9.99 belt).
        assert!(!holds("Our cheapest option is the Shift dress - red."));
        assert!(holds("Our cheapest option is the Belt - brown at $9.99."));
        assert!(holds("The most expensive dress is Maxi dress - navy."));
        assert!(!holds("Belt - brown is our priciest item."));
        assert!(!holds("The Shift dress - red is the most expensive dress."));
        // A tie for the lowest price is the lowest: nothing is cheaper.
        assert!(holds("The cheapest pumps are Ballet pumps - black at $24.99."));
    }

    #[test]
    fn a_superlative_naming_no_product_is_about_its_price_or_the_product_before_it() {
        assert!(holds("Our cheapest dress is $14.99."));
        assert!(!holds("Our cheapest dress is $44.99."));
        assert!(holds("We have Shift dress - red (ZO0100000002) for $14.99. It's the cheapest dress we have!"));
        assert!(!holds("We have Jersey dress - black (ZO0100000001) for $44.99. It's the cheapest dress we have!"));
        // A heading is about the list after it.
        assert!(holds("Our least expensive dresses:\n- Shift dress - red $14.99\n- Jersey dress - black $44.99"));
        // About nothing the facts show: several products, none named, no price.
        assert_eq!(found("", "Great news, it's our most affordable one!"), SUPERLATIVE);
        // With one product retrieved, "it" is that product.
        let one = Facts { products: vec![shop().products[0].clone()], ..shop() };
        assert!(unsupported("It's our cheapest!", &one, &Asked::default()).is_empty());
        // The quoted sku is what "it" means when the draft names nothing before.
        assert_eq!(found("is ZO0100000001 your cheapest dress", "Yes, it's our cheapest dress."), SUPERLATIVE);
        assert!(found("is ZO0100000002 your cheapest dress", "Yes, it's our cheapest dress.").is_empty());
    }

    #[test]
    fn questions_conditions_and_denials_claim_no_superlative() {
        assert!(holds("Want me to find the cheapest dress?"));
        assert!(holds("If you want the cheapest, tell me your size."));
        assert!(holds("Jersey dress - black is not the cheapest dress; Shift dress - red is."));
        assert!(!holds("Shift dress - red is not the cheapest dress."));
        assert!(holds("No, the cheapest dress is Shift dress - red."));
    }

    #[test]
    fn spanish_superlatives_are_checked_the_same_way() {
        assert!(holds("El vestido más barato es Shift dress - red (ZO0100000002), a $14.99."));
        assert!(holds("El vestido más barato que tenemos es Shift dress - red."), "a superlative, not a comparison");
        assert!(!holds("El vestido más barato es Jersey dress - black, a $44.99."));
        assert!(!holds("La opción más económica es Shift dress - red."), "the belt is cheaper");
        assert!(holds("El más caro es Maxi dress - navy."));
        assert!(!holds("Belt - brown es el más caro."));
        assert!(holds("¿Quieres el más barato?"));
    }

    #[test]
    fn a_comparison_must_hold_between_the_two_prices() {
        assert!(holds("Shift dress - red (ZO0100000002) is cheaper than Jersey dress - black (ZO0100000001)."));
        assert!(!holds("Jersey dress - black is cheaper than Shift dress - red."));
        assert!(!holds("Jersey dress - black (ZO0100000001) is more expensive than Maxi dress - navy."));
        assert!(holds("Maxi dress - navy costs more than Jersey dress - black."));
        assert!(holds("Belt - brown is cheaper than $10."));
        assert!(!holds("We have Jersey dress - black. It's cheaper than $40."));
        // Equal prices: neither is cheaper, and "same price" holds.
        assert!(!holds("Ballet pumps - black are cheaper than Trainers - brown."));
        assert!(holds("Ballet pumps - black and Trainers - brown are the same price."));
        assert!(!holds("Ballet pumps - black are the same price as Jersey dress - black."));
        assert!(holds("Jersey dress - black isn't cheaper than Shift dress - red."));
        // One side missing.
        assert_eq!(found("", "Shift dress - red is cheaper than the one you saw."), COMPARISON);
    }

    #[test]
    fn spanish_comparisons() {
        assert!(holds("Shift dress - red es más barato que Jersey dress - black."));
        assert!(!holds("Jersey dress - black es más barato que Shift dress - red."));
        assert!(holds("Maxi dress - navy es más caro que Jersey dress - black."));
        assert!(holds("Ballet pumps - black tiene el mismo precio que Trainers - brown."));
    }

    #[test]
    fn only_n_left_is_the_stock_of_the_product_or_the_asked_variant() {
        assert!(holds("Only 1 left of the Shift dress - red!"));
        assert!(holds("Shift dress - red (ZO0100000002): only one left."));
        assert!(!holds("Only 2 left of the Shift dress - red!"));
        assert!(!holds("Hurry, just 3 left of Jersey dress - black."), "it has 5");
        assert!(holds("We have Shift dress - red in stock. It's the last one!"));
        assert!(!holds("Jersey dress - black (ZO0100000001) is the last one in stock."));
        assert!(holds("You asked about the last one you bought."), "no stock claim");
        // The size the sentence or the customer names, by variant.
        assert!(found("silk blouse in a large?", "Silk blouse - white: only 4 left.").is_empty());
        assert_eq!(found("silk blouse in a large?", "Silk blouse - white: only 2 left in size L."), SCARCITY);
        assert_eq!(
            found("the silk blouse in a medium?", "We have Silk blouse - white. Only one left!"),
            SCARCITY,
            "the medium has none"
        );
        // A size with no stock by variant in the facts: the count cannot be known.
        assert_eq!(found("trainers in size 8?", "Trainers - brown: only 2 left in size 8."), SCARCITY);
        // A colour by variant.
        assert!(found("the t-shirt in white?", "Basic T-shirt: only 3 left!").is_empty());
    }

    #[test]
    fn spanish_scarcity() {
        assert!(holds("¡Solo queda 1 del Shift dress - red!"));
        assert!(!holds("Solo quedan 2 unidades del Jersey dress - black."));
        assert!(!holds("Del Jersey dress - black quedan solo dos."));
        assert!(holds("Tenemos Shift dress - red. Es la última unidad."));
        assert!(!holds("Tenemos Jersey dress - black. Es el último que nos queda."));
        assert!(holds("La última vez pediste Jersey dress - black."), "not a stock claim");
        assert_eq!(found("¿la blusa de seda en talla M?", "Silk blouse - white: queda solo una."), SCARCITY);
    }

    #[test]
    fn popularity_has_nothing_behind_it() {
        assert_eq!(found("", "Jersey dress - black is our best seller!"), POPULARITY);
        assert_eq!(found("", "It's a customer favourite, $44.99."), POPULARITY);
        assert_eq!(found("", "The Shift dress - red is top-rated."), POPULARITY);
        assert_eq!(found("", "Es el más vendido de la tienda."), POPULARITY);
        assert_eq!(found("", "Es uno de los más populares."), POPULARITY);
        assert!(found("", "Sorry, I can't tell which one is the best seller.").is_empty());
        assert!(found("", "Is it a bestseller?").is_empty());
        let mut facts = shop();
        facts.policies.push(crate::domain::facts::PolicyFact {
            id: "awards".into(),
            title: "Awards".into(),
            body: "The Jersey dress is our best seller of 2026.".into(),
            translation: None,
            score: 1.0,
        });
        assert!(unsupported("Jersey dress - black is our best seller.", &facts, &Asked::default()).is_empty());
    }

    #[test]
    fn every_kind_is_listed_as_a_claim() {
        let kinds: Vec<&str> = claims_in("The cheapest, cheaper than Y, only 2 left, a best seller.")
            .into_iter()
            .map(|c| c.kind)
            .collect();
        assert_eq!(kinds, ["superlative", "comparison", "scarcity", "popularity"]);
    }
}
