//! The durable job queue's policy: workers, exponential backoff with jitter, dead letters.
//!
//! Jobs live in the database (`store::jobs`), so an acknowledged webhook survives a crash:
//! after `kill -9`, a restarted server finds the leases expired and runs the jobs again.
//! Handlers make that safe by committing their effects and `complete_job` in one
//! transaction, keyed so a second run of the same job writes nothing new.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::FutureExt;
use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, warn};

use crate::config::WorkerConfig;
use crate::store::jobs::{JobRow, claim_next_job, retry_job};
use crate::store::{Db, now_ms};

/// Job kind: run the pipeline for an inbound message (payload: message id).
pub const KIND_TURN: &str = "turn";
/// Job kind: send one outbox row (payload: outbox id).
pub const KIND_SEND: &str = "send";
/// Job kind: apply one stored Shopify webhook (payload: its row id).
pub const KIND_SHOPIFY: &str = "shopify";
/// Job kind: start and end flow runs on one stored event (payload: its row id).
pub use crate::store::commerce::KIND_FLOW_EVENT;
/// Job kind: run a flow run's due step (payload: run id and step); a wait is this job's due time.
pub const KIND_FLOW_STEP: &str = "flow_step";

/// Why a job did not finish.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt later (provider 5xx, database busy, ...).
    #[error("retryable: {0:#}")]
    Retry(anyhow::Error),
    /// Will never succeed; dead-letter now.
    #[error("fatal: {0:#}")]
    Fatal(anyhow::Error),
}

impl From<anyhow::Error> for JobError {
    fn from(e: anyhow::Error) -> Self {
        JobError::Retry(e)
    }
}

/// Runs jobs of every kind. `handle` must commit its effects together with
/// `store::jobs::complete_job`; `bury` records what a dead letter means for the customer.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// Does the job's work.
    async fn handle(&self, job: &JobRow) -> Result<(), JobError>;
    /// Dead-letters the job, keeping `reason`, and makes sure nothing is silently lost.
    async fn bury(&self, job: &JobRow, reason: &str) -> anyhow::Result<()>;
}

/// Delay before attempt `attempt + 1`: exponential from `base_ms`, capped at `max_ms`, with
/// "equal jitter" (half fixed, half random) so retries of many jobs do not arrive together.
pub fn backoff_ms(attempt: i64, base_ms: u64, max_ms: u64) -> u64 {
    let exp = attempt.clamp(1, 30) as u32 - 1;
    let delay = base_ms.saturating_mul(1u64 << exp.min(20)).min(max_ms).max(1);
    let half = delay / 2;
    half + rand::rng().random_range(0..=delay - half)
}

/// Wakes an idle worker when a job is enqueued in this process (workers also poll, for jobs
/// from other replicas and for retries that come due).
#[derive(Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    /// Wakes one idle worker (or the next to go idle): one job, one claim attempt.
    pub fn wake(&self) {
        self.0.notify_one();
    }
    async fn wait(&self) {
        self.0.notified().await
    }
}

/// Heartbeats this process every `worker.heartbeat_secs` and releases the jobs of processes
/// whose heartbeat is older than `worker.dead_after_secs`, at once on start: a process
/// restarted after `kill -9` takes its predecessor's jobs within seconds, not after the
/// 120 s lease (issue 21). Leaves on `cancel`.
pub async fn run_heartbeat(db: Db, config: WorkerConfig, waker: Waker, cancel: CancellationToken) {
    let every = Duration::from_secs(config.heartbeat_secs.max(1));
    let dead_after_ms = (config.dead_after_secs.max(config.heartbeat_secs * 2) * 1000) as i64;
    loop {
        if let Err(e) = crate::store::jobs::heartbeat(&db).await {
            warn!(error = %format!("{e:#}"), "heartbeat not recorded");
        }
        match crate::store::jobs::release_dead_instances(&db, dead_after_ms).await {
            Ok(0) => {}
            Ok(n) => {
                warn!(jobs = n, "released the jobs of a process that stopped answering");
                waker.wake();
            }
            Err(e) => warn!(error = %format!("{e:#}"), "dead instances not checked"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    let _ = crate::store::jobs::leave(&db).await;
}

/// Where the workers run: on the server's runtime, or on a second tokio runtime whose threads
/// have a higher `nice` value (`worker.nice`), so that on a busy machine the scheduler gives
/// the CPU to a webhook's acknowledgement before a turn's work (measured: no lower p99 on the
/// 2-core machine; docs/benchmarks.md, "The workers below the webhooks"). Everything a worker
/// awaits may come from either runtime; the second runtime stops when this is dropped, after
/// the workers have finished.
pub struct WorkerRuntime {
    niced: Option<tokio::runtime::Runtime>,
}

impl WorkerRuntime {
    /// A runtime at `nice` below the caller's priority; the caller's own when `nice` is 0 or
    /// the platform has no per-thread priorities (only Linux has: setpriority(2), "NOTES":
    /// under NPTL the nice value is a per-thread attribute).
    pub fn new(nice: i32) -> std::io::Result<WorkerRuntime> {
        if nice == 0 || !cfg!(target_os = "linux") {
            return Ok(WorkerRuntime { niced: None });
        }
        // An absolute value: the runtime's blocking threads are started by its (lowered)
        // worker threads and inherit their value already.
        let target = (this_threads_nice() + nice).min(19);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("backtalk-worker")
            .on_thread_start(move || set_this_threads_nice(target))
            .enable_all()
            .build()?;
        Ok(WorkerRuntime { niced: Some(runtime) })
    }

    /// The runtime to spawn workers on.
    pub fn handle(&self) -> tokio::runtime::Handle {
        match &self.niced {
            Some(runtime) => runtime.handle().clone(),
            None => tokio::runtime::Handle::current(),
        }
    }
}

impl Drop for WorkerRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which an async caller must not; the workers have
        // finished by now, so nothing is left to wait for.
        if let Some(runtime) = self.niced.take() {
            runtime.shutdown_background();
        }
    }
}

/// The calling thread's nice value (on Linux, a per-thread attribute).
#[cfg(target_os = "linux")]
fn this_threads_nice() -> i32 {
    // SAFETY: getpriority only reads its arguments; `who` 0 is the calling thread on Linux.
    // It cannot fail for the caller itself, so -1 is a nice value here, not an error.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

/// Sets the calling thread's nice value. Threads it starts inherit it.
#[cfg(target_os = "linux")]
fn set_this_threads_nice(nice: i32) {
    // SAFETY: setpriority only reads its arguments; `who` 0 is the calling thread on Linux.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } != 0 {
        warn!(error = %std::io::Error::last_os_error(), "worker threads keep the server's priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn this_threads_nice() -> i32 {
    0
}

#[cfg(not(target_os = "linux"))]
fn set_this_threads_nice(_nice: i32) {}

/// Spawns `config.concurrency` workers on `runtime`; they stop taking jobs when `cancel`
/// fires and finish the one they hold. Await the returned handles for a graceful shutdown.
pub fn spawn_workers(
    runtime: &tokio::runtime::Handle,
    db: Db,
    handler: Arc<dyn JobHandler>,
    config: WorkerConfig,
    waker: Waker,
    cancel: CancellationToken,
) -> Vec<tokio::task::JoinHandle<()>> {
    if config.concurrency == 0 {
        warn!("worker.concurrency is 0: this process runs no jobs; texts wait until a process that does takes them");
    }
    (0..config.concurrency)
        .map(|n| {
            let (db, handler, config, waker, cancel) =
                (db.clone(), handler.clone(), config.clone(), waker.clone(), cancel.clone());
            runtime.spawn(async move { worker_loop(n, db, handler, config, waker, cancel).await })
        })
        .collect()
}

async fn worker_loop(
    n: usize,
    db: Db,
    handler: Arc<dyn JobHandler>,
    config: WorkerConfig,
    waker: Waker,
    cancel: CancellationToken,
) {
    let lease_ms = (config.lease_secs * 1000) as i64;
    while !cancel.is_cancelled() {
        match run_one(&db, handler.as_ref(), &config, lease_ms).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => error!(worker = n, error = %format!("{e:#}"), "job queue error"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = waker.wait() => {}
            _ = tokio::time::sleep(Duration::from_millis(config.poll_ms)) => {}
        }
    }
    debug!(worker = n, "worker stopped");
}

/// Claims and runs one due job. Returns false when none was due.
pub async fn run_one(db: &Db, handler: &dyn JobHandler, config: &WorkerConfig, lease_ms: i64) -> anyhow::Result<bool> {
    let Some(job) = claim_next_job(db, lease_ms).await? else {
        return Ok(false);
    };
    debug!(job = job.id, kind = %job.kind, attempt = job.attempts, "job claimed");
    if job.attempts > job.max_attempts {
        // Its earlier attempts never reported back: the worker died or hung each time.
        let reason = format!("gave up after {} attempts that never finished", job.max_attempts);
        warn!(job = job.id, kind = %job.kind, "job dead-lettered: {reason}");
        handler.bury(&job, &reason).await?;
        return Ok(true);
    }
    // A panic in a handler is a failure of this job, not of the worker.
    let outcome = AssertUnwindSafe(handler.handle(&job)).catch_unwind().await.unwrap_or_else(|panic| {
        let what =
            panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        Err(JobError::Fatal(anyhow::anyhow!("handler panicked: {}", what.unwrap_or_default())))
    });
    let (error, fatal) = match outcome {
        Ok(()) => return Ok(true),
        Err(JobError::Retry(e)) => (format!("{e:#}"), false),
        Err(JobError::Fatal(e)) => (format!("{e:#}"), true),
    };
    if fatal || job.attempts >= job.max_attempts {
        warn!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %error, "job dead-lettered");
        handler.bury(&job, &error).await?;
    } else {
        let delay = backoff_ms(job.attempts, config.backoff_base_ms, config.backoff_max_secs * 1000);
        warn!(job = job.id, kind = %job.kind, attempt = job.attempts, retry_in_ms = delay, error = %error, "job failed, will retry");
        retry_job(db, job.id, job.attempts, now_ms() + delay as i64, &error).await?;
    }
    Ok(true)
}

/// Runs due jobs until none is left (the terminal chat and tests drive the queue this way).
pub async fn drain(db: &Db, handler: &dyn JobHandler, config: &WorkerConfig) -> anyhow::Result<()> {
    let lease_ms = (config.lease_secs * 1000) as i64;
    while run_one(db, handler, config, lease_ms).await? {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_and_stays_within_jittered_bounds() {
        for attempt in 1..=6 {
            let nominal = 100u64 << (attempt - 1);
            for _ in 0..50 {
                let d = backoff_ms(attempt, 100, 60_000);
                assert!(d >= nominal / 2 && d <= nominal, "attempt {attempt}: {d}");
            }
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn workers_run_at_the_configured_nice_below_the_server() {
        let server = this_threads_nice();
        let niced = WorkerRuntime::new(7).unwrap();
        let on_worker = niced.handle().spawn(async { this_threads_nice() }).await.unwrap();
        assert_eq!(on_worker, (server + 7).min(19));
        // Blocking work spawned by a worker (tantivy searches) runs below the server too.
        let blocking = niced.handle().spawn(async { tokio::task::spawn_blocking(this_threads_nice).await.unwrap() });
        assert_eq!(blocking.await.unwrap(), (server + 7).min(19));
        assert_eq!(
            tokio::spawn(async { this_threads_nice() }).await.unwrap(),
            server,
            "the server's threads keep theirs"
        );
        drop(niced); // in an async context: must not panic
    }

    /// The nice value of each of this process's SQLite connection threads.
    #[cfg(target_os = "linux")]
    fn sqlite_threads_nice() -> Vec<i32> {
        let mut nices = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let task = task.unwrap().path();
            let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            // sqlx names them sqlx-sqlite-worker-N; the kernel keeps 15 characters.
            if !comm.starts_with("sqlx-sqlite-wor") {
                continue;
            }
            // proc(5): after the parenthesised name, field 19 (nice) is the 17th.
            let stat = std::fs::read_to_string(task.join("stat")).unwrap();
            let after_name = &stat[stat.rfind(')').unwrap() + 2..];
            nices.push(after_name.split(' ').nth(16).unwrap().parse().unwrap());
        }
        nices
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_connections_keep_the_servers_priority_when_workers_use_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let server = this_threads_nice();
        let niced = WorkerRuntime::new(5).unwrap();
        // More reads at once than there are readers, and a write, all from the workers.
        let mut queries = Vec::new();
        for _ in 0..24 {
            let db = db.clone();
            queries.push(niced.handle().spawn(async move {
                crate::store::conversations::count_messages(&db, "in").await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }));
        }
        let writer = db.clone();
        queries.push(niced.handle().spawn(async move {
            claim_next_job(&writer, 1_000).await.unwrap();
        }));
        for q in queries {
            q.await.unwrap();
        }
        let nices = sqlite_threads_nice();
        assert!(nices.len() >= 9, "eight readers and the writer: {nices:?}");
        assert!(nices.iter().all(|n| *n == server), "server {server}, sqlite threads {nices:?}");
    }

    #[tokio::test]
    async fn nice_zero_runs_workers_on_the_servers_runtime() {
        let same = WorkerRuntime::new(0).unwrap();
        assert!(same.niced.is_none());
        assert_eq!(same.handle().id(), tokio::runtime::Handle::current().id());
    }

    #[test]
    fn backoff_is_capped() {
        for _ in 0..50 {
            assert!(backoff_ms(40, 500, 10_000) <= 10_000);
        }
    }
}
