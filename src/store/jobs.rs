//! SQL of the durable job queue (the policy — backoff, dead-lettering — is in `jobs.rs`).
//!
//! A job is claimed by setting a lease; a worker that dies leaves the lease to expire and
//! another worker takes the job over. `attempts` is the fencing token: a worker can only
//! complete or fail the job for the attempt it claimed.

use chrono::Utc;

use super::{Db, Tx, now_ms, with_db, with_db_write, with_tx};

/// A claimed job.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    /// `turn` or `send` (see `jobs::KIND_*`).
    pub kind: String,
    /// JSON arguments of the job.
    pub payload: String,
    /// Attempts so far, this one included; the fencing token of this attempt.
    pub attempts: i64,
    /// Attempts before the job is dead-lettered.
    pub max_attempts: i64,
}

/// Adds a job due now. `unique_key` makes enqueueing idempotent: a second job with the same
/// key is not created. Returns the new id, or `None` for a duplicate key.
pub async fn enqueue_job(
    tx: &mut Tx,
    kind: &str,
    payload: &str,
    unique_key: Option<&str>,
    max_attempts: i32,
) -> anyhow::Result<Option<i64>> {
    enqueue_job_at(tx, kind, payload, unique_key, max_attempts, now_ms()).await
}

/// Adds a job due at `run_at_ms` (a flow's wait: see `Clock::queue_ms`); otherwise as
/// [`enqueue_job`].
pub async fn enqueue_job_at(
    tx: &mut Tx,
    kind: &str,
    payload: &str,
    unique_key: Option<&str>,
    max_attempts: i32,
    run_at_ms: i64,
) -> anyhow::Result<Option<i64>> {
    let now = Utc::now();
    let id = with_tx!(tx, |conn| {
        sqlx::query_scalar::<_, i64>(
        "insert into jobs (kind, payload, unique_key, status, attempts, max_attempts, run_at_ms, lease_until_ms, created_at, updated_at)
         values ($1, $2, $3, 'queued', 0, $4, $5, 0, $6, $6)
         on conflict (unique_key) do nothing
         returning id"
    )
    .bind(kind)
    .bind(payload)
    .bind(unique_key)
    .bind(i64::from(max_attempts))
    .bind(run_at_ms)
    .bind(now)
    .fetch_optional(conn)
    .await
    })?;
    Ok(id)
}

/// The claim statement around a query `$pick` that selects one job id (`$3` is now).
macro_rules! claim_sql {
    ($pick:expr, $lock:expr) => {
        concat!(
            "update jobs set status = 'running', attempts = attempts + 1, lease_until_ms = $1, updated_at = $2, claimed_by = $4 where id = (",
            $pick,
            $lock,
            ") returning id, kind, payload, attempts, max_attempts"
        )
    };
}

/// A job whose lease expired: its worker died.
macro_rules! expired {
    () => {
        "select id from jobs where status = 'running' and lease_until_ms < $3 order by lease_until_ms limit 1"
    };
}

/// The oldest queued job that is due.
macro_rules! due {
    () => {
        "select id from jobs where status = 'queued' and run_at_ms <= $3 order by run_at_ms, id limit 1"
    };
}

/// This process's id among the instances sharing the queue (random, made once per process).
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| rand::random::<[u8; 12]>().iter().map(|b| format!("{b:02x}")).collect())
}

/// Records that this process is alive now.
pub async fn heartbeat(db: &Db) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query(
        "insert into instances (id, heartbeat_ms) values ($1, $2)
         on conflict (id) do update set heartbeat_ms = excluded.heartbeat_ms"
    )
    .bind(instance_id())
    .bind(now_ms())
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Releases the jobs of every process whose heartbeat is older than `dead_after_ms` (it
/// crashed or was killed): their leases expire now, so the next claim takes them, and the
/// dead processes' rows go. What a released job had begun is the handlers' to settle, as
/// after an expired lease (a send already under way is marked `unknown`, never sent twice).
/// Returns how many jobs were released.
pub async fn release_dead_instances(db: &Db, dead_after_ms: i64) -> anyhow::Result<u64> {
    let stale = now_ms() - dead_after_ms;
    let released = with_db_write!(db, |p| sqlx::query(
        "update jobs set lease_until_ms = 0
         where status = 'running' and claimed_by in (select id from instances where heartbeat_ms < $1)"
    )
    .bind(stale)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    with_db_write!(db, |p| sqlx::query("delete from instances where heartbeat_ms < $1")
        .bind(stale)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(released)
}

/// This process is shutting down cleanly: its row goes (its jobs were drained).
pub async fn leave(db: &Db) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query("delete from instances where id = $1")
        .bind(instance_id())
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Claims the next due job and leases it for `lease_ms`: first a job whose lease expired,
/// else the oldest due queued job. Two index-friendly picks instead of one `or`, so the claim
/// stays fast however many finished jobs the table holds. PostgreSQL skips rows other
/// replicas hold (`FOR UPDATE SKIP LOCKED`), one pick per statement; SQLite has a single
/// writer, so the update itself is the lock, and both picks go in one statement (`coalesce`
/// of the two): each statement there is a turn at the one writer.
pub async fn claim_next_job(db: &Db, lease_ms: i64) -> anyhow::Result<Option<JobRow>> {
    claim_job_due_by(db, lease_ms, now_ms()).await
}

/// [`claim_next_job`] as if it were `now` (milliseconds): `flows simulate` runs the queue
/// on a virtual clock.
pub async fn claim_job_due_by(db: &Db, lease_ms: i64, now: i64) -> anyhow::Result<Option<JobRow>> {
    let statements: &[&str] = match db {
        Db::Sqlite { .. } => &[claim_sql!(concat!("select coalesce((", expired!(), "), (", due!(), "))"), "")],
        Db::Postgres(_) => {
            &[claim_sql!(expired!(), " for update skip locked"), claim_sql!(due!(), " for update skip locked")]
        }
    };
    for sql in statements {
        let row = with_db_write!(db, |p| sqlx::query_as::<_, JobRow>(*sql)
            .bind(now + lease_ms)
            .bind(Utc::now())
            .bind(now)
            .bind(instance_id())
            .fetch_optional(p)
            .await)?;
        if row.is_some() {
            return Ok(row);
        }
    }
    Ok(None)
}

/// Marks the job done, inside the transaction that commits its effects. Returns false when
/// this worker no longer holds the job (its lease expired and another attempt took it), in
/// which case the caller must roll back.
pub async fn complete_job(tx: &mut Tx, id: i64, attempt: i64) -> anyhow::Result<bool> {
    let done = with_tx!(tx, |conn| sqlx::query(
        "update jobs set status = 'done', updated_at = $1, last_error = null
         where id = $2 and attempts = $3 and status = 'running'"
    )
    .bind(Utc::now())
    .bind(id)
    .bind(attempt)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Puts the job back in the queue to run at `run_at_ms`, keeping the error.
pub async fn retry_job(db: &Db, id: i64, attempt: i64, run_at_ms: i64, error: &str) -> anyhow::Result<()> {
    requeue(db, id, attempt, run_at_ms, Some(error), 0).await
}

/// Puts the job back to run at `run_at_ms` without counting this attempt: it did not fail,
/// it was deferred (a proactive text outside the recipient's hours).
pub async fn defer_job(db: &Db, id: i64, attempt: i64, run_at_ms: i64) -> anyhow::Result<()> {
    requeue(db, id, attempt, run_at_ms, None, 1).await
}

/// Re-queues a job this worker holds; `refund` attempts are given back.
async fn requeue(
    db: &Db,
    id: i64,
    attempt: i64,
    run_at_ms: i64,
    error: Option<&str>,
    refund: i64,
) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query(
        "update jobs set status = 'queued', attempts = attempts - $1, run_at_ms = $2, lease_until_ms = 0,
                         last_error = coalesce($3, last_error), updated_at = $4
         where id = $5 and attempts = $6 and status = 'running'"
    )
    .bind(refund)
    .bind(run_at_ms)
    .bind(error)
    .bind(Utc::now())
    .bind(id)
    .bind(attempt)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Dead-letters the job with its reason, inside the transaction that records the
/// consequence (e.g. an escalation).
pub async fn bury_job(tx: &mut Tx, id: i64, attempt: i64, error: &str) -> anyhow::Result<bool> {
    let r = with_tx!(tx, |conn| sqlx::query(
        "update jobs set status = 'dead', last_error = $1, updated_at = $2
         where id = $3 and attempts = $4 and status = 'running'"
    )
    .bind(error)
    .bind(Utc::now())
    .bind(id)
    .bind(attempt)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(r == 1)
}

/// Jobs per status, for metrics and tests.
pub async fn count_jobs(db: &Db, status: &str) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>("select count(*) from jobs where status = $1")
        .bind(status)
        .fetch_one(p)
        .await)?;
    Ok(n)
}

/// When the next queued job is due (milliseconds), if any: how `flows simulate` moves its clock.
pub async fn next_due_ms(db: &Db) -> anyhow::Result<Option<i64>> {
    let at = with_db!(db, |p| sqlx::query_scalar::<_, Option<i64>>(
        "select min(run_at_ms) from jobs where status = 'queued'"
    )
    .fetch_one(p)
    .await)?;
    Ok(at)
}

/// When a queued job is due (milliseconds); `None` unless it is queued.
pub async fn job_run_at_ms(db: &Db, id: i64) -> anyhow::Result<Option<i64>> {
    let at = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "select run_at_ms from jobs where id = $1 and status = 'queued'"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(at)
}

/// Makes the queued job with `unique_key` due at `run_at_ms` if it was due later (a flow's
/// `wait_for` whose event came before the timeout); false when there was none to move.
pub async fn run_job_sooner(tx: &mut Tx, unique_key: &str, run_at_ms: i64) -> anyhow::Result<bool> {
    let moved = with_tx!(tx, |conn| {
        sqlx::query(
        "update jobs set run_at_ms = $2, updated_at = $3 where unique_key = $1 and status = 'queued' and run_at_ms > $2"
    )
    .bind(unique_key)
    .bind(run_at_ms)
    .bind(Utc::now())
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(moved > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn enqueue(db: &Db, key: &str, run_at_ms: i64) {
        let mut tx = db.begin().await.unwrap();
        enqueue_job_at(&mut tx, "turn", "{}", Some(key), 3, run_at_ms).await.unwrap();
        tx.commit().await.unwrap();
    }

    /// The claim takes a job whose lease ran out before any queued one, then the queued ones
    /// oldest first, and nothing that is not due yet.
    #[tokio::test]
    async fn an_expired_lease_is_claimed_first_then_due_jobs_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        enqueue(&db, "a", 100).await;
        enqueue(&db, "b", 200).await;
        enqueue(&db, "c", 300).await;
        enqueue(&db, "later", 10_000).await;
        // "a" is claimed with a lease that runs out at 1,000.
        let a = claim_job_due_by(&db, 500, 500).await.unwrap().unwrap();
        assert_eq!((a.id, a.attempts), (1, 1));
        // Before it runs out, the next due job, leased until 10,600.
        let b = claim_job_due_by(&db, 10_000, 600).await.unwrap().unwrap();
        assert_eq!(b.id, 2);
        // After: "a" again (its worker died), before "c", which is due too.
        let again = claim_job_due_by(&db, 1_000, 1_200).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (1, 2));
        let c = claim_job_due_by(&db, 1_000, 1_200).await.unwrap().unwrap();
        assert_eq!(c.id, 3);
        assert!(claim_job_due_by(&db, 1_000, 1_200).await.unwrap().is_none());
    }
}
