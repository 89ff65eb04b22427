//! All SQL lives here, one file per aggregate.
//!
//! Two real databases serve the same queries: SQLite (embedded default) and PostgreSQL
//! (chosen by a `postgres://` URL). `sqlx::Any` cannot decode timestamps, so the native pools
//! sit behind one enum and every query is written once with `$N` placeholders, which both
//! accept; the [`with_db!`] and [`with_tx!`] macros expand a query body once per backend.
//! Migrations are embedded from `migrations/sqlite` and `migrations/postgres`, which differ
//! only in column types.

pub mod ab;
pub mod analytics;
pub mod analytics_period;
pub mod campaigns;
pub mod catalog;
pub mod commerce;
pub mod consent;
pub mod conversations;
pub mod crm;
pub mod delivery;
pub mod escalations;
pub mod flows;
pub mod ingest;
pub mod jobs;
pub mod links;
pub mod notifications;
pub mod outbox;
pub mod reviewers;
pub mod schema;
pub mod secrets;
pub mod segments;
pub mod synthetic;
mod text_columns;
pub mod turns;
pub mod webhook_events;
mod write_gate;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Postgres, Transaction};

pub use write_gate::Priority;
pub use writer::{SqliteTx, Writer, Writing};

/// A connection pool on one of the two supported databases.
///
/// SQLite has one writer at a time. Letting several connections race for the write lock
/// makes SQLite's busy handler sleep in coarse steps (up to 100 ms), which shows up as tail
/// latency on the webhook; so writes go through one connection, the [`Writer`], each after its
/// turn at the write gate (`write_gate`: in arrival order, the webhook's first), and reads use
/// a pool of several (WAL lets them run beside the writer).
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite { read: SqlitePool, writer: Arc<Writer> },
    Postgres(PgPool),
}

/// An open transaction on either database. On SQLite it holds the turn at the writer until it
/// ends.
pub enum Tx {
    Sqlite(SqliteTx),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs the read-only `$body` with `$pool` bound to the native pool of whichever database
/// `$db` is.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { read: $pool, .. } => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body`, which writes, with `$pool` bound to the writing pool of `$db`.
#[macro_export]
macro_rules! with_db_write {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite { writer, .. } => match writer.turn($crate::store::Priority::Ordinary).await {
                Ok(mut writing) => {
                    let $pool = &mut *writing;
                    $body
                }
                // In the body's error type.
                Err(e) => Err(e.into()),
            },
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the connection of the open transaction `$tx`.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::store::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::store::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}

pub use crate::{with_db, with_db_write, with_tx};

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://…`) and applies migrations.
    ///
    /// SQLite runs in WAL mode with foreign keys on and a busy timeout, so the webhook and
    /// the workers can write without failing on a momentary lock.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .context("failed to connect to postgresql")?;
            Db::Postgres(pool)
        } else {
            let options = SqliteConnectOptions::from_str(url)
                .with_context(|| format!("invalid sqlite url {url}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                // A commit that crosses this many WAL pages checkpoints the WAL itself, and
                // waits on the database file's fsync while every webhook queues behind it.
                // `serve` checkpoints in the background instead (`run_checkpoints`); this is
                // the bound for commands that do not, and should that fall behind.
                .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string());
            // Every SQLite connection runs on a thread of its own, started by whichever
            // thread opens it and with that thread's CPU priority. All are opened here, on
            // the server's threads, and kept: reopened later by a worker (`worker.nice`),
            // the one write connection would run every webhook's commit at the workers'
            // lower priority.
            let writer =
                Writer::open(&options).await.with_context(|| format!("failed to open sqlite database {url}"))?;
            let read = SqlitePoolOptions::new()
                .max_connections(SQLITE_READERS)
                .min_connections(SQLITE_READERS)
                .idle_timeout(None)
                .max_lifetime(None)
                // No ping before each read: an embedded database's connection does not drop
                // like a network one, and the ping is a round trip to its thread per query
                // (sqlx still pings once when a connection comes back to the pool).
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .with_context(|| format!("failed to open sqlite database {url}"))?;
            Db::Sqlite { read, writer: Arc::new(writer) }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Applies the embedded migrations for this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite { writer, .. } => {
                let mut writing = writer.turn(Priority::Ordinary).await.context("failed to apply migrations")?;
                sqlx::migrate!("./migrations/sqlite").run(&mut *writing).await
            }
            Db::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await,
        }
        .context("failed to apply migrations")
    }

    /// Begins a transaction. On SQLite it is `BEGIN IMMEDIATE`: it takes the write lock at
    /// once, so a transaction that reads then writes never fails with a stale snapshot.
    pub async fn begin(&self) -> anyhow::Result<Tx> {
        Ok(match self {
            Db::Sqlite { writer, .. } => {
                Tx::Sqlite(SqliteTx::begin(writer, Priority::Ordinary).await.map_err(writer_error)?)
            }
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A transaction someone is waiting on (the webhook's group commit): on SQLite it goes
    /// before the background writers waiting for the writer, and the caller sends its `begin
    /// immediate` itself, as the first statement of its first query ([`SqliteTx::inline`]).
    /// Begun as usual on PostgreSQL, which has no single writer. Only for SQL written for each
    /// database apart (`store::ingest`).
    async fn begin_urgent_inline(&self) -> anyhow::Result<Tx> {
        Ok(match self {
            Db::Sqlite { writer, .. } => {
                Tx::Sqlite(SqliteTx::inline(writer, Priority::Urgent).await.map_err(writer_error)?)
            }
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Copies the SQLite WAL's committed pages into the database file without waiting for
    /// readers or the writer (a `PASSIVE` checkpoint, on a reader connection, so commits go
    /// on meanwhile). Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        if let Db::Sqlite { read, .. } = self {
            sqlx::query("pragma wal_checkpoint(passive)").execute(read).await?;
        }
        Ok(())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> anyhow::Result<()> {
        with_db!(self, |p| sqlx::query("select 1").execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Parameter `n` (1-based) in SQL built at run time: `?` on SQLite, `$n` on PostgreSQL, so
    /// parameters must appear once each, in order. sqlx asks SQLite for every parameter's name,
    /// a lookup in a list as long as the statement's named parameters (`$n` and `?n` are
    /// named): a statement with thousands of them binds in quadratic time. `?` has no name.
    pub fn param(&self, n: usize) -> String {
        match self {
            Db::Sqlite { .. } => "?".to_string(),
            Db::Postgres(_) => format!("${n}"),
        }
    }

    /// Which backend this is, for logs and readiness output.
    pub fn backend(&self) -> &'static str {
        match self {
            Db::Sqlite { .. } => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, writer } => {
                read.close().await;
                writer.close().await;
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

impl Tx {
    /// Commits the transaction.
    pub async fn commit(self) -> anyhow::Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Rolls back and waits for it (dropping a transaction only sends the rollback on its way).
    pub async fn rollback(self) -> anyhow::Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// The writer's errors in words: a wait for the turn that timed out says so.
fn writer_error(e: sqlx::Error) -> anyhow::Error {
    match e {
        sqlx::Error::PoolTimedOut => {
            anyhow::anyhow!("timed out after {} s waiting for the database writer", writer::WRITER_WAIT.as_secs())
        }
        e => e.into(),
    }
}

/// Milliseconds since the Unix epoch, the job queue's clock.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Serialises a value to JSON text for a JSON column.
pub fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("serialising plain data to json cannot fail")
}

/// SQLite read connections, all opened at start (see `Db::connect`).
const SQLITE_READERS: u32 = 8;

/// WAL pages at which a commit checkpoints by itself (SQLite's default is 1,000; at 4 KiB
/// pages this is 64 MiB).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_000;

/// How often `serve` checkpoints SQLite's WAL in the background.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Checkpoints the WAL every [`CHECKPOINT_EVERY`] until `cancel` fires, so commits do not:
/// with SQLite's default, the commit that filled 1,000 pages copied them and synced the
/// database file itself, and the webhooks queued behind it waited tens of milliseconds
/// (issue 21, docs/benchmarks.md). Returns at once on PostgreSQL.
pub async fn run_checkpoints(db: Db, cancel: tokio_util::sync::CancellationToken) {
    if matches!(db, Db::Postgres(_)) {
        return;
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(CHECKPOINT_EVERY) => {}
        }
        if let Err(e) = db.checkpoint().await {
            tracing::warn!(error = %format!("{e:#}"), "wal checkpoint failed");
        }
    }
}
