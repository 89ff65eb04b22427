//! The turn job's payload: the worker acts on the compliance assessment ingest carried in it,
//! and still runs a job queued by an older version, whose payload has none.

use std::time::Duration;

use backtalk::compliance::{Assessment, Intent};
use backtalk::jobs::KIND_TURN;
use backtalk::pipeline::ingest::TurnJob;
use backtalk::store::conversations::{self, NewInbound};
use backtalk::store::{crm, jobs};

use crate::helpers::*;
use crate::on_both_backends;

const WAIT: Duration = Duration::from_secs(20);

/// Stores an inbound text and queues its turn with the given payload, as ingest does in one
/// transaction, but with a payload the test chooses.
async fn queue_turn(app: &TestApp, body: &str, payload: impl FnOnce(i64) -> String) {
    let mut tx = app.db.begin().await.unwrap();
    let customer_id = crm::ensure_customer(&mut tx, &as_phone(CUSTOMER)).await.unwrap();
    let conversation_id = conversations::ensure_conversation(&mut tx, &as_phone(CUSTOMER), customer_id).await.unwrap();
    let sid = new_sid();
    let new =
        NewInbound { conversation_id, provider_sid: &sid, from_phone: &as_phone(CUSTOMER), to_phone: OUR_NUMBER, body };
    let message_id = conversations::insert_inbound_message(&mut tx, &new).await.unwrap().expect("a new message");
    let key = format!("turn:{message_id}");
    jobs::enqueue_job(&mut tx, KIND_TURN, &payload(message_id), Some(&key), 5).await.unwrap();
    tx.commit().await.unwrap();
}

/// The decision and intent recorded for the only turn.
async fn recorded_turn(app: &TestApp) -> (String, String) {
    app.wait_idle().await;
    backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (String, String)>("select decision, intent from turns")
        .fetch_one(p)
        .await)
    .unwrap()
}

async fn the_worker_acts_on_the_assessment_carried_in_the_job(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let body = "do you have the blouse in black?";
    // Ingest judged this text a HELP request; today's classifier sees a product question, so
    // a worker that classified the text again would answer about blouses instead.
    assert_eq!(backtalk::compliance::assess(body, false).intent, Intent::None);
    let carried = Assessment { intent: Intent::Help, rule: "keyword:HELP".into(), source: "keyword" };
    queue_turn(&app, body, |message_id| {
        let job = TurnJob {
            message_id,
            consent_before: Some(backtalk::domain::ConsentKind::OptIn),
            consent_change: None,
            assessment: Some(carried),
            ..TurnJob::default()
        };
        serde_json::to_string(&job).unwrap()
    })
    .await;
    app.twilio.wait_for_sent(1, WAIT).await;
    assert_eq!(recorded_turn(&app).await, ("help".to_string(), "keyword:HELP".to_string()));
    let sent = app.twilio.sent_to(CUSTOMER);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, app.config.brand.help_text);
}
on_both_backends!(the_worker_acts_on_the_assessment_carried_in_the_job);

async fn a_turn_job_queued_before_the_assessment_was_carried_is_assessed_by_the_worker(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    // The payload an older version wrote: no `assessment` key.
    queue_turn(&app, "HELP", |message_id| {
        format!(r#"{{"message_id":{message_id},"consent_before":"opt_in","consent_change":null}}"#)
    })
    .await;
    app.twilio.wait_for_sent(1, WAIT).await;
    assert_eq!(recorded_turn(&app).await, ("help".to_string(), "keyword:HELP".to_string()));
    assert_eq!(app.twilio.sent_to(CUSTOMER)[0].body, app.config.brand.help_text);
}
on_both_backends!(a_turn_job_queued_before_the_assessment_was_carried_is_assessed_by_the_worker);
