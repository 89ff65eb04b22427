//! Pictures from customers (issue 20, MMS) on both databases: a Twilio MMS and a Telnyx MMS
//! are stored with their files, the console shows them, and the bot, which cannot see
//! pictures, says so and offers a person, through the provider the picture came by.

use std::time::Duration;

use serde_json::json;

use crate::console::sign_in;
use crate::fake_telnyx::{FakeTelnyx, TELNYX_NUMBER};
use crate::helpers::*;
use crate::on_both_backends;

const PICTURE: &str = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1";

async fn a_picture_is_kept_shown_and_answered_by_either_provider(backend: Backend) {
    let app = spawn_app(backend, TestOptions { telnyx: true, ..TestOptions::default() }).await;
    let cannot_see = app.config.brand.cannot_see_pictures.clone();

    // Twilio: NumMedia and MediaUrl0/MediaContentType0 beside the text.
    let mut params = inbound_params(CUSTOMER, "do you have this in black?", &new_sid());
    params.retain(|(k, _)| k != "NumMedia");
    params.extend([
        ("NumMedia".to_string(), "1".to_string()),
        ("MediaUrl0".to_string(), PICTURE.to_string()),
        ("MediaContentType0".to_string(), "image/jpeg".to_string()),
    ]);
    let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &app.config.inbound_webhook_url(), &params);
    assert_eq!(app.post_form("/webhooks/twilio", &params, Some(&sig)).await.0, 200);
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_eq!(sent[0].body, cannot_see);
    assert_eq!(count(&app.db, "message_media where content_type = 'image/jpeg' and size_bytes is null").await, 1);

    // Telnyx: payload.media with its size; the answer goes back through Telnyx.
    const OTHER: &str = "+14155550166";
    let event = json!({"data": {"record_type": "event", "id": "ev-mms", "event_type": "message.received",
        "payload": {"record_type": "message", "direction": "inbound", "id": "msg-mms", "type": "MMS",
            "from": {"phone_number": OTHER}, "to": [{"phone_number": TELNYX_NUMBER}], "text": "",
            "media": [{"url": "https://media.telnyx.example/abc.png", "content_type": "image/png", "size": 48213,
                       "hash_sha256": "00"}]}}});
    let body = event.to_string();
    let at = chrono::Utc::now().timestamp();
    let status = app
        .http
        .post(format!("{}/webhooks/telnyx", app.base_url))
        .header("telnyx-timestamp", at.to_string())
        .header("telnyx-signature-ed25519", FakeTelnyx::sign(at, &body))
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 200);
    let telnyx = app.telnyx.as_ref().unwrap();
    let sent = telnyx.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_eq!((sent[0].to.as_str(), sent[0].text.as_str()), (OTHER, cannot_see.as_str()));
    assert_eq!(count(&app.db, "message_media where size_bytes = 48213").await, 1);

    // The console shows the picture with the text.
    let reviewer = sign_in(&app, "sam").await;
    let conversation =
        backtalk::store::conversations::conversation_by_phone(&app.db, &as_phone(CUSTOMER)).await.unwrap().unwrap();
    let page = reviewer.page(&app, &format!("/console/conversations/{}", conversation.id)).await.replace("&#x2f;", "/");
    assert!(page.contains(PICTURE) && page.contains("Picture (image/jpeg)"), "{page}");
}
on_both_backends!(a_picture_is_kept_shown_and_answered_by_either_provider);
