//! Scores for routing: the reply's confidence and the customer's sentiment.
//!
//! Thin for now (issue 5 brings a full VADER-family sentiment and calibrated confidence):
//! a small lexicon with negation, intensifiers, ALL CAPS and "!!!", and a confidence that
//! starts from the generator's own and is lowered by guard repairs.

use crate::guard::{Guarded, Verdict};
use crate::llm::Draft;

/// Word valences on VADER's −4…+4 scale (a small subset of its lexicon, plus SMS slang).
const LEXICON: &[(&str, f64)] = &[
    ("love", 3.2),
    ("great", 3.1),
    ("awesome", 3.1),
    ("amazing", 2.8),
    ("perfect", 2.7),
    ("thanks", 1.9),
    ("thank", 1.5),
    ("good", 1.9),
    ("nice", 1.8),
    ("happy", 2.7),
    ("glad", 2.0),
    ("excellent", 2.7),
    ("cool", 1.3),
    ("yay", 2.4),
    ("lol", 1.8),
    ("helpful", 1.9),
    ("beautiful", 2.9),
    ("bad", -2.5),
    ("terrible", -2.1),
    ("awful", -2.0),
    ("horrible", -2.5),
    ("worst", -3.1),
    ("hate", -2.7),
    ("angry", -2.3),
    ("furious", -2.7),
    ("mad", -2.2),
    ("upset", -1.6),
    ("annoyed", -1.6),
    ("disappointed", -2.1),
    ("ridiculous", -2.1),
    ("useless", -1.8),
    ("broken", -1.9),
    ("damaged", -1.9),
    ("wrong", -2.1),
    ("late", -1.1),
    ("never", -0.8),
    ("scam", -2.8),
    ("fraud", -2.9),
    ("unacceptable", -2.2),
    ("wtf", -2.8),
    ("sucks", -1.5),
    ("refund", -0.4),
    ("missing", -1.2),
    ("complaint", -1.6),
    ("sue", -2.3),
    ("lawyer", -1.2),
    ("ugh", -1.8),
];
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "dont", "don't", "isnt", "isn't", "wasnt", "wasn't", "cant", "can't", "didnt", "didn't",
    "aint", "ain't", "nothing",
];
const BOOSTERS: &[&str] = &["very", "so", "really", "extremely", "totally", "absolutely", "super", "completely"];

/// Sentiment of a text in −1…1 (VADER's normalisation `s / sqrt(s² + 15)`).
pub fn sentiment(text: &str) -> f64 {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    let mut sum = 0.0;
    for (i, raw) in tokens.iter().enumerate() {
        let word: String = raw.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect::<String>().to_lowercase();
        let Some((_, valence)) = LEXICON.iter().find(|(w, _)| *w == word) else {
            continue;
        };
        let mut v = *valence;
        let shouting = raw.chars().filter(|c| c.is_alphabetic()).count() > 1 && raw.chars().all(|c| !c.is_lowercase());
        if shouting {
            v += 0.733 * v.signum();
        }
        let window = &tokens[i.saturating_sub(3)..i];
        if window.iter().any(|w| BOOSTERS.contains(&w.to_lowercase().as_str())) {
            v += 0.293 * v.signum();
        }
        if window
            .iter()
            .any(|w| NEGATIONS.contains(&w.to_lowercase().trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')))
        {
            v *= -0.74;
        }
        sum += v;
    }
    let bangs = text.matches('!').count().min(4) as f64;
    if sum != 0.0 {
        sum += 0.292 * bangs * sum.signum();
    }
    sum / (sum * sum + 15.0).sqrt()
}

/// The reply's confidence after the guard: blocked is 0, a repair costs a little.
pub fn confidence(draft: &Draft, guarded: &Guarded) -> f64 {
    let base = draft.confidence.clamp(0.0, 1.0);
    match guarded.verdict {
        Verdict::Pass => base,
        Verdict::Repaired => (base - 0.05).max(0.0),
        Verdict::Blocked => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::sentiment;

    #[test]
    fn sentiment_has_the_right_sign_and_responds_to_emphasis() {
        assert!(sentiment("love it, thanks!") > 0.5);
        assert!(sentiment("this is the worst, I'm so angry") < -0.5);
        assert!(sentiment("do you have it in red?").abs() < 1e-9);
        assert!(sentiment("not good") < 0.0);
        assert!(sentiment("TERRIBLE!!!") < sentiment("terrible"));
    }
}
