//! Bulk writes of synthetic rows for benchmarks (`backtalk bench campaign`): many rows per
//! statement, one transaction per call, on either database. Not used by the service.

use chrono::{DateTime, Utc};

use super::{Db, with_db, with_tx};

/// A value in a synthetic row.
#[derive(Debug, Clone)]
pub enum Cell {
    Text(String),
    Int(i64),
    Time(DateTime<Utc>),
    /// A null text.
    Null,
    /// A null integer (PostgreSQL types a parameter: a text null is refused for a bigint).
    NullInt,
}

/// Inserts `rows` into `table`'s `columns` (static names from the benchmark), in one
/// transaction, as many rows per statement as the databases' parameter limits allow.
pub async fn insert_rows(
    db: &Db,
    table: &'static str,
    columns: &[&'static str],
    rows: &[Vec<Cell>],
) -> anyhow::Result<()> {
    let per_statement = (30_000 / columns.len().max(1)).max(1);
    let mut tx = db.begin().await?;
    for chunk in rows.chunks(per_statement) {
        let mut n = 0;
        let values: Vec<String> = chunk
            .iter()
            .map(|row| {
                let cells: Vec<String> = row
                    .iter()
                    .map(|_| {
                        n += 1;
                        db.param(n)
                    })
                    .collect();
                format!("({})", cells.join(", "))
            })
            .collect();
        let sql = format!("insert into {table} ({}) values {}", columns.join(", "), values.join(", "));
        with_tx!(&mut tx, |conn| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for cell in chunk.iter().flatten() {
                q = match cell {
                    Cell::Text(s) => q.bind(s.clone()),
                    Cell::Int(i) => q.bind(*i),
                    Cell::Time(t) => q.bind(*t),
                    Cell::Null => q.bind(None::<String>),
                    Cell::NullInt => q.bind(None::<i64>),
                };
            }
            q.execute(conn).await.map(|_| ())
        })?;
    }
    tx.commit().await?;
    Ok(())
}

/// Moves PostgreSQL's identity sequences of `tables` past the largest id, after rows were
/// written with their ids: the service's own inserts would otherwise collide with them.
/// Nothing to do on SQLite (an integer primary key takes the largest id plus one).
pub async fn advance_ids(db: &Db, tables: &[&'static str]) -> anyhow::Result<()> {
    if let Db::Postgres(p) = db {
        for table in tables {
            let sql = format!(
                "select setval(pg_get_serial_sequence('{table}', 'id'), (select coalesce(max(id), 0) + 1 from {table}), false)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(p).await?;
        }
    }
    Ok(())
}

/// The ids of `table`'s rows above `after`, in order (the rows just inserted).
pub async fn ids_after(db: &Db, table: &'static str, after: i64) -> anyhow::Result<Vec<i64>> {
    let sql = format!("select id from {table} where id > $1 order by id");
    let ids = with_db!(db, |p| sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.clone()))
        .bind(after)
        .fetch_all(p)
        .await)?;
    Ok(ids)
}

/// The largest id in `table` (0 when empty).
pub async fn max_id(db: &Db, table: &'static str) -> anyhow::Result<i64> {
    let sql = format!("select coalesce(max(id), 0) from {table}");
    let id = with_db!(db, |p| sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.clone())).fetch_one(p).await)?;
    Ok(id)
}

/// Reads every customer's id and phone, a page at a time, without conditions: the floor a
/// segment's evaluation is compared with. Returns the rows read.
pub async fn scan_customers(db: &Db, page: i64) -> anyhow::Result<i64> {
    let (mut after, mut n) = (0_i64, 0_i64);
    loop {
        let rows = with_db!(db, |p| sqlx::query_as::<_, (i64, String)>(
            "select id, phone from customers where id > $1 order by id limit $2"
        )
        .bind(after)
        .bind(page)
        .fetch_all(p)
        .await)?;
        let Some(last) = rows.last() else { return Ok(n) };
        after = last.0;
        n += rows.len() as i64;
    }
}

/// Creates an empty PostgreSQL database `name` through the admin URL (a URL to an existing
/// database, e.g. `postgres://postgres@127.0.0.1/postgres`); returns its URL.
pub async fn create_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let pool = sqlx::PgPool::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {name} with (force)"))).execute(&pool).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}"))).execute(&pool).await?;
    pool.close().await;
    let base =
        admin_url.rsplit_once('/').map(|(b, _)| b).ok_or_else(|| anyhow::anyhow!("the admin URL names no database"))?;
    Ok(format!("{base}/{name}"))
}

/// Drops a database made by [`create_postgres_database`].
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("drop database if exists {name} with (force)"))).execute(&pool).await?;
    pool.close().await;
    Ok(())
}

/// Sets a campaign's rate and schedules it again (the benchmark drains one plan at several
/// rates).
pub async fn reschedule_campaign(db: &Db, id: i64, rate: f64) -> anyhow::Result<()> {
    super::with_db_write!(db, |p| sqlx::query("update campaigns set rate = $2, status = 'scheduled' where id = $1")
        .bind(id)
        .bind(rate)
        .execute(p)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Sets SQLite's page cache of the writing connection (KiB; SQLite's default is 2,000), so
/// bulk writes into large indexes do not re-read pages; nothing on PostgreSQL. The benchmark
/// raises it while writing its data and puts it back before measuring.
pub async fn set_write_cache_kib(db: &Db, kib: i64) -> anyhow::Result<()> {
    if let Db::Sqlite { writer, .. } = db {
        let mut writing = writer.turn(super::Priority::Ordinary).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("pragma cache_size = -{kib}"))).execute(&mut *writing).await?;
    }
    Ok(())
}
