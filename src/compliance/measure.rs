//! Measuring the opt-out classifier: recall and precision on the labelled set in
//! `eval/optout/labelled.tsv`, false positives on real SMS (the 4,827 "ham" messages of the
//! SMS Spam Collection), and the time one classification takes.

use std::time::Instant;

use serde::Serialize;

use super::{Intent, assess};

/// One labelled line the classifier got wrong (or escalated).
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub text: String,
    pub label: String,
    pub got: String,
}

/// Scores on the labelled set. Lines labelled `possible` are left out of recall and
/// precision (no answer is wrong for them) and reported by what they got.
#[derive(Debug, Clone, Serialize)]
pub struct LabelledScores {
    pub lines: usize,
    pub opt_out_lines: usize,
    pub recall: f64,
    pub precision: f64,
    /// Labelled opt-outs that were at least escalated as possible opt-outs.
    pub caught_or_escalated: f64,
    /// `possible` lines: (opted out, escalated, let through).
    pub possible_outcomes: (usize, usize, usize),
    pub misses: Vec<Miss>,
}

fn outcome(text: &str) -> (Intent, String) {
    let a = assess(text, false);
    (a.intent, a.rule)
}

/// Scores `text<TAB>label<TAB>note` lines (header first). Labels: `opt_out`, `not_opt_out`,
/// `possible`.
pub fn score_labelled(tsv: &str) -> anyhow::Result<LabelledScores> {
    let (mut tp, mut fp, mut fn_, mut caught) = (0usize, 0usize, 0usize, 0usize);
    let mut possible = (0, 0, 0);
    let mut misses = Vec::new();
    let mut lines = 0;
    for (n, line) in tsv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split('\t');
        let (Some(text), Some(label)) = (fields.next(), fields.next()) else {
            anyhow::bail!("labelled set line {}: expected text<TAB>label<TAB>note", n + 1);
        };
        lines += 1;
        let (intent, rule) = outcome(text);
        let miss = |got: &str| Miss { text: text.into(), label: label.into(), got: got.into() };
        match (label, intent) {
            ("opt_out", Intent::OptOut) => {
                tp += 1;
                caught += 1;
            }
            ("opt_out", Intent::PossibleOptOut) => {
                fn_ += 1;
                caught += 1;
                misses.push(miss(&rule));
            }
            ("opt_out", _) => {
                fn_ += 1;
                misses.push(miss(&rule));
            }
            ("not_opt_out", Intent::OptOut) => {
                fp += 1;
                misses.push(miss(&rule));
            }
            ("not_opt_out", Intent::PossibleOptOut) => misses.push(miss(&rule)),
            ("not_opt_out", _) => {}
            ("possible", Intent::OptOut) => possible.0 += 1,
            ("possible", Intent::PossibleOptOut) => possible.1 += 1,
            ("possible", _) => possible.2 += 1,
            (other, _) => anyhow::bail!("labelled set line {}: unknown label {other:?}", n + 1),
        }
    }
    let opt_out_lines = tp + fn_;
    Ok(LabelledScores {
        lines,
        opt_out_lines,
        recall: tp as f64 / opt_out_lines.max(1) as f64,
        precision: tp as f64 / (tp + fp).max(1) as f64,
        caught_or_escalated: caught as f64 / opt_out_lines.max(1) as f64,
        possible_outcomes: possible,
        misses,
    })
}

/// What the classifier does with real, ordinary SMS.
#[derive(Debug, Clone, Serialize)]
pub struct HamScores {
    pub ham_messages: usize,
    /// Messages classified as clear opt-outs (false positives: none of them is one).
    pub opted_out: Vec<(String, String)>,
    /// Messages that would be escalated as possible opt-outs.
    pub escalated: Vec<(String, String)>,
    pub false_positive_rate: f64,
}

/// Runs the classifier over the `ham` lines of the SMS Spam Collection (`label<TAB>text`).
pub fn score_ham(collection: &str) -> HamScores {
    let mut ham = 0;
    let (mut opted_out, mut escalated) = (Vec::new(), Vec::new());
    for line in collection.lines() {
        let Some(text) = line.strip_prefix("ham\t") else { continue };
        ham += 1;
        match outcome(text) {
            (Intent::OptOut, rule) => opted_out.push((text.to_string(), rule)),
            (Intent::PossibleOptOut, rule) => escalated.push((text.to_string(), rule)),
            _ => {}
        }
    }
    let rate = opted_out.len() as f64 / ham.max(1) as f64;
    HamScores { ham_messages: ham, opted_out, escalated, false_positive_rate: rate }
}

/// Median and 99th percentile of one `assess` call over `texts`, in microseconds (each
/// text timed `rounds` times; the first call, which compiles the rules, is excluded).
pub fn time_per_message(texts: &[&str], rounds: usize) -> (f64, f64) {
    let _ = assess("warm up the compiled rules", false);
    let mut samples = Vec::with_capacity(texts.len() * rounds);
    for _ in 0..rounds {
        for text in texts {
            let start = Instant::now();
            std::hint::black_box(assess(std::hint::black_box(text), false));
            samples.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples.get(((samples.len() - 1) as f64 * p) as usize).copied().unwrap_or(f64::NAN);
    (at(0.5), at(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABELLED: &str = include_str!("../../eval/optout/labelled.tsv");
    const COLLECTION: &str = include_str!("../../eval/optout/sms_spam_collection/SMSSpamCollection");

    #[test]
    fn the_labelled_set_meets_the_recall_and_precision_targets() {
        let s = score_labelled(LABELLED).unwrap();
        assert!(s.lines >= 300, "{} lines", s.lines);
        for m in &s.misses {
            eprintln!("miss: {:?} labelled {} got {}", m.text, m.label, m.got);
        }
        eprintln!("recall {:.4} precision {:.4} on {} opt-outs", s.recall, s.precision, s.opt_out_lines);
        assert!(s.recall >= 0.98, "recall {:.4}", s.recall);
        assert!(s.precision >= 0.97, "precision {:.4}", s.precision);
    }

    #[test]
    fn real_sms_rarely_looks_like_an_opt_out() {
        let h = score_ham(COLLECTION);
        assert_eq!(h.ham_messages, 4827);
        for (text, rule) in &h.opted_out {
            eprintln!("flagged: {text:?} ({rule})");
        }
        assert!(h.false_positive_rate <= 0.005, "false positives {:.4}", h.false_positive_rate);
    }
}
