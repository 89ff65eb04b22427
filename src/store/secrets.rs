//! Secrets the server makes for itself, shared by every replica through the database.

use chrono::Utc;

use super::{Db, with_db, with_db_write};

/// The secret `name`: made (32 random bytes, hex) by whichever replica asks first, then read.
pub async fn get_or_create(db: &Db, name: &str) -> anyhow::Result<String> {
    let fresh: String = rand::random::<[u8; 32]>().iter().map(|b| format!("{b:02x}")).collect();
    with_db_write!(db, |p| sqlx::query(
        "insert into server_secrets (name, value, created_at) values ($1, $2, $3) on conflict (name) do nothing"
    )
    .bind(name)
    .bind(&fresh)
    .bind(Utc::now())
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    let value = with_db!(db, |p| sqlx::query_scalar::<_, String>("select value from server_secrets where name = $1")
        .bind(name)
        .fetch_one(p)
        .await)?;
    Ok(value)
}
