//! The blind flow scenarios (`tests/flows_blind/`), written from docs/flows.md, the shipped
//! flows and the reference facts without reading the engine: each is replayed by
//! `flows simulate`'s code path (`backtalk::flows::simulate`, the demo store's customers) and
//! what it did must equal the scenario's `expected.jsonl`, line for line as a multiset.

use std::path::Path;

use backtalk::flows::simulate::{Line, Options, What, simulate};
use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    what: String,
    phone: String,
    flow: String,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    #[serde(default)]
    contains: Option<String>,
}

impl Expected {
    fn matches(&self, line: &Line) -> bool {
        let (what, flow, text) = match &line.what {
            What::Event(_) => return false,
            What::Sent { flow, text, .. } => ("sent", flow, text.clone()),
            What::Deferred { flow, until, .. } => {
                ("deferred", flow, format!("outside the recipient's hours or over a cap, until {}", until.to_rfc3339()))
            }
            What::Skipped { flow, reason, .. } => ("skipped", flow, reason.clone()),
            What::Exited { flow, reason } => ("exited", flow, reason.clone()),
        };
        what == self.what
            && *flow == self.flow
            && line.phone.as_ref().is_some_and(|p| p.as_str() == self.phone)
            && self.at.is_none_or(|at| at == line.at)
            && self.contains.as_deref().is_none_or(|c| text.contains(c))
    }
}

fn describe(line: &Line) -> String {
    let phone = line.phone.as_ref().map_or("-", |p| p.as_str());
    format!("{} {phone} {:?}", line.at.to_rfc3339(), line.what)
}

/// Runs one scenario; the problems found (empty: it passed).
async fn run(dir: &Path) -> Vec<String> {
    let flows_dir = dir.join("flows");
    let (flows, errors) = backtalk::flows::file::load_dir(&flows_dir).unwrap();
    if !errors.is_empty() {
        return errors.iter().map(|e| format!("flow file: {e}")).collect();
    }
    let scratch = tempfile::tempdir().unwrap();
    let db =
        backtalk::store::Db::connect(&format!("sqlite://{}", scratch.path().join("sim.db").display())).await.unwrap();
    // Branches read the scenario's `segments/` folder.
    let options = Options {
        events: dir.join("events.jsonl"),
        demo: true,
        smart_sending: chrono::Duration::hours(24),
        until: None,
        sources: crate::helpers::demo_step_sources(&db, scratch.path(), dir.join("segments")).await,
    };
    let lines = match simulate(&db, backtalk::flows::set::FlowSet::fixed(flows), &options).await {
        Ok((lines, _)) => lines,
        Err(e) => return vec![format!("simulation failed: {e:#}")],
    };
    let text = std::fs::read_to_string(dir.join("expected.jsonl")).unwrap();
    let mut expected: Vec<Option<Expected>> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Some(serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", dir.display()))))
        .collect();
    let mut problems = Vec::new();
    for line in lines.iter().filter(|l| !matches!(l.what, What::Event(_))) {
        match expected.iter_mut().find(|e| e.as_ref().is_some_and(|e| e.matches(line))) {
            Some(slot) => *slot = None,
            None => problems.push(format!("unexpected: {}", describe(line))),
        }
    }
    for missing in expected.into_iter().flatten() {
        problems.push(format!("missing: {missing:?}"));
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_blind_flow_scenarios_do_what_the_docs_say() {
    crate::helpers::run_scenarios("flows_blind", "events.jsonl", 10, |dir| async move { run(&dir).await }).await;
}
