//! What each turn did, and the report over all of them (`report.json`'s pinned keys plus
//! breakdowns by intent and by expectation, the action confusion matrix, the confidence
//! calibration and the escalation-threshold sweep that `report.html` draws).

use std::collections::BTreeMap;

use serde::Serialize;

use super::LlmMode;
use super::transcript::{Expect, Transcript};
use crate::config::Config;
use crate::domain::{EscalationReason, OutboxStatus, TurnDecision};
use crate::store::{Db, escalations, outbox, turns};

/// One replayed turn.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TurnResult {
    /// The conversation's id.
    pub id: String,
    /// 1-based.
    pub turn: usize,
    pub input: String,
    pub expect: Expect,
    /// The action taken: `reply`, `escalate`, `opt_out`, `opt_in`, `help`, or `none` (a
    /// person owns the conversation).
    pub action: String,
    /// What the customer's text was classified as.
    pub intent: String,
    /// Every text sent in answer, in order (reply, holding message, confirmations).
    pub sent: Vec<String>,
    /// The bot's reply when it replied.
    pub reply: Option<String>,
    /// The draft (sent or not).
    pub draft: Option<String>,
    pub confidence: f64,
    /// SMS segments of the reply.
    pub segments: Option<usize>,
    pub prompt_tokens: i64,
    /// The pipeline's own time for the turn (every stage, the model's call included).
    pub latency_ms: f64,
    /// Escalation reason codes.
    pub reasons: Vec<EscalationReason>,
    /// Claims in the sent reply that the guard could not verify (their finding kinds).
    pub unsupported: Vec<String>,
}

/// The turn that answered `message_id`, once it and its texts have settled; `None` while
/// the turn or a send is still pending.
pub async fn read_turn(db: &Db, message_id: i64) -> anyhow::Result<Option<TurnResult>> {
    let Some(turn) = turns::turn_for_message(db, message_id).await? else { return Ok(None) };
    let outbox = outbox::outbox_for_message(db, message_id).await?;
    if outbox.iter().any(|o| matches!(o.status, OutboxStatus::Pending | OutboxStatus::Sending)) {
        return Ok(None);
    }
    let t = turn.audit;
    let reasons: Vec<EscalationReason> = escalations::escalations_for_conversation(db, t.conversation_id)
        .await?
        .iter()
        .filter(|e| e.turn_id == Some(turn.id))
        .filter_map(|e| serde_json::from_str::<serde_json::Value>(&e.details).ok())
        .flat_map(|d| d["reasons"].as_array().cloned().unwrap_or_default())
        .filter_map(|r| r["code"].as_str()?.parse().ok())
        .collect();
    let sent: Vec<String> = outbox
        .into_iter()
        .filter(|o| matches!(o.status, OutboxStatus::Sent | OutboxStatus::Delivered))
        .map(|o| o.body)
        .collect();
    let unsupported: Vec<String> = if t.decision == TurnDecision::Reply && t.reply.is_some() {
        t.guard["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f["kind"].as_str()?.parse::<crate::domain::FindingKind>().ok())
            .filter(|&k| crate::guard::is_blocking(k))
            .map(|k| k.as_str().to_string())
            .collect()
    } else {
        vec![]
    };
    let tokens = if t.prompt_tokens > 0 {
        t.prompt_tokens
    } else {
        t.retrieved["prompt"]["tokens_counted"].as_i64().unwrap_or(0)
    };
    let action = super::transcript::action_of(t.decision).to_string();
    Ok(Some(TurnResult {
        action,
        segments: t.reply.as_deref().map(|r| crate::domain::segments::count_segments(r).segments),
        sent,
        latency_ms: t.stage_ms.values().sum(),
        intent: t.intent,
        reply: t.reply,
        draft: t.draft,
        confidence: t.confidence,
        prompt_tokens: tokens,
        reasons,
        unsupported,
        ..TurnResult::default()
    }))
}

/// One failed expectation.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    pub id: String,
    pub turn: usize,
    pub expected: String,
    pub got: String,
}

/// Checked and passed, per expectation key (or intent).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Tally {
    pub checked: usize,
    pub passed: usize,
    pub rate: Option<f64>,
}

impl Tally {
    fn add(&mut self, ok: bool) {
        self.checked += 1;
        self.passed += usize::from(ok);
        self.rate = Some(self.passed as f64 / self.checked as f64);
    }
}

/// One point of the escalation-threshold sweep.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SweepPoint {
    pub threshold: f64,
    /// Drafted turns that would go to a person.
    pub escalation_rate: f64,
    /// Drafted turns whose reply would be sent though a person was expected.
    pub wrongly_sent_rate: f64,
}

/// One bin of the calibration diagram.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CalibrationBin {
    pub from: f64,
    pub to: f64,
    pub turns: usize,
    pub mean_confidence: Option<f64>,
    /// Of these turns, the share whose right action was to reply.
    pub reply_was_right: Option<f64>,
}

/// `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub conversations: usize,
    pub turns: usize,
    pub action_accuracy: Option<f64>,
    pub optout_recall: Option<f64>,
    /// Opt-out recall on turns that are CTIA keywords (STOP, UNSUBSCRIBE…): must be 1.
    pub optout_recall_keyword: Option<f64>,
    pub optout_false_positives: usize,
    pub escalation_precision: Option<f64>,
    pub escalation_recall: Option<f64>,
    pub unsupported_claims: usize,
    pub mentions_hit_rate: Option<f64>,
    pub segments_p50: Option<f64>,
    pub segments_p95: Option<f64>,
    pub prompt_tokens_p50: Option<f64>,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p99: Option<f64>,
    pub failures: Vec<Failure>,
    /// How many expectations failed (the baseline keeps the count, not the list).
    pub failure_count: usize,
    /// How the run was made.
    pub llm: LlmMode,
    pub confidence_threshold: f64,
    pub wall_s: f64,
    pub per_intent: BTreeMap<String, Tally>,
    pub per_expectation: BTreeMap<String, Tally>,
    /// Tags of the conversations (eval sets): action accuracy per tag.
    pub per_tag: BTreeMap<String, Tally>,
    /// `confusion[expected][got]`: turn counts.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
    pub calibration: Vec<CalibrationBin>,
    pub threshold_sweep: Vec<SweepPoint>,
    pub results: Vec<TurnResult>,
}

/// The value at percentile `p` (nearest rank) of `values`.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    Some(v[rank.min(v.len() - 1)])
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn contains_ci(haystack: &[String], needle: &str) -> bool {
    let needle = needle.to_lowercase();
    haystack.iter().any(|h| h.to_lowercase().contains(&needle))
}

/// Escalation reasons that come from the confidence score (what the threshold moves).
const SCORE_REASONS: &[EscalationReason] = &[EscalationReason::LowConfidence, EscalationReason::LowConfidenceStreak];

impl Report {
    pub fn build(
        transcripts: &[Transcript],
        results: Vec<TurnResult>,
        config: &Config,
        llm: LlmMode,
        wall_s: f64,
    ) -> Report {
        let tags: BTreeMap<&str, &Vec<String>> = transcripts.iter().map(|t| (t.id.as_str(), &t.tags)).collect();
        let mut failures = Vec::new();
        let mut per_expectation: BTreeMap<String, Tally> = BTreeMap::new();
        let mut per_intent: BTreeMap<String, Tally> = BTreeMap::new();
        let mut per_tag: BTreeMap<String, Tally> = BTreeMap::new();
        let mut confusion: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let (mut optout_expected, mut optout_caught, mut optout_fp) = (0, 0, 0);
        let (mut keyword_expected, mut keyword_caught) = (0, 0);
        let (mut esc_true, mut esc_predicted, mut esc_expected) = (0, 0, 0);
        for r in &results {
            let fail = |expected: String, got: String| Failure { id: r.id.clone(), turn: r.turn, expected, got };
            if let Some(expected) = &r.expect.action {
                let ok = *expected == r.action;
                per_expectation.entry("action".into()).or_default().add(ok);
                per_intent.entry(r.intent.clone()).or_default().add(ok);
                for tag in tags.get(r.id.as_str()).into_iter().flat_map(|t| t.iter()) {
                    per_tag.entry(tag.clone()).or_default().add(ok);
                }
                *confusion.entry(expected.clone()).or_default().entry(r.action.clone()).or_default() += 1;
                if !ok {
                    failures.push(fail(format!("action {expected}"), format!("action {}", r.action)));
                }
                if expected == "opt_out" {
                    optout_expected += 1;
                    optout_caught += usize::from(r.action == "opt_out");
                    let keyword = crate::compliance::keywords::classify(&r.input, false).intent
                        == crate::compliance::keywords::KeywordIntent::OptOut;
                    if keyword {
                        keyword_expected += 1;
                        keyword_caught += usize::from(r.action == "opt_out");
                    }
                } else if r.action == "opt_out" {
                    optout_fp += 1;
                }
                esc_expected += usize::from(expected == "escalate");
                esc_predicted += usize::from(r.action == "escalate");
                esc_true += usize::from(expected == "escalate" && r.action == "escalate");
            }
            if !r.expect.mentions_any.is_empty() {
                let ok = r.expect.mentions_any.iter().any(|m| contains_ci(&r.sent, m));
                per_expectation.entry("mentions_any".into()).or_default().add(ok);
                if !ok {
                    failures.push(fail(
                        format!("mentions any of {:?}", r.expect.mentions_any),
                        format!("sent {:?}", r.sent),
                    ));
                }
            }
            if !r.expect.not_contains.is_empty() {
                let hit: Vec<&String> = r.expect.not_contains.iter().filter(|m| contains_ci(&r.sent, m)).collect();
                per_expectation.entry("not_contains".into()).or_default().add(hit.is_empty());
                if !hit.is_empty() {
                    failures.push(fail(format!("never {hit:?}"), format!("sent {:?}", r.sent)));
                }
            }
            if let Some(max) = r.expect.max_segments {
                let got = r.segments.unwrap_or(0);
                per_expectation.entry("max_segments".into()).or_default().add(got <= max);
                if got > max {
                    failures.push(fail(format!("at most {max} segments"), format!("{got} segments")));
                }
            }
            if r.expect.no_facts == Some(true) {
                let claims: Vec<String> = r
                    .sent
                    .iter()
                    .flat_map(|s| crate::guard::claims::extract(s))
                    .map(|c| format!("{} {:?}", c.kind, c.text))
                    .collect();
                per_expectation.entry("no_facts".into()).or_default().add(claims.is_empty());
                if !claims.is_empty() {
                    failures.push(fail("no facts stated".into(), format!("stated {claims:?}")));
                }
            }
            if !r.unsupported.is_empty() {
                failures.push(fail(
                    "no unsupported claim sent".into(),
                    format!("sent {:?} ({:?})", r.reply, r.unsupported),
                ));
            }
        }
        let per_expectation_rate = |k: &str| per_expectation.get(k).and_then(|t| t.rate);
        let segments: Vec<f64> = results.iter().filter_map(|r| r.segments).map(|s| s as f64).collect();
        let tokens: Vec<f64> = results.iter().filter(|r| r.prompt_tokens > 0).map(|r| r.prompt_tokens as f64).collect();
        let latency: Vec<f64> = results.iter().map(|r| r.latency_ms).collect();
        let threshold = config.pipeline.confidence_threshold;
        Report {
            conversations: transcripts.len(),
            turns: results.len(),
            action_accuracy: per_expectation_rate("action"),
            optout_recall: ratio(optout_caught, optout_expected),
            optout_recall_keyword: ratio(keyword_caught, keyword_expected),
            optout_false_positives: optout_fp,
            escalation_precision: ratio(esc_true, esc_predicted),
            escalation_recall: ratio(esc_true, esc_expected),
            unsupported_claims: results.iter().map(|r| r.unsupported.len()).sum(),
            mentions_hit_rate: per_expectation_rate("mentions_any"),
            segments_p50: percentile(&segments, 50.0),
            segments_p95: percentile(&segments, 95.0),
            prompt_tokens_p50: percentile(&tokens, 50.0),
            latency_ms_p50: percentile(&latency, 50.0),
            latency_ms_p99: percentile(&latency, 99.0),
            failure_count: failures.len(),
            failures,
            llm,
            confidence_threshold: threshold,
            wall_s,
            per_intent,
            per_expectation,
            per_tag,
            confusion,
            calibration: calibration(&results),
            threshold_sweep: sweep(&results),
            results,
        }
    }
}

/// Turns where the bot drafted an answer and the transcript says what was right.
fn drafted(results: &[TurnResult]) -> impl Iterator<Item = &TurnResult> {
    results
        .iter()
        .filter(|r| r.draft.is_some() && matches!(r.action.as_str(), "reply" | "escalate") && r.expect.action.is_some())
}

/// Ten confidence bins: how often replying was right in each.
fn calibration(results: &[TurnResult]) -> Vec<CalibrationBin> {
    (0..10)
        .map(|b| {
            let (from, to) = (b as f64 / 10.0, (b + 1) as f64 / 10.0);
            let inside: Vec<&TurnResult> = drafted(results)
                .filter(|r| r.confidence >= from && (r.confidence < to || (b == 9 && r.confidence <= 1.0)))
                .collect();
            let n = inside.len();
            CalibrationBin {
                from,
                to,
                turns: n,
                mean_confidence: (n > 0).then(|| inside.iter().map(|r| r.confidence).sum::<f64>() / n as f64),
                reply_was_right: ratio(
                    inside.iter().filter(|r| r.expect.action.as_deref() == Some("reply")).count(),
                    n,
                ),
            }
        })
        .collect()
}

/// The confidence threshold from 0 to 1: which drafted turns would escalate (below it, or
/// for a reason the score does not decide), and which replies would go out where a person
/// was expected.
fn sweep(results: &[TurnResult]) -> Vec<SweepPoint> {
    let turns: Vec<&TurnResult> = drafted(results).collect();
    (0..=20)
        .map(|i| {
            let t = i as f64 / 20.0;
            let (mut escalated, mut wrong) = (0, 0);
            for r in &turns {
                let other = r.reasons.iter().any(|c| !SCORE_REASONS.contains(c));
                if other || r.confidence < t {
                    escalated += 1;
                } else if r.expect.action.as_deref() != Some("reply") {
                    wrong += 1;
                }
            }
            let n = turns.len().max(1) as f64;
            SweepPoint { threshold: t, escalation_rate: escalated as f64 / n, wrongly_sent_rate: wrong as f64 / n }
        })
        .collect()
}

/// Keys of `report.json` that measure time, not behaviour (they differ between two runs of
/// the same thing).
pub const TIMING_KEYS: &[&str] = &["wall_s", "latency_ms_p50", "latency_ms_p99"];

/// `report` without its timings (and without the per-turn `latency_ms`): what two replays of
/// one cassette must agree on.
pub fn without_timings(report: &serde_json::Value) -> serde_json::Value {
    let mut v = report.clone();
    if let Some(map) = v.as_object_mut() {
        for k in TIMING_KEYS {
            map.remove(*k);
        }
        if let Some(results) = map.get_mut("results").and_then(|r| r.as_array_mut()) {
            for r in results {
                if let Some(r) = r.as_object_mut() {
                    r.remove("latency_ms");
                }
            }
        }
    }
    v
}

/// What a baseline keeps: the metrics and breakdowns, not the per-turn results.
pub fn baseline_of(report: &serde_json::Value) -> serde_json::Value {
    let mut v = report.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("results");
        map.remove("failures");
    }
    v
}

impl Report {
    /// The summary `backtalk eval` prints.
    pub fn summary(&self) -> String {
        let pct = |v: Option<f64>| v.map(|x| format!("{:.1}%", 100.0 * x)).unwrap_or_else(|| "-".into());
        let num = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "-".into());
        let mut s = String::new();
        s += &format!(
            "{} conversations, {} turns ({} mode) in {:.1} s\n",
            self.conversations,
            self.turns,
            serde_json::to_value(self.llm).unwrap_or_default().as_str().unwrap_or(""),
            self.wall_s
        );
        s += &format!("  action accuracy       {}\n", pct(self.action_accuracy));
        s += &format!(
            "  escalation precision  {}   recall {}\n",
            pct(self.escalation_precision),
            pct(self.escalation_recall)
        );
        s += &format!(
            "  opt-out recall        {}   (keywords {})   false positives {}\n",
            pct(self.optout_recall),
            pct(self.optout_recall_keyword),
            self.optout_false_positives
        );
        s += &format!("  unsupported claims    {}\n", self.unsupported_claims);
        s += &format!("  mentions hit rate     {}\n", pct(self.mentions_hit_rate));
        s += &format!("  segments p50 / p95    {} / {}\n", num(self.segments_p50), num(self.segments_p95));
        s += &format!("  prompt tokens p50     {}\n", num(self.prompt_tokens_p50));
        s += &format!("  latency p50 / p99     {} / {} ms\n", num(self.latency_ms_p50), num(self.latency_ms_p99));
        s += &format!("  failures              {}\n", self.failures.len());
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(id: &str, expected: &str, got: &str, confidence: f64) -> TurnResult {
        TurnResult {
            id: id.into(),
            turn: 1,
            input: "stop".into(),
            expect: Expect { action: Some(expected.into()), ..Expect::default() },
            action: got.into(),
            draft: Some("d".into()),
            confidence,
            ..TurnResult::default()
        }
    }

    #[test]
    fn metrics_count_what_they_say() {
        let t = |id: &str| Transcript { id: id.into(), customer: None, turns: vec![], tags: vec![] };
        let transcripts = vec![t("a"), t("b"), t("c"), t("d")];
        let mut unsupported = result("d", "reply", "reply", 0.9);
        unsupported.unsupported = vec!["unsupported_price".into()];
        let results = vec![
            result("a", "escalate", "escalate", 0.2),
            result("b", "escalate", "reply", 0.7),
            result("c", "opt_out", "opt_out", 0.0),
            unsupported,
        ];
        let r = Report::build(&transcripts, results, &Config::default(), LlmMode::Offline, 1.0);
        assert_eq!(r.action_accuracy, Some(0.75));
        assert_eq!((r.escalation_precision, r.escalation_recall), (Some(1.0), Some(0.5)));
        assert_eq!((r.optout_recall, r.optout_recall_keyword), (Some(1.0), Some(1.0)));
        assert_eq!(r.unsupported_claims, 1);
        assert_eq!(r.failures.len(), 2, "{:?}", r.failures);
        assert_eq!(r.confusion["escalate"]["reply"], 1);
        // At threshold 0.8 both drafted escalate-expected turns go to a person.
        let at = |t: f64| r.threshold_sweep.iter().find(|p| (p.threshold - t).abs() < 1e-9).unwrap().clone();
        assert_eq!(at(0.8).wrongly_sent_rate, 0.0);
        assert!(at(0.5).wrongly_sent_rate > 0.0, "b (0.7) is sent at 0.5 though a person was expected");
    }
}
