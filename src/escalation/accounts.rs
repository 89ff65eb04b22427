//! Reviewer accounts as an admin manages them, from the command line (`backtalk reviewer …`)
//! or the console's admin page: add, change role, email or team, disable and enable, reset a
//! password. Every change is recorded in `reviewer_actions` with who made it (`reviewer_*`
//! actions; the admin page lists them).
//!
//! Rules: a role is `admin` or `reviewer`; the last enabled admin can be neither disabled
//! nor demoted (nobody could open the admin page again); a disabled account cannot log in,
//! its sessions end at once and its API tokens stop working.

use crate::store::Db;
use crate::store::reviewers::{self, Account, AccountChange};

/// Who makes a change: the command line (someone with the server's configuration) or an
/// admin in the console.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Cli,
    Admin { id: i64, name: &'a str },
}

impl Actor<'_> {
    fn id(&self) -> Option<i64> {
        match self {
            Actor::Cli => None,
            Actor::Admin { id, .. } => Some(*id),
        }
    }

    fn by(&self) -> String {
        match self {
            Actor::Cli => "by the command line".to_string(),
            Actor::Admin { name, .. } => format!("by {name}"),
        }
    }
}

/// A change refused for a reason the person making it can fix (shown as it is).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refuse<T>(why: impl Into<String>) -> anyhow::Result<T> {
    Err(Refused(why.into()).into())
}

/// A reviewer name: 1 to 100 printable characters.
pub fn check_name(name: &str) -> anyhow::Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return refuse("a reviewer name must be 1 to 100 printable characters");
    }
    Ok(name)
}

fn check_role(role: &str) -> anyhow::Result<()> {
    if matches!(role, "admin" | "reviewer") {
        Ok(())
    } else {
        refuse(format!("a role is admin or reviewer, not {role:?}"))
    }
}

fn check_email(email: &str) -> anyhow::Result<()> {
    if email.is_empty() || email.parse::<lettre::Address>().is_ok() {
        Ok(())
    } else {
        refuse(format!("{email:?} is not an email address"))
    }
}

fn check_team(team: &str) -> anyhow::Result<()> {
    if team.len() > 60 || team.chars().any(|c| c.is_control() || c == ':') {
        return refuse("a team name is at most 60 printable characters, without ':'");
    }
    Ok(())
}

async fn record(db: &Db, actor: Actor<'_>, action: &str, name: &str, detail: &str) -> anyhow::Result<()> {
    let detail = if detail.is_empty() { actor.by() } else { format!("{detail} ({})", actor.by()) };
    reviewers::record_action(db, actor.id(), action, Some(&format!("reviewer:{name}")), &detail).await
}

async fn existing(db: &Db, name: &str) -> anyhow::Result<Account> {
    match reviewers::account(db, name.trim()).await? {
        Some(account) => Ok(account),
        None => refuse(format!("no reviewer named {:?}", name.trim())),
    }
}

/// Creates an account with a random password; the id and the password (shown once; only
/// its argon2id hash is stored). The first account of an install is an admin.
pub async fn add(
    db: &Db,
    actor: Actor<'_>,
    name: &str,
    role: Option<&str>,
    email: &str,
    team: &str,
) -> anyhow::Result<(i64, String)> {
    let name = check_name(name)?;
    if let Some(role) = role {
        check_role(role)?;
    }
    check_email(email.trim())?;
    check_team(team.trim())?;
    let password = crate::auth::new_password();
    let hash = crate::auth::hash_password(&password)?;
    let id = match reviewers::add_reviewer(db, name, &hash).await {
        Ok(id) => id,
        Err(e) => return refuse(e.to_string()),
    };
    let change = AccountChange { role, email: Some(email.trim()), team: Some(team.trim()), disabled: None };
    reviewers::change_account(db, id, &change).await?;
    let account = existing(db, name).await?;
    record(db, actor, "reviewer_added", name, &format!("role {}", account.role)).await?;
    Ok((id, password))
}

/// Changes role, email or team (`None` leaves one as it is; an empty email or team clears
/// it), or disables or enables the account. Each field that changed is recorded.
pub async fn change(db: &Db, actor: Actor<'_>, name: &str, change: &AccountChange<'_>) -> anyhow::Result<Account> {
    let before = existing(db, name).await?;
    if let Some(role) = change.role {
        check_role(role)?;
    }
    if let Some(email) = change.email {
        check_email(email)?;
    }
    if let Some(team) = change.team {
        check_team(team)?;
    }
    let demoted = change.role.is_some_and(|r| r != "admin") && before.role == "admin";
    let disabled = change.disabled == Some(true) && before.disabled_at.is_none() && before.role == "admin";
    if (demoted || disabled) && reviewers::enabled_admins(db).await? <= 1 && before.disabled_at.is_none() {
        return refuse(format!("{} is the last enabled admin: make another admin first", before.name));
    }
    reviewers::change_account(db, before.id, change).await?;
    let after = existing(db, &before.name).await?;
    let name = before.name.as_str();
    if before.role != after.role {
        record(db, actor, "reviewer_role", name, &format!("role {} → {}", before.role, after.role)).await?;
    }
    if before.email != after.email {
        record(db, actor, "reviewer_email", name, &format!("email {}", after.email.as_deref().unwrap_or("cleared")))
            .await?;
    }
    if before.team != after.team {
        record(db, actor, "reviewer_team", name, &format!("team {}", after.team.as_deref().unwrap_or("cleared")))
            .await?;
    }
    match (before.disabled_at.is_some(), after.disabled_at.is_some()) {
        (false, true) => record(db, actor, "reviewer_disabled", name, "").await?,
        (true, false) => record(db, actor, "reviewer_enabled", name, "").await?,
        _ => {}
    }
    Ok(after)
}

/// A new random password for the account (shown once); its lock-out is cleared and its
/// sessions end.
pub async fn reset_password(db: &Db, actor: Actor<'_>, name: &str) -> anyhow::Result<String> {
    let account = existing(db, name).await?;
    let password = crate::auth::new_password();
    reviewers::reset_password(db, account.id, &account.name, &crate::auth::hash_password(&password)?).await?;
    record(db, actor, "reviewer_password_reset", &account.name, "").await?;
    Ok(password)
}
