//! Delivery reports over HTTP on both databases (issue 20, docs/delivery.md): out-of-order
//! Twilio status callbacks never move a text's state back, and a number that fails
//! permanently (a landline) gets no proactive text until it opts in again.

use std::sync::Arc;
use std::time::Duration;

use backtalk::clock::FixedClock;
use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;

/// A Seattle number (Pacific time) that turns out to be a landline.
const LANDLINE: &str = "+12065550177";

/// Posts a signed Twilio status callback for the text `sid`.
async fn report(app: &TestApp, sid: &str, status: &str, code: &str, to: &str) {
    let form: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("MessageStatus", status),
        ("ErrorCode", code),
        ("To", to),
        ("From", OUR_NUMBER),
        ("AccountSid", ACCOUNT_SID),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &app.config.status_webhook_url(), &form);
    assert_eq!(app.post_form("/webhooks/twilio/status", &form, Some(&sig)).await.0, 200);
}

/// The provider id of the latest text to `to`.
async fn sid_to(app: &TestApp, to: &str) -> String {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select provider_sid from outbox where to_phone = $1 and provider_sid is not null order by id desc limit 1"
    )
    .bind(to)
    .fetch_one(p)
    .await)
    .unwrap()
}

/// `(delivery_state, status)` of the text `sid`.
async fn state_of(app: &TestApp, sid: &str) -> (Option<String>, String) {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (Option<String>, String)>(
        "select delivery_state, status from outbox where provider_sid = $1"
    )
    .bind(sid)
    .fetch_one(p)
    .await)
    .unwrap()
}

/// Sends a proactive text through the API; returns its outbox id.
async fn proactive(app: &TestApp, to: &str, subject: &str) -> i64 {
    let response = app
        .http
        .post(format!("{}/api/v1/messages", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&json!({"to": to, "body": "Our spring sale starts today", "subject": subject}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let body: serde_json::Value = response.json().await.unwrap();
    body["outbox_id"].as_i64().expect("the outbox id")
}

async fn outbox_status(app: &TestApp, id: i64) -> String {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>("select status from outbox where id = $1")
        .bind(id)
        .fetch_one(p)
        .await)
    .unwrap()
}

async fn out_of_order_reports_never_move_a_state_back_and_a_landline_is_suppressed(backend: Backend) {
    // 18:00 UTC is mid-morning in Seattle: no quiet hours in the way.
    let now = Utc::now();
    let clock = Arc::new(FixedClock::at(Utc.from_utc_datetime(&now.date_naive().and_hms_opt(18, 0, 0).unwrap())));
    let app = spawn_app(backend, TestOptions { clock: Some(clock), ..TestOptions::default() }).await;

    // A reply to a customer: delivered, then a late `sent` and a late failure.
    app.post_inbound(CUSTOMER, "hi", &new_sid()).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let reply = sid_to(&app, CUSTOMER).await;
    report(&app, &reply, "sent", "", CUSTOMER).await;
    assert_eq!(state_of(&app, &reply).await, (Some("sent".into()), "sent".into()));
    report(&app, &reply, "delivered", "", CUSTOMER).await;
    report(&app, &reply, "sent", "", CUSTOMER).await;
    report(&app, &reply, "undelivered", "30003", CUSTOMER).await;
    assert_eq!(state_of(&app, &reply).await, (Some("delivered".into()), "delivered".into()));

    // A proactive text to a landline: 30006 is a permanent failure of the number.
    let first = proactive(&app, LANDLINE, "spring-sale").await;
    app.twilio.wait_for_sent(2, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let landline = sid_to(&app, LANDLINE).await;
    report(&app, &landline, "undelivered", "30006", LANDLINE).await;
    report(&app, &landline, "delivered", "", LANDLINE).await;
    assert_eq!(state_of(&app, &landline).await, (Some("failed_permanent".into()), "failed".into()));
    assert_eq!(outbox_status(&app, first).await, "failed");
    assert_eq!(count(&app.db, "suppressions").await, 1);

    // The next proactive text to it is not sent ...
    let second = proactive(&app, LANDLINE, "new-arrivals").await;
    app.wait_idle().await;
    assert_eq!(outbox_status(&app, second).await, "suppressed");
    assert_eq!(app.twilio.sent().len(), 2);

    // ... until the number opts in again.
    app.post_inbound(LANDLINE, "START", &new_sid()).await;
    app.twilio.wait_for_sent(3, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let third = proactive(&app, LANDLINE, "weekend").await;
    app.twilio.wait_for_sent(4, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_eq!(outbox_status(&app, third).await, "sent");
}
on_both_backends!(out_of_order_reports_never_move_a_state_back_and_a_landline_is_suppressed);

/// A sending number's pace: 4 segments a second with a burst of 2. Twelve customers text at
/// once; the replies leave no faster than the pace allows in any window (some waited for in
/// the worker, the later ones deferred to their slot), and each text took one slot.
async fn replies_leave_at_the_numbers_pace(backend: Backend) {
    let configure = |c: &mut backtalk::config::Config| {
        c.twilio.segments_per_second = 4.0;
        c.twilio.burst = 2.0;
        c.worker.concurrency = 4;
    };
    let app = spawn_app(backend, TestOptions { configure: Some(configure), ..TestOptions::default() }).await;
    let customers: Vec<String> = (0..12).map(|i| format!("+1415555{:04}", 300 + i)).collect();
    for phone in &customers {
        assert_eq!(app.post_inbound(phone, "do you have the blouse in black?", &new_sid()).await.0, 200);
    }
    let sent = app.twilio.wait_for_sent(12, Duration::from_secs(60)).await;
    app.wait_idle().await;
    // The slots the pace gave: every reply here is one segment, so in any window of t
    // seconds at most 2 + 4t of them. (Slots, not arrival times: a loaded machine may delay
    // a send past its slot, never move it before.)
    let slots: Vec<(i64, chrono::DateTime<Utc>)> =
        backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (i64, chrono::DateTime<Utc>)>(
            "select send_slot_ms, sent_at from outbox where send_slot_ms is not null order by send_slot_ms"
        )
        .fetch_all(p)
        .await)
        .unwrap();
    assert_eq!(slots.len(), 12, "one slot per text");
    for i in 0..slots.len() {
        for j in i..slots.len() {
            let window = (slots[j].0 - slots[i].0) as f64 / 1000.0;
            let count = (j - i + 1) as f64;
            assert!(count <= 2.0 + 4.0 * window + 1e-9, "{count} slots in {window:.3} s: {slots:?}");
        }
    }
    for (slot, sent_at) in &slots {
        assert!(sent_at.timestamp_millis() >= *slot, "sent at {sent_at} before its slot {slot}");
    }
    let mut times: Vec<std::time::Instant> = sent.iter().map(|s| s.received).collect();
    times.sort();
    let span = (times[11] - times[0]).as_secs_f64();
    assert!(span >= (12.0 - 2.0) / 4.0 - 0.1, "twelve texts took {span:.2} s");
}
on_both_backends!(replies_leave_at_the_numbers_pace);
