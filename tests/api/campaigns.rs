//! Campaigns end to end over HTTP, on both databases (docs/campaigns.md): a segment defined
//! and counted through the API, a dry run, a campaign created, its texts reaching the fake
//! Twilio no faster than its rate, a "SHOP" reply answered from its menu, progress, and
//! pause, resume and cancel. The expected members come from the demo store's file, not from
//! the product's query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backtalk::clock::FixedClock;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use crate::helpers::{API_TOKEN, Backend, TestApp, TestOptions, new_sid, spawn_app};
use crate::on_both_backends;
use backtalk::store::with_db;

/// Tuesday 2026-12-08 13:00 in Miami: inside every window.
fn weekday_afternoon() -> Arc<FixedClock> {
    Arc::new(FixedClock::at(Utc.with_ymd_and_hms(2026, 12, 8, 18, 0, 0).unwrap()))
}

/// The demo store's opted-in customers with a 305 number, from its file.
fn miami_opted_in() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/store/customers.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|c| c["phone"].as_str().unwrap().starts_with("+1305") && c["consent"] == "opted_in")
        .map(|c| c["phone"].as_str().unwrap().to_string())
        .collect()
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.http.request(method, format!("{}{path}", app.base_url)).bearer_auth(API_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const TEXT: &str =
    "Hi {{ customer.first_name }}, new season trainers are in. Reply SHOP to see bestsellers. Reply STOP to opt out.";

async fn a_campaign_goes_to_its_segment_at_its_rate_and_answers_shop(backend: Backend) {
    let app = spawn_app(backend, TestOptions { clock: Some(weekday_afternoon()), ..Default::default() }).await;
    let members = miami_opted_in();
    assert!(members.len() >= 5, "the demo store has Miami customers");
    let put = reqwest::Method::PUT;
    let (status, segment) =
        call(&app, put.clone(), "/api/v1/segments/miami", Some(json!({"consent": "opted_in", "area_codes": ["305"]})))
            .await;
    assert_eq!(status, 200, "{segment}");
    assert_eq!(segment["count"], members.len(), "{segment}");
    // A bad condition is a 400 naming it.
    let (status, error) = call(&app, put, "/api/v1/segments/bad", Some(json!({"replied_within": "soon"}))).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("replied_within")), "{error}");

    let campaign = json!({"name": "trainers", "segment": "miami", "text": TEXT, "rate": 2,
        "replies": [{"match": "SHOP", "text": "Our bestsellers this week: Trainers - brown, Ballet pumps - black."}]});
    let post = reqwest::Method::POST;
    let (status, dry) = call(&app, post.clone(), "/api/v1/campaigns/dry-run", Some(campaign.clone())).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (dry["members"].as_u64(), dry["planned"].as_u64()),
        (Some(members.len() as u64), Some(members.len() as u64)),
        "{dry}"
    );
    assert_eq!(dry["total_segments"], members.len(), "each text is one segment: {dry}");
    assert_eq!(dry["drain_seconds"].as_f64(), Some(members.len() as f64 / 2.0), "{dry}");
    // The dry run sent and saved nothing.
    let (_, list) = call(&app, reqwest::Method::GET, "/api/v1/campaigns", None).await;
    assert_eq!(list["campaigns"].as_array().map(Vec::len), Some(0), "{list}");
    assert!(app.twilio.sent().is_empty());
    // Refusals name their field.
    for (bad, field) in [
        (json!({"name": "x", "segment": "miami", "compose": "sell trainers", "text": "hi"}), "compose"),
        (json!({"name": "x", "segment": "nowhere", "text": "hi"}), "segment"),
        (json!({"name": "x", "segment": "miami", "text": "hi", "send_at": "tomorrow"}), "send_at"),
    ] {
        let (status, error) = call(&app, post.clone(), "/api/v1/campaigns", Some(bad)).await;
        assert_eq!((status, error["field"].as_str()), (400, Some(field)), "{error}");
    }

    let started = Instant::now();
    let (status, created) = call(&app, post.clone(), "/api/v1/campaigns", Some(campaign.clone())).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, _) = call(&app, post.clone(), "/api/v1/campaigns", Some(campaign)).await;
    assert_eq!(status, 409, "a name is used once");
    let sent = app.twilio.wait_for_sent(members.len(), Duration::from_secs(30)).await;
    assert_eq!(sent.len(), members.len());
    let mut to: Vec<String> = sent.iter().map(|s| s.to.clone()).collect();
    to.sort();
    let mut want = members.clone();
    want.sort();
    assert_eq!(to, want, "every member once, nobody else");
    // At 2 per second (one second of burst at most), n texts take at least (n - 2) / 2 s.
    let span = sent.last().unwrap().received - sent.first().unwrap().received;
    let floor = Duration::from_secs_f64((members.len() - 2) as f64 / 2.0 * 0.95);
    assert!(span >= floor, "{} texts in {span:?}, faster than 2 a second", sent.len());
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(sent[0].body.starts_with("Hi "), "{}", sent[0].body);

    // A reply from the campaign's menu is answered from it.
    app.post_inbound(&members[0], "shop", &new_sid()).await;
    let after = app.twilio.wait_for_sent(members.len() + 1, Duration::from_secs(20)).await;
    assert_eq!(after.last().unwrap().to, members[0]);
    assert!(after.last().unwrap().body.starts_with("Our bestsellers this week"), "{}", after.last().unwrap().body);
    app.wait_idle().await;

    // The dispatcher marks it done at its next look, once nothing is left planned.
    let deadline = Instant::now() + Duration::from_secs(10);
    let progress = loop {
        let (status, progress) = call(&app, reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), None).await;
        assert_eq!(status, 200);
        if progress["status"] == "done" || Instant::now() > deadline {
            break progress;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(progress["status"], "done", "{progress}");
    assert_eq!(progress["progress"]["recipients"]["queued"], members.len(), "{progress}");
    assert_eq!(progress["progress"]["texts"]["sent"], members.len(), "{progress}");
    assert_eq!(progress["progress"]["replied"], 1, "{progress}");
}
on_both_backends!(a_campaign_goes_to_its_segment_at_its_rate_and_answers_shop);

async fn pause_holds_the_texts_resume_continues_cancel_ends(backend: Backend) {
    let app = spawn_app(backend, TestOptions { clock: Some(weekday_afternoon()), ..Default::default() }).await;
    let members = miami_opted_in();
    let (status, _) = call(
        &app,
        reqwest::Method::PUT,
        "/api/v1/segments/miami",
        Some(json!({"consent": "opted_in", "area_codes": ["305"]})),
    )
    .await;
    assert_eq!(status, 200);
    let post = reqwest::Method::POST;
    let (status, created) = call(
        &app,
        post.clone(),
        "/api/v1/campaigns",
        Some(json!({"name": "slow", "segment": "miami", "text": "Hello from the shop. Reply STOP to opt out.", "rate": 1})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    assert_eq!(app.twilio.wait_for_sent(1, Duration::from_secs(10)).await.len(), 1, "the first text goes at once");
    let (status, paused) = call(&app, post.clone(), &format!("/api/v1/campaigns/{id}/pause"), None).await;
    assert_eq!((status, paused["status"].as_str()), (200, Some("paused")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_pause = app.twilio.sent().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.twilio.sent().len(), at_pause, "nothing goes while paused");
    let (status, _) = call(&app, post.clone(), &format!("/api/v1/campaigns/{id}/pause"), None).await;
    assert_eq!(status, 409, "a paused campaign cannot be paused");
    let (status, _) = call(&app, post.clone(), &format!("/api/v1/campaigns/{id}/resume"), None).await;
    assert_eq!(status, 200);
    let resumed = app.twilio.wait_for_sent(at_pause + 1, Duration::from_secs(10)).await.len();
    assert!(resumed > at_pause, "resume sends again");
    let (status, _) = call(&app, post.clone(), &format!("/api/v1/campaigns/{id}/cancel"), None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let at_cancel = app.twilio.sent().len();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(app.twilio.sent().len(), at_cancel, "nothing goes after cancel");
    assert!(
        at_cancel > at_pause && at_cancel < members.len(),
        "the cancel stopped texts: {at_cancel} of {}",
        members.len()
    );
    let (_, progress) = call(&app, reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), None).await;
    assert_eq!(progress["status"], "cancelled");
    assert_eq!(progress["progress"]["recipients"]["cancelled"], members.len() - at_cancel, "{progress}");
    let (status, _) = call(&app, post, &format!("/api/v1/campaigns/{id}/resume"), None).await;
    assert_eq!(status, 409, "a cancelled campaign stays cancelled");
}
on_both_backends!(pause_holds_the_texts_resume_continues_cancel_ends);

/// A text whose window closes before it is handed over waits, planned, for the opening
/// (at the campaign's rate then), instead of being handed to the sender to pile up there.
async fn a_text_whose_window_closed_waits_planned_for_the_opening(backend: Backend) {
    // Tuesday 2026-12-08 20:58 in New York: inside the federal 8 am-9 pm window.
    let clock = Arc::new(FixedClock::at(Utc.with_ymd_and_hms(2026, 12, 9, 1, 58, 0).unwrap()));
    let app = spawn_app(backend, TestOptions { clock: Some(clock.clone()), ..Default::default() }).await;
    let (status, _) = call(
        &app,
        reqwest::Method::PUT,
        "/api/v1/segments/nyc",
        Some(json!({"consent": "opted_in", "area_codes": ["212"]})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, created) = call(
        &app,
        reqwest::Method::POST,
        "/api/v1/campaigns",
        Some(json!({"name": "late", "segment": "nyc", "text": "Evening offer. Reply STOP to opt out.", "rate": 1})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let planned = created["plan"]["planned"].as_i64().unwrap();
    assert!(planned >= 3, "{created}");
    assert_eq!(app.twilio.wait_for_sent(1, Duration::from_secs(10)).await.len(), 1, "the first goes at once");
    // 21:30 in New York: the window has closed.
    clock.set(Utc.with_ymd_and_hms(2026, 12, 9, 2, 30, 0).unwrap());
    tokio::time::sleep(Duration::from_millis(3500)).await;
    app.wait_idle().await;
    let sent = app.twilio.sent().len();
    assert!(sent <= 2, "at most the one in flight when the clock moved: {sent}");
    let opening = Utc.with_ymd_and_hms(2026, 12, 9, 13, 0, 0).unwrap().timestamp_millis();
    let waiting: Vec<(String, Option<i64>)> = with_db!(&app.db, |p| sqlx::query_as::<_, (String, Option<i64>)>(
        "select status, send_at_ms from campaign_recipients where status = 'planned' order by id"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(waiting.len() as i64, planned - sent as i64, "{waiting:?}");
    let postponed = waiting.iter().filter(|(_, at)| *at == Some(opening)).count();
    assert!(postponed >= 1, "the dispatcher moved the next ones to 8:00 in New York: {waiting:?}");
}
on_both_backends!(a_text_whose_window_closed_waits_planned_for_the_opening);

/// Waits until campaign `id` is done (or 20 s pass) and returns its progress.
async fn progress_when_done(app: &TestApp, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, progress) = call(app, reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), None).await;
        assert_eq!(status, 200);
        if progress["status"] == "done" || Instant::now() > deadline {
            return progress;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A campaign with a compose goal: each recipient's text is written when it is handed over
/// (here by the offline responder), under the reply guard; a goal nothing in the store
/// answers sends nothing, each recipient skipped with the reason.
async fn a_compose_campaign_writes_each_text_under_the_guard(backend: Backend) {
    let app = spawn_app(backend, TestOptions { clock: Some(weekday_afternoon()), ..Default::default() }).await;
    let members = miami_opted_in();
    let segment = json!({"consent": "opted_in", "area_codes": ["305"]});
    let (status, _) = call(&app, reqwest::Method::PUT, "/api/v1/segments/miami", Some(segment)).await;
    assert_eq!(status, 200);
    let post = reqwest::Method::POST;
    let returns = json!({"name": "returns", "segment": "miami", "class": "transactional", "rate": 20,
                         "compose": "Tell them how returns work."});
    let (status, dry) = call(&app, post.clone(), "/api/v1/campaigns/dry-run", Some(returns.clone())).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["total_segments"], members.len(), "a composed text is estimated at one segment: {dry}");
    let (status, created) = call(&app, post.clone(), "/api/v1/campaigns", Some(returns)).await;
    assert_eq!(status, 201, "{created}");
    let sent = app.twilio.wait_for_sent(members.len(), Duration::from_secs(20)).await;
    assert_eq!(sent.len(), members.len(), "{sent:?}");
    for text in &sent {
        assert!(text.body.contains("Hi ") && text.body.contains("within 30 days"), "{}", text.body);
    }
    let progress = progress_when_done(&app, created["id"].as_i64().unwrap()).await;
    assert_eq!(progress["progress"]["recipients"]["queued"], members.len(), "{progress}");

    let insurance = json!({"name": "insurance", "segment": "miami", "class": "transactional", "rate": 20,
                           "compose": "Offer them car insurance quotes."});
    let (status, created) = call(&app, post, "/api/v1/campaigns", Some(insurance)).await;
    assert_eq!(status, 201, "{created}");
    let progress = progress_when_done(&app, created["id"].as_i64().unwrap()).await;
    assert_eq!(progress["status"], "done", "{progress}");
    assert_eq!(progress["progress"]["recipients"]["skipped"], members.len(), "{progress}");
    let reasons = progress["progress"]["skipped"].to_string();
    assert!(reasons.contains("compose: confidence"), "{progress}");
    assert_eq!(app.twilio.sent().len(), members.len(), "nothing more was sent");

    // An A/B test between a composed arm and a written one: each number's arm by the hash.
    let ab = json!({"name": "returns_ab", "segment": "miami", "class": "transactional", "rate": 20,
                    "variants": [{"name": "written", "compose": "Tell them how returns work."},
                                 {"name": "plain", "text": "Returns are free within 30 days."}],
                    "test": {"metric": "reply_rate"}});
    let (status, created) = call(&app, reqwest::Method::POST, "/api/v1/campaigns", Some(ab)).await;
    assert_eq!(status, 201, "{created}");
    let sent = app.twilio.wait_for_sent(2 * members.len(), Duration::from_secs(20)).await;
    for text in &sent[members.len()..] {
        match backtalk::domain::ab::assign("campaign:returns_ab", &text.to, &[1, 1]) {
            0 => {
                assert!(text.body.contains("Hi ") && text.body.contains("within 30 days of delivery"), "{}", text.body)
            }
            _ => assert_eq!(text.body, "Returns are free within 30 days."),
        }
    }
}
on_both_backends!(a_compose_campaign_writes_each_text_under_the_guard);

/// A long code shared by two campaigns: together they send at the number's rate
/// (`campaigns.rate`), not at the sum of theirs; a campaign asking more than the number sends
/// is refused.
async fn campaigns_on_one_number_share_its_rate(backend: Backend) {
    fn four_a_second(config: &mut backtalk::config::Config) {
        config.campaigns.rate = 4.0;
    }
    let options =
        TestOptions { clock: Some(weekday_afternoon()), configure: Some(four_a_second), ..Default::default() };
    let app = spawn_app(backend, options).await;
    let members = miami_opted_in();
    let segment = json!({"consent": "opted_in", "area_codes": ["305"]});
    let (status, _) = call(&app, reqwest::Method::PUT, "/api/v1/segments/miami", Some(segment)).await;
    assert_eq!(status, 200);
    let post = reqwest::Method::POST;
    let campaign = |name: &str, rate: f64| {
        json!({"name": name, "segment": "miami", "class": "transactional", "rate": rate,
               "text": "Store notice: new opening hours from Monday. Reply STOP to opt out."})
    };
    let (status, error) = call(&app, post.clone(), "/api/v1/campaigns", Some(campaign("fast", 5.0))).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("rate")), "{error}");
    for name in ["first", "second"] {
        let (status, created) = call(&app, post.clone(), "/api/v1/campaigns", Some(campaign(name, 4.0))).await;
        assert_eq!(status, 201, "{created}");
    }
    let total = 2 * members.len();
    let sent = app.twilio.wait_for_sent(total, Duration::from_secs(30)).await;
    assert_eq!(sent.len(), total);
    let span = sent.last().unwrap().received - sent.first().unwrap().received;
    // Both buckets start with at most a second of sends plus one banked: leave those out.
    let floor = Duration::from_secs_f64((total - 6) as f64 / 4.0 * 0.95);
    assert!(span >= floor, "{total} texts in {span:?}: faster than the number's 4 a second");
}
on_both_backends!(campaigns_on_one_number_share_its_rate);

/// A test pool: a share of the recipients gets the arms at once; the rest wait
/// `decide_after`, then get the winner if one was called (here, below 500 recipients per arm,
/// only the end date calls one: the leader), else their own arm.
async fn a_test_pool_goes_first_and_the_rest_get_the_winner_or_their_arm(backend: Backend) {
    let clock = weekday_afternoon();
    let app = spawn_app(backend, TestOptions { clock: Some(clock.clone()), ..Default::default() }).await;
    let members = miami_opted_in();
    let segment = json!({"consent": "opted_in", "area_codes": ["305"]});
    let (status, _) = call(&app, reqwest::Method::PUT, "/api/v1/segments/miami", Some(segment)).await;
    assert_eq!(status, 200);
    let campaign = |name: &str, ends: Option<&str>| {
        json!({"name": name, "segment": "miami", "class": "transactional", "rate": 100,
               "variants": [{"name": "a", "text": format!("{name}: text A")}, {"name": "b", "text": format!("{name}: text B")}],
               "test": {"metric": "reply_rate", "pool": 0.5, "decide_after": "2s", "ends": ends}})
    };
    let pool = backtalk::flows::campaign::Pool { share: 0.5, decide_after: chrono::Duration::seconds(2) };
    let in_pool = |name: &str| -> Vec<String> {
        members.iter().filter(|m| pool.includes(&format!("campaign:{name}"), m)).cloned().collect()
    };
    let post = reqwest::Method::POST;
    // No winner can be called (below 500 per arm, no end date): the rest get their own arms.
    let (status, created) = call(&app, post.clone(), "/api/v1/campaigns", Some(campaign("split", None))).await;
    assert_eq!(status, 201, "{created}");
    let first = in_pool("split");
    assert!(!first.is_empty() && first.len() < members.len(), "a share of the members: {first:?}");
    app.twilio.wait_for_sent(first.len(), Duration::from_secs(20)).await;
    // The rest wait for the test: nothing more while the clock stands still.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let pool_texts = app.twilio.sent();
    let mut pool_to: Vec<&str> = pool_texts.iter().map(|s| s.to.as_str()).collect();
    pool_to.sort();
    let mut want: Vec<&str> = first.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(pool_to, want, "the pool goes first, the rest wait");
    let later = |seconds: i64| {
        clock.set(Utc.with_ymd_and_hms(2026, 12, 8, 18, 0, 0).unwrap() + chrono::Duration::seconds(seconds))
    };
    later(3);
    let sent = app.twilio.wait_for_sent(members.len(), Duration::from_secs(20)).await;
    assert_eq!(sent.len(), members.len());
    let rest_texts = &sent[first.len()..];
    let arms: std::collections::BTreeSet<&str> = rest_texts.iter().map(|s| s.body.as_str()).collect();
    assert!(backtalk::store::ab::winner(&app.db, "campaign:split").await.unwrap().is_none());
    let unplanned = with_db!(&app.db, |p| sqlx::query_scalar::<_, i64>(
        "select count(*) from campaign_recipients where arm is null"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(unplanned, 0, "every recipient has the arm it got");
    assert!(!arms.is_empty());

    // With its end date passed, the leader is called for the rest: one text for all of them.
    let (status, created) =
        call(&app, post, "/api/v1/campaigns", Some(campaign("ended", Some("2026-12-01T00:00:00Z")))).await;
    assert_eq!(status, 201, "{created}");
    let total = 2 * members.len();
    app.twilio.wait_for_sent(members.len() + in_pool("ended").len(), Duration::from_secs(20)).await;
    later(6);
    let sent = app.twilio.wait_for_sent(total, Duration::from_secs(20)).await;
    assert_eq!(sent.len(), total);
    let rest: Vec<&str> = sent[members.len() + in_pool("ended").len()..].iter().map(|s| s.body.as_str()).collect();
    let winner = backtalk::store::ab::winner(&app.db, "campaign:ended").await.unwrap().expect("a winner");
    assert_eq!(winner.1, "end date");
    let winning_text = format!("ended: text {}", winner.0.to_uppercase());
    assert!(rest.iter().all(|b| *b == winning_text), "{rest:?} vs {winning_text}");
}
on_both_backends!(a_test_pool_goes_first_and_the_rest_get_the_winner_or_their_arm);
