//! `backtalk eval` end to end: the real pipeline, the real OpenAI client over HTTP to the
//! fake LLM (live) or to a cassette (replay), the report and the gate.

use std::path::{Path, PathBuf};

use backtalk::config::{Config, LlmFailure};
use backtalk::eval::{LlmMode, Options, gate, report};

use crate::fakes::{FakeLlm, LlmBehaviour};

/// A model that invents a price for everything it is asked.
const LYING_REPLY: &str = r#"{"reply":"Yes! The black blouse is only $9.99 today and in stock.","skus":["ZO0347403474"],"confidence":0.95,"needs_human":false}"#;

const TRANSCRIPTS: &str = r#"{"id": "blouse", "customer": {"phone": "+14155550123"}, "turns": [{"in": "do you have the blouse in black?", "expect": {"action": "reply", "mentions_any": ["Blouse - black"]}}]}
{"id": "dress", "customer": {"phone": "+12125550100"}, "turns": [{"in": "I need a dress but not black", "expect": {"action": "reply"}}, {"in": "STOP", "expect": {"action": "opt_out"}}]}
{"id": "shipping", "turns": [{"in": "how much is shipping?", "expect": {"action": "reply"}}]}
"#;

fn write_transcripts(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("t.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

fn config_for(llm: &FakeLlm, enforce_guard: bool) -> Config {
    let mut config = Config::default();
    config.llm.base_url = llm.base_url();
    config.llm.model = "fake-chat-model".into();
    config.llm.timeout_secs = 5;
    config.llm.on_failure = LlmFailure::Escalate;
    config.pipeline.enforce_guard = enforce_guard;
    config
}

fn options(transcripts: PathBuf, llm: LlmMode, cassette: Option<PathBuf>) -> Options {
    Options {
        transcripts: vec![transcripts],
        llm,
        cassette,
        store: None,
        concurrency: 3,
        progress: false,
        embeddings: false,
    }
}

fn no_tolerances() -> gate::Tolerances {
    gate::Tolerances { higher_is_better: Default::default(), lower_is_better: Default::default() }
}

/// With the guard switched off through config, a model that invents prices gets them sent:
/// the report counts them and the gate fails; with the guard on, nothing unsupported is
/// sent and the gate passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_without_its_guard_fails_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let transcripts = write_transcripts(dir.path(), TRANSCRIPTS);
    let llm = FakeLlm::start().await;
    llm.set_default(LlmBehaviour::Reply(LYING_REPLY.into()));

    let broken =
        backtalk::eval::run(config_for(&llm, false), &options(transcripts.clone(), LlmMode::Live, None)).await.unwrap();
    assert!(broken.unsupported_claims > 0, "{:?}", broken.results);
    let json = serde_json::to_value(&broken).unwrap();
    let why = gate::check(&json, None, &no_tolerances());
    assert!(why.iter().any(|w| w.contains("unsupported_claims")), "{why:?}");

    let guarded =
        backtalk::eval::run(config_for(&llm, true), &options(transcripts, LlmMode::Live, None)).await.unwrap();
    assert_eq!(guarded.unsupported_claims, 0);
    assert!(gate::check(&serde_json::to_value(&guarded).unwrap(), None, &no_tolerances()).is_empty());
    assert_eq!(guarded.optout_recall_keyword, Some(1.0), "STOP is honoured either way");
}

/// A live run records a cassette; two replays of it give the same report.json apart from
/// timings, without the model; a turn whose request is not in the cassette is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_of_a_cassette_are_identical() {
    let dir = tempfile::tempdir().unwrap();
    let transcripts = write_transcripts(dir.path(), TRANSCRIPTS);
    let cassette = dir.path().join("cassette.jsonl");
    let llm = FakeLlm::start().await;
    let recorded = backtalk::eval::run(
        config_for(&llm, true),
        &options(transcripts.clone(), LlmMode::Live, Some(cassette.clone())),
    )
    .await
    .unwrap();
    assert!(std::fs::read_to_string(&cassette).unwrap().lines().count() >= 3, "every model call recorded");
    drop(llm);

    let mut replay_config = Config::default();
    replay_config.llm.timeout_secs = 5;
    let replay_options = options(transcripts.clone(), LlmMode::Replay, Some(cassette.clone()));
    let first = backtalk::eval::run(replay_config.clone(), &replay_options).await.unwrap();
    let second = backtalk::eval::run(replay_config.clone(), &replay_options).await.unwrap();
    let strip = |r: &report::Report| report::without_timings(&serde_json::to_value(r).unwrap());
    assert_eq!(strip(&first), strip(&second));
    assert_eq!(first.action_accuracy, recorded.action_accuracy, "the replay does what the live run did");
    let replies: Vec<_> = first.results.iter().map(|r| r.reply.clone()).collect();
    assert_eq!(replies, recorded.results.iter().map(|r| r.reply.clone()).collect::<Vec<_>>());

    let changed = write_transcripts(dir.path(), &TRANSCRIPTS.replace("how much is shipping?", "how long is shipping?"));
    let e = backtalk::eval::run(replay_config.clone(), &options(changed, LlmMode::Replay, Some(cassette)))
        .await
        .unwrap_err();
    assert!(format!("{e:#}").contains("conversation \"shipping\" turn 1"), "{e:#}");
}

/// The offline run on the committed demo conversations writes a report whose keys are the
/// pinned ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_has_the_pinned_keys() {
    let transcripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eval/transcripts/demo.jsonl");
    let r = backtalk::eval::run(Config::default(), &options(transcripts, LlmMode::Offline, None)).await.unwrap();
    let json = serde_json::to_value(&r).unwrap();
    for key in [
        "conversations",
        "turns",
        "action_accuracy",
        "optout_recall",
        "optout_false_positives",
        "escalation_precision",
        "escalation_recall",
        "unsupported_claims",
        "mentions_hit_rate",
        "segments_p50",
        "segments_p95",
        "prompt_tokens_p50",
        "latency_ms_p50",
        "latency_ms_p99",
        "failures",
    ] {
        assert!(json.get(key).is_some(), "report.json lacks {key}");
    }
    assert_eq!(r.conversations, 20);
    assert_eq!(r.turns, 29);
    for f in &r.failures {
        assert!(r.results.iter().any(|t| t.id == f.id && t.turn == f.turn), "{f:?} names a real turn");
    }
}

/// The open escalation's id, and a reviewer "sam" to act on it.
async fn open_escalation_and_reviewer(app: &crate::helpers::TestApp) -> (i64, backtalk::escalation::review::Reviewer) {
    let id = backtalk::store::escalations::list_escalations(&app.db, backtalk::domain::EscalationStatus::Open, 10)
        .await
        .unwrap()[0]
        .id;
    let hash = backtalk::auth::hash_password("pw").unwrap();
    let reviewer_id = backtalk::store::reviewers::add_reviewer(&app.db, "sam", &hash).await.unwrap();
    (id, backtalk::escalation::review::Reviewer { id: reviewer_id, name: "sam".into() })
}

/// A conversation a reviewer corrected comes out of `export-transcripts` as a regression
/// case: the escalated turn expects `escalate` with the reviewer's reply, the number and the
/// name are gone, and the transcript reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrected_conversation_exports_as_a_regression_case() {
    use crate::helpers::*;
    let app = spawn_app(Backend::Sqlite, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "can I talk to a real person? I'm Elyssa Reese, call me on 415 555 0123", &new_sid())
        .await;
    app.twilio.wait_for_sent(1, std::time::Duration::from_secs(20)).await;
    app.wait_idle().await;
    let (id, sam) = open_escalation_and_reviewer(&app).await;
    let reply = "Hi Elyssa, Sam here. Your blouse is on its way.";
    backtalk::escalation::review::reply(&app.db, &sam, id, reply, 5).await.unwrap().unwrap();
    app.twilio.wait_for_sent(2, std::time::Duration::from_secs(20)).await;
    backtalk::escalation::review::close(&app.db, &sam, id, backtalk::store::escalations::Resolution::Resolved)
        .await
        .unwrap()
        .unwrap();

    let options =
        backtalk::eval::export::ExportOptions { since: chrono::DateTime::<chrono::Utc>::MIN_UTC, escalated_only: true };
    let exported = backtalk::eval::export::export(&app.db, &options).await.unwrap();
    assert_eq!(exported.len(), 1);
    let line = serde_json::to_string(&exported[0]).unwrap();
    assert!(!line.contains("Elyssa") && !line.contains("Reese") && !line.contains("555 0123"), "{line}");
    assert!(!line.contains(CUSTOMER), "the number is replaced: {line}");
    let turn = &exported[0].turns[0];
    assert_eq!(turn.expect.action.as_deref(), Some("escalate"));
    assert_eq!(turn.expect.reviewer_reply.as_deref(), Some("Hi the customer, Sam here. Your blouse is on its way."));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exported.jsonl");
    backtalk::eval::export::write(&exported, std::fs::File::create(&path).unwrap()).unwrap();
    assert_eq!(backtalk::eval::transcript::read(&[&path]).unwrap().len(), 1, "the export is valid eval input");
}

/// A text that follows a reviewer's hand-back exports with `hand_back_before`, so the replay
/// hands the thread back at the same point; the texts before it do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_back_exports_before_the_next_text() {
    use crate::helpers::*;
    let app = spawn_app(Backend::Sqlite, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "can I talk to a real person?", &new_sid()).await;
    app.twilio.wait_for_sent(1, std::time::Duration::from_secs(20)).await;
    app.wait_idle().await;
    app.post_inbound(CUSTOMER, "hello??", &new_sid()).await;
    app.wait_idle().await;
    let (id, sam) = open_escalation_and_reviewer(&app).await;
    backtalk::escalation::review::close(&app.db, &sam, id, backtalk::store::escalations::Resolution::HandedBack)
        .await
        .unwrap()
        .unwrap();
    app.post_inbound(CUSTOMER, "thanks! do you have the red blouse?", &new_sid()).await;
    app.twilio.wait_for_sent(2, std::time::Duration::from_secs(20)).await;
    app.wait_idle().await;

    let options =
        backtalk::eval::export::ExportOptions { since: chrono::DateTime::<chrono::Utc>::MIN_UTC, escalated_only: true };
    let exported = backtalk::eval::export::export(&app.db, &options).await.unwrap();
    let flags: Vec<bool> = exported[0].turns.iter().map(|t| t.hand_back_before).collect();
    assert_eq!(flags, [false, false, true]);
    assert_eq!(exported[0].turns[2].expect.action.as_deref(), Some("reply"));
}

/// `--store DIR` loads a store from files: the demo store's own files give the same report
/// as the embedded copy; a missing file is a clear error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_directory_replaces_the_embedded_store() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let transcripts = root.join("eval/transcripts/demo.jsonl");
    let embedded =
        backtalk::eval::run(Config::default(), &options(transcripts.clone(), LlmMode::Offline, None)).await.unwrap();
    let mut from_files = options(transcripts.clone(), LlmMode::Offline, None);
    from_files.store = Some(root.join("demo/store"));
    let loaded = backtalk::eval::run(Config::default(), &from_files).await.unwrap();
    let strip = |r: &report::Report| report::without_timings(&serde_json::to_value(r).unwrap());
    assert_eq!(strip(&embedded), strip(&loaded));

    let empty = tempfile::tempdir().unwrap();
    let mut missing = options(transcripts, LlmMode::Offline, None);
    missing.store = Some(empty.path().to_path_buf());
    let e = backtalk::eval::run(Config::default(), &missing).await.unwrap_err();
    assert!(format!("{e:#}").contains("catalog.jsonl"), "{e:#}");
}
