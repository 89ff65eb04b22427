//! What the flows API and the console's flows page show: the flows with the runs waiting at
//! each step, the latest runs with their reasons, and the A/B tests with their arms.

use serde_json::{Value, json};

use super::AppState;
use crate::domain::duration;
use crate::flows::file::{Flow, FlowError};

/// The flow files of `flows.dir`, read once per request: the flows, and the problems of the
/// files left out.
pub fn load(state: &AppState) -> anyhow::Result<(Vec<Flow>, Vec<FlowError>)> {
    crate::flows::file::load_dir(&state.config.flows_dir())
}

/// The flows, each step with how many runs wait at it, and the files left out.
pub async fn flows(state: &AppState, (flows, problems): &(Vec<Flow>, Vec<FlowError>)) -> anyhow::Result<Value> {
    let waiting = crate::store::flows::waiting_counts(&state.db).await?;
    let flows: Vec<Value> = flows
        .iter()
        .map(|f| {
            let steps: Vec<Value> = f
                .steps
                .iter()
                .enumerate()
                .map(|(i, step)| {
                    use crate::flows::file::Step;
                    let (kind, what) = match step {
                        Step::Wait(d) => ("wait", duration::format(*d)),
                        Step::WaitRelative { property, offset, before } => {
                            let side = if *before { "before" } else { "after" };
                            ("wait", format!("{} {side} {property}", duration::format(*offset)))
                        }
                        Step::Send { variants, .. } => {
                            let arms: Vec<String> = variants
                                .iter()
                                .map(|v| if v.composed { format!("compose: {}", v.text) } else { v.text.clone() })
                                .collect();
                            ("send", arms.join(" | "))
                        }
                        Step::Compose { goal, .. } => ("compose", goal.clone()),
                        Step::Branch { arms, otherwise } => {
                            let kind = if arms.is_empty() { "goto" } else { "branch" };
                            (kind, crate::flows::branch::describe(arms, *otherwise))
                        }
                        Step::WaitFor(w) => ("wait_for", w.describe()),
                    };
                    // A run waits *before* step `i` when its next step is `i`.
                    let n =
                        waiting.iter().find(|(flow, at, _)| *flow == f.name && *at as usize == i).map_or(0, |w| w.2);
                    json!({"step": i, "kind": kind, "what": what, "waiting": n})
                })
                .collect();
            json!({"name": f.name, "description": f.description, "class": f.class, "triggers": f.triggers,
                   "file": f.file.display().to_string(), "steps": steps})
        })
        .collect();
    let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
    Ok(json!({ "flows": flows, "problems": problems }))
}

/// The latest runs, newest first, with their reasons and their texts' reasons.
pub async fn runs(state: &AppState, flow: Option<&str>, status: Option<&str>, limit: i64) -> anyhow::Result<Value> {
    let runs = crate::store::flows::latest_runs(&state.db, flow, status, limit).await?;
    let texts = match (runs.last(), runs.first()) {
        (Some(oldest), Some(newest)) => crate::store::flows::run_texts(&state.db, oldest.id, newest.id).await?,
        _ => vec![],
    };
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            let texts: Vec<Value> = texts
                .iter()
                .filter(|t| t.flow_run_id == r.id)
                .map(|t| json!({"outbox_id": t.outbox_id, "status": t.status, "reason": t.error, "sent_at": t.sent_at}))
                .collect();
            json!({"id": r.id, "flow": r.flow, "phone": r.phone, "customer_id": r.customer_id, "status": r.status,
                   "reason": r.reason, "step": r.step, "due_at": r.due_at, "started_at": r.started_at, "texts": texts})
        })
        .collect();
    Ok(json!({ "runs": runs }))
}

/// Every A/B test of the flows, per arm.
pub async fn ab_tests(state: &AppState, flows: &[Flow]) -> anyhow::Result<Value> {
    use crate::flows::file::Step;
    let mut tests = Vec::new();
    for flow in flows {
        for step in &flow.steps {
            let Step::Send { variants, test: Some(test), .. } = step else { continue };
            let mut t = ab_test(state, test, variants).await?;
            t["flow"] = json!(flow.name);
            tests.push(t);
        }
    }
    Ok(json!({ "tests": tests }))
}

/// One A/B test's arms with their outcomes and win probabilities, its winner and its gate
/// (a flow's send step or a campaign).
pub async fn ab_test(
    state: &AppState,
    test: &crate::flows::file::AbTest,
    variants: &[crate::flows::file::Variant],
) -> anyhow::Result<Value> {
    use crate::domain::ab;
    let standings = crate::flows::ab::standings(&state.db, test, variants).await?;
    let winner = crate::store::ab::winner(&state.db, &test.name).await?;
    let arms: Vec<Value> = variants
        .iter()
        .zip(&standings)
        .map(|(v, s)| {
            let o = &s.outcome;
            let rate = (s.count.recipients > 0).then(|| s.count.hits as f64 / s.count.recipients as f64);
            json!({"name": v.name, "weight": v.weight, "recipients": o.recipients, "replied": o.replied,
                   "opted_out": o.opted_out, "ordered": o.ordered, "rate": rate,
                   "win_probability": s.win_probability})
        })
        .collect();
    Ok(json!({
        "test": test.name, "metric": test.metric, "ends": test.ends, "arms": arms,
        "winner": winner.map(|(arm, reason, at)| json!({"arm": arm, "reason": reason, "decided_at": at})),
        "gate": {"min_recipients_per_arm": ab::MIN_RECIPIENTS_PER_ARM, "min_win_probability": ab::MIN_WIN_PROBABILITY},
    }))
}
