//! Crash safety: `kill -9` of the real binary during a burst of inbound texts, then a
//! restart; every acknowledged text gets exactly one outcome, and no number gets two texts.
//! The restarted process takes the dead one's jobs within seconds, not after their lease.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::fakes::FakeTwilio;
use crate::helpers::*;
use crate::on_both_backends;

const PUBLIC_URL: &str = "http://backtalk.test";
/// The most texts the burst sends if the kill never comes.
const MAX_BURST: usize = 2000;

/// Starts `backtalk serve --demo` as a separate process; returns it and its base URL.
pub(crate) async fn start_server(
    data_dir: &std::path::Path,
    database_url: &str,
    twilio: &FakeTwilio,
) -> (Child, String) {
    start_server_with(data_dir, database_url, twilio, &[]).await
}

/// [`start_server`] with these environment variables set as well.
pub(crate) async fn start_server_with(
    data_dir: &std::path::Path,
    database_url: &str,
    twilio: &FakeTwilio,
    env: &[(&str, String)],
) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_backtalk"))
        .args(["serve", "--demo"])
        .env("BACKTALK_DATA_DIR", data_dir)
        .env("BACKTALK_DATABASE_URL", database_url)
        .env("BACKTALK_LISTEN", "127.0.0.1:0")
        .env("BACKTALK_PUBLIC_URL", PUBLIC_URL)
        .env("BACKTALK_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .env("BACKTALK_TWILIO_AUTH_TOKEN", AUTH_TOKEN)
        .env("BACKTALK_TWILIO_API_BASE", twilio.base_url())
        .env("BACKTALK_TWILIO_FROM", OUR_NUMBER)
        // The burst is the point: no pacing of the sending number (docs/providers.md, Throughput).
        .env("BACKTALK_TWILIO_SEGMENTS_PER_SECOND", "0")
        .env("BACKTALK_API_TOKEN", API_TOKEN)
        // The demo store without the dashboard's made-up history: these tests count rows.
        .env("BACKTALK_ANALYTICS_DEMO_HISTORY", "false")
        .env("BACKTALK_WORKER_POLL_MS", "50")
        // Jobs a killed process held are released when its heartbeat stops (3 s here), well
        // before their 120 s lease would run out (issue 21).
        .env("BACKTALK_WORKER_LEASE_SECS", "120")
        .env("BACKTALK_WORKER_HEARTBEAT_SECS", "1")
        .env("BACKTALK_WORKER_DEAD_AFTER_SECS", "3")
        .env("BACKTALK_LLM_TIMEOUT_SECS", "2")
        .env("BACKTALK_LOG", "warn")
        .env_remove("BACKTALK_TEST_DATABASE_URL")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start the backtalk binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read server stdout") {
            if let Some(url) = line.strip_prefix("backtalk listening on ") {
                return url.to_string();
            }
        }
        panic!("server exited before listening");
    })
    .await
    .expect("server starts within 60 s");
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// Posts one signed inbound text; true when the server acknowledged it with 200.
pub(crate) async fn post(http: &reqwest::Client, base: &str, from: &str, sid: &str) -> bool {
    let params = inbound_params(from, "do you have the blouse in black?", sid);
    let sig =
        backtalk::sms::signature::compute_signature(AUTH_TOKEN, &format!("{PUBLIC_URL}/webhooks/twilio"), &params);
    match http.post(format!("{base}/webhooks/twilio")).header("X-Twilio-Signature", sig).form(&params).send().await {
        Ok(r) => r.status().as_u16() == 200,
        Err(_) => false,
    }
}

fn phone(i: usize) -> String {
    // Fictional 555-01XX numbers in twenty area codes: up to 2,000 distinct customers.
    const AREAS: [&str; 20] = [
        "202", "303", "312", "415", "512", "617", "702", "713", "808", "919", "206", "305", "404", "503", "602", "704",
        "801", "907", "210", "314",
    ];
    format!("+1{}55501{:02}", AREAS[i / 100 % AREAS.len()], i % 100)
}

/// Waits (up to `wait`) until the texts from `numbers`, one each, have all been handled, then
/// checks each got exactly one outcome: stored once with one turn, no job dead, no number
/// texted twice, each reply sent or (cut off mid-call) `unknown`, and the provider received
/// every sent one. Returns (sent, unknown).
pub(crate) async fn every_text_has_one_outcome(
    db: &backtalk::store::Db,
    twilio: &FakeTwilio,
    numbers: &[String],
    wait: Duration,
) -> (i64, i64) {
    let texts = numbers.len() as i64;
    wait_for("every turn and send to finish", wait, || {
        let db = db.clone();
        async move {
            let busy = backtalk::store::jobs::count_jobs(&db, "queued").await.unwrap()
                + backtalk::store::jobs::count_jobs(&db, "running").await.unwrap();
            let turns = backtalk::store::turns::count_turns(&db).await.unwrap();
            busy == 0 && turns == texts
        }
    })
    .await;
    assert_eq!(count(db, "messages where direction = 'in'").await, texts, "every text stored once");
    assert_eq!(count(db, "turns").await, texts, "one turn per text");
    assert_eq!(count(db, "jobs where status = 'dead'").await, 0);
    let sent = twilio.sent();
    for number in numbers {
        let n = sent.iter().filter(|s| &s.to == number).count();
        assert!(n <= 1, "{number} received {n} texts");
    }
    let delivered = count(db, "outbox where status = 'sent'").await;
    let unknown = count(db, "outbox where status = 'unknown'").await;
    assert_eq!(delivered + unknown, texts, "{delivered} sent + {unknown} unknown");
    // An `unknown` row may or may not have reached the provider (that is why it is unknown).
    let received = sent.len() as i64;
    assert!(
        delivered <= received && received <= delivered + unknown,
        "{received} received, {delivered} sent, {unknown} unknown"
    );
    (delivered, unknown)
}

async fn kill_9_during_a_burst_then_restart_gives_every_message_exactly_one_outcome(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(backend, dir.path()).await;
    let twilio = FakeTwilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (mut child, base) = start_server(dir.path(), &database_url, &twilio).await;
    let db = backtalk::store::Db::connect(&database_url).await.unwrap();
    // A slow provider keeps the sending jobs running for a while: on a loaded machine the
    // running jobs seen below could otherwise all finish before the kill lands.
    twilio.set_delay(Duration::from_millis(300));
    // Texts arrive 4 ms apart (250/s) and keep arriving until the kill: once 60 are
    // acknowledged and the workers hold jobs, the server gets SIGKILL, no chance to clean up.
    // (On a loaded machine the first claims can trail the first acknowledgements by a long
    // way, so the burst has no fixed end that the kill could miss.)
    let acks = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let burst = {
        let (http, base, acks, killed) = (http.clone(), base.clone(), acks.clone(), killed.clone());
        tokio::spawn(async move {
            let mut posts = tokio::task::JoinSet::new();
            let mut i = 0;
            while !killed.load(SeqCst) && i < MAX_BURST {
                let (http, base, acks) = (http.clone(), base.clone(), acks.clone());
                let sid = new_sid();
                posts.spawn(async move {
                    let ok = post(&http, &base, &phone(i), &sid).await;
                    if ok {
                        acks.fetch_add(1, SeqCst);
                    }
                    (i, sid, ok)
                });
                i += 1;
                tokio::time::sleep(Duration::from_millis(4)).await;
            }
            posts.join_all().await
        })
    };
    wait_for("60 acknowledged texts and a job running", Duration::from_secs(60), || {
        let (acks, db) = (acks.clone(), db.clone());
        async move { acks.load(SeqCst) >= 60 && backtalk::store::jobs::count_jobs(&db, "running").await.unwrap() > 0 }
    })
    .await;
    child.start_kill().expect("kill -9");
    child.wait().await.unwrap();
    killed.store(true, SeqCst);
    twilio.set_delay(Duration::ZERO);
    let mut texts = burst.await.unwrap();
    texts.sort_by_key(|(i, _, _)| *i);
    let acked = texts.iter().filter(|(_, _, ok)| *ok).count();
    assert!(acked > 0 && acked < texts.len(), "the kill landed mid-burst ({acked} of {} acked)", texts.len());

    // The killed process held jobs: without their release they would wait out the lease.
    let held = backtalk::store::jobs::count_jobs(&db, "running").await.unwrap();
    assert!(held > 0, "the kill landed while jobs were running");

    // Restart; Twilio would retry what was not acknowledged, and may retry what was.
    let restarted = std::time::Instant::now();
    let (child, base) = start_server(dir.path(), &database_url, &twilio).await;
    for (i, sid, _) in &texts {
        assert!(post(&http, &base, &phone(*i), sid).await, "restarted server acks {i}");
    }
    // Within 60 s of the restart, half the 120 s lease the killed process's jobs still hold:
    // only the release of a dead process's jobs gets there.
    let numbers: Vec<String> = texts.iter().map(|(i, _, _)| phone(*i)).collect();
    let (_, unknown) = every_text_has_one_outcome(&db, &twilio, &numbers, Duration::from_secs(60)).await;
    println!(
        "{held} jobs held by the killed process; every text had its outcome {:.1} s after the restart",
        restarted.elapsed().as_secs_f64()
    );
    drop(child);
    assert_eq!(count(&db, "escalations where reason = 'delivery_unknown'").await, unknown);
}
on_both_backends!(kill_9_during_a_burst_then_restart_gives_every_message_exactly_one_outcome);

async fn sigterm_finishes_in_flight_work_and_exits_cleanly(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(backend, dir.path()).await;
    let twilio = FakeTwilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let http = reqwest::Client::new();
    let (child, base) = start_server(dir.path(), &database_url, &twilio).await;
    for i in 0..20 {
        assert!(post(&http, &base, &phone(i), &new_sid()).await);
    }
    let pid = child.id().expect("running").to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(output.status.success(), "exit status {:?}", output.status);
    // Every text has its turn, or its turn job is still queued for the next start: none is
    // left half-done (running) and no text is in an uncertain send state.
    let db = backtalk::store::Db::connect(&database_url).await.unwrap();
    assert_eq!(count(&db, "jobs where status = 'running'").await, 0, "no job left half-done");
    let accounted = count(&db, "messages m where m.direction = 'in' and (exists (select 1 from turns t where t.inbound_message_id = m.id) or exists (select 1 from jobs j where j.kind = 'turn' and j.status = 'queued' and j.unique_key = 'turn:' || m.id))").await;
    assert_eq!(accounted, 20, "every text has a turn or a queued turn job");
    assert_eq!(count(&db, "outbox where status in ('sending', 'unknown')").await, 0);
}
on_both_backends!(sigterm_finishes_in_flight_work_and_exits_cleanly);

/// A transactional flow whose wait ends while the server is down.
const WAIT_FLOW: &str = r#"name = "ship_notice"
class = "transactional"
trigger = { event = "Order Shipped Soon" }
[[steps]]
wait = "3s"
[[steps]]
send = "Your order is about to ship."
"#;

const WAITING: usize = 100;

async fn kill_9_during_flow_waits_fires_each_wait_exactly_once_after_restart(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("flows")).unwrap();
    std::fs::write(dir.path().join("flows/ship_notice.toml"), WAIT_FLOW).unwrap();
    let database_url = fresh_database_url(backend, dir.path()).await;
    let twilio = FakeTwilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let (mut child, base) = start_server(dir.path(), &database_url, &twilio).await;
    let batch: Vec<serde_json::Value> = (0..WAITING)
        .map(|i| serde_json::json!({"id": format!("w-{i}"), "event": "Order Shipped Soon", "phone": phone(i)}))
        .collect();
    let response = http.post(format!("{base}/api/v1/events")).bearer_auth(API_TOKEN).json(&batch).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.text().await.unwrap());
    let db = backtalk::store::Db::connect(&database_url).await.unwrap();
    wait_for("every run to wait", Duration::from_secs(20), || {
        let db = db.clone();
        async move { count(&db, "flow_runs where status = 'waiting' and step = 1").await == WAITING as i64 }
    })
    .await;
    // Killed while all of them wait; the waits end while the server is down.
    child.start_kill().expect("kill -9");
    child.wait().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (child, _base) = start_server(dir.path(), &database_url, &twilio).await;
    wait_for("every run to finish", Duration::from_secs(60), || {
        let db = db.clone();
        async move { count(&db, "flow_runs where status = 'done'").await == WAITING as i64 }
    })
    .await;
    drop(child);
    // Each wait fired once: one text per run, never two (the run's step is the fence).
    assert_eq!(count(&db, "outbox where flow_run_id is not null").await, WAITING as i64);
    let per_run = count(&db, "(select flow_run_id from outbox group by flow_run_id having count(*) > 1) t").await;
    assert_eq!(per_run, 0);
    assert_eq!(count(&db, "jobs where status = 'dead'").await, 0);
}
on_both_backends!(kill_9_during_flow_waits_fires_each_wait_exactly_once_after_restart);
