//! The inbound webhook: signatures, validation, idempotency, status callbacks.

use std::time::Duration;

use crate::helpers::*;
use crate::on_both_backends;

async fn signed_inbound_text_yields_one_twilio_post_and_a_turn_row(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let (status, body) = app.post_inbound(CUSTOMER, "do you have the blouse in black?", &new_sid()).await;
    assert_eq!(status, 200);
    assert!(body.contains("<Response/>"), "{body}");
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let sent_now = app.twilio.sent();
    assert_eq!(sent_now.len(), 1, "{sent:?}");
    let sms = &sent_now[0];
    assert_eq!(sms.to, CUSTOMER);
    assert_eq!(sms.from.as_deref(), Some(OUR_NUMBER));
    assert!(sms.body.contains("Blouse") && sms.body.contains('$'), "{}", sms.body);
    let callback = sms.status_callback.as_deref().unwrap_or_default();
    assert!(callback.starts_with(&format!("{}?outbox=", app.config.status_webhook_url())), "{callback}");
    assert_eq!(count(&app.db, "turns").await, 1);
    let decision: String =
        backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>("select decision from turns")
            .fetch_one(p)
            .await)
        .unwrap();
    assert_eq!(decision, "reply");
    assert_eq!(count(&app.db, "messages").await, 2, "the inbound text and the sent reply");
}
on_both_backends!(signed_inbound_text_yields_one_twilio_post_and_a_turn_row);

async fn a_forged_or_missing_signature_is_rejected_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let before: Vec<i64> = futures_counts(&app).await;
    let params = inbound_params(CUSTOMER, "hi", &new_sid());
    let forged =
        backtalk::sms::signature::compute_signature("not-the-token", &app.config.inbound_webhook_url(), &params);
    let (status, _) = app.post_form("/webhooks/twilio", &params, Some(&forged)).await;
    assert_eq!(status, 403);
    let (status, _) = app.post_form("/webhooks/twilio", &params, None).await;
    assert_eq!(status, 403);
    // A valid signature over different parameters (tampered body) is rejected too.
    let good = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &app.config.inbound_webhook_url(), &params);
    let mut tampered = params.clone();
    tampered.iter_mut().find(|(k, _)| k == "Body").unwrap().1 = "STOP".into();
    let (status, _) = app.post_form("/webhooks/twilio", &tampered, Some(&good)).await;
    assert_eq!(status, 403);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(futures_counts(&app).await, before, "no rows written");
    assert!(app.twilio.requests().is_empty());
}
on_both_backends!(a_forged_or_missing_signature_is_rejected_and_writes_nothing);

/// Rows of every table a webhook could write.
async fn futures_counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in ["customers", "conversations", "messages", "jobs", "consent_events", "turns", "outbox"] {
        out.push(count(&app.db, t).await);
    }
    out
}

async fn the_same_message_sid_three_times_is_stored_once_and_answered_once(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let sid = new_sid();
    for _ in 0..3 {
        let (status, _) = app.post_inbound(CUSTOMER, "where is my order?", &sid).await;
        assert_eq!(status, 200);
    }
    app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_eq!(count(&app.db, "messages where direction = 'in'").await, 1);
    assert_eq!(count(&app.db, "turns").await, 1);
    assert_eq!(app.twilio.sent().len(), 1);
    assert!(
        app.twilio.sent()[0].body.contains("591188"),
        "latest order of the demo customer: {}",
        app.twilio.sent()[0].body
    );
}
on_both_backends!(the_same_message_sid_three_times_is_stored_once_and_answered_once);

async fn malformed_and_oversized_webhooks_get_clear_errors(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    let url = app.config.inbound_webhook_url();
    for missing in ["From", "To", "MessageSid"] {
        let params: Vec<(String, String)> =
            inbound_params(CUSTOMER, "hi", &new_sid()).into_iter().filter(|(k, _)| k != missing).collect();
        let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &url, &params);
        let (status, body) = app.post_form("/webhooks/twilio", &params, Some(&sig)).await;
        assert_eq!(status, 400, "{missing}");
        assert!(body.contains(&format!("`{missing}`")), "{body}");
    }
    let huge = "x".repeat(app.config.max_webhook_body_bytes + 10);
    let (status, _) = app.post_inbound(CUSTOMER, &huge, &new_sid()).await;
    assert_eq!(status, 413);
    let bad_from = inbound_params("not-a-number", "hi", &new_sid());
    let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &url, &bad_from);
    let (status, body) = app.post_form("/webhooks/twilio", &bad_from, Some(&sig)).await;
    assert_eq!(status, 400);
    assert!(body.contains("From"), "{body}");
    assert_eq!(count(&app.db, "messages").await, 0);
}
on_both_backends!(malformed_and_oversized_webhooks_get_clear_errors);

async fn status_callbacks_record_delivery_and_21610_opts_the_number_out(backend: Backend) {
    let app = spawn_app(backend, TestOptions::default()).await;
    app.post_inbound(CUSTOMER, "hi", &new_sid()).await;
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let sid =
        backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>("select provider_sid from outbox")
            .fetch_one(p)
            .await)
        .unwrap();
    assert!(sid.starts_with("SM") && sent.len() == 1);
    let status_url = app.config.status_webhook_url();
    let form = |status: &str, code: &str| -> Vec<(String, String)> {
        [
            ("MessageSid", sid.as_str()),
            ("MessageStatus", status),
            ("ErrorCode", code),
            ("To", CUSTOMER),
            ("From", OUR_NUMBER),
            ("AccountSid", ACCOUNT_SID),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    };
    let delivered = form("delivered", "");
    let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &status_url, &delivered);
    assert_eq!(app.post_form("/webhooks/twilio/status", &delivered, None).await.0, 403);
    assert_eq!(app.post_form("/webhooks/twilio/status", &delivered, Some(&sig)).await.0, 200);
    assert_eq!(count(&app.db, "outbox where status = 'delivered'").await, 1);
    // A late failure does not undo the delivery (states only move forward), but the carrier's
    // STOP (21610) is an opt-out whatever the order.
    let failed = form("undelivered", "21610");
    let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &status_url, &failed);
    assert_eq!(app.post_form("/webhooks/twilio/status", &failed, Some(&sig)).await.0, 200);
    assert_eq!(count(&app.db, "outbox where status = 'delivered' and delivery_state = 'delivered'").await, 1);
    assert_eq!(
        backtalk::store::consent::latest_consent(&app.db, &as_phone(CUSTOMER)).await.unwrap().map(|k| k.as_str()),
        Some("opt_out")
    );
}
on_both_backends!(status_callbacks_record_delivery_and_21610_opts_the_number_out);

async fn concurrent_webhooks_and_simultaneous_retries_are_each_stored_once(backend: Backend) {
    let app = std::sync::Arc::new(spawn_app(backend, TestOptions::default()).await);
    // 50 texts, each delivered twice at the same moment (a Twilio retry racing the original):
    // the group commit may put both copies in one transaction.
    let sids: Vec<String> = (0..50).map(|_| new_sid()).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, sid) in sids.iter().enumerate() {
        for _ in 0..2 {
            let (app, sid) = (app.clone(), sid.clone());
            let from = format!("+1202555{:04}", 100 + i);
            tasks.spawn(async move { app.post_inbound(&from, "hi there", &sid).await.0 });
        }
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    app.wait_idle().await;
    assert_eq!(count(&app.db, "messages where direction = 'in'").await, 50);
    assert_eq!(count(&app.db, "turns").await, 50);
    assert_eq!(count(&app.db, "jobs where kind = 'turn'").await, 50);
    assert_eq!(app.twilio.sent().len(), 50, "one reply per text");
}
on_both_backends!(concurrent_webhooks_and_simultaneous_retries_are_each_stored_once);
