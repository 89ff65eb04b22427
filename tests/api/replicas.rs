//! Several replicas on one PostgreSQL (issue 21, ../shared/ARCHITECTURE.md "Storage"): three
//! `serve` processes share the database and the queue; a burst of 1,000 signed texts is spread
//! over them and one is killed with -9 midway. Twilio retries what a dead replica did not
//! acknowledge (here: sent to a live one). Every text gets exactly one outcome and no number is
//! texted twice. The same for flow timers and a campaign's sends: one replica killed while
//! they are due, each customer texted once. PostgreSQL only: the scale-out topology (SQLite is
//! one process's file).

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::crash::{every_text_has_one_outcome, post, start_server_with};
use crate::fakes::FakeTwilio;
use crate::helpers::*;

const TEXTS: usize = 1000;

fn number(i: usize) -> String {
    let area = ["202", "303", "312", "415", "503"][i / 200];
    format!("+1{area}5550{:03}", i % 200)
}

/// Three `serve` processes on one fresh PostgreSQL database, sending through one fake Twilio.
struct Replicas {
    database_url: String,
    twilio: FakeTwilio,
    http: reqwest::Client,
    /// Each process and its base URL.
    replicas: Vec<(tokio::process::Child, String)>,
}

impl Replicas {
    /// Starts them one after another: the first loads the demo store, the others find it and
    /// build their own search index from the database.
    async fn start(dir: &std::path::Path, env: &[(&str, String)]) -> Replicas {
        let database_url = fresh_database_url(Backend::Postgres, dir).await;
        let twilio = FakeTwilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let mut replicas = Vec::new();
        for n in 0..3 {
            let data = dir.join(format!("replica-{n}"));
            std::fs::create_dir_all(&data).unwrap();
            replicas.push(start_server_with(&data, &database_url, &twilio, env).await);
        }
        Replicas { database_url, twilio, http, replicas }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_killed_midway_give_every_text_exactly_one_outcome() {
    if postgres_admin_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Replicas { database_url, twilio, http, mut replicas } = Replicas::start(dir.path(), &[]).await;
    let bases: Vec<String> = replicas.iter().map(|(_, base)| base.clone()).collect();
    let sids: Vec<String> = (0..TEXTS).map(|_| new_sid()).collect();

    // Round robin, 1 ms apart; once 400 are acknowledged, replica 0 gets SIGKILL.
    let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, sid) in sids.iter().enumerate() {
        let (http, base, sid, acks) = (http.clone(), bases[i % 3].clone(), sid.clone(), acks.clone());
        tasks.spawn(async move {
            tokio::time::sleep(Duration::from_millis(i as u64)).await;
            let ok = post(&http, &base, &number(i), &sid).await;
            if ok {
                acks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            (i, ok)
        });
    }
    wait_for("400 acknowledged texts", Duration::from_secs(60), || {
        let acks = acks.clone();
        async move { acks.load(std::sync::atomic::Ordering::SeqCst) >= 400 }
    })
    .await;
    let (mut killed, _) = replicas.remove(0);
    killed.start_kill().expect("kill -9");
    killed.wait().await.unwrap();
    let mut acked = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        let (i, ok) = r.unwrap();
        if ok {
            acked.insert(i);
        }
    }
    assert!(acked.len() < TEXTS, "the kill landed mid-burst ({} acked)", acked.len());
    // Twilio retries what was not acknowledged; the load balancer sends it to a live replica.
    for (i, sid) in sids.iter().enumerate().filter(|(i, _)| !acked.contains(i)) {
        assert!(post(&http, &replicas[i % 2].1, &number(i), sid).await, "a live replica acks {i}");
    }

    let db = backtalk::store::Db::connect(&database_url).await.unwrap();
    let numbers: Vec<String> = (0..TEXTS).map(number).collect();
    let (delivered, unknown) = every_text_has_one_outcome(&db, &twilio, &numbers, Duration::from_secs(120)).await;
    drop(replicas);
    println!("{} acknowledged before the kill; {delivered} sent, {unknown} unknown", acked.len());
}

/// A flow whose timer is due a few seconds after its event, so it falls due while a replica
/// is being killed.
const TIMER_FLOW: &str = r#"
name = "replica_timer"
description = "One text 3 s after the event (the replica test)."
class = "transactional"
trigger = { event = "Replica Timer" }
[[steps]]
wait = "3s"
[[steps]]
send = "Your order is on its way."
"#;

/// An IANA zone where it is early afternoon now, so quiet hours (docs/compliance.md) let
/// every text go at once whenever the suite runs: `Etc/GMT+5` is UTC-5.
fn afternoon_zone() -> String {
    let offset = chrono::Timelike::hour(&chrono::Utc::now()) as i32 - 13;
    if offset >= 0 { format!("Etc/GMT+{offset}") } else { format!("Etc/GMT-{}", -offset) }
}

/// The demo store's customers in these area codes (all opted in).
fn demo_customers(areas: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/store/customers.jsonl")).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["phone"].as_str().unwrap().to_string())
        .filter(|p| areas.contains(&&p[2..5]))
        .collect()
}

async fn api(http: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let response =
        http.request(method, format!("{base}{path}")).bearer_auth(API_TOKEN).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_killed_share_flow_timers_and_campaign_sends() {
    if postgres_admin_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir_all(&flows).unwrap();
    std::fs::write(flows.join("replica_timer.toml"), TIMER_FLOW).unwrap();
    // The campaign's pace may be 10 texts a second (a toll-free number's or a short code's).
    let env = [("BACKTALK_FLOWS_DIR", flows.display().to_string()), ("BACKTALK_CAMPAIGNS_RATE", "10".to_string())];
    let Replicas { database_url, twilio, http, mut replicas } = Replicas::start(dir.path(), &env).await;
    let bases: Vec<String> = replicas.iter().map(|(_, base)| base.clone()).collect();
    let db = backtalk::store::Db::connect(&database_url).await.unwrap();
    backtalk::store::with_db!(&db, |p| sqlx::query("update customers set timezone = $1")
        .bind(afternoon_zone())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
    .unwrap();

    // Flow runs for one half of the demo store's customers, their events spread over the
    // replicas; a campaign to the other half, created on replica 1, at 10 texts a second.
    let timed = demo_customers(&["415", "212", "512"]);
    let campaigned = demo_customers(&["305", "312", "206"]);
    let post = reqwest::Method::POST;
    for (i, phone) in timed.iter().enumerate() {
        let event = json!({"id": format!("timer-{i}"), "event": "Replica Timer", "phone": phone, "properties": {}});
        let (status, body) = api(&http, &bases[i % 3], post.clone(), "/api/v1/events", event).await;
        assert!(status == 200 || status == 202, "{status}: {body}");
    }
    let segment = json!({"consent": "opted_in", "area_codes": ["305", "312", "206"]});
    let (status, body) = api(&http, &bases[1], reqwest::Method::PUT, "/api/v1/segments/replicas", segment).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], campaigned.len(), "{body}");
    let campaign = json!({"name": "replicas", "segment": "replicas", "rate": 10,
        "text": "Hi, new season trainers are in. Reply STOP to opt out."});
    let (status, created) = api(&http, &bases[1], post, "/api/v1/campaigns", campaign).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();

    // Midway through the campaign and before the timers are due: replica 0 gets SIGKILL.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut killed, _) = replicas.remove(0);
    killed.start_kill().expect("kill -9");
    killed.wait().await.unwrap();
    let before_kill = twilio.sent().len();

    let expected = timed.len() + campaigned.len();
    wait_for("every timer and campaign text to go", Duration::from_secs(90), || {
        let db = db.clone();
        async move {
            let settled = count(&db, "outbox where status in ('sent', 'unknown')").await;
            let waiting = count(&db, "flow_runs where status = 'waiting'").await
                + count(&db, "campaign_recipients where status = 'planned'").await;
            settled as usize >= expected && waiting == 0
        }
    })
    .await;
    let (_, progress) =
        api(&http, &replicas[0].1, reqwest::Method::GET, &format!("/api/v1/campaigns/{id}"), Value::Null).await;
    assert_eq!(progress["progress"]["recipients"]["queued"], campaigned.len(), "{progress}");
    assert_eq!(count(&db, "flow_runs where flow = 'replica_timer' and status = 'done'").await as usize, timed.len());
    let sent = twilio.sent();
    for phone in timed.iter().chain(&campaigned) {
        let n = sent.iter().filter(|s| &s.to == phone).count();
        assert!(n <= 1, "{phone} received {n} texts");
    }
    let delivered = count(&db, "outbox where status = 'sent'").await;
    let unknown = count(&db, "outbox where status = 'unknown'").await;
    assert_eq!((delivered + unknown) as usize, expected, "{delivered} sent + {unknown} unknown");
    assert!(delivered as usize <= sent.len() && sent.len() <= expected, "{} received", sent.len());
    assert!(before_kill < expected, "the kill landed before every text went ({before_kill} sent)");
    drop(replicas);
    println!("{before_kill} of {expected} sent before the kill; {delivered} sent, {unknown} unknown");
}
