//! `backtalk compliance …`: classify lines from stdin, measure the opt-out classifier,
//! export the consent ledger.

use std::io::{BufRead, Write};

use crate::compliance;
use crate::config::Config;
use crate::domain::Phone;

/// `backtalk compliance classify`: one JSON object per stdin line.
pub fn classify_stdin() -> anyhow::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let text = line?;
        writeln!(out, "{}", compliance::classify_line(&text))?;
    }
    Ok(())
}

/// `backtalk compliance measure --cross-validate`: each labelled set scored by the rules
/// alone and with a model trained without it; the ham in two folds.
pub fn cross_validate_optout() -> anyhow::Result<()> {
    use crate::compliance::measure;
    let cv = measure::cross_validate()?;
    let pct = |(r, p, c): (f64, f64, f64)| {
        format!("recall {:.1}%  precision {:.1}%  caught or escalated {:.1}%", 100.0 * r, 100.0 * p, 100.0 * c)
    };
    for set in &cv.sets {
        let s = &set.with_model;
        println!("{} ({} opt-outs)", set.name, s.opt_out_lines);
        println!(
            "  rules only:       {}",
            pct((set.rules_only.recall, set.rules_only.precision, set.rules_only.caught_or_escalated))
        );
        println!("  rules + model:    {}", pct((s.recall, s.precision, s.caught_or_escalated)));
        for m in &s.misses {
            println!("    miss: {:?} labelled {} got {}", m.text, m.label, m.got);
        }
    }
    println!("all sets, pooled");
    println!("  rules only:       {}", pct(cv.pooled_rules_only));
    println!("  rules + model:    {}", pct(cv.pooled_with_model));
    println!(
        "SMS Spam Collection ham (two folds): {} messages, {} opted out = {:.3}%, {} escalated",
        cv.ham.ham_messages,
        cv.ham.opted_out.len(),
        100.0 * cv.ham.false_positive_rate,
        cv.ham.escalated.len()
    );
    for (text, rule) in &cv.ham.opted_out {
        println!("  flagged: {text:?} ({rule})");
    }
    let (r, p, c) = cv.pooled_with_model;
    println!(
        "{}",
        serde_json::json!({"pooled_recall": r, "pooled_precision": p, "pooled_caught_or_escalated": c, "ham_false_positive_rate": cv.ham.false_positive_rate})
    );
    Ok(())
}

/// `backtalk compliance measure`: the opt-out classifier's figures.
pub fn measure_optout(labelled: &std::path::Path, ham: &std::path::Path) -> anyhow::Result<()> {
    use crate::compliance::measure;
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", p.display()))
    };
    let scores = measure::score_labelled(&read(labelled)?)?;
    let collection = read(ham)?;
    let ham_scores = measure::score_ham(&collection);
    let texts: Vec<&str> = collection.lines().filter_map(|l| l.split_once('\t').map(|(_, t)| t)).collect();
    let (median_us, p99_us) = measure::time_per_message(&texts, 5);
    println!("labelled set: {} lines, {} opt-outs", scores.lines, scores.opt_out_lines);
    println!(
        "  recall {:.2}%  precision {:.2}%  opt-outs caught or escalated {:.2}%",
        100.0 * scores.recall,
        100.0 * scores.precision,
        100.0 * scores.caught_or_escalated
    );
    let (o, e, n) = scores.possible_outcomes;
    println!("  lines labelled possible: {o} opted out, {e} escalated, {n} let through");
    for m in &scores.misses {
        println!("  miss: {:?} labelled {} got {}", m.text, m.label, m.got);
    }
    println!("SMS Spam Collection ham: {} messages", ham_scores.ham_messages);
    println!(
        "  opted out (false positives): {} = {:.3}%",
        ham_scores.opted_out.len(),
        100.0 * ham_scores.false_positive_rate
    );
    for (text, rule) in &ham_scores.opted_out {
        println!("  flagged: {text:?} ({rule})");
    }
    println!("  escalated as possible opt-outs: {}", ham_scores.escalated.len());
    for (text, rule) in &ham_scores.escalated {
        println!("  escalated: {text:?} ({rule})");
    }
    println!("classification time per message: median {median_us:.2} µs, p99 {p99_us:.2} µs");
    let summary = serde_json::json!({
        "recall": scores.recall, "precision": scores.precision, "labelled_lines": scores.lines,
        "ham_messages": ham_scores.ham_messages, "ham_false_positives": ham_scores.opted_out.len(),
        "ham_false_positive_rate": ham_scores.false_positive_rate, "ham_escalated": ham_scores.escalated.len(),
        "median_us": median_us, "p99_us": p99_us,
    });
    println!("{summary}");
    Ok(())
}

/// `backtalk compliance export`: the consent ledger as CSV or JSON Lines on stdout.
pub async fn export_ledger(
    config: Config,
    format: crate::cli::ExportFormat,
    phone: Option<String>,
) -> anyhow::Result<()> {
    let phone = phone.map(|p| Phone::parse(&p).map_err(|e| anyhow::anyhow!("--phone: {e}"))).transpose()?;
    let db = crate::store::Db::connect(&config.effective_database_url()).await?;
    let events = crate::store::consent::ledger(&db, phone.as_ref()).await?;
    let mut out = std::io::stdout().lock();
    match format {
        crate::cli::ExportFormat::Json => {
            for e in &events {
                writeln!(out, "{}", serde_json::to_string(e)?)?;
            }
        }
        crate::cli::ExportFormat::Csv => {
            writeln!(out, "id,created_at,phone,kind,source,scope,evidence_message_id,evidence_text")?;
            for e in &events {
                let fields = [
                    e.id.to_string(),
                    e.created_at.to_rfc3339(),
                    e.phone.as_str().to_owned(),
                    e.kind.to_string(),
                    e.source.clone(),
                    e.scope.clone(),
                    e.evidence_message_id.map(|i| i.to_string()).unwrap_or_default(),
                    e.evidence_text.clone().unwrap_or_default(),
                ];
                writeln!(out, "{}", fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","))?;
            }
        }
    }
    Ok(())
}

/// RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(super::csv_field("plain"), "plain");
        assert_eq!(super::csv_field("stop, please"), "\"stop, please\"");
        assert_eq!(super::csv_field("say \"stop\""), "\"say \"\"stop\"\"\"");
    }
}
