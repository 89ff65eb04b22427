//! The blind flow scenarios (`tests/flows_blind/`), written from docs/flows.md, the shipped
//! flows and the reference facts without reading the engine: each is replayed by
//! `flows simulate`'s code path (`backtalk::flows::simulate`, the demo store's customers) and
//! what it did must equal the scenario's `expected.jsonl`, line for line as a multiset.

use std::path::{Path, PathBuf};

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
    let options = Options {
        events: dir.join("events.jsonl"),
        demo: true,
        smart_sending: chrono::Duration::hours(24),
        until: None,
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
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/flows_blind");
    let mut scenarios: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/flows_blind exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("events.jsonl").is_file())
        .collect();
    scenarios.sort();
    assert!(scenarios.len() >= 10, "the blind set has {} scenarios", scenarios.len());
    let mut failed = Vec::new();
    for dir in &scenarios {
        let problems = run(dir).await;
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if problems.is_empty() {
            eprintln!("ok    {name}");
        } else {
            eprintln!("FAIL  {name}\n      {}", problems.join("\n      "));
            failed.push(name);
        }
    }
    eprintln!("blind flow scenarios: {}/{} pass", scenarios.len() - failed.len(), scenarios.len());
    assert!(failed.is_empty(), "failed: {failed:?}");
}
