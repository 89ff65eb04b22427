//! Pictures from customers (issue 20, MMS) on both databases: a Twilio MMS and a Telnyx MMS
//! are stored with their files, the console shows them, and the bot, which cannot see
//! pictures, says so and offers a person, through the provider the picture came by.

use std::time::Duration;

use serde_json::json;

use crate::console::sign_in;
use crate::fake_telnyx::{FakeTelnyx, TELNYX_NUMBER};
use crate::fakes::PICTURE_PNG;
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

/// The Twilio form of an inbound MMS with one picture at `url`.
fn mms_params(body: &str, url: &str) -> Vec<(String, String)> {
    let mut params = inbound_params(CUSTOMER, body, &new_sid());
    params.retain(|(k, _)| k != "NumMedia");
    params.extend([
        ("NumMedia".to_string(), "1".to_string()),
        ("MediaUrl0".to_string(), url.to_string()),
        ("MediaContentType0".to_string(), "image/png".to_string()),
    ]);
    params
}

/// With `llm.accepts_images`, the picture goes to the model as an `image_url` part (a `data:`
/// URL, fetched from Twilio with the account's credentials) and the model's answer goes out.
/// A picture over `llm.max_image_bytes` is answered as if the model could not see it, and
/// the model is not asked.
async fn a_picture_goes_to_a_model_that_accepts_images(backend: Backend) {
    let configure = |c: &mut backtalk::config::Config| {
        c.llm.accepts_images = true;
        c.llm.max_image_bytes = 1000;
    };
    let app = spawn_app(backend, TestOptions { llm: true, configure: Some(configure), ..TestOptions::default() }).await;
    let media =
        |name: &str| format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM1/Media/{name}", app.twilio.base_url());
    let llm = app.llm.as_ref().unwrap();

    let params = mms_params("is this the blouse you sell?", &media("ME1"));
    let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &app.config.inbound_webhook_url(), &params);
    assert_eq!(app.post_form("/webhooks/twilio", &params, Some(&sig)).await.0, 200);
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_ne!(sent[0].body, app.config.brand.cannot_see_pictures, "the model answered");
    let requests = llm.requests();
    let content = &requests.last().expect("the model was asked")["messages"][1]["content"];
    let parts = content.as_array().unwrap_or_else(|| panic!("content parts: {content}"));
    assert_eq!(parts[0]["type"], "text");
    assert!(parts[0]["text"].as_str().unwrap().contains("is this the blouse you sell?"));
    use base64::Engine as _;
    let expected = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(PICTURE_PNG));
    assert_eq!(parts[1], json!({"type": "image_url", "image_url": {"url": expected}}));

    let asked = llm.requests().len();
    let params = mms_params("and this one?", &media("ME_BIG"));
    let sig = backtalk::sms::signature::compute_signature(AUTH_TOKEN, &app.config.inbound_webhook_url(), &params);
    assert_eq!(app.post_form("/webhooks/twilio", &params, Some(&sig)).await.0, 200);
    let sent = app.twilio.wait_for_sent(2, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_eq!(sent[1].body, app.config.brand.cannot_see_pictures);
    assert_eq!(llm.requests().len(), asked, "a picture over the limit is not sent to the model");
}
on_both_backends!(a_picture_goes_to_a_model_that_accepts_images);

async fn set_image(app: &TestApp, sku: &str, url: &str) {
    let updated =
        backtalk::store::with_db!(&app.db, |p| sqlx::query("update products set image_url = $1 where sku = $2")
            .bind(url)
            .bind(sku)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))
        .unwrap();
    assert_eq!(updated, 1, "{sku} is in the demo catalog");
}

/// (billed_as, billed_units, media_url, media_note) of the newest outbox row to `phone`.
async fn billing(app: &TestApp, phone: &str) -> (String, i64, Option<String>, Option<String>) {
    backtalk::store::with_db!(&app.db, |p| sqlx::query_as::<_, (String, i64, Option<String>, Option<String>)>(
        "select billed_as, billed_units, media_url, media_note from outbox where to_phone = $1 order by id desc limit 1"
    )
    .bind(phone)
    .fetch_one(p)
    .await)
    .unwrap()
}

const SANDALS: &str = "ZO0002500025"; // T-bar sandals - mint, one of a kind in the demo catalog

/// A customer asks to see a product: the reply carries its picture as MMS, through Twilio
/// (`MediaUrl`) and through Telnyx (`media_urls`, type MMS), billed as one MMS. A picture over
/// the provider's limit (Telnyx: 1 MB), a number outside the US and Canada, or a text that
/// does not ask, gets the words alone, billed by segments, with the reason kept.
async fn a_product_picture_goes_out_as_mms_through_each_provider(backend: Backend) {
    let app = spawn_app(backend, TestOptions { telnyx: true, ..TestOptions::default() }).await;
    let cdn = crate::fake_cdn::FakeCdn::start().await;
    let small = cdn.put("pumps.jpg", "image/jpeg", 180_000);
    set_image(&app, SANDALS, &small).await;

    app.post_inbound(CUSTOMER, "can you send me a pic of the mint t-bar sandals?", &new_sid()).await;
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    let media: Vec<&str> = sent[0].form.iter().filter(|(k, _)| k == "MediaUrl").map(|(_, v)| v.as_str()).collect();
    assert_eq!(media, [small.as_str()], "the picture goes with the reply: {:?}", sent[0]);
    assert!(sent[0].body.contains("T-bar sandals"), "{}", sent[0].body);
    assert_eq!(billing(&app, CUSTOMER).await, ("mms".into(), 1, Some(small.clone()), None));
    assert_eq!(count(&app.db, "message_media where content_type = 'image/jpeg' and size_bytes = 180000").await, 1);

    // The same question with no request to see: words alone.
    app.post_inbound(CUSTOMER, "how much are the mint t-bar sandals?", &new_sid()).await;
    let sent = app.twilio.wait_for_sent(2, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert!(sent[1].form.iter().all(|(k, _)| k != "MediaUrl"));
    assert_eq!(billing(&app, CUSTOMER).await.0, "sms");

    // Telnyx: the picture as media_urls; then one over Telnyx's 1 MB goes as words alone.
    let telnyx = app.telnyx.as_ref().unwrap();
    let text_via_telnyx = |from: &'static str, text: &'static str, id: &'static str| {
        let event = json!({"data": {"record_type": "event", "id": format!("ev-{id}"), "event_type": "message.received",
            "payload": {"record_type": "message", "direction": "inbound", "id": id, "type": "SMS",
                "from": {"phone_number": from}, "to": [{"phone_number": TELNYX_NUMBER}], "text": text}}});
        let body = event.to_string();
        let at = chrono::Utc::now().timestamp();
        app.http
            .post(format!("{}/webhooks/telnyx", app.base_url))
            .header("telnyx-timestamp", at.to_string())
            .header("telnyx-signature-ed25519", FakeTelnyx::sign(at, &body))
            .body(body)
            .send()
    };
    const OTHER: &str = "+14155550177";
    assert_eq!(text_via_telnyx(OTHER, "got a photo of the mint t-bar sandals?", "msg-p1").await.unwrap().status(), 200);
    let sent = telnyx.wait_for_sent(1, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert_eq!((sent[0].media_urls.clone(), sent[0].kind.as_deref()), (vec![small.clone()], Some("MMS")));
    let big = cdn.put("pumps-big.jpg", "image/jpeg", 1_500_000);
    set_image(&app, SANDALS, &big).await;
    assert_eq!(text_via_telnyx(OTHER, "show me the mint t-bar sandals again", "msg-p2").await.unwrap().status(), 200);
    let sent = telnyx.wait_for_sent(2, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert!(sent[1].media_urls.is_empty() && sent[1].kind.is_none(), "{:?}", sent[1]);
    let (billed_as, units, url, note) = billing(&app, OTHER).await;
    assert_eq!((billed_as.as_str(), units, url), ("sms", 1, None));
    assert!(note.unwrap().contains("over 1000000 bytes"));

    // Through Twilio (5 MB) the same picture goes; to a number in the UK it does not.
    const UK: &str = "+447700900123";
    app.post_inbound(UK, "can you send me a pic of the mint t-bar sandals?", &new_sid()).await;
    let sent = app.twilio.wait_for_sent(3, Duration::from_secs(20)).await;
    app.wait_idle().await;
    assert!(sent[2].form.iter().all(|(k, _)| k != "MediaUrl"), "{:?}", sent[2]);
    assert!(billing(&app, UK).await.3.unwrap().contains("US and Canadian"));
}
on_both_backends!(a_product_picture_goes_out_as_mms_through_each_provider);
