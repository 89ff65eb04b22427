//! Tracked links over HTTP on both databases (issue 19, item 2): a link on the brand's
//! allowed hosts reaches the provider as `{public_url}/l/{code}` (others as written); the
//! short link redirects to the target and records the click; preview fetchers (Apple
//! Messages' fetch, a HEAD check) are recorded apart; an unknown code is a 404 that says
//! nothing.

use std::sync::Arc;
use std::time::Duration;

use backtalk::clock::FixedClock;
use chrono::{TimeZone, Utc};

use crate::helpers::*;
use crate::on_both_backends;

fn shop_links(config: &mut backtalk::config::Config) {
    config.brand.link_hosts = "shop.example".into();
}

/// An iPhone's browser following a tap, and Apple Messages' own preview fetch.
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const MESSAGES_PREVIEW: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0";

async fn a_tracked_link_redirects_and_counts_people_not_previews(backend: Backend) {
    // 15:00 UTC: inside Florida's window.
    let day = Utc::now().date_naive().and_hms_opt(15, 0, 0).unwrap();
    let clock = Arc::new(FixedClock::at(Utc.from_utc_datetime(&day)));
    let options = TestOptions { clock: Some(clock), configure: Some(shop_links), ..TestOptions::default() };
    let app = spawn_app(backend, options).await;
    let body = "Your cart: https://shop.example/cart/abc?x=1. Sizes: https://elsewhere.example/sizes";
    let r = app
        .http
        .post(format!("{}/api/v1/messages", app.base_url))
        .bearer_auth(API_TOKEN)
        .json(&serde_json::json!({"to": "+13055550100", "body": body, "subject": "cart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let outbox_id = r.json::<serde_json::Value>().await.unwrap()["outbox_id"].as_i64().unwrap();
    let sent = app.twilio.wait_for_sent(1, Duration::from_secs(10)).await;
    let prefix = format!("Your cart: {}/l/", app.base_url);
    assert!(sent[0].body.starts_with(&prefix), "{}", sent[0].body);
    assert!(sent[0].body.ends_with(". Sizes: https://elsewhere.example/sizes"), "another host is left as written");
    let code = &sent[0].body[prefix.len()..prefix.len() + 10];

    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let link = format!("{}/l/{code}", app.base_url);
    let tap = no_redirects.get(&link).header("user-agent", IPHONE).send().await.unwrap();
    assert_eq!(tap.status().as_u16(), 302);
    assert_eq!(tap.headers()["location"], "https://shop.example/cart/abc?x=1");
    let preview = no_redirects.get(&link).header("user-agent", MESSAGES_PREVIEW).send().await.unwrap();
    assert_eq!(preview.status().as_u16(), 302, "a preview still gets the page");
    let check = no_redirects.head(&link).header("user-agent", IPHONE).send().await.unwrap();
    assert_eq!(check.status().as_u16(), 302);
    let clicks = backtalk::store::links::clicks_for(&app.db, outbox_id).await.unwrap();
    assert_eq!(clicks, (1, 2), "one person, two previews");

    for unknown in ["ZZZZZZZZZZ", "short", "..%2F..%2Fetc"] {
        let r = no_redirects.get(format!("{}/l/{unknown}", app.base_url)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 404, "{unknown}");
        assert_eq!(r.text().await.unwrap(), "Not found.\n");
    }
    // The conversation shows the text as it went.
    let stored = backtalk::store::with_db!(&app.db, |p| sqlx::query_scalar::<_, String>(
        "select body from messages where direction = 'out' order by id desc limit 1"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(stored, sent[0].body);
}
on_both_backends!(a_tracked_link_redirects_and_counts_people_not_previews);
