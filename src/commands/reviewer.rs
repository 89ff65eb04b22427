//! `backtalk reviewer …`: console accounts (docs/reviewers.md) and API tokens. Changes made
//! here are recorded in the audit trail as made "by the command line".

use anyhow::Context;

use crate::cli::ReviewerCommand;
use crate::config::Config;
use crate::escalation::accounts::{self, Actor};
use crate::store::reviewers::AccountChange;

async fn connect(config: &Config) -> anyhow::Result<crate::store::Db> {
    // Before the first `serve`, the data directory (home of the default SQLite file) may not exist yet.
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    crate::store::Db::connect(&config.effective_database_url()).await
}

/// Every `reviewer` subcommand but `token`.
pub async fn manage(config: Config, command: ReviewerCommand) -> anyhow::Result<()> {
    let db = connect(&config).await?;
    let console = format!("{}/console", config.public_url.trim_end_matches('/'));
    match command {
        ReviewerCommand::Add { name, role, email, team } => {
            let (id, password) = accounts::add(&db, Actor::Cli, &name, role.as_deref(), &email, &team).await?;
            let account = crate::store::reviewers::account(&db, name.trim()).await?.context("the new account")?;
            println!(
                "reviewer {:?} created (id {id}, role {}); one-time password, shown only now:\n{password}",
                account.name, account.role
            );
            println!("log in at {console}");
        }
        ReviewerCommand::List => {
            let now = chrono::Utc::now();
            println!("{:<24} {:<9} {:<30} {:<16} status", "name", "role", "email", "team");
            for a in crate::store::reviewers::accounts(&db).await? {
                let status = match (a.disabled_at, a.locked_until) {
                    (Some(at), _) => format!("disabled {}", at.format("%Y-%m-%d")),
                    (None, Some(until)) if until > now => format!("locked until {} UTC", until.format("%H:%M")),
                    _ => "enabled".to_string(),
                };
                let (email, team) = (a.email.unwrap_or_default(), a.team.unwrap_or_default());
                println!("{:<24} {:<9} {email:<30} {team:<16} {status}", a.name, a.role);
            }
        }
        ReviewerCommand::Set { name, role, email, team } => {
            let change = AccountChange {
                role: role.as_deref(),
                email: email.as_deref().map(str::trim),
                team: team.as_deref().map(str::trim),
                disabled: None,
            };
            let a = accounts::change(&db, Actor::Cli, &name, &change).await?;
            let (email, team) = (a.email.unwrap_or_default(), a.team.unwrap_or_default());
            println!("reviewer {:?}: role {}, email {email:?}, team {team:?}", a.name, a.role);
        }
        ReviewerCommand::Disable { name } => {
            let change = AccountChange { disabled: Some(true), ..AccountChange::default() };
            let a = accounts::change(&db, Actor::Cli, &name, &change).await?;
            println!("reviewer {:?} disabled: their sessions have ended and their API tokens no longer work", a.name);
        }
        ReviewerCommand::Enable { name } => {
            let change = AccountChange { disabled: Some(false), ..AccountChange::default() };
            let a = accounts::change(&db, Actor::Cli, &name, &change).await?;
            println!("reviewer {:?} enabled", a.name);
        }
        ReviewerCommand::ResetPassword { name } => {
            let password = accounts::reset_password(&db, Actor::Cli, &name).await?;
            println!("new one-time password for {:?}, shown only now:\n{password}", name.trim());
            println!("their sessions have ended; they log in again at {console}");
        }
        ReviewerCommand::Token { name, label } => issue_api_token(&db, &config, &name, &label).await?,
    }
    Ok(())
}

/// `backtalk reviewer token NAME`: a new API token acting as the reviewer, printed once
/// (only its SHA-256 is stored). Actions taken with it are recorded as the reviewer's.
async fn issue_api_token(db: &crate::store::Db, config: &Config, name: &str, label: &str) -> anyhow::Result<()> {
    let label = label.trim();
    if label.is_empty() || label.len() > 100 {
        anyhow::bail!("a token label must be 1 to 100 characters");
    }
    let reviewer = crate::store::reviewers::reviewer_by_name(db, name.trim()).await?.ok_or_else(|| {
        anyhow::anyhow!("no enabled reviewer named {name:?}; create one with `backtalk reviewer add`")
    })?;
    let token = format!("bt_{}", crate::auth::new_token());
    crate::store::reviewers::add_api_token(db, reviewer.id, &crate::auth::token_hash(&token), label).await?;
    crate::store::reviewers::record_action(db, Some(reviewer.id), "api_token_issued", None, label).await?;
    println!("API token for {:?} ({label}), shown only now:\n{token}", reviewer.name);
    println!("use it as: Authorization: Bearer <token> on {}/api/v1/…", config.public_url.trim_end_matches('/'));
    Ok(())
}
