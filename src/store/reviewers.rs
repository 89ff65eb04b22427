//! Reviewer accounts, console sessions and the log of reviewer actions.

use chrono::{DateTime, Utc};

use super::{Db, with_db};

/// A reviewer account as login needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReviewerRow {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until: Option<DateTime<Utc>>,
}

/// Creates a reviewer; an error names the reviewer when the name is taken.
pub async fn add_reviewer(db: &Db, name: &str, password_hash: &str) -> anyhow::Result<i64> {
    let result = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "insert into reviewers (name, password_hash, created_at) values ($1, $2, $3)
         on conflict (name) do nothing returning id"
    )
    .bind(name)
    .bind(password_hash)
    .bind(Utc::now())
    .fetch_optional(p)
    .await)?;
    result.ok_or_else(|| anyhow::anyhow!("a reviewer named {name:?} already exists"))
}

pub async fn reviewer_by_name(db: &Db, name: &str) -> anyhow::Result<Option<ReviewerRow>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, ReviewerRow>(
        "select id, name, password_hash, failed_logins, locked_until from reviewers where name = $1"
    )
    .bind(name)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// Counts a wrong password; the `max`-th in a row locks the account until `lock_until`
/// (and starts the count again). Returns the lock's end when this attempt locked it.
pub async fn record_failed_login(
    db: &Db,
    reviewer: &ReviewerRow,
    max: i64,
    lock_until: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let failed = reviewer.failed_logins + 1;
    let (count, locked) = if failed >= max { (0, Some(lock_until)) } else { (failed, None) };
    with_db!(db, |p| sqlx::query(
        "update reviewers set failed_logins = $1, locked_until = coalesce($2, locked_until) where id = $3"
    )
    .bind(count)
    .bind(locked)
    .bind(reviewer.id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(locked)
}

/// A good login: the failure count and any expired lock are cleared.
pub async fn record_login(db: &Db, reviewer_id: i64) -> anyhow::Result<()> {
    with_db!(db, |p| sqlx::query("update reviewers set failed_logins = 0, locked_until = null where id = $1")
        .bind(reviewer_id)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// A live console session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub reviewer_id: i64,
    pub name: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

pub async fn create_session(
    db: &Db,
    token_hash: &str,
    reviewer_id: i64,
    csrf_token: &str,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    with_db!(db, |p| sqlx::query(
        "insert into reviewer_sessions (token_hash, reviewer_id, csrf_token, created_at, expires_at)
         values ($1, $2, $3, $4, $5)"
    )
    .bind(token_hash)
    .bind(reviewer_id)
    .bind(csrf_token)
    .bind(Utc::now())
    .bind(expires_at)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The session with this token hash, unless it has expired.
pub async fn session(db: &Db, token_hash: &str) -> anyhow::Result<Option<SessionRow>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, SessionRow>(
        "select s.reviewer_id, r.name, s.csrf_token, s.expires_at
         from reviewer_sessions s join reviewers r on r.id = s.reviewer_id where s.token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(p)
    .await)?;
    Ok(row.filter(|s| s.expires_at > Utc::now()))
}

pub async fn delete_session(db: &Db, token_hash: &str) -> anyhow::Result<()> {
    with_db!(db, |p| sqlx::query("delete from reviewer_sessions where token_hash = $1")
        .bind(token_hash)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records a reviewer action (`login`, `login_failed`, `locked`, `logout`, ...).
pub async fn record_action(
    db: &Db,
    reviewer_id: Option<i64>,
    action: &str,
    target: Option<&str>,
    detail: &str,
) -> anyhow::Result<()> {
    with_db!(db, |p| sqlx::query(
        "insert into reviewer_actions (reviewer_id, action, target, detail, created_at) values ($1, $2, $3, $4, $5)"
    )
    .bind(reviewer_id)
    .bind(action)
    .bind(target)
    .bind(detail)
    .bind(Utc::now())
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Stores a new API token (its SHA-256) for a reviewer.
pub async fn add_api_token(db: &Db, reviewer_id: i64, token_hash: &str, label: &str) -> anyhow::Result<()> {
    with_db!(db, |p| sqlx::query(
        "insert into reviewer_api_tokens (token_hash, reviewer_id, label, created_at) values ($1, $2, $3, $4)"
    )
    .bind(token_hash)
    .bind(reviewer_id)
    .bind(label)
    .bind(Utc::now())
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The reviewer (id, name) an API token with this SHA-256 acts as.
pub async fn reviewer_for_api_token(db: &Db, token_hash: &str) -> anyhow::Result<Option<(i64, String)>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, (i64, String)>(
        "select r.id, r.name from reviewer_api_tokens t join reviewers r on r.id = t.reviewer_id
         where t.token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}
