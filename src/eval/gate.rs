//! The baseline gate: compares a report with a saved one and fails when a metric got worse
//! by more than its tolerance (`eval/tolerances.toml`). Two rules hold whatever the baseline:
//! no unsupported claim may be sent, and every keyword opt-out (STOP, UNSUBSCRIBE, …) must
//! be honoured (FCC 47 CFR 64.1200(a)(10); CTIA Messaging Principles §5).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

/// How far each metric may move the wrong way before the gate fails.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerances {
    /// Metrics where higher is better: the most they may drop (absolute).
    #[serde(default)]
    pub higher_is_better: BTreeMap<String, f64>,
    /// Metrics where lower is better: the most they may rise (absolute).
    #[serde(default)]
    pub lower_is_better: BTreeMap<String, f64>,
}

impl Tolerances {
    pub fn load(path: &Path) -> anyhow::Result<Tolerances> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{}: not a tolerances file", path.display()))
    }
}

/// Why the gate fails; empty when it passes. `report` and `baseline` are `report.json`
/// values.
pub fn check(report: &serde_json::Value, baseline: Option<&serde_json::Value>, tolerances: &Tolerances) -> Vec<String> {
    let mut failed = Vec::new();
    let unsupported = report["unsupported_claims"].as_u64().unwrap_or(0);
    if unsupported > 0 {
        failed.push(format!("unsupported_claims is {unsupported}: replies stated facts the guard could not verify"));
    }
    if let Some(recall) = report["optout_recall_keyword"].as_f64()
        && recall < 1.0
    {
        failed.push(format!("optout_recall on keyword opt-outs is {recall:.3}: every STOP must be honoured"));
    }
    let Some(baseline) = baseline else { return failed };
    for (metric, tolerance) in &tolerances.higher_is_better {
        if let (Some(now), Some(before)) = (report[metric].as_f64(), baseline[metric].as_f64())
            && now < before - tolerance
        {
            failed.push(format!("{metric} fell from {before:.4} to {now:.4} (tolerance {tolerance})"));
        }
    }
    for (metric, tolerance) in &tolerances.lower_is_better {
        if let (Some(now), Some(before)) = (report[metric].as_f64(), baseline[metric].as_f64())
            && now > before + tolerance
        {
            failed.push(format!("{metric} rose from {before:.4} to {now:.4} (tolerance {tolerance})"));
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_fails_on_a_regression_and_always_on_an_unsupported_claim() {
        let tolerances: Tolerances = toml::from_str(
            "[higher_is_better]\naction_accuracy = 0.01\n[lower_is_better]\noptout_false_positives = 0\n",
        )
        .unwrap();
        let base = serde_json::json!({"action_accuracy": 0.96, "optout_false_positives": 0, "unsupported_claims": 0});
        let same = base.clone();
        assert!(check(&same, Some(&base), &tolerances).is_empty());
        let within =
            serde_json::json!({"action_accuracy": 0.955, "optout_false_positives": 0, "unsupported_claims": 0});
        assert!(check(&within, Some(&base), &tolerances).is_empty());
        let worse = serde_json::json!({"action_accuracy": 0.94, "optout_false_positives": 1, "unsupported_claims": 0});
        assert_eq!(check(&worse, Some(&base), &tolerances).len(), 2);
        let lying = serde_json::json!({"action_accuracy": 0.99, "unsupported_claims": 2, "optout_recall_keyword": 1.0});
        let why = check(&lying, None, &tolerances);
        assert!(why.len() == 1 && why[0].contains("unsupported_claims is 2"), "{why:?}");
        let deaf = serde_json::json!({"unsupported_claims": 0, "optout_recall_keyword": 0.5});
        assert_eq!(check(&deaf, None, &tolerances).len(), 1);
    }
}
