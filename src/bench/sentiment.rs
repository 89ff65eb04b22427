//! `backtalk bench sentiment`: the sentiment score against human ratings.
//!
//! The VADER ground-truth sets (Hutto & Gilbert, ICWSM-14; `shared/data/vader_groundtruth`)
//! give each text the mean of about 20 people's ratings on −4…+4. Per file:
//! - Pearson r between the compound score and the human mean;
//! - 3-class macro-F1: a text is positive above +0.5 and negative below −0.5 by the human
//!   mean; the score's class uses the same ±0.5 on the compound, and, beside it, VADER's
//!   documented ±0.05;
//! - time per text (median and p99, one thread).
//!
//! Rows: Backtalk (VADER + the SMS layer) and VADER alone; `eval/sentiment/run_reference.sh`
//! runs Python's `vaderSentiment` on the same files with the same metrics.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use crate::score::sentiment::{sentiment, vader_only};

/// The files of the set, by the name the report gives them.
pub const FILES: &[(&str, &str)] =
    &[("tweets", "tweets_GroundTruth.txt"), ("product reviews", "amazonReviewSnippets_GroundTruth.txt")];

/// One rated text.
pub struct Rated {
    pub human: f64,
    pub text: String,
}

/// Reads `id<TAB>mean<TAB>text` lines.
pub fn load(path: &Path) -> anyhow::Result<Vec<Rated>> {
    let raw = std::fs::read(path).with_context(|| format!("failed to read {}", path.display()))?;
    let text = String::from_utf8_lossy(&raw);
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut parts = line.splitn(3, '\t');
        let (_, mean, text) = (parts.next(), parts.next(), parts.next());
        let (Some(mean), Some(text)) = (mean, text) else {
            anyhow::bail!("{}:{}: expected id, mean and text separated by tabs", path.display(), n + 1);
        };
        let human = mean.trim().parse().with_context(|| format!("{}:{}: bad mean {mean:?}", path.display(), n + 1))?;
        rows.push(Rated { human, text: text.to_string() });
    }
    Ok(rows)
}

/// Pearson correlation of two equally long series.
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// −1, 0 or 1 by `threshold` either side of 0.
fn class(value: f64, threshold: f64) -> usize {
    if value > threshold {
        2
    } else if value < -threshold {
        0
    } else {
        1
    }
}

/// Macro-averaged F1 over the three classes.
pub fn macro_f1(truth: &[usize], predicted: &[usize]) -> f64 {
    let mut f1 = 0.0;
    for c in 0..3 {
        let tp = truth.iter().zip(predicted).filter(|(t, p)| **t == c && **p == c).count() as f64;
        let fp = truth.iter().zip(predicted).filter(|(t, p)| **t != c && **p == c).count() as f64;
        let fn_ = truth.iter().zip(predicted).filter(|(t, p)| **t == c && **p != c).count() as f64;
        f1 += if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fn_) };
    }
    f1 / 3.0
}

/// Scores `rows` with `score`: (r, macro-F1 at ±0.5, macro-F1 at ±0.05, median µs, p99 µs).
fn measure(rows: &[Rated], score: fn(&str) -> f64) -> (f64, f64, f64, f64, f64) {
    let mut scores = Vec::with_capacity(rows.len());
    let mut micros = Vec::with_capacity(rows.len());
    for row in rows {
        let started = Instant::now();
        scores.push(std::hint::black_box(score(&row.text)));
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let human: Vec<f64> = rows.iter().map(|r| r.human).collect();
    let truth: Vec<usize> = human.iter().map(|h| class(*h, 0.5)).collect();
    let at = |t: f64| macro_f1(&truth, &scores.iter().map(|s| class(*s, t)).collect::<Vec<_>>());
    micros.sort_by(f64::total_cmp);
    let pct = |p: f64| micros[((micros.len() - 1) as f64 * p) as usize];
    (pearson(&scores, &human), at(0.5), at(0.05), pct(0.5), pct(0.99))
}

/// Runs the benchmark over the files in `dir`; the last line printed is JSON.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    println!(
        "{:<16} {:<26} {:>6} {:>9} {:>10} {:>9} {:>9}",
        "file", "scorer", "r", "F1 ±0.5", "F1 ±0.05", "p50 µs", "p99 µs"
    );
    let mut report = serde_json::Map::new();
    for (name, file) in FILES {
        let rows = load(&dir.join(file))?;
        // Warm the analyzer (its lexicon loads on first use).
        sentiment("warm up");
        for (scorer, score) in [("backtalk (VADER + SMS)", sentiment as fn(&str) -> f64), ("VADER alone", vader_only)] {
            let (r, f1, f1_vader, p50, p99) = measure(&rows, score);
            println!("{name:<16} {scorer:<26} {r:>6.4} {f1:>9.4} {f1_vader:>10.4} {p50:>9.1} {p99:>9.1}");
            let key =
                format!("{}{}", name.replace(' ', "_"), if scorer.starts_with("VADER") { "_vader_alone" } else { "" });
            report.insert(
                key,
                serde_json::json!({"n": rows.len(), "pearson_r": r, "macro_f1": f1, "macro_f1_vader_cut": f1_vader, "p50_us": p50, "p99_us": p99}),
            );
        }
    }
    println!("{}", serde_json::Value::Object(report));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_and_macro_f1_match_hand_computed_values() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]) - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 2.0, 4.0]) - 0.8).abs() < 1e-12);
        assert_eq!(macro_f1(&[0, 1, 2], &[0, 1, 2]), 1.0);
        // Class 0: P 1, R 0.5 → 2/3; class 1: P 0.5, R 1 → 2/3; class 2: 1.
        assert!((macro_f1(&[0, 0, 1, 2], &[0, 1, 1, 2]) - (2.0 / 3.0 + 2.0 / 3.0 + 1.0) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn a_line_without_a_text_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, "1\t2.5\tgood\n2\t1.0\n").unwrap();
        let error = format!("{:#}", load(&path).err().unwrap());
        assert!(error.contains("bad.txt:2"), "{error}");
    }
}
