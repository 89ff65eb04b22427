//! Several replicas on one PostgreSQL (issue 21, ../shared/ARCHITECTURE.md "Storage"): three
//! `serve` processes share the database and the queue; a burst of 1,000 signed texts is spread
//! over them and one is killed with -9 midway. Twilio retries what a dead replica did not
//! acknowledge (here: sent to a live one). Every text gets exactly one outcome and no number is
//! texted twice. PostgreSQL only: the scale-out topology (SQLite is one process's file).

use std::collections::HashSet;
use std::time::Duration;

use crate::crash::{every_text_has_one_outcome, post, start_server};
use crate::fakes::FakeTwilio;
use crate::helpers::*;

const TEXTS: usize = 1000;

fn number(i: usize) -> String {
    let area = ["202", "303", "312", "415", "503"][i / 200];
    format!("+1{area}5550{:03}", i % 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_one_killed_midway_give_every_text_exactly_one_outcome() {
    if postgres_admin_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database_url(Backend::Postgres, dir.path()).await;
    let twilio = FakeTwilio::start(ACCOUNT_SID, AUTH_TOKEN).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    // One after another: the first loads the demo store, the others find it and build their
    // own search index from the database.
    let mut replicas = Vec::new();
    for n in 0..3 {
        let data = dir.path().join(format!("replica-{n}"));
        std::fs::create_dir_all(&data).unwrap();
        replicas.push(start_server(&data, &database_url, &twilio).await);
    }
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
