//! SQLite's one write connection, held outside any pool and used in turns at the
//! [`WriteGate`].
//!
//! A pool costs every write two extra round trips to the connection's thread: sqlx 0.9 pings a
//! connection before handing it out, and pings it again when it comes back, in a task of its
//! own that queues behind the webhooks on the runtime. With one write connection the next
//! writer waited for that task: 0.77 ms of a 2.07 ms group commit at saturation
//! (docs/benchmarks.md). A connection that never leaves needs neither ping; the turn at the
//! gate is the right to use it.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteTransactionManager};
use sqlx::{ConnectOptions, Connection, SqlSafeStr};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard};

use super::write_gate::{Priority, WriteGate, WriteTurn};

/// Longest wait for a turn at the writer: beyond it a write fails instead of hanging.
pub const WRITER_WAIT: Duration = Duration::from_secs(30);

/// The write connection and the queue for it. `None` once closed.
#[derive(Debug)]
pub struct Writer {
    gate: Arc<WriteGate>,
    connection: Arc<Mutex<Option<Held>>>,
}

/// The connection, and whether a transaction begun inline ([`SqliteTx::inline`]) was dropped
/// before it ended: sqlx does not know of that transaction, so the next turn rolls it back
/// before anything else.
#[derive(Debug)]
struct Held {
    connection: SqliteConnection,
    inline_left_open: bool,
}

/// The write connection for the length of one turn; the next writer's turn starts when this is
/// dropped.
pub struct Writing {
    // Fields drop in order: the connection is let go before the turn passes on, so the next
    // writer finds it free.
    held: OwnedMappedMutexGuard<Option<Held>, Held>,
    _turn: WriteTurn,
}

impl Writer {
    /// Opens the write connection.
    pub async fn open(options: &SqliteConnectOptions) -> Result<Writer, sqlx::Error> {
        let connection = options.connect().await?;
        let held = Held { connection, inline_left_open: false };
        Ok(Writer { gate: Arc::default(), connection: Arc::new(Mutex::new(Some(held))) })
    }

    /// Waits for the turn at the writer (at most [`WRITER_WAIT`], then `PoolTimedOut`, as the
    /// pool answered before); `PoolClosed` once [`Writer::close`] has run.
    pub async fn turn(&self, priority: Priority) -> Result<Writing, sqlx::Error> {
        let turn = tokio::time::timeout(WRITER_WAIT, self.gate.enter(priority))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        // Free at once: only the holder of the turn locks it, and the last holder let go of
        // it before its turn passed on.
        let guard = self.connection.clone().lock_owned().await;
        let mut held = OwnedMutexGuard::try_map(guard, Option::as_mut).map_err(|_| sqlx::Error::PoolClosed)?;
        if held.inline_left_open {
            // It may have ended already (SQLite rolls back by itself after some errors): then
            // this fails, harmlessly.
            let _ = sqlx::raw_sql("rollback").execute(&mut held.connection).await;
            held.inline_left_open = false;
        }
        Ok(Writing { held, _turn: turn })
    }

    /// Closes the connection after the writes waiting before it (SQLite checkpoints the WAL
    /// when its last connection closes).
    pub async fn close(&self) {
        let Ok(_turn) = tokio::time::timeout(WRITER_WAIT, self.gate.enter(Priority::Ordinary)).await else {
            return;
        };
        let held = self.connection.lock().await.take();
        if let Some(held) = held {
            let _ = held.connection.close().await;
        }
    }
}

impl Deref for Writing {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.held.connection
    }
}

impl DerefMut for Writing {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.held.connection
    }
}

/// A write transaction on SQLite (`BEGIN IMMEDIATE`), holding the turn at the writer until it
/// ends. Dropped without [`SqliteTx::commit`], it rolls back: the rollback is sent to the
/// connection at once, as sqlx's own transactions do (sqlx's `Transaction` cannot own the
/// connection here: it only borrows one or takes a pool's).
pub struct SqliteTx {
    writing: Writing,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Begun through sqlx, which knows of it.
    Open,
    /// Begun by the caller's own `BEGIN IMMEDIATE`, inline.
    Inline,
    Ended,
}

impl SqliteTx {
    /// Waits for the turn at the writer and begins.
    pub async fn begin(writer: &Writer, priority: Priority) -> Result<SqliteTx, sqlx::Error> {
        let mut writing = writer.turn(priority).await?;
        SqliteTransactionManager::begin(&mut writing, Some("BEGIN IMMEDIATE".into_sql_str())).await?;
        Ok(SqliteTx { writing, state: State::Open })
    }

    /// Waits for the turn at the writer; the caller begins the transaction itself, with
    /// `begin immediate` as the first statement of its first query, and may end it with
    /// `commit` as the last statement of its last query ([`SqliteTx::committed_inline`]).
    /// Every statement is a round trip to the connection's thread, and under load those trips,
    /// not SQLite's work, are what a short transaction costs (docs/benchmarks.md); inline, the
    /// BEGIN and COMMIT ride with the statements next to them. Dropped before it ends, the
    /// transaction is rolled back at the start of the next turn.
    pub async fn inline(writer: &Writer, priority: Priority) -> Result<SqliteTx, sqlx::Error> {
        Ok(SqliteTx { writing: writer.turn(priority).await?, state: State::Inline })
    }

    /// Records that the caller's last query, which succeeded, ended with `commit`.
    pub fn committed_inline(mut self) {
        debug_assert_eq!(self.state, State::Inline, "only a transaction begun inline commits inline");
        self.state = State::Ended;
    }

    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.state {
            State::Open => SqliteTransactionManager::commit(&mut self.writing).await?,
            State::Inline => {
                sqlx::raw_sql("commit").execute(&mut *self.writing).await?;
            }
            State::Ended => {}
        }
        self.state = State::Ended;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match self.state {
            State::Open => SqliteTransactionManager::rollback(&mut self.writing).await?,
            State::Inline => {
                sqlx::raw_sql("rollback").execute(&mut *self.writing).await?;
            }
            State::Ended => {}
        }
        self.state = State::Ended;
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        match self.state {
            State::Open => SqliteTransactionManager::start_rollback(&mut self.writing),
            State::Inline => self.writing.held.inline_left_open = true,
            State::Ended => {}
        }
    }
}

impl Deref for SqliteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.writing
    }
}

impl DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.writing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    async fn writer() -> (tempfile::TempDir, Writer, sqlx::SqlitePool) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let options = SqliteConnectOptions::from_str(&url).unwrap().create_if_missing(true);
        let writer = Writer::open(&options).await.unwrap();
        let read = sqlx::SqlitePool::connect_with(options).await.unwrap();
        sqlx::query("create table t (n integer)")
            .execute(&mut *writer.turn(Priority::Ordinary).await.unwrap())
            .await
            .unwrap();
        (dir, writer, read)
    }

    async fn count(read: &sqlx::SqlitePool) -> i64 {
        sqlx::query_scalar("select count(*) from t").fetch_one(read).await.unwrap()
    }

    #[tokio::test]
    async fn a_committed_transaction_is_kept_and_a_dropped_one_rolled_back_at_once() {
        let (_dir, writer, read) = writer().await;
        let mut tx = SqliteTx::begin(&writer, Priority::Urgent).await.unwrap();
        sqlx::query("insert into t values (1)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&read).await, 1);

        let mut tx = SqliteTx::begin(&writer, Priority::Ordinary).await.unwrap();
        sqlx::query("insert into t values (2)").execute(&mut *tx).await.unwrap();
        drop(tx);
        // The next transaction begins: the dropped one's rollback ran before it (a second
        // BEGIN inside an open transaction would fail).
        let mut tx = SqliteTx::begin(&writer, Priority::Ordinary).await.unwrap();
        sqlx::query("insert into t values (3)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let rows: Vec<i64> = sqlx::query_scalar("select n from t order by n").fetch_all(&read).await.unwrap();
        assert_eq!(rows, vec![1, 3]);
    }

    #[tokio::test]
    async fn an_inline_transaction_commits_in_its_last_query_and_a_dropped_one_is_undone_next_turn() {
        let (_dir, writer, read) = writer().await;
        let mut tx = SqliteTx::inline(&writer, Priority::Urgent).await.unwrap();
        sqlx::query("begin immediate; insert into t values ($1)").bind(1).execute(&mut *tx).await.unwrap();
        sqlx::query("insert into t values ($1); commit").bind(2).execute(&mut *tx).await.unwrap();
        tx.committed_inline();
        assert_eq!(count(&read).await, 2);

        // Dropped open, as a failed query leaves it: the next turn rolls it back first.
        let mut tx = SqliteTx::inline(&writer, Priority::Urgent).await.unwrap();
        let failed = sqlx::query("begin immediate; insert into t values (3); insert into nowhere values (4)")
            .execute(&mut *tx)
            .await;
        assert!(failed.is_err());
        drop(tx);
        let mut tx = SqliteTx::begin(&writer, Priority::Ordinary).await.unwrap();
        sqlx::query("insert into t values (5)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        let rows: Vec<i64> = sqlx::query_scalar("select n from t order by n").fetch_all(&read).await.unwrap();
        assert_eq!(rows, vec![1, 2, 5]);

        // Ended by commit(), it sends the COMMIT itself.
        let mut tx = SqliteTx::inline(&writer, Priority::Ordinary).await.unwrap();
        sqlx::query("begin immediate; insert into t values (6)").execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(count(&read).await, 4);
    }

    #[tokio::test]
    async fn writes_wait_for_the_turn_and_fail_after_close() {
        let (_dir, writer, read) = writer().await;
        let writer = Arc::new(writer);
        let tx = SqliteTx::begin(&writer, Priority::Ordinary).await.unwrap();
        let second = {
            let writer = writer.clone();
            tokio::spawn(async move {
                let mut w = writer.turn(Priority::Ordinary).await.unwrap();
                sqlx::query("insert into t values (7)").execute(&mut *w).await.unwrap();
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished(), "a second writer waits while a transaction is open");
        tx.rollback().await.unwrap();
        second.await.unwrap();
        assert_eq!(count(&read).await, 1);
        writer.close().await;
        assert!(matches!(writer.turn(Priority::Ordinary).await, Err(sqlx::Error::PoolClosed)));
    }
}
