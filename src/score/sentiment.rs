//! The customer's sentiment: VADER (Hutto & Gilbert, ICWSM-14) with an SMS layer.
//!
//! - VADER's whole rule set and its 7,500-word lexicon come from the `vader-parity` crate,
//!   which scores exactly as Python's `vaderSentiment` 3.3.2 does: negation ("not good",
//!   "wasn't very good"), boosters and dampeners ("very", "kind of"), ALL CAPS, "!!!",
//!   "but" shifting the weight to what follows, emoticons, emoji and much slang ("lol",
//!   "wtf", "thx", "gr8", "smh").
//! - The SMS layer rewrites what texts say that the lexicon misses before VADER reads it:
//!   spellings ("luv", "sry", "awsome") and letters held down ("soooo goooood" → "so good").
//! - [`trend`] summarises a thread: recent messages weigh more.
//!
//! Measured on the VADER ground-truth sets by `backtalk bench sentiment` (README "Sentiment").

use std::sync::LazyLock;

use vader_parity::SentimentIntensityAnalyzer;

use crate::text::squeeze_letters;

static ANALYZER: LazyLock<SentimentIntensityAnalyzer> = LazyLock::new(SentimentIntensityAnalyzer::new);

/// SMS spellings VADER's lexicon lacks, and the word it knows.
const SMS_SPELLINGS: &[(&str, &str)] = &[
    ("luv", "love"),
    ("luvs", "loves"),
    ("luving", "loving"),
    ("sry", "sorry"),
    ("srry", "sorry"),
    ("soz", "sorry"),
    ("awsome", "awesome"),
    ("awsum", "awesome"),
    ("amazin", "amazing"),
    ("ridic", "ridiculous"),
    ("gud", "good"),
    ("grt", "great"),
    ("thnx", "thanks"),
    ("thnks", "thanks"),
    ("thanx", "thanks"),
    ("tysm", "thank you so much"),
    ("pissed", "angry"),
    ("disapointed", "disappointed"),
    ("dissapointed", "disappointed"),
    ("terible", "terrible"),
    ("horible", "horrible"),
];

/// VADER boosters and negations that carry no valence of their own, as texts hold them
/// down ("sooo", "noooo").
const HELD_MODIFIERS: &[&str] = &["so", "no", "too", "very"];

/// Sentiment of a text in −1…1: VADER's compound score after the SMS layer.
pub fn sentiment(text: &str) -> f64 {
    ANALYZER.polarity_scores(&sms_to_words(text)).compound
}

/// VADER alone, without the SMS layer (for the benchmark's comparison).
pub fn vader_only(text: &str) -> f64 {
    ANALYZER.polarity_scores(text).compound
}

/// The SMS layer: each word's letters held down squeezed to two ("soooo" → "soo", then a
/// known word if the squeeze made one: "so"), and SMS spellings replaced. Case and
/// punctuation are kept: VADER reads both.
pub fn sms_to_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            out.push_str(&rewrite(word));
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() || c == '\'' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// One word through the SMS layer, keeping ALL CAPS as it was.
fn rewrite(word: &str) -> String {
    let squeezed = squeeze_letters(word, 2);
    let lower = squeezed.to_lowercase();
    let shouting = word.chars().filter(|c| c.is_alphabetic()).count() > 1 && !word.chars().any(char::is_lowercase);
    let case = |s: &str| if shouting { s.to_uppercase() } else { s.to_string() };
    if let Some((_, known)) = SMS_SPELLINGS.iter().find(|(sms, _)| *sms == lower) {
        return case(known);
    }
    if squeezed.chars().count() < word.chars().count() {
        // A word that was held down: "soo" → "so", "goood" → "good" (tried with runs of
        // two, then of one).
        let once = squeeze_letters(&squeezed, 1);
        let scores = |w: &str| ANALYZER.polarity_scores(w).compound != 0.0;
        let modifier = HELD_MODIFIERS.contains(&once.to_lowercase().as_str());
        if !scores(&squeezed) && (scores(&once) || modifier) {
            return once;
        }
    }
    squeezed
}

/// A thread's sentiment from its messages' scores, oldest first: each message weighs half
/// as much as the one after it, so the last text counts most and a turn for the worse shows
/// at once. 0 for no messages.
pub fn trend(scores: &[f64]) -> f64 {
    let (mut sum, mut weights, mut weight) = (0.0, 0.0, 1.0);
    for score in scores.iter().rev() {
        sum += weight * score;
        weights += weight;
        weight /= 2.0;
    }
    if weights == 0.0 { 0.0 } else { sum / weights }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vader_rules_hold() {
        assert!(sentiment("love it, thanks!") > 0.5);
        assert!(sentiment("this is the worst, I'm so angry") < -0.5);
        assert_eq!(sentiment("do you have it in red?"), 0.0);
        assert!(sentiment("not good") < 0.0);
        assert!(sentiment("TERRIBLE!!!") < sentiment("terrible"));
        assert!(sentiment("the dress is nice but the delivery was awful") < 0.0);
        assert!(sentiment("😠") < 0.0 && sentiment("😊") > 0.0, "emoji are read");
    }

    #[test]
    fn the_sms_layer_reads_spellings_and_held_letters() {
        assert_eq!(sms_to_words("luv it, sry!"), "love it, sorry!");
        assert_eq!(sms_to_words("LUV IT"), "LOVE IT");
        assert_eq!(sms_to_words("soooo goooood"), "so good");
        assert_eq!(sms_to_words("order #1000007"), "order #1000007", "digits are not letters held down");
        assert!(sentiment("luv it") > vader_only("luv it"));
        assert!(sentiment("soooo goooood") > 0.4);
    }

    #[test]
    fn the_trend_weighs_the_latest_message_most() {
        assert_eq!(trend(&[]), 0.0);
        assert_eq!(trend(&[0.5]), 0.5);
        // Two happy texts then an angry one: the trend is negative.
        assert!(trend(&[0.6, 0.6, -0.8]) < 0.0);
        assert!((trend(&[1.0, -1.0]) - (-1.0 / 3.0)).abs() < 1e-12);
    }
}
