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

use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::sms::signature::compute_signature;

pub(crate) const PUBLIC_URL: &str = "http://bench.backtalk.test";
pub(crate) const AUTH_TOKEN: &str = "bench-auth-token";

/// `backtalk bench bare-server`: the baseline, an axum handler that answers 200.
pub async fn bare_server(listen: &str) -> anyhow::Result<()> {
    let app = axum::Router::new().route("/webhooks/twilio", axum::routing::post(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("bare server listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// Starts a child process and waits for the line announcing its URL.
async fn start(mut command: Command, marker: &str) -> anyhow::Result<(Child, String)> {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true).spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("child stdout")?).lines();
    let url = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix(marker) {
                return anyhow::Ok(url.trim().to_string());
            }
        }
        anyhow::bail!("process exited before listening")
    })
    .await
    .context("process did not start within 120 s")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((child, url))
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

pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Builds one unique, correctly signed inbound webhook body and its signature.
fn signed_request(n: usize) -> (String, String) {
    signed_text(n, "do you have the blouse in black?")
}

/// A signed inbound webhook with this text, from a number of its own (`n` makes it unique).
fn signed_text(n: usize, text: &str) -> (String, String) {
    let sid = format!("SM{:016x}{:016x}", std::process::id(), n);
    let from = format!("+1{}55501{:02}", 200 + (n / 100) % 700, n % 100);
    let params: Vec<(String, String)> = vec![
        ("AccountSid".into(), "ACbench".into()),
        ("Body".into(), text.into()),
        ("From".into(), from),
        ("MessageSid".into(), sid),
        ("NumMedia".into(), "0".into()),
        ("To".into(), "+15005550006".into()),
    ];
    let signature = compute_signature(AUTH_TOKEN, &format!("{PUBLIC_URL}/webhooks/twilio"), &params);
    (serde_urlencoded::to_string(&params).expect("form encodes"), signature)
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
/// `backtalk serve --demo` on a fresh data directory in `dir`, with the embedded default
/// whatever this shell has configured; returns the child and its base url.
pub(crate) async fn start_demo_server(dir: &std::path::Path) -> anyhow::Result<(Child, String)> {
    let exe = std::env::current_exe()?;
    let mut serve = Command::new(&exe);
    serve.args(["serve", "--demo"]);
    // The embedded default, whatever this shell has configured.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("BACKTALK_")) {
        serve.env_remove(k);
    }
    serve
        .env("BACKTALK_LOG", "warn")
        .env("BACKTALK_DATA_DIR", dir)
        .env("BACKTALK_LISTEN", "127.0.0.1:0")
        .env("BACKTALK_PUBLIC_URL", PUBLIC_URL)
        .env("BACKTALK_TWILIO_AUTH_TOKEN", AUTH_TOKEN);
    start(serve, "backtalk listening on ").await
}

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

/// Texts the turn benchmark sends, in turn: product questions with and without filters, a
/// typo, a policy question, an order question, thanks.
const TURN_TEXTS: &[&str] = &[
    "do you have the blouse in black?",
    "anything under $30 for my husband?",
    "the shoes in size 9",
    "a dress but not black",
    "do you have a cardigna?",
    "what is your return policy?",
    "how long does shipping take?",
    "where is my order?",
    "thanks!",
];

/// `backtalk bench turn`: what a turn costs Backtalk itself, the model's call aside.
///
/// Sends `turns` signed texts (each from a number of its own, the texts of [`TURN_TEXTS`] in
/// turn) at `rate` per second to `serve --demo` (release build, SQLite, the offline
/// responder), waits for every turn, then reads the per-stage times each turn recorded:
/// overhead = every stage (compliance, context, retrieval, guard, score, route) but
/// `generate`. Prints p50 and p99 of the overhead and of each stage; the last line is JSON.
pub async fn turn(turns: usize, rate: u32) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    eprintln!("starting backtalk serve --demo (release build expected) ...");
    let (server, url) = start_demo_server(dir.path()).await?;
    let hook = format!("{url}/webhooks/twilio");
    let http = reqwest::Client::new();
    let started = Instant::now();
    for n in 0..turns {
        let due = started + Duration::from_secs_f64(n as f64 / f64::from(rate.max(1)));
        tokio::time::sleep_until(due.into()).await;
        let (body, sig) = signed_text(n, TURN_TEXTS[n % TURN_TEXTS.len()]);
        let response = http
            .post(&hook)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", sig)
            .body(body)
            .send()
            .await
            .context("the server stopped answering")?;
        anyhow::ensure!(response.status().is_success(), "webhook {n} answered {}", response.status());
    }
    let db = crate::store::Db::connect(&format!("sqlite://{}", dir.path().join("backtalk.db").display())).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let stage_ms = loop {
        let rows = crate::store::turns::all_stage_ms(&db).await?;
        if rows.len() >= turns {
            break rows;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {} of {turns} turns were recorded", rows.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(server);

    let mut overhead = Vec::new();
    let mut by_stage: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for stages in &stage_ms {
        overhead.push(stages.iter().filter(|(stage, _)| *stage != "generate").map(|(_, ms)| ms).sum::<f64>());
        for (stage, ms) in stages {
            by_stage.entry(stage.clone()).or_default().push(*ms);
        }
    }
    overhead.sort_by(f64::total_cmp);
    println!("{} turns at {rate}/s (serve --demo, SQLite, offline responder)", stage_ms.len());
    println!("| stage | p50 ms | p99 ms |");
    println!("|---|---|---|");
    let mut stages_json = serde_json::Map::new();
    for (stage, mut ms) in by_stage {
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (percentile(&ms, 50.0), percentile(&ms, 99.0));
        println!("| {stage} | {p50:.3} | {p99:.3} |");
        stages_json.insert(stage, serde_json::json!({"p50_ms": p50, "p99_ms": p99}));
    }
    let (p50, p99) = (percentile(&overhead, 50.0), percentile(&overhead, 99.0));
    println!("| **overhead (all but generate)** | **{p50:.3}** | **{p99:.3}** |");
    println!(
        "{}",
        serde_json::json!({"turns": stage_ms.len(), "overhead_p50_ms": p50, "overhead_p99_ms": p99, "stages": stages_json})
    );
    Ok(())
}
