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
    connection: Arc<Mutex<Option<SqliteConnection>>>,
}

/// The write connection for the length of one turn; the next writer's turn starts when this is
/// dropped.
pub struct Writing {
    // Fields drop in order: the connection is let go before the turn passes on, so the next
    // writer finds it free.
    connection: OwnedMappedMutexGuard<Option<SqliteConnection>, SqliteConnection>,
    _turn: WriteTurn,
}

impl Writer {
    /// Opens the write connection.
    pub async fn open(options: &SqliteConnectOptions) -> Result<Writer, sqlx::Error> {
        let connection = options.connect().await?;
        Ok(Writer { gate: Arc::default(), connection: Arc::new(Mutex::new(Some(connection))) })
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
        let connection = OwnedMutexGuard::try_map(guard, Option::as_mut).map_err(|_| sqlx::Error::PoolClosed)?;
        Ok(Writing { connection, _turn: turn })
    }

    /// Closes the connection after the writes waiting before it (SQLite checkpoints the WAL
    /// when its last connection closes).
    pub async fn close(&self) {
        let Ok(_turn) = tokio::time::timeout(WRITER_WAIT, self.gate.enter(Priority::Ordinary)).await else {
            return;
        };
        let connection = self.connection.lock().await.take();
        if let Some(connection) = connection {
            let _ = connection.close().await;
        }
    }
}

impl Deref for Writing {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.connection
    }
}

impl DerefMut for Writing {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.connection
    }
}

/// A write transaction on SQLite (`BEGIN IMMEDIATE`), holding the turn at the writer until it
/// ends. Dropped without [`SqliteTx::commit`], it rolls back: the rollback is sent to the
/// connection at once, as sqlx's own transactions do (sqlx's `Transaction` cannot own the
/// connection here: it only borrows one or takes a pool's).
pub struct SqliteTx {
    writing: Writing,
    open: bool,
}

impl SqliteTx {
    /// Waits for the turn at the writer and begins.
    pub async fn begin(writer: &Writer, priority: Priority) -> Result<SqliteTx, sqlx::Error> {
        let mut writing = writer.turn(priority).await?;
        SqliteTransactionManager::begin(&mut writing, Some("BEGIN IMMEDIATE".into_sql_str())).await?;
        Ok(SqliteTx { writing, open: true })
    }

    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        SqliteTransactionManager::commit(&mut self.writing).await?;
        self.open = false;
        Ok(())
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        SqliteTransactionManager::rollback(&mut self.writing).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if self.open {
            SqliteTransactionManager::start_rollback(&mut self.writing);
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
