//! The load generator that `bench webhook` (Twilio) and `bench shopify-webhook` share.
//!
//! Off-the-shelf load generators (wrk, oha) replay one request, but every signed webhook
//! needs an id of its own and its own signature (a repeated id is a duplicate and costs
//! nothing), so each benchmark hands in a [`Request`] that builds request `n`. Both run, in
//! one go, against two release processes started here — `backtalk serve --demo` on a fresh
//! SQLite data directory and a bare axum handler answering 200 — so the ratio between them
//! is measured under the same machine load:
//!
//! 1. fixed rate: `rate` requests/s for `duration` s, open loop (each request has a
//!    scheduled send time and latency is measured from it, so a stall is not hidden by
//!    sending less: no coordinated omission);
//! 2. saturation: `connections` closed-loop clients for `saturation_duration` s.
//!
//! [`Targets::run`] runs Backtalk's saturation phase last, so a benchmark can watch its queue
//! drain after it. [`Targets::run_target`] runs one target's phases, for a benchmark that
//! measures the bare handler before Backtalk's queue has a backlog (`bench webhook`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use super::{percentile, start, start_demo_server_with};

/// The paths the bare baseline answers: every webhook path a load benchmark posts to.
const BARE_PATHS: &[&str] = &["/webhooks/twilio", "/webhooks/telnyx", "/webhooks/shopify"];

/// `backtalk bench bare-server`: the baseline, an axum handler that answers 200 on the
/// webhook paths.
pub async fn bare_server(listen: &str) -> anyhow::Result<()> {
    let mut app = axum::Router::new();
    for path in BARE_PATHS {
        app = app.route(path, axum::routing::post(|| async { "ok" }));
    }
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("bare server listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// How hard to push: the two phases' parameters.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Requests per second of the fixed-rate phase.
    pub rate: u32,
    /// Seconds of the fixed-rate phase.
    pub duration: u64,
    /// Seconds of each saturation phase.
    pub saturation_duration: u64,
    /// Concurrent closed-loop clients of the saturation phase.
    pub connections: usize,
    /// The server's `worker.concurrency`, when not the default (0: no jobs run).
    pub workers: Option<usize>,
    /// The server's `worker.nice`, when not the default.
    pub worker_nice: Option<i32>,
}

/// Builds request `n` (unique within a run) to the url given.
pub type Request = Arc<dyn Fn(&reqwest::Client, &str, usize) -> reqwest::RequestBuilder + Send + Sync>;

/// Latency summary of one phase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PhaseResult {
    /// `bare_axum` or `backtalk`.
    pub target: &'static str,
    /// `fixed_rate` or `saturation`.
    pub phase: &'static str,
    pub requests: usize,
    /// Answered 2xx.
    pub ok: usize,
    pub errors: usize,
    pub seconds: f64,
    /// Successful requests per second.
    pub throughput: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

async fn send(http: &reqwest::Client, url: &str, n: usize, request: &Request) -> bool {
    matches!(request(http, url, n).send().await, Ok(r) if r.status().is_success())
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(1024).build().expect("http client")
}

/// Open-loop fixed-rate phase. `first` numbers the requests so ids stay unique.
async fn fixed_rate(target: &'static str, url: &str, load: Load, first: usize, request: &Request) -> PhaseResult {
    let http = client();
    let total = load.rate as usize * load.duration as usize;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(i as f64 / f64::from(load.rate));
        tokio::time::sleep_until(due.into()).await;
        let (http, url, request) = (http.clone(), url.to_string(), request.clone());
        tasks.spawn(async move {
            let ok = send(&http, &url, first + i, &request).await;
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

/// Closed-loop saturation phase with `load.connections` clients.
async fn saturation(target: &'static str, url: &str, load: Load, first: usize, request: &Request) -> PhaseResult {
    let http = client();
    let next = Arc::new(AtomicUsize::new(first));
    let start = Instant::now();
    let stop = start + Duration::from_secs(load.saturation_duration);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..load.connections {
        let (http, url, next, request) = (http.clone(), url.to_string(), next.clone(), request.clone());
        tasks.spawn(async move {
            let mut out = Vec::new();
            while Instant::now() < stop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                let ok = send(&http, &url, n, &request).await;
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

/// The two processes under load; dropping it stops both.
pub struct Targets {
    /// The fresh data directory of `serve --demo` (its database is `backtalk.db`).
    pub dir: tempfile::TempDir,
    pub backtalk: Child,
    pub backtalk_url: String,
    pub bare: Child,
    pub bare_url: String,
}

impl Targets {
    /// Starts `serve --demo` on a fresh data directory, with the load's job workers and
    /// their priority when given, and the bare baseline.
    pub async fn start(load: &Load) -> anyhow::Result<Targets> {
        let dir = tempfile::tempdir()?;
        eprintln!("starting backtalk (release build expected) and the bare baseline ...");
        let workers = load.workers.map(|n| ("BACKTALK_WORKER_CONCURRENCY", n.to_string()));
        let nice = load.worker_nice.map(|n| ("BACKTALK_WORKER_NICE", n.to_string()));
        let env: Vec<(&str, String)> = workers.into_iter().chain(nice).collect();
        let (backtalk, backtalk_url) = start_demo_server_with(dir.path(), &env).await?;
        let mut bare = Command::new(std::env::current_exe()?);
        bare.args(["bench", "bare-server"]);
        let (bare, bare_url) = start(bare, "bare server listening on ").await?;
        Ok(Targets { dir, backtalk, backtalk_url, bare, bare_url })
    }

    /// Stops both processes (killed: their state is on disk, committed per request).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        for child in [&mut self.backtalk, &mut self.bare] {
            child.kill().await?;
        }
        Ok(())
    }

    /// Backtalk's database (also while the server runs).
    pub async fn database(&self) -> anyhow::Result<crate::store::Db> {
        crate::store::Db::connect(&format!("sqlite://{}", self.dir.path().join("backtalk.db").display())).await
    }

    /// Runs both phases on both targets at `path`, the bare handler first each time and
    /// Backtalk's saturation phase last.
    pub async fn run(&self, path: &str, load: Load, request: Request) -> Phases {
        let mut results = Vec::new();
        let mut first = 0;
        for phase in [Phase::FixedRate, Phase::Saturation] {
            for target in [Target::Bare, Target::Backtalk] {
                results.push(self.phase(target, phase, path, load, &request, first).await);
                first += 10_000_000;
            }
        }
        Phases { rate: load.rate, results }
    }

    /// Both phases on one target at `path`, with request numbers from `first` (a later run on
    /// the same server must not repeat an earlier one's texts: each phase takes 10,000,000).
    pub async fn run_target(
        &self,
        target: Target,
        path: &str,
        load: Load,
        request: Request,
        first: usize,
    ) -> Vec<PhaseResult> {
        let mut results = Vec::new();
        for (i, phase) in [Phase::FixedRate, Phase::Saturation].into_iter().enumerate() {
            results.push(self.phase(target, phase, path, load, &request, first + i * 10_000_000).await);
        }
        results
    }

    async fn phase(
        &self,
        target: Target,
        phase: Phase,
        path: &str,
        load: Load,
        request: &Request,
        first: usize,
    ) -> PhaseResult {
        let (name, base) = match target {
            Target::Bare => ("bare_axum", &self.bare_url),
            Target::Backtalk => ("backtalk", &self.backtalk_url),
        };
        let url = format!("{base}{path}");
        match phase {
            Phase::FixedRate => {
                eprintln!("{name}: {} req/s for {} s ...", load.rate, load.duration);
                fixed_rate(name, &url, load, first, request).await
            }
            Phase::Saturation => {
                eprintln!(
                    "{name}: saturation with {} connections for {} s ...",
                    load.connections, load.saturation_duration
                );
                saturation(name, &url, load, first, request).await
            }
        }
    }
}

/// Which server a phase loads.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// The bare axum handler, the baseline.
    Bare,
    Backtalk,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    FixedRate,
    Saturation,
}

/// The four phases' results.
pub struct Phases {
    rate: u32,
    results: Vec<PhaseResult>,
}

impl Phases {
    /// The phases of both targets, from [`Targets::run_target`].
    pub fn of(rate: u32, bare: Vec<PhaseResult>, backtalk: Vec<PhaseResult>) -> Phases {
        Phases { rate, results: bare.into_iter().chain(backtalk).collect() }
    }

    fn get(&self, target: &str, phase: &str) -> &PhaseResult {
        self.results.iter().find(|r| r.target == target && r.phase == phase).expect("phase ran")
    }

    /// Requests Backtalk acknowledged (2xx) over both phases.
    pub fn acked(&self) -> usize {
        self.results.iter().filter(|r| r.target == "backtalk").map(|r| r.ok).sum()
    }

    /// Backtalk's saturation throughput over the bare handler's.
    pub fn ratio(&self) -> f64 {
        self.get("backtalk", "saturation").throughput / self.get("bare_axum", "saturation").throughput
    }

    /// Prints the phases as a Markdown table and the throughput ratio.
    pub fn print(&self) {
        println!("| target | phase | requests | ok | errors | throughput req/s | p50 ms | p99 ms |");
        println!("|---|---|---|---|---|---|---|---|");
        for r in &self.results {
            println!(
                "| {} | {} | {} | {} | {} | {:.0} | {:.2} | {:.2} |",
                r.target, r.phase, r.requests, r.ok, r.errors, r.throughput, r.p50_ms, r.p99_ms
            );
        }
        println!("\nsaturation throughput ratio backtalk / bare axum: {:.2}", self.ratio());
    }

    /// The figures as the JSON object a benchmark's last line starts from.
    pub fn summary(&self) -> serde_json::Map<String, serde_json::Value> {
        let summary = serde_json::json!({
            "rate": self.rate,
            "fixed_rate_p50_ms": self.get("backtalk", "fixed_rate").p50_ms,
            "fixed_rate_p99_ms": self.get("backtalk", "fixed_rate").p99_ms,
            "bare_fixed_rate_p50_ms": self.get("bare_axum", "fixed_rate").p50_ms,
            "bare_fixed_rate_p99_ms": self.get("bare_axum", "fixed_rate").p99_ms,
            "saturation_rps": self.get("backtalk", "saturation").throughput,
            "bare_saturation_rps": self.get("bare_axum", "saturation").throughput,
            "saturation_ratio": self.ratio(),
            "acked": self.acked(),
        });
        let serde_json::Value::Object(map) = summary else { unreachable!("a json object") };
        map
    }
}
