//! Reviewer accounts, console sessions and the log of reviewer actions.

use chrono::{DateTime, Utc};

use super::{Db, with_db, with_db_write, with_tx};

/// A reviewer account as login needs it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ReviewerRow {
    pub id: i64,
    pub name: String,
    pub password_hash: String,
}

/// Creates a reviewer; an error names the reviewer when the name is taken.
/// The first reviewer of an install is its admin; later ones are reviewers unless made admins.
pub async fn add_reviewer(db: &Db, name: &str, password_hash: &str) -> anyhow::Result<i64> {
    let result = with_db_write!(db, |p| sqlx::query_scalar::<_, i64>(
        "insert into reviewers (name, password_hash, created_at, role)
         values ($1, $2, $3, case when exists (select 1 from reviewers) then 'reviewer' else 'admin' end)
         on conflict (name) do nothing returning id"
    )
    .bind(name)
    .bind(password_hash)
    .bind(Utc::now())
    .fetch_optional(p)
    .await)?;
    result.ok_or_else(|| anyhow::anyhow!("a reviewer named {name:?} already exists"))
}

/// An enabled reviewer by name (a disabled account is as good as unknown).
pub async fn reviewer_by_name(db: &Db, name: &str) -> anyhow::Result<Option<ReviewerRow>> {
    let row = with_db!(db, |p| {
        sqlx::query_as::<_, ReviewerRow>(
            "select id, name, password_hash from reviewers where name = $1 and disabled_at is null",
        )
        .bind(name)
        .fetch_optional(p)
        .await
    })?;
    Ok(row)
}

/// The key a name's failed logins are counted under: as typed, trimmed, ASCII lower-cased.
fn login_key(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// The end of the lock on the name typed at login, if it is locked now (any name: see
/// migration 0026).
pub async fn login_locked_until(db: &Db, name: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    let until = with_db!(db, |p| sqlx::query_scalar::<_, Option<DateTime<Utc>>>(
        "select locked_until from login_failures where name = $1"
    )
    .bind(login_key(name))
    .fetch_optional(p)
    .await)?;
    Ok(until.flatten().filter(|u| *u > Utc::now()))
}

/// Counts a failed login for the name typed, whatever account has it or none; the `max`-th in
/// a row locks the name until `lock_until` and starts the count again. Returns the lock's end
/// when this attempt locked it.
pub async fn record_login_failure(
    db: &Db,
    name: &str,
    max: i64,
    lock_until: DateTime<Utc>,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let mut tx = db.begin().await?;
    let failed = with_tx!(&mut tx, |conn| sqlx::query_scalar::<_, i64>(
        "insert into login_failures (name, failed) values ($1, 1)
         on conflict (name) do update set failed = login_failures.failed + 1
         returning failed"
    )
    .bind(login_key(name))
    .fetch_one(conn)
    .await)?;
    let locked = (failed >= max).then_some(lock_until);
    if locked.is_some() {
        with_tx!(&mut tx, |conn| sqlx::query(
            "update login_failures set failed = 0, locked_until = $1 where name = $2"
        )
        .bind(lock_until)
        .bind(login_key(name))
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(locked)
}

/// A good login: the name's failure count and lock are cleared.
pub async fn clear_login_failures(db: &Db, name: &str) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query("delete from login_failures where name = $1")
        .bind(login_key(name))
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
    /// `admin` or `reviewer`.
    pub role: String,
}

pub async fn create_session(
    db: &Db,
    token_hash: &str,
    reviewer_id: i64,
    csrf_token: &str,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query(
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
        "select s.reviewer_id, r.name, s.csrf_token, s.expires_at, r.role
         from reviewer_sessions s join reviewers r on r.id = s.reviewer_id
         where s.token_hash = $1 and r.disabled_at is null"
    )
    .bind(token_hash)
    .fetch_optional(p)
    .await)?;
    Ok(row.filter(|s| s.expires_at > Utc::now()))
}

pub async fn delete_session(db: &Db, token_hash: &str) -> anyhow::Result<()> {
    with_db_write!(db, |p| sqlx::query("delete from reviewer_sessions where token_hash = $1")
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
    with_db_write!(db, |p| sqlx::query(
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
    with_db_write!(db, |p| sqlx::query(
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
         where t.token_hash = $1 and r.disabled_at is null"
    )
    .bind(token_hash)
    .fetch_optional(p)
    .await)?;
    Ok(row)
}

/// A reviewer account as an admin sees it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Account {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub email: Option<String>,
    pub team: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    /// The lock on the name after wrong passwords, if it is locked now (from `login_failures`).
    #[sqlx(skip)]
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Every reviewer account, enabled first, then by name.
pub async fn accounts(db: &Db) -> anyhow::Result<Vec<Account>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, Account>(
        "select id, name, role, email, team, disabled_at, created_at from reviewers
         order by disabled_at is not null, name"
    )
    .fetch_all(p)
    .await)?;
    with_locks(db, rows).await
}

/// `accounts` with the locks on their names filled in.
async fn with_locks(db: &Db, mut accounts: Vec<Account>) -> anyhow::Result<Vec<Account>> {
    let locks = with_db!(db, |p| sqlx::query_as::<_, (String, DateTime<Utc>)>(
        "select name, locked_until from login_failures where locked_until > $1"
    )
    .bind(Utc::now())
    .fetch_all(p)
    .await)?;
    for account in &mut accounts {
        let key = login_key(&account.name);
        account.locked_until = locks.iter().find(|(name, _)| *name == key).map(|(_, until)| *until);
    }
    Ok(accounts)
}

/// The account named `name`, enabled or not.
pub async fn account(db: &Db, name: &str) -> anyhow::Result<Option<Account>> {
    let row = with_db!(db, |p| sqlx::query_as::<_, Account>(
        "select id, name, role, email, team, disabled_at, created_at from reviewers where name = $1"
    )
    .bind(name)
    .fetch_optional(p)
    .await)?;
    Ok(with_locks(db, row.into_iter().collect()).await?.pop())
}

/// What an admin may change about an account; `None` leaves a field as it is, an empty
/// string clears an email or team.
#[derive(Debug, Clone, Default)]
pub struct AccountChange<'a> {
    pub role: Option<&'a str>,
    pub email: Option<&'a str>,
    pub team: Option<&'a str>,
    /// `Some(true)` disables (and ends its sessions), `Some(false)` enables again.
    pub disabled: Option<bool>,
}

/// Applies `change` to account `id` in one transaction. Disabling ends its console sessions
/// (its API tokens stop working at once: they are looked up with the account).
pub async fn change_account(db: &Db, id: i64, change: &AccountChange<'_>) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let clear = |v: Option<&str>| v.map(|v| (!v.is_empty()).then(|| v.to_string()));
    let (email, team) = (clear(change.email), clear(change.team));
    let disabled_at = change.disabled.map(|d| d.then(Utc::now));
    with_tx!(&mut tx, |conn| sqlx::query(
        "update reviewers set
            role = coalesce($1, role),
            email = case when $2 then $3 else email end,
            team = case when $4 then $5 else team end,
            disabled_at = case when $6 then $7 else disabled_at end
         where id = $8"
    )
    .bind(change.role)
    .bind(email.is_some())
    .bind(email.clone().flatten())
    .bind(team.is_some())
    .bind(team.clone().flatten())
    .bind(disabled_at.is_some())
    .bind(disabled_at.flatten())
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))?;
    if change.disabled == Some(true) {
        end_sessions(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Ends every console session of account `id`.
async fn end_sessions(tx: &mut super::Tx, id: i64) -> anyhow::Result<()> {
    with_tx!(tx, |conn| sqlx::query("delete from reviewer_sessions where reviewer_id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Replaces account `id`'s password hash, clears the lock on its `name` and ends its sessions.
pub async fn reset_password(db: &Db, id: i64, name: &str, password_hash: &str) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    with_tx!(&mut tx, |conn| sqlx::query("update reviewers set password_hash = $1 where id = $2")
        .bind(password_hash)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    with_tx!(&mut tx, |conn| sqlx::query("delete from login_failures where name = $1")
        .bind(login_key(name))
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    end_sessions(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// How many enabled admins there are (the last one may not be disabled or demoted).
pub async fn enabled_admins(db: &Db) -> anyhow::Result<i64> {
    let n = with_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "select count(*) from reviewers where role = 'admin' and disabled_at is null"
    )
    .fetch_one(p)
    .await)?;
    Ok(n)
}

/// The email addresses of enabled reviewers: all of them, or a team's, or one reviewer's.
pub async fn emails(db: &Db, team: Option<&str>, name: Option<&str>) -> anyhow::Result<Vec<String>> {
    let rows = with_db!(db, |p| sqlx::query_scalar::<_, String>(
        "select email from reviewers
         where disabled_at is null and email is not null and email <> ''
           and ($1 is null or team = $1) and ($2 is null or name = $2)
         order by name"
    )
    .bind(team)
    .bind(name)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// The teams enabled reviewers belong to, sorted.
pub async fn teams(db: &Db) -> anyhow::Result<Vec<String>> {
    let rows = with_db!(db, |p| {
        sqlx::query_scalar::<_, String>(
        "select distinct team from reviewers where disabled_at is null and team is not null and team <> '' order by team"
    )
    .fetch_all(p)
    .await
    })?;
    Ok(rows)
}

/// One recorded action, as the admin page's audit trail lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct ActionRow {
    pub id: i64,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

/// The newest `limit` actions whose name starts with `prefix` (`reviewer_` for account
/// changes), newest first.
pub async fn recent_actions(db: &Db, prefix: &str, limit: i64) -> anyhow::Result<Vec<ActionRow>> {
    let rows = with_db!(db, |p| sqlx::query_as::<_, ActionRow>(
        "select a.id, r.name as actor, a.action, a.target, a.detail, a.created_at
         from reviewer_actions a left join reviewers r on r.id = a.reviewer_id
         where a.action like $1 order by a.id desc limit $2"
    )
    .bind(format!("{prefix}%"))
    .bind(limit)
    .fetch_all(p)
    .await)?;
    Ok(rows)
}
