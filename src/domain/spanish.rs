//! Spanish shopping texts → the English words the pipeline understands.
//!
//! The pipeline reads a text through English word lists (intents, superlatives, budgets,
//! audiences, policy words) and searches an English catalog. [`to_english`] rewrites a Spanish
//! text into those words, phrase by phrase and word by word, so "¿tienen vestidos negros para
//! mujer?" reaches the pipeline as "do you have black dresses for women?". Skus, numbers,
//! prices and words it does not know pass through as they are.
//!
//! This is a lexicon for understanding, not a translator. Its limits:
//! - it knows a clothing store's words (the garment, shoe, bag and accessory nouns of the demo
//!   catalog's titles, colours, sizes, audiences, prices, stock, shipping, returns, exchanges,
//!   orders, hours, payment, greetings, thanks, asking for a person) and little else: a text
//!   about anything else comes out half translated;
//! - it does no grammar beyond two rules: the longest known phrase wins, and an adjective that
//!   follows its noun in Spanish ("blusa roja") is put before it ("red blouse");
//! - a word with two meanings gets the store's one ("queda" is "in stock", "talla chica" is
//!   "size small", "cartera" is a handbag as in Latin America, "vale" alone is "ok");
//! - opt-out words ("baja", "alto", "parar", "cancelar") are left alone: compliance reads the
//!   customer's own text, and an English "cancel" made up here must not look like a keyword.
//!
//! Accents are optional on input ("cuanto" is "cuánto", "envio" is "envío"); "ñ" may be typed
//! as "n". The replies are not produced here: see `llm::phrases`.

use std::collections::HashMap;
use std::sync::OnceLock;

mod lexicon;

use lexicon::{ACCENTED, ADJECTIVES, DAYS, NOUNS, PHRASES};

/// Lower case with the accents of Spanish vowels removed ("Envío" → "envio"); "ñ" stays.
pub(crate) fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' => 'a',
            'é' => 'e',
            'í' => 'i',
            'ó' => 'o',
            'ú' | 'ü' => 'u',
            _ => c,
        })
        .collect()
}

/// What a lexicon entry is, for the one reordering rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Noun,
    Adjective,
    Other,
}

/// The lexicon, built once: folded Spanish phrase → (English, kind), and the longest phrase
/// in words.
struct Lexicon {
    entries: HashMap<String, (&'static str, Kind)>,
    longest: usize,
}

fn lexicon() -> &'static Lexicon {
    static LEXICON: OnceLock<Lexicon> = OnceLock::new();
    LEXICON.get_or_init(|| {
        let mut entries = HashMap::new();
        let mut add = |spanish: String, english: &'static str, kind: Kind| {
            // "pequeño" may be typed "pequeno": the table holds the plain-n spelling.
            entries.entry(spanish).or_insert((english, kind));
        };
        for (es, en) in PHRASES {
            add(es.to_string(), en, Kind::Other);
        }
        for (es, en, on) in DAYS {
            for form in [es.to_string(), plural(es)] {
                add(format!("el {form}"), on, Kind::Other);
                add(format!("los {form}"), on, Kind::Other);
                add(form, en, Kind::Other);
            }
        }
        for (es, singular, plural) in NOUNS {
            add(es.to_string(), singular, Kind::Noun);
            add(pluralise_first(es), plural, Kind::Noun);
        }
        for (es, en) in ADJECTIVES {
            for form in adjective_forms(es) {
                add(form, en, Kind::Adjective);
            }
        }
        let longest = entries.keys().map(|k| k.split(' ').count()).max().unwrap_or(1);
        Lexicon { entries, longest }
    })
}

/// The plural of a Spanish noun phrase's first word ("chaqueta de punto" → "chaquetas de
/// punto", "pantalon" → "pantalones", "tenis" → "tenis").
fn pluralise_first(phrase: &str) -> String {
    let (first, rest) = phrase.split_once(' ').map_or((phrase, ""), |(f, r)| (f, r));
    let plural = plural(first);
    if rest.is_empty() { plural } else { format!("{plural} {rest}") }
}

fn plural(word: &str) -> String {
    match word.chars().last() {
        Some('a' | 'e' | 'i' | 'o' | 'u') => format!("{word}s"),
        Some('s') => word.to_string(),
        _ => format!("{word}es"),
    }
}

/// The four forms of an adjective phrase's first word ("rojo" → rojo, roja, rojos, rojas;
/// "azul marino" → azul marino, azules marinos is rare and left out: only the first word
/// inflects).
fn adjective_forms(phrase: &str) -> Vec<String> {
    let (first, rest) = phrase.split_once(' ').map_or((phrase, ""), |(f, r)| (f, r));
    let firsts: Vec<String> = match first.strip_suffix('o') {
        Some(stem) if rest.is_empty() => ["o", "a", "os", "as"].iter().map(|e| format!("{stem}{e}")).collect(),
        Some(stem) => vec![first.to_string(), format!("{stem}a")],
        // "gris" → "grises" (a noun ending in "s" keeps it: "tenis", "lunes").
        None if rest.is_empty() && first.ends_with('s') => vec![first.to_string(), format!("{first}es")],
        None if rest.is_empty() => vec![first.to_string(), plural(first)],
        None => vec![first.to_string()],
    };
    firsts.into_iter().map(|f| if rest.is_empty() { f } else { format!("{f} {rest}") }).collect()
}

/// True when `word` (folded) is a Spanish word of the lexicon whose English differs from it:
/// evidence that a text is Spanish (`language::detect`).
pub(crate) fn is_lexicon_word(folded: &str) -> bool {
    lexicon().entries.get(folded).is_some_and(|(en, _)| *en != folded)
}

/// One whitespace-separated chunk of the text: punctuation before, the word, punctuation after.
struct Chunk<'a> {
    lead: &'a str,
    word: &'a str,
    trail: &'a str,
}

fn chunks(text: &str) -> Vec<Chunk<'_>> {
    let is_lead = |c: char| "¿¡\"'(“«".contains(c);
    let is_trail = |c: char| "?!.,;:\"')”»…".contains(c);
    text.split_whitespace()
        .map(|raw| {
            let word_start = raw.len() - raw.trim_start_matches(is_lead).len();
            let rest = &raw[word_start..];
            let word = rest.trim_end_matches(is_trail);
            Chunk { lead: &raw[..word_start], word, trail: &rest[word.len()..] }
        })
        .collect()
}

/// A translated piece of the output.
struct Piece {
    lead: String,
    text: String,
    trail: String,
    kind: Kind,
}

/// Rewrites a Spanish shopping text into the English words the pipeline understands (see the
/// module doc); skus, numbers, prices and unknown words are kept as they are.
pub fn to_english(text: &str) -> String {
    let lexicon = lexicon();
    let chunks = chunks(text);
    let folded: Vec<String> = chunks.iter().map(|c| fold(c.word).replace('ñ', "n")).collect();
    let lower: Vec<String> = chunks.iter().map(|c| c.word.to_lowercase()).collect();
    let mut pieces: Vec<Piece> = Vec::new();
    let mut i = 0;
    while i < chunks.len() {
        // A phrase may not run across punctuation ("hola, dónde" is two phrases).
        let mut end = i + 1;
        while end < chunks.len()
            && end - i < lexicon.longest
            && chunks[end - 1].trail.is_empty()
            && chunks[end].lead.is_empty()
        {
            end += 1;
        }
        let mut matched = None;
        for j in (i + 1..=end).rev() {
            let exact = lower[i..j].join(" ");
            if let Some((_, en)) = ACCENTED.iter().find(|(es, _)| *es == exact) {
                matched = Some((j, *en, Kind::Other));
                break;
            }
            if let Some((en, kind)) = lexicon.entries.get(&folded[i..j].join(" ")) {
                matched = Some((j, *en, *kind));
                break;
            }
        }
        let starts_clause = i == 0 || !chunks[i - 1].trail.is_empty() || !chunks[i].lead.is_empty();
        let (next, english, kind) = match matched {
            Some(found) => found,
            // "que" opening a question is "what"; inside one it is "that" ("la falda que").
            None if folded[i] == "que" => (i + 1, if starts_clause { "what" } else { "that" }, Kind::Other),
            None => (i + 1, chunks[i].word, Kind::Other),
        };
        let lead = chunks[i].lead.replace(['¿', '¡'], "");
        pieces.push(Piece { lead, text: english.to_string(), trail: chunks[next - 1].trail.to_string(), kind });
        i = next;
    }
    put_adjectives_first(&mut pieces);
    pieces
        .iter()
        .map(|p| format!("{}{}{}", p.lead, p.text, p.trail))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// "blouse red" → "red blouse", "jacket leather black" → "black leather jacket": a noun and the
/// adjectives that follow it (without punctuation) are read backwards, as Spanish puts the
/// closest-binding adjective next to the noun and English just before it. The punctuation
/// stays at the ends of the group.
fn put_adjectives_first(pieces: &mut [Piece]) {
    let mut i = 0;
    while i < pieces.len() {
        let mut end = i + 1;
        if pieces[i].kind == Kind::Noun {
            while end < pieces.len()
                && pieces[end].kind == Kind::Adjective
                && pieces[end - 1].trail.is_empty()
                && pieces[end].lead.is_empty()
            {
                end += 1;
            }
        }
        if end > i + 1 {
            let lead = std::mem::take(&mut pieces[i].lead);
            let trail = std::mem::take(&mut pieces[end - 1].trail);
            pieces[i..end].reverse();
            pieces[i].lead = lead;
            pieces[end - 1].trail = trail;
        }
        i = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spanish customer turns of eval/multiturn (open and blind) and texts shaped like them.
    const EXAMPLES: &[(&str, &str)] = &[
        ("hola", "hi"),
        ("tienen la blusa roja?", "do you have the red blouse?"),
        ("cuánto cuesta?", "how much is?"),
        ("cuanto cuesta el envio?", "how much is the shipping?"),
        ("y el envío exprés?", "and the express shipping?"),
        ("cuánto tarda?", "how long does shipping take?"),
        ("gracias!!", "thanks!!"),
        ("puedo devolver unos zapatos?", "can i return some shoes?"),
        ("la etiqueta de devolución es gratis?", "the return label is free?"),
        ("y cuándo me devuelven el dinero?", "and when do i get my refund?"),
        ("hola, dónde está mi pedido 583233?", "hi, where is my order 583233?"),
        ("cuándo llega?", "when will it arrive?"),
        ("tienen botas para hombre?", "do you have boots for men?"),
        ("las más baratas?", "the cheapest?"),
        ("en talla 10?", "in size 10?"),
        ("hi, tienen vestidos negros?", "hi, do you have black dresses?"),
        ("el más barato?", "the cheapest?"),
        ("está disponible el ZO0172001720?", "is in stock the ZO0172001720?"),
        ("en talla M?", "in size M?"),
        ("y cuánto vale", "and how much is"),
        ("quiero hablar con una persona", "i want to talk to a person"),
        ("hola de nuevo, cuánto cuesta la parka caqui?", "hi again, how much is the khaki parka?"),
        ("cuál es su horario de atención?", "what are your hours?"),
        ("y los sábados?", "and on saturday?"),
        ("qué me queda bien con la falda que compré?", "what goes with the skirt i bought?"),
        ("tienen suéteres?", "do you have sweaters?"),
        ("para mujer, de menos de 25", "for women, under 25"),
        ("tienen envío gratis?", "do you have free shipping?"),
        ("¿cuánto cuesta el más barato?", "how much is the cheapest?"),
        ("buenas tardes", "good afternoon"),
        ("hola, compré un vestido y no me queda bien", "hi, i bought a dress and does not fit"),
        ("¿puedo devolverlo?", "can i return it?"),
        ("ok y cuánto tarda en llegar una vez enviado?", "ok and how long does shipping take once shipped?"),
        ("¿tienen ZO0172001720 en stock?", "do you have ZO0172001720 in stock?"),
        ("hola, busco zapatillas blancas para hombre", "hi, i am looking for white trainers for men"),
        ("¿tienen otra blusa negra?", "do you have another black blouse?"),
        ("¿eres un robot?", "are you a bot?"),
        ("¿a qué hora abren?", "what are your hours?"),
        ("busco un abrigo de invierno para mujer", "i am looking for a winter coat for women"),
        ("¿algo por menos de 60?", "something under 60?"),
        ("¿de qué color es?", "what color is it?"),
        (
            "buenos días, ¿me pueden decir el estado de mi pedido 713025?",
            "good morning, can you tell me the status of my order 713025?",
        ),
        (
            "hola! ¿qué vestido combina con la chaqueta de punto gris que compré?",
            "hi! what dress goes with the grey cardigan i bought?",
        ),
        ("hola, ¿aceptan paypal?", "hi, do you take paypal?"),
        ("¿hacen envíos a méxico?", "do you ship to méxico?"),
        ("muchas gracias", "thanks"),
        ("vale, gracias", "ok, thanks"),
        // Written for the lexicon's reach, beyond the eval's turns.
        ("tienen jeans azul marino talla 32?", "do you have navy jeans size 32?"),
        ("busco una chaqueta de cuero negra para mi esposo", "i am looking for a black leather jacket for men"),
        ("hay sandalias doradas en talla 7?", "do you have gold sandals in size 7?"),
        ("la mas cara?", "the most expensive?"),
        ("alguna mochila mas barata?", "any rucksack cheaper?"),
        ("queda en talla mediana?", "in stock in size medium?"),
        ("puedo cambiarlo por una talla grande?", "can i exchange it for a size large?"),
        ("cuanto cuesta el envio expres a texas", "how much is the express shipping to texas"),
        ("puedo pagar con tarjeta?", "can i pay with card?"),
        ("para él, algo de $40", "for men, something of $40"),
        ("quiero un reembolso", "i want a refund"),
        ("Gafas de sol rosadas?", "pink sunglasses?"),
    ];

    #[test]
    fn spanish_shopping_texts_read_as_english() {
        for (spanish, english) in EXAMPLES {
            assert_eq!(to_english(spanish), *english, "{spanish}");
        }
    }

    #[test]
    fn skus_prices_and_unknown_words_are_kept() {
        assert_eq!(to_english("ZO0059900599"), "ZO0059900599");
        assert_eq!(
            to_english("tienen algo de Tigress Enterprises por $25.99?"),
            "do you have something of Tigress Enterprises for $25.99?"
        );
        assert_eq!(to_english("🙂"), "🙂");
        assert_eq!(to_english(""), "");
    }

    #[test]
    fn opt_out_words_stay_as_they_are() {
        assert_eq!(to_english("BAJA"), "BAJA");
        assert_eq!(to_english("alto"), "alto");
        assert_eq!(to_english("cancelar"), "cancelar");
        assert_eq!(to_english("parar"), "parar");
    }

    #[test]
    fn que_is_what_opening_a_question_and_that_inside_one() {
        assert_eq!(to_english("que tallas tienen"), "what sizes do you have");
        assert_eq!(to_english("que talla es"), "what size is");
        assert_eq!(to_english("el vestido que vi"), "the dress that vi");
    }

    #[test]
    fn nouns_and_adjectives_inflect() {
        assert_eq!(to_english("pantalones grises"), "grey trousers");
        assert_eq!(to_english("cinturones marrones"), "brown belts");
        assert_eq!(to_english("chaquetas de punto azules"), "blue cardigans");
        assert_eq!(to_english("una pequeña bolsa"), "a small bag");
        assert_eq!(to_english("una pequena bolsa"), "a small bag");
    }
}
