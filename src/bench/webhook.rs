//! `backtalk bench webhook`: a load benchmark of signed inbound webhooks.
//!
//! Off-the-shelf load generators (wrk, oha) replay one request, but every Twilio webhook
//! needs a unique `MessageSid` and its own HMAC signature (a repeated sid is a duplicate and
//! costs nothing), so the generator is built in. It runs, in one go, against two release
//! processes it starts itself — `backtalk serve --demo` on a fresh SQLite data directory and
//! a bare axum handler answering 200 — so the ratio between them is measured under the same
//! machine load:
//!
//! 1. fixed rate: `rate` requests/s for `duration` s, open loop (each request has a
//!    scheduled send time and latency is measured from it, so a stall is not hidden by
//!    sending less: no coordinated omission);
//! 2. saturation: `connections` closed-loop clients for `saturation_duration` s.
//!
//! Afterwards it checks that every acknowledged text is stored in the database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::process::Command;

use super::{percentile, signed_text, start, start_demo_server};

/// `backtalk bench bare-server`: the baseline, an axum handler that answers 200.
pub async fn bare_server(listen: &str) -> anyhow::Result<()> {
    let app = axum::Router::new().route("/webhooks/twilio", axum::routing::post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("bare server listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Latency summary of one phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhaseResult {
    pub target: &'static str,
    pub phase: &'static str,
    pub requests: usize,
    pub ok: usize,
    pub errors: usize,
    pub seconds: f64,
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Builds one unique, correctly signed inbound webhook body and its signature.
fn signed_request(n: usize) -> (String, String) {
    signed_text(n, "do you have the blouse in black?")
}

async fn send(http: &reqwest::Client, url: &str, n: usize) -> bool {
    let (body, sig) = signed_request(n);
    let response = http
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(body)
        .send()
        .await;
    matches!(response, Ok(r) if r.status().is_success())
}

/// Open-loop fixed-rate phase. `first` numbers the requests so sids stay unique.
async fn fixed_rate(target: &'static str, url: &str, rate: u32, seconds: u64, first: usize) -> PhaseResult {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build().expect("http client");
    let total = rate as usize * seconds as usize;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        tokio::time::sleep_until(due.into()).await;
        let (http, url) = (http.clone(), url.to_string());
        tasks.spawn(async move {
            let ok = send(&http, &url, first + i).await;
            (ok, due.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut outcomes = Vec::with_capacity(total);
    while let Some(r) = tasks.join_next().await {
        outcomes.push(r.expect("request task"));
    }
    summarize(target, "fixed_rate", outcomes, start.elapsed().as_secs_f64())
}

/// Summarises (success, latency ms) outcomes of a phase that lasted `seconds`.
fn summarize(target: &'static str, phase: &'static str, outcomes: Vec<(bool, f64)>, seconds: f64) -> PhaseResult {
    let ok = outcomes.iter().filter(|(success, _)| *success).count();
    let mut latencies: Vec<f64> = outcomes.iter().map(|(_, ms)| *ms).collect();
    latencies.sort_by(f64::total_cmp);
    PhaseResult {
        target,
        phase,
        requests: outcomes.len(),
        ok,
        errors: outcomes.len() - ok,
        seconds,
        throughput: ok as f64 / seconds,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
    }
}

/// Closed-loop saturation phase with `connections` clients.
async fn saturation(target: &'static str, url: &str, connections: usize, seconds: u64, first: usize) -> PhaseResult {
    let http = reqwest::Client::builder().pool_max_idle_per_host(1024).build().expect("http client");
    let next = Arc::new(AtomicUsize::new(first));
    let start = Instant::now();
    let stop = start + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (http, url, next) = (http.clone(), url.to_string(), next.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            while Instant::now() < stop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let ok = send(&http, &url, n).await;
                out.push((ok, t.elapsed().as_secs_f64() * 1000.0));
            }
            out
        });
    }
    let mut outcomes = Vec::new();
    while let Some(r) = tasks.join_next().await {
        outcomes.extend(r.expect("client task"));
    }
    summarize(target, "saturation", outcomes, start.elapsed().as_secs_f64())
}

/// `backtalk bench webhook`: prints a table and, last, one JSON line with the results.
pub async fn webhook(rate: u32, duration: u64, saturation_duration: u64, connections: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let dir = tempfile::tempdir()?;
    eprintln!("starting backtalk (release build expected) and the bare baseline ...");
    let (backtalk, backtalk_url) = start_demo_server(dir.path()).await?;
    let mut bare = Command::new(&exe);
    bare.args(["bench", "bare-server"]);
    let (bare_child, bare_url) = start(bare, "bare server listening on ").await?;
    let backtalk_hook = format!("{backtalk_url}/webhooks/twilio");
    let bare_hook = format!("{bare_url}/webhooks/twilio");

    let mut results = Vec::new();
    let mut counter = 0usize;
    for (target, url) in [("bare_axum", &bare_hook), ("backtalk", &backtalk_hook)] {
        eprintln!("{target}: {rate} req/s for {duration} s ...");
        results.push(fixed_rate(target, url, rate, duration, counter).await);
        counter += 10_000_000;
    }
    for (target, url) in [("bare_axum", &bare_hook), ("backtalk", &backtalk_hook)] {
        eprintln!("{target}: saturation with {connections} connections for {saturation_duration} s ...");
        results.push(saturation(target, url, connections, saturation_duration, counter).await);
        counter += 10_000_000;
    }
    drop(bare_child);
    drop(backtalk);

    let acked: usize = results.iter().filter(|r| r.target == "backtalk").map(|r| r.ok).sum();
    let db = crate::store::Db::connect(&format!("sqlite://{}", dir.path().join("backtalk.db").display())).await?;
    let stored = crate::store::conversations::count_messages(&db, "in").await? as usize;

    println!("| target | phase | requests | ok | errors | throughput req/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} |",
            r.target, r.phase, r.requests, r.ok, r.errors, r.throughput, r.p50_ms, r.p99_ms
        );
    }
    let get =
        |target: &str, phase: &str| results.iter().find(|r| r.target == target && r.phase == phase).expect("phase ran");
    let ratio = get("backtalk", "saturation").throughput / get("bare_axum", "saturation").throughput;
    println!("\nsaturation throughput ratio backtalk / bare axum: {ratio:.2}");
    println!("acknowledged by backtalk: {acked}; stored inbound messages: {stored}");
    let summary = serde_json::json!({
        "rate": rate,
        "fixed_rate_p50_ms": get("backtalk", "fixed_rate").p50_ms,
        "fixed_rate_p99_ms": get("backtalk", "fixed_rate").p99_ms,
        "bare_fixed_rate_p50_ms": get("bare_axum", "fixed_rate").p50_ms,
        "bare_fixed_rate_p99_ms": get("bare_axum", "fixed_rate").p99_ms,
        "saturation_rps": get("backtalk", "saturation").throughput,
        "bare_saturation_rps": get("bare_axum", "saturation").throughput,
        "saturation_ratio": ratio,
        "acked": acked,
        "stored": stored,
    });
    println!("{summary}");
    if stored < acked {
        anyhow::bail!("{} acknowledged texts are missing from the database", acked - stored);
    }
    Ok(())
}
