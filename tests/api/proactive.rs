//! Proactive texts through the JSON API: token auth, quiet hours, frequency caps, consent.

use std::sync::Arc;
use std::time::Duration;

use backtalk::clock::FixedClock;
use chrono::{TimeZone, Utc};

use crate::helpers::*;
use crate::on_both_backends;

/// A demo customer in Miami (area code 305: Florida, Eastern time).
const FLORIDA: &str = "+13055550100";

/// Today at `hour`:00 UTC: the sender's clock in these tests.
fn today_at(hour: u32) -> Arc<FixedClock> {
    let now = Utc::now();
    let t = Utc.from_utc_datetime(&now.date_naive().and_hms_opt(hour, 0, 0).unwrap());
    Arc::new(FixedClock::at(t))
}

async fn post_message(app: &TestApp, token: Option<&str>, json: serde_json::Value) -> (u16, serde_json::Value) {
    let mut request = app.http.post(format!("{}/api/v1/messages", app.base_url)).json(&json);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// The `run_at_ms` of the send job of an outbox row.
async fn run_at_ms(app: &TestApp, outbox_id: i64) -> i64 {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, i64>(
        "select run_at_ms from jobs where unique_key = $1"
    )
    .bind(format!("send:{outbox_id}"))
    .fetch_one(p)
    .await)
    .unwrap()
}

async fn the_api_needs_its_token_and_a_valid_message(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let ok = serde_json::json!({"to": FLORIDA, "body": "Your cart misses you", "subject": "cart"});
    assert_eq!(post_message(&app, None, ok.clone()).await.0, 401);
    assert_eq!(post_message(&app, Some("wrong"), ok).await.0, 401);
    let (status, body) =
        post_message(&app, Some(API_TOKEN), serde_json::json!({"to": "nope", "body": "x", "subject": "s"})).await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("`to`"), "{body}");
    assert_eq!(
        post_message(&app, Some(API_TOKEN), serde_json::json!({"to": FLORIDA, "body": " ", "subject": "s"})).await.0,
        400
    );
    assert_eq!(count(&app.db, "outbox").await, 0);
}
on_both_backends!(the_api_needs_its_token_and_a_valid_message);

async fn a_florida_number_gets_no_fourth_text_on_one_subject_within_24_hours(backend: Backend) {
    // 15:00 UTC is 10:00 or 11:00 in Miami: inside Florida's 8:00-20:00 all year.
    let app = spawn_app(backend, TestOptions { clock: Some(today_at(15)), ..TestOptions::default() }).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let (status, body) = post_message(
            &app,
            Some(API_TOKEN),
            serde_json::json!({"to": FLORIDA, "body": format!("Cart reminder {i}"), "subject": "cart"}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["outbox_id"].as_i64().unwrap());
    }
    let (status, _) = post_message(
        &app,
        Some(API_TOKEN),
        serde_json::json!({"to": FLORIDA, "body": "Welcome!", "subject": "welcome"}),
    )
    .await;
    assert_eq!(status, 202);
    app.twilio.wait_for_sent(4, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent: Vec<String> = app.twilio.sent_to(FLORIDA).into_iter().map(|s| s.body).collect();
    assert_eq!(sent.len(), 4, "three on 'cart' and the one on 'welcome': {sent:?}");
    assert!(!sent.contains(&"Cart reminder 3".to_string()), "queued back to back, the fourth still waits: {sent:?}");
    // The fourth is deferred, not dropped: pending, its job due about a day later.
    let fourth = backtalk::store::outbox::outbox_row(&app.db, ids[3]).await.unwrap();
    assert_eq!(fourth.status, "pending");
    let wait_h = (run_at_ms(&app, ids[3]).await - Utc::now().timestamp_millis()) as f64 / 3_600_000.0;
    assert!(wait_h > 8.0, "deferred by {wait_h:.1} h");
}
on_both_backends!(a_florida_number_gets_no_fourth_text_on_one_subject_within_24_hours);

async fn a_proactive_text_at_night_waits_for_the_morning(backend: Backend) {
    // 07:00 UTC is 2:00 or 3:00 in Miami.
    let app = spawn_app(backend, TestOptions { clock: Some(today_at(7)), ..TestOptions::default() }).await;
    let (_, body) =
        post_message(&app, Some(API_TOKEN), serde_json::json!({"to": FLORIDA, "body": "Sale!", "subject": "sale"}))
            .await;
    let id = body["outbox_id"].as_i64().unwrap();
    let db = app.db.clone();
    wait_for("the send to be deferred", Duration::from_secs(10), || {
        let db = db.clone();
        async move {
            backtalk::store::jobs::count_jobs(&db, "queued").await.unwrap() == 1
                && backtalk::store::jobs::count_jobs(&db, "running").await.unwrap() == 0
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(app.twilio.requests().is_empty(), "nothing at night");
    // 8:00 in Miami is 12:00 or 13:00 UTC: five or six hours after the clock's 07:00.
    let wait_h = (run_at_ms(&app, id).await - Utc::now().timestamp_millis()) as f64 / 3_600_000.0;
    assert!((4.9..=6.1).contains(&wait_h), "deferred by {wait_h:.2} h");
}
on_both_backends!(a_proactive_text_at_night_waits_for_the_morning);

async fn nothing_proactive_reaches_a_number_that_opted_out_in_plain_words(backend: Backend) {
    let app = spawn_app(backend, TestOptions { clock: Some(today_at(15)), ..TestOptions::default() }).await;
    app.post_inbound(FLORIDA, "please stop texting me", &new_sid()).await;
    app.twilio.wait_for_sent(1, Duration::from_secs(10)).await;
    let (status, body) =
        post_message(&app, Some(API_TOKEN), serde_json::json!({"to": FLORIDA, "body": "Sale!", "subject": "sale"}))
            .await;
    assert_eq!(status, 202);
    app.wait_idle().await;
    let row = backtalk::store::outbox::outbox_row(&app.db, body["outbox_id"].as_i64().unwrap()).await.unwrap();
    assert_eq!(row.status, "suppressed");
    assert_eq!(app.twilio.sent_to(FLORIDA).len(), 1, "only the opt-out confirmation");
}
on_both_backends!(nothing_proactive_reaches_a_number_that_opted_out_in_plain_words);
